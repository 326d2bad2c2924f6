"""Account-level failures told to the operator once per cause, not once per failed job."""

from __future__ import annotations

import logging

from bot.errors import AccountProblemError

log = logging.getLogger(__name__)


class AccountAlarm:
    """Logs one clear line per cause while it lasts; a call that works clears every cause."""

    def __init__(self) -> None:
        self._told: set[str] = set()

    def failed(self, error: AccountProblemError) -> bool:
        """Log the cause with the provider's own words the first time; True when it logged."""
        if error.cause in self._told:
            return False
        self._told.add(error.cause)
        log.error(
            "OpenAI account problem: %s (HTTP %s, %s). The provider said: %s. Every image "
            "request fails until it is fixed; `python -m bot check --online --generate` tests "
            "one real call.",
            error.summary,
            error.status or "-",
            error.code or "no code",
            error.words or "nothing",
        )
        return True

    def worked(self) -> None:
        """A call succeeded: the account works again, so a new failure is told again."""
        if self._told:
            log.warning("OpenAI account works again (was: %s)", ", ".join(sorted(self._told)))
            self._told.clear()
