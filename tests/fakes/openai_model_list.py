"""The fake's GET /v1/models: the ids of its own model table, or what a test lists instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from tests.fakes.openai_http import check_key, error_response, ids, recorded
from tests.fakes.openai_models import MODELS
from tests.fakes.openai_records import scripted_error
from tests.fakes.openai_rules import ApiError

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI


def model_ids(owner: FakeOpenAI) -> list[str]:
    """`listed_models` when a test sets it, else every model of the table not retired."""
    if owner.listed_models is not None:
        return list(owner.listed_models)
    return [name for name in MODELS if name not in owner.retired_models]


def mount(app: web.Application, owner: FakeOpenAI) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        # Scripted failures and hangs are for the images endpoints; /models fails only when
        # `models_error` says so (the bot asks /models at start-up, before any test's script).
        rid = owner.next_id()
        owner.requests.append(recorded(request, owner.api_key))
        try:
            check_key(request, owner.api_key)
            if owner.models_error is not None:
                raise scripted_error(owner.models_error, None, None)
        except ApiError as err:
            return error_response(err, rid)
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "system"}
                for n in model_ids(owner)]  # fmt: skip
        return web.json_response({"object": "list", "data": data}, headers=ids(rid))

    app.router.add_get("/v1/models", handler)
