"""DATABASE_URL: libpq's reading of it, and its passwords masked wherever a URL carries one."""

from __future__ import annotations

import pytest

from bot.db.urls import redact, url_problem, url_secrets


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bot:hunter2@db:5432/bot", "postgresql://bot:***@db:5432/bot"),
        ("postgresql://bot@db/bot?password=hunter2&sslmode=require",
         "postgresql://bot@db/bot?password=***&sslmode=require"),
        ("postgresql://bot:hun%40ter2@db/bot?sslmode=require&PASSWORD=x",
         "postgresql://bot:***@db/bot?sslmode=require&PASSWORD=***"),
        ("postgresql://bot@db:notaport/bot", "postgresql://bot@db:notaport/bot"),
        ("postgresql://db:5432/bot", "postgresql://db:5432/bot"),
        ("postgresql://bot:pw@[::1/bot", "postgresql://bot:***@[::1/bot"),
    ],
)  # fmt: skip
def test_every_password_is_masked_and_nothing_else(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_a_password_holding_a_question_mark_or_hash_is_masked_whole() -> None:
    # libpq reads "ab?cdS3cret" as the password (the trial's leak): no part of it may show.
    for url in (
        "postgresql://u:ab?cdS3cret@db:1/bot",
        "postgresql://u:ab#cdS3cret@db:1/bot",
        "postgresql://db:1/bot?user=u&password=ab?x#cdS3cret",  # a query password, `#` after `?`
        "postgresql://db:1/bot?user=u&password=ab%3Fx#cdS3cret",  # and percent-encoded
    ):
        assert "cdS3cret" not in redact(url), url
        assert any("cdS3cret" in secret for secret in url_secrets(url))


def test_the_secrets_include_the_decoded_password() -> None:
    url = "postgresql://bot:hun%40ter2@db/bot?password=other"
    assert set(url_secrets(url)) == {"hun%40ter2", "hun@ter2", "other"}


def test_what_libpq_reads_passes_and_what_it_cannot_is_said_without_the_password() -> None:
    assert url_problem("postgresql://bot:pw@db:5432/bot?sslmode=require") is None
    assert url_problem("postgresql://bot@h1:5432,h2:5433/bot") is None  # libpq's several hosts
    problem = url_problem("postgresql://bot:hunter2@[::1/bot")
    assert problem is not None and "IPv6" in problem and "hunter2" not in problem
    assert (
        url_problem("postgresql://bot@db:0/bot") == "the port '0' is not a number from 1 to 65535"
    )
