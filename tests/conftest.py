"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.openai_server import FakeOpenAI

# ---- fake_openai: the loopback fake of the OpenAI Images API (owner: OpenAI client) ----------


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    """A FakeOpenAI on 127.0.0.1 (key "sk-test", no IPM limit), served on the test's loop."""
    async with FakeOpenAI(api_key="sk-test") as fake:
        yield fake


# ---- end fake_openai -------------------------------------------------------------------------
