"""What the fake provider's record of accepted calls says about pacing: windows and spread."""

from __future__ import annotations

from tests.fakes.openai_records import IPM_WINDOW


def most_in_any_window(history: list[tuple[float, int]], span: float = IPM_WINDOW) -> int:
    """The most images accepted in any `span` seconds (each window ending at an accepted call)."""
    most = 0
    for end, _ in history:
        most = max(most, sum(n for at, n in history if end - span < at <= end))
    return most


def spread_excess(history: list[tuple[float, int]], ipm: int, burst: int) -> float:
    """How far the calls outran one pacer: the most images in any [t_i, t_j] beyond a full
    bucket of `burst` plus its refill of IPM/60 a second (<= 0: one pacer could send them)."""
    worst = -float(burst)
    for i, (start, _) in enumerate(history):
        sent = 0
        for at, n in history[i:]:
            sent += n
            worst = max(worst, sent - burst - (at - start) * ipm / IPM_WINDOW)
    return worst
