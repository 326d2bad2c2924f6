"""The advisory-lock keys this bot takes on PostgreSQL, in one table so that no two collide."""

from __future__ import annotations

# https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS
# Keys 1 and 2 are the first of a two-int key (int, int); 3 and the IDENTIFY buckets are single
# bigint keys. PostgreSQL keeps the two forms apart (pg_locks.objsubid 2 and 1), and each number
# below is used by one purpose only, so that none can block another.
GUILD_BUDGET = 1  # (1, guild): a guild's admissions take turns (transaction-scoped)
MIGRATIONS = 2  # (2, 0): processes starting together migrate one at a time
DISPATCHER_LEASE = 3  # the one process that dispatches holds it for its session (bot/cluster/)
IDENTIFY_BASE = 4_000_000  # + bucket: one gateway IDENTIFY per max_concurrency bucket at a time


def identify_key(bucket: int) -> int:
    """The key of one IDENTIFY bucket (shard_id % max_concurrency)."""
    return IDENTIFY_BASE + bucket
