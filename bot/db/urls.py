"""DATABASE_URL as libpq reads it: what is wrong with one, its secrets, and a form safe to show."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict

# The password of a URL's user info, and libpq's `password` query parameter: the two places a
# PostgreSQL URL carries one (https://www.postgresql.org/docs/15/libpq-connect.html#LIBPQ-CONNSTRING).
_USERINFO_PASSWORD = re.compile(r"(//[^/@:?#]*:)([^@/?#]*)(@)")
# libpq reads a query value up to the next `&`, `#` and `?` included (a fragment is not one).
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&]*)", re.IGNORECASE)
MASK = "***"


def redact(url: str) -> str:
    """`url` with every password masked; never raises, whatever the text."""
    # Every password as libpq reads it first, longest first (it takes `?` and `#` in one): the
    # patterns would mask only the part before them and leave the rest unfindable.
    for secret in url_secrets(url):
        url = url.replace(secret, MASK)
    url = _USERINFO_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", url, count=1)
    return _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", url)


def url_secrets(url: str) -> list[str]:
    """The passwords in `url` as written and as decoded (and as libpq reads it): what logs and
    messages must not show, longest first."""
    found = [m.group(2) for m in _USERINFO_PASSWORD.finditer(url)]
    found += [m.group(2) for m in _QUERY_PASSWORD.finditer(url)]
    found += [unquote(secret) for secret in found]
    with contextlib.suppress(psycopg.Error):  # a URL libpq cannot read: the patterns' finds
        found.append(str(conninfo_to_dict(url).get("password") or ""))
    return sorted({secret for secret in found if secret}, key=len, reverse=True)


def url_problem(url: str) -> str | None:
    """Why libpq would not read `url` as a connection URL (its words, passwords masked), or a
    port that is not a number from 1 to 65535; None when it reads it."""
    try:
        options = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: libpq's parse error
        reason = " ".join(str(exc).split())  # it quotes the URL: passwords masked
        for secret in url_secrets(url):
            reason = reason.replace(secret, MASK)
        return reason
    for port in str(options.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            return f"the port {port!r} is not a number from 1 to 65535"
    return None
