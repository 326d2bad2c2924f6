"""The ledger per UTC day and model, as `python -m bot reconcile` compares it with the provider.

Over the half-open window start <= created_at < end, every guild:

- answered: calls the provider answered with images (no error code, no HTTP error): their
  count, images and cost; the provider surely billed them. Of that cost, `estimated` is what
  was charged at the upper-bound estimate because the answer carried no `usage`;
- in doubt: calls sent whose answer was lost (an error code, yet a cost kept charged): the
  provider may or may not have made and billed them; `images` counts the images asked for and
  the cost is the estimate kept charged.

Calls the provider refused or never received cost nothing and are left out, as the provider's
usage leaves them out.

Relaxed (Batch API) lines are rows like any other: answered lines count at the batch price they
were charged (`cost_micro_usd`, not `fast_cost_micro_usd`), as the organization bills them; lines
the batch never ran carry an error code and cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.db import Reader

_EPOCH_DAY = date(1970, 1, 1)

# Which rows are which (see the module docstring); `billing` comes from migration 0004.
_QUERY = """
SELECT day, model,
       SUM(CASE WHEN kind IN ('actual', 'estimated') THEN 1 ELSE 0 END) AS requests,
       SUM(CASE WHEN kind IN ('actual', 'estimated') THEN images ELSE 0 END) AS images,
       SUM(CASE WHEN kind IN ('actual', 'estimated') THEN cost_micro_usd ELSE 0 END) AS micro_usd,
       SUM(CASE kind WHEN 'estimated' THEN cost_micro_usd ELSE 0 END) AS estimated_micro_usd,
       SUM(CASE kind WHEN 'in_doubt' THEN 1 ELSE 0 END) AS doubt_requests,
       SUM(CASE kind WHEN 'in_doubt' THEN n ELSE 0 END) AS doubt_images,
       SUM(CASE kind WHEN 'in_doubt' THEN cost_micro_usd ELSE 0 END) AS doubt_micro_usd
FROM (
    SELECT created_at / 86400 AS day, model, images, n, cost_micro_usd,
           CASE
               WHEN billing = 'in_doubt' THEN 'in_doubt'
               WHEN error_code IS NOT NULL OR COALESCE(http_status, 200) >= 300 THEN NULL
               ELSE billing
           END AS kind
    FROM api_calls
    WHERE created_at >= ? AND created_at < ?
) AS calls
WHERE kind IS NOT NULL
GROUP BY day, model
ORDER BY day, model
"""


@dataclass(frozen=True, slots=True)
class LedgerDay:
    """One model's ledger on one UTC day; money in micro-USD (see the module docstring)."""

    day: date
    model: str
    requests: int
    images: int
    micro_usd: int
    doubt_requests: int = 0
    doubt_images: int = 0
    doubt_micro_usd: int = 0
    estimated_micro_usd: int = 0  # the part of micro_usd charged at the estimate (no `usage`)


async def ledger_days(db: Reader, start: datetime, end: datetime) -> list[LedgerDay]:
    """Per (UTC day, model): answered and in-doubt calls of every guild in [start, end)."""
    params = (int(start.astimezone(UTC).timestamp()), int(end.astimezone(UTC).timestamp()))
    rows = await db.fetchall(_QUERY, params)
    return [
        LedgerDay(
            day=_EPOCH_DAY + timedelta(days=row["day"]),
            model=row["model"],
            requests=row["requests"],
            images=row["images"],
            micro_usd=row["micro_usd"],
            doubt_requests=row["doubt_requests"],
            doubt_images=row["doubt_images"],
            doubt_micro_usd=row["doubt_micro_usd"],
            estimated_micro_usd=row["estimated_micro_usd"],
        )
        for row in rows
    ]
