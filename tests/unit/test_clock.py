"""UTC day and month boundaries: where daily and monthly budgets count from and reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from bot.clock import day_start, month_start, next_day, next_month


def test_a_day_runs_from_midnight_utc_to_the_next_whatever_the_offset() -> None:
    # 01:30 in UTC+2 is still the previous UTC day.
    moment = datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert day_start(moment) == datetime(2026, 2, 28, tzinfo=UTC)
    assert next_day(moment) == datetime(2026, 3, 1, tzinfo=UTC)


def test_months_roll_over_at_the_end_of_february_and_of_december() -> None:
    assert month_start(datetime(2028, 2, 29, 23, 59, tzinfo=UTC)) == datetime(
        2028, 2, 1, tzinfo=UTC
    )
    assert next_month(datetime(2028, 2, 29, 23, 59, tzinfo=UTC)) == datetime(2028, 3, 1, tzinfo=UTC)
    assert next_month(datetime(2026, 12, 31, 12, tzinfo=UTC)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert next_month(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 1, tzinfo=UTC)
