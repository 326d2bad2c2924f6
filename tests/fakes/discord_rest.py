"""The fake Discord's HTTP side: REST v10 routes, the CDN, Discord-shaped errors, a request log."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from tests.fakes.discord_messages import Upload
from tests.fakes.discord_model import MiB
from tests.fakes.discord_ops import ChannelOps, InteractionOps
from tests.fakes.discord_rules import DiscordError, Violation
from tests.fakes.discord_state import FakeState, RecordedRequest

API = "/api/v10"
MAX_BODY = 128 * MiB  # the fake applies Discord's limits itself; aiohttp must never refuse first
_FILE_FIELD = re.compile(r"files\[(\d+)\]")
Handler = Any
BODY = web.RequestKey("body", object)
UPLOADS = web.RequestKey("uploads", list[Upload])
INTERACTION = web.RequestKey("interaction_id", int)


def json_response(data: Any, status: int = 200) -> web.Response:
    """Content-Type exactly application/json: discord.py compares the header with ==."""
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON body, or a form's `payload_json` plus `files[n]` parts; bad JSON is Discord's 50109."""
    if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        raw = form.get("payload_json")
        payload = _json(raw) if isinstance(raw, str) else {}
        uploads = []
        for name, value in form.items():
            match = _FILE_FIELD.fullmatch(name)
            if match and isinstance(value, web.FileField):
                uploads.append(Upload(int(match[1]), value.filename, value.file.read()))
        return payload, sorted(uploads, key=lambda u: u.index)
    raw_bytes = await request.read()
    return (_json(raw_bytes) if raw_bytes else None), []


def _json(raw: str | bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None


class RestApi:
    """Routes onto the shared state; every non-2xx answer is also recorded as a Violation."""

    def __init__(self, state: FakeState, gateway_handler: Handler) -> None:
        self.state = state
        self.interactions = InteractionOps(state)
        self.channels = ChannelOps(state)
        self.gateway_handler = gateway_handler

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._middleware])
        r = app.router
        r.add_get("/gateway", self.gateway_handler)
        r.add_get("/cdn/{path:.+}", self.cdn)
        r.add_get(f"{API}/users/@me", self.me)
        r.add_post(f"{API}/users/@me/channels", self.open_dm)
        r.add_get(API + "/users/{uid}", self.user)
        r.add_get(f"{API}/oauth2/applications/@me", self.application)
        r.add_get(f"{API}/gateway", self.gateway)
        r.add_get(f"{API}/gateway/bot", self.gateway_bot)
        for path in ("/applications/{app}/commands", "/applications/{app}/guilds/{guild}/commands"):
            r.add_put(API + path, self.put_commands)
            r.add_get(API + path, self.get_commands)
        r.add_post(API + "/interactions/{iid}/{token}/callback", self.callback)
        hook = API + "/webhooks/{app}/{token}"
        r.add_post(hook, self.followup)
        r.add_get(hook + "/messages/{mid}", self.webhook_get)
        r.add_patch(hook + "/messages/{mid}", self.webhook_edit)
        r.add_delete(hook + "/messages/{mid}", self.webhook_delete)
        chan = API + "/channels/{cid}"
        r.add_get(chan, self.channel)
        r.add_post(chan + "/messages", self.channel_create)
        r.add_get(chan + "/messages", self.channel_history)
        r.add_get(chan + "/messages/{mid}", self.channel_get)
        r.add_patch(chan + "/messages/{mid}", self.channel_edit)
        r.add_delete(chan + "/messages/{mid}", self.channel_delete)
        r.add_get(API + "/guilds/{gid}/members/{uid}", self.member)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/gateway":
            response: web.StreamResponse = await handler(request)
            return response
        try:
            response = await handler(request)
        except DiscordError as error:
            response = self._refuse(request, error)
        except web.HTTPException as exc:  # no such route / method
            if exc.status < 400:
                raise
            response = self._refuse(
                request, DiscordError(exc.status, 0, f"{exc.status}: {exc.reason}")
            )
        self._record(request, response)
        return response

    def _refuse(self, request: web.Request, error: DiscordError) -> web.Response:
        violation = Violation(
            error.status,
            error.code,
            error.message,
            request.method,
            request.path,
            request.get(INTERACTION),
            json.dumps(error.errors) if error.errors else "",
        )
        self.state.violations.append(violation)
        self.state.changes.notify()
        return json_response(error.body(), error.status)

    def _record(self, request: web.Request, response: web.StreamResponse) -> None:
        body = response.body if isinstance(response, web.Response) else None
        is_json = response.content_type == "application/json" and isinstance(body, bytes)
        self.state.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                body=request.get(BODY),
                files=request.get(UPLOADS, []),
                status=response.status,
                response=json.loads(bytes(body)) if is_json and isinstance(body, bytes) else None,
            )
        )
        self.state.changes.notify()

    def _auth(self, request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bot {self.state.token}":
            raise DiscordError(401, 0, "401: Unauthorized")

    async def _body(self, request: web.Request) -> tuple[Any, list[Upload]]:
        body, uploads = await read_body(request)
        request[BODY], request[UPLOADS] = body, uploads
        return body, uploads

    def _app(self, request: web.Request) -> int:
        app_id = int(request.match_info["app"])
        if app_id != self.state.world.application_id:
            raise DiscordError(404, 10002, "Unknown Application")
        return app_id

    def _interaction_of(self, request: web.Request) -> None:
        record = self.state.by_token.get(request.match_info["token"])
        if record is not None:
            request[INTERACTION] = record.id

    # Login and gateway discovery -----------------------------------------------------------

    async def me(self, request: web.Request) -> web.Response:
        self._auth(request)
        user = {**self.state.world.bot_user.payload(), "verified": True, "mfa_enabled": False}
        return json_response({**user, "flags": 0})

    async def application(self, request: web.Request) -> web.Response:
        self._auth(request)
        world = self.state.world
        return json_response(
            {
                "id": str(world.application_id),
                "name": world.bot_user.username,
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": world.owner_user.payload(),
                "verify_key": "0" * 64,
                "flags": 0,
                "team": None,
                "bot": world.bot_user.payload(),
            }
        )

    def _ws_url(self, request: web.Request) -> str:
        return f"ws://{request.host}/gateway"

    async def gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self._ws_url(request)})

    async def gateway_bot(self, request: web.Request) -> web.Response:
        self._auth(request)
        state = self.state
        total = state.session_start_total
        limit = {
            "total": total,
            "remaining": max(total - len(state.identifies), 0),
            "reset_after": 0 if not state.identifies else 86_400_000,
            "max_concurrency": state.max_concurrency,
        }
        return json_response(
            {
                "url": self._ws_url(request),
                "shards": state.recommended_shards,
                "session_start_limit": limit,
            }
        )

    # Commands ---------------------------------------------------------------------------------

    def _scope(self, request: web.Request) -> int | None:
        self._auth(request)
        self._app(request)
        guild = request.match_info.get("guild")
        if guild is not None and int(guild) not in self.state.world.guilds:
            raise DiscordError(404, 10004, "Unknown Guild")
        return None if guild is None else int(guild)

    async def put_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        body, _ = await self._body(request)
        if not isinstance(body, list):
            raise DiscordError(400, 50035, "Invalid Form Body")
        stored = self.state.commands.put(scope, body)
        self.state.changes.notify()
        return json_response(stored)

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.state.commands.listed(self._scope(request)))

    # Interactions -----------------------------------------------------------------------------

    async def callback(self, request: web.Request) -> web.Response:
        interaction_id = int(request.match_info["iid"])
        request[INTERACTION] = interaction_id
        body, uploads = await self._body(request)
        reply = await self.interactions.callback(
            interaction_id, request.match_info["token"], body or {}, uploads
        )
        return json_response(reply)

    async def followup(self, request: web.Request) -> web.Response:
        self._interaction_of(request)
        body, uploads = await self._body(request)
        app_id = self._app(request)
        reply = await self.interactions.followup(
            app_id, request.match_info["token"], body or {}, uploads
        )
        return json_response(reply)

    async def webhook_get(self, request: web.Request) -> web.Response:
        self._interaction_of(request)
        record = self.interactions.webhook_record(self._app(request), request.match_info["token"])
        message = self.interactions.webhook_message(record, request.match_info["mid"])
        return json_response(message.payload())

    async def webhook_edit(self, request: web.Request) -> web.Response:
        self._interaction_of(request)
        body, uploads = await self._body(request)
        info = request.match_info
        reply = await self.interactions.edit(
            self._app(request), info["token"], info["mid"], body or {}, uploads
        )
        return json_response(reply)

    async def webhook_delete(self, request: web.Request) -> web.Response:
        self._interaction_of(request)
        info = request.match_info
        await self.interactions.delete(self._app(request), info["token"], info["mid"])
        return web.Response(status=204)

    # Channels and members ---------------------------------------------------------------------

    async def channel(self, request: web.Request) -> web.Response:
        self._auth(request)
        channel = self.state.world.channel(int(request.match_info["cid"]))
        if channel is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return json_response(channel.payload())

    async def user(self, request: web.Request) -> web.Response:
        """GET /users/{id} (https://discord.com/developers/docs/resources/user#get-user)."""
        self._auth(request)
        user = self.state.world.users.get(int(request.match_info["uid"]))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def open_dm(self, request: web.Request) -> web.Response:
        self._auth(request)
        body, _ = await self._body(request)
        return json_response(self.channels.open_dm(int((body or {})["recipient_id"])))

    async def channel_create(self, request: web.Request) -> web.Response:
        self._auth(request)
        body, uploads = await self._body(request)
        reply = await self.channels.create(int(request.match_info["cid"]), body or {}, uploads)
        return json_response(reply)

    async def channel_history(self, request: web.Request) -> web.Response:
        self._auth(request)
        cid = int(request.match_info["cid"])
        return json_response(self.channels.history(cid, dict(request.query)))

    async def channel_get(self, request: web.Request) -> web.Response:
        self._auth(request)
        info = request.match_info
        return json_response(self.channels.message(int(info["cid"]), int(info["mid"])).payload())

    async def channel_edit(self, request: web.Request) -> web.Response:
        self._auth(request)
        body, uploads = await self._body(request)
        info = request.match_info
        reply = await self.channels.edit(int(info["cid"]), int(info["mid"]), body or {}, uploads)
        return json_response(reply)

    async def channel_delete(self, request: web.Request) -> web.Response:
        self._auth(request)
        info = request.match_info
        await self.channels.delete(int(info["cid"]), int(info["mid"]))
        return web.Response(status=204)

    async def member(self, request: web.Request) -> web.Response:
        self._auth(request)
        guild = self.state.world.guilds.get(int(request.match_info["gid"]))
        member = guild.members.get(int(request.match_info["uid"])) if guild else None
        if member is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return json_response(member.payload())

    async def cdn(self, request: web.Request) -> web.Response:
        file = self.state.store.cdn.get(request.path)
        if file is None:
            raise DiscordError(404, 0, "404: Not Found")
        return web.Response(body=file.data, content_type=file.content_type)
