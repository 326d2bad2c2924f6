"""The fake's organization endpoints (/organization/usage/images, /costs) and what they count."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fakes.openai_http import error_response, ids, recorded
from tests.fakes.openai_models import MODELS
from tests.fakes.openai_org import (
    BOT_KEY_ID,
    DEFAULT_PROJECT,
    OrgRecord,
    admin_auth,
    served_from,
)
from tests.fakes.openai_org_keys import OrgKey, key_list, project_list
from tests.fakes.openai_outputs import resolved_size, usage
from tests.fakes.openai_rules import ApiError, Call

if TYPE_CHECKING:
    from tests.fakes.openai_server import FakeOpenAI


class OrgApi:
    """The organization's record of served calls, and the two admin endpoints over it."""

    def __init__(self, owner: FakeOpenAI) -> None:
        self._owner = owner
        self.record = OrgRecord(lambda: owner.wall_clock())
        # The organization's project keys; the fake's own key is one of them.
        self.keys = [OrgKey(BOT_KEY_ID, DEFAULT_PROJECT, owner.api_key, "discord bot")]

    def mount(self, app: web.Application) -> None:
        app.router.add_get("/v1/organization/usage/images", self._usage)
        app.router.add_get("/v1/organization/costs", self._costs)
        app.router.add_get("/v1/organization/projects", self._projects)
        app.router.add_get("/v1/organization/projects/{project}/api_keys", self._keys)

    def record_served(
        self, call: Call, project: str | None, partials: int = 0, *, batch: bool = False
    ) -> None:
        """An answered call (or, `batch`, a Batch API line, billed at half price:
        https://help.openai.com/en/articles/9197833-batch-api-faq) with its `usage`'s tokens."""
        source = "image.generation" if call.operation == "generate" else "image.edit"
        size = resolved_size(call)
        quality = self._owner.auto_quality if call.quality == "auto" else call.quality
        tokens = usage(call, size, quality, partials)
        self.record.served.append(
            served_from(
                self._owner.wall_clock(),
                call.model.name,
                size,
                source,
                call.n,
                tokens,
                project or DEFAULT_PROJECT,
                batch=batch,
            )
        )

    def add_key(self, key_id: str, secret: str, project: str = DEFAULT_PROJECT) -> None:
        """Another API key of the organization (another app's, or a look-alike of the bot's)."""
        self.keys.append(OrgKey(key_id, project, secret, f"app {key_id}"))

    def add(self, model: str, images: int, at: float | None, **shape: str) -> None:
        """Calls made by someone else on the organization: nominal tokens of the fake's table."""
        call = Call("generate", MODELS[model], "another app", n=images, size=shape["size"])
        tokens = usage(call, shape["size"], shape["quality"], 0)
        when = self._owner.wall_clock() if at is None else at
        self.record.served.append(
            served_from(
                when,
                model,
                shape["size"],
                shape["source"],
                images,
                tokens,
                shape["project"],
                api_key_id=shape.get("api_key_id", BOT_KEY_ID),
            )
        )

    async def _usage(self, request: web.Request) -> web.StreamResponse:
        return self._page(request, self.record.usage_page)

    async def _costs(self, request: web.Request) -> web.StreamResponse:
        return self._page(request, self.record.costs_page)

    async def _projects(self, request: web.Request) -> web.StreamResponse:
        projects = sorted({DEFAULT_PROJECT} | {k.project for k in self.keys})
        return self._page(request, lambda query: project_list(projects, query))

    async def _keys(self, request: web.Request) -> web.StreamResponse:
        project = request.match_info["project"]
        return self._page(request, lambda query: key_list(self.keys, project, query))

    def _page(
        self, request: web.Request, page: Callable[[Mapping[str, list[str]]], dict[str, Any]]
    ) -> web.StreamResponse:
        owner = self._owner
        rid = owner.next_id()
        owner.requests.append(recorded(request, owner.api_key, query=request.query_string))
        query = {key: request.query.getall(key) for key in request.query}
        try:
            admin_auth(request.headers.get("Authorization", ""), owner.admin_key, owner.api_key)
            return web.json_response(page(query), headers=ids(rid))
        except ApiError as err:
            return error_response(err, rid)
