"""The advisory-lock keys this bot takes on PostgreSQL, in one table so that no two collide."""

from __future__ import annotations

# https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS
# Keys 1 and 2 are the first of a two-int key (int, int); the others are single
# bigint keys. PostgreSQL keeps the two forms apart (pg_locks.objsubid 2 and 1), and each number
# below is used by one purpose only, so that none can block another.
GUILD_BUDGET = 1  # (1, guild): a guild's admissions take turns (transaction-scoped)
MIGRATIONS = 2  # (2, 0): processes starting together migrate one at a time
DISPATCHER_LEASE = 3  # the one process that dispatches holds it for its session (bot/cluster/)
IDENTIFY_BASE = 4_000_000  # + bucket: one gateway IDENTIFY per max_concurrency bucket at a time
SHARD_BASE = 6_000_000  # + shard id: held by the process that runs that shard (bot/cluster/)
# + SHARD_COUNT (0: Discord's recommended count), shared: every process holds its total, so a
# process started with another total is seen (bot/cluster/shards.py).
SHARD_COUNT_BASE = 8_000_000
SHARD_COUNT_END = 9_000_000
# + process id (31 bits): held by each live process for its life (bot/cluster/liveness.py); far
# above the ranges before it, so that no process id reaches them.
PROCESS_BASE = 10_000_000_000


def identify_key(bucket: int) -> int:
    """The key of one IDENTIFY bucket (shard_id % max_concurrency)."""
    return IDENTIFY_BASE + bucket


def process_key(process_id: int) -> int:
    """The key a live process holds for its whole life (its running jobs are its own)."""
    return PROCESS_BASE + process_id


def shard_key(shard_id: int) -> int:
    """The key of one shard: two processes never run the same shard."""
    return SHARD_BASE + shard_id


def shard_count_key(shard_count: int | None) -> int:
    """The key every process of one SHARD_COUNT holds in shared mode (None: Discord's count)."""
    return SHARD_COUNT_BASE + (shard_count or 0)
