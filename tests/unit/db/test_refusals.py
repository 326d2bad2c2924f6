"""Which failed PostgreSQL connections are final (the server refused) and which to retry."""

from __future__ import annotations

import pytest

from bot.db.refusals import connect_failure

AT = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: '


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('FATAL:  password authentication failed for user "bot"', "password authentication"),
        ('FATAL:  database "bot" does not exist', 'database "bot" does not exist'),
        ('FATAL:  no pg_hba.conf entry for host "10.0.0.2"', "no pg_hba.conf entry"),
        ("server does not support SSL, but SSL was required", "does not support SSL"),
    ],
)
def test_a_refusal_by_the_server_is_final_with_its_cause(text: str, reason: str) -> None:
    failure = connect_failure(OSError(AT + text))
    assert failure.final
    assert reason in failure.reason, failure.reason


@pytest.mark.parametrize(
    "text",
    [
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP?",
        "FATAL:  the database system is starting up",
        "FATAL:  sorry, too many clients already",
        "timeout expired",
    ],
)
def test_no_answer_or_a_passing_refusal_is_retried(text: str) -> None:
    assert not connect_failure(OSError(AT + text)).final


def test_one_refusal_among_several_addresses_is_final() -> None:
    text = (
        'connection to server at "::1", port 5432 failed: Connection refused\n'
        'connection to server at "127.0.0.1", port 5432 failed: FATAL:  role "x" does not exist'
    )
    failure = connect_failure(OSError(text))
    assert failure.final
    assert failure.reason == 'role "x" does not exist'


@pytest.mark.parametrize(
    "text",
    [
        'connection is bad: invalid sslmode value: "bogus"',
        'connection is bad: invalid target_session_attrs value: "bogus"',
        "bad value for connect_timeout: 'abc'",
    ],
)
def test_an_option_libpq_cannot_read_is_final_no_server_asked(text: str) -> None:
    # The second trial waited 60 s on sslmode=bogus, then said to start PostgreSQL.
    failure = connect_failure(OSError(text))
    assert failure.final and failure.reason.endswith(text.rsplit(": ", 1)[-1])
