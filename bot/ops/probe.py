"""`python -m bot.ops.probe`: the container's HEALTHCHECK; exit 0 when /readyz answers 200."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT = 4.0  # seconds; below the HEALTHCHECK's own timeout (compose.yaml, Dockerfile)
ANY_ADDRESS = ("", "0.0.0.0", "::")  # noqa: S104  # a bind-all host is probed on loopback


def probe(environ: dict[str, str]) -> tuple[int, str]:
    """(exit code, one line): 0 if the bot is ready, 1 with the reason otherwise."""
    port = environ.get("HTTP_PORT", "")
    if not port.isdigit():
        return 1, "HTTP_PORT is not set: the bot serves no /readyz"
    host = environ.get("HTTP_HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    url = f"http://{host}:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:  # http only
            return 0, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return 1, exc.read().decode(errors="replace")
    except OSError as exc:
        return 1, f"no answer from {url}: {exc}"


if __name__ == "__main__":
    code, line = probe(dict(os.environ))
    print(line)  # noqa: T201
    sys.exit(code)
