"""A loopback fake of the OpenAI API (aiohttp): a thin facade over one module per endpoint family.

Images (openai_images), /models (openai_model_list), Files and Batches (openai_batches),
moderation (openai_moderation), the organization's usage and costs (openai_admin), fault
injection (openai_faults). Its rules are its own (openai_models), written from OpenAI's
documentation: nothing here reads the bot's catalog.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.fakes import openai_model_list, openai_moderation
from tests.fakes.openai_admin import OrgApi
from tests.fakes.openai_batches import FakeBatches
from tests.fakes.openai_faults import Faults, RawFailureError
from tests.fakes.openai_http import check_key, error_response, recorded
from tests.fakes.openai_images import ImagesApi
from tests.fakes.openai_models import MODELS
from tests.fakes.openai_org import BOT_KEY_ID, DEFAULT_PROJECT
from tests.fakes.openai_outputs import Look
from tests.fakes.openai_records import RecordedRequest
from tests.fakes.openai_rules import ApiError, Call

MAX_BODY = 64 * 1024 * 1024


class FakeOpenAI:
    """`async with FakeOpenAI() as fake:` serves http://127.0.0.1:PORT/v1 on the test's loop."""

    def __init__(
        self,
        api_key: str = "sk-test",
        *,
        admin_key: str = "sk-admin-test",
        ipm: int | None = None,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.api_key = api_key
        self.admin_key = admin_key
        self.ipm = ipm
        self.clock = clock or time.monotonic
        # Unix time of served calls, for the organization's usage and costs (tests may offset it).
        self.wall_clock: Callable[[], float] = wall_clock or time.time
        self.requests: list[RecordedRequest] = []
        self.retired_models: set[str] = set()
        # What GET /models lists; None = the fake's model table minus retired models. A model
        # not listed is also refused on the images endpoints, as a provider that lacks it would.
        self.listed_models: list[str] | None = None
        self.models_error: int | None = None  # GET /models answers this status when set
        self.noise = False
        self.auto_quality = "medium"
        self.latency = 0.0
        # Seconds a stream pauses after its first partial image, as real generation does.
        self.partial_pause = 0.0
        self.sse_done = False  # end streams with `data: [DONE]` (the real API is not known to)
        # Behave as the OpenAI-compatible gateways reported to refuse one input sent as `image[]`
        # (LiteLLM proxy builds of September 2026, among others); OpenAI itself takes both.
        self.refuse_lone_image_array = False
        self.hide_usage = False  # answer without `usage`, as some gateways do
        self.moderation_text_only = False  # a gateway's moderation that judges text alone
        self.base_url = ""
        self._count = 0
        self._runner: web.AppRunner | None = None
        self.faults = Faults()
        self.images = ImagesApi(self)
        self.org = OrgApi(self)
        self.batches = FakeBatches(self)  # the Files and Batches endpoints

    # ---- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_BODY)
        self.images.mount(app)
        openai_model_list.mount(app, self)
        self.org.mount(app)
        self.batches.mount(app)
        openai_moderation.mount(app, self)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=0.1
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    async def close(self) -> None:
        self.faults.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- scripting: faults (openai_faults) ----------------------------------------------------
    def enqueue_failure(
        self,
        status: int = 500,
        code: str | None = None,
        times: int = 1,
        retry_after: float | None = None,
        body: bytes | str | dict[str, Any] | None = None,
    ) -> None:
        """The next `times` requests fail with this status/code (or this raw body)."""
        self.faults.enqueue_failure(status, code, times, retry_after, body)

    def hang_next(self, seconds: float) -> None:
        """The next request waits this long (real time) before it is answered."""
        self.faults.hang_next(seconds)

    def hold_next(self) -> asyncio.Event:
        """The next request is read, then answered only once the returned event is set (or the
        fake closes): the test, not the machine's speed, decides what happens meanwhile."""
        return self.faults.hold_next()

    def drop_next(self) -> None:
        """The next request is read, then its connection closed without a response."""
        self.faults.drop_next()

    def gateway_page_next(self, status: int = 504, after: float = 1.0) -> None:
        """The next request is read whole, then a proxy's HTML error page (502, 504 from nginx,
        524 from Cloudflare) comes `after` seconds later. Whether the API behind it made the
        image is unknown: this fake makes it (it counts against IPM), as it may in real life."""
        self.faults.gateway_page_next(status, after)

    def garble_next(self) -> None:
        """The next request is made, and its 200 answer cut short (an unreadable body)."""
        self.faults.garble_next()

    def stream_error_next(
        self,
        code: str = "moderation_blocked",
        message: str = "",
        *,
        after_partials: int = 1,
        flat: bool = False,
    ) -> None:
        """The next streamed request sends an `error` event after `after_partials` partial
        images (0: as its first event, before any work was streamed); `flat`: in the spec's
        shape, the error's fields flat in the event rather than under `error`."""
        self.faults.stream_error_next(code, message, after_partials=after_partials, flat=flat)

    # ---- what tests read or add -------------------------------------------------------------
    def model_ids(self) -> list[str]:
        """What GET /models lists now."""
        return openai_model_list.model_ids(self)

    def add_org_usage(
        self,
        model: str,
        images: int,
        *,
        at: float | None = None,
        size: str = "1024x1024",
        quality: str = "medium",
        source: str = "image.generation",
        project: str = DEFAULT_PROJECT,
        api_key_id: str = BOT_KEY_ID,
    ) -> None:
        """Calls the organization made that this fake did not serve to the bot (another app,
        or an answer the bot lost): billed images with nominal tokens, in usage and costs.
        `api_key_id` is the key they were made with (the bot's own unless told)."""
        self.org.add(model, images, at, size=size, quality=quality, source=source,
                     project=project, api_key_id=api_key_id)  # fmt: skip

    def add_org_key(self, key_id: str, secret: str, project: str = DEFAULT_PROJECT) -> None:
        """Another API key of the organization, listed by the Admin API (redacted)."""
        self.org.add_key(key_id, secret, project)

    @property
    def images_served(self) -> int:
        """Images of accepted requests in the IPM window (what counts against IPM)."""
        return self.images.images_served

    @property
    def image_requests(self) -> list[RecordedRequest]:
        """Requests to the Images API (generations and edits), in order."""
        return [r for r in self.requests if r.path.startswith("/v1/images/")]

    sync_requests = image_requests  # the synchronous image endpoints (what counts against IPM)

    @property
    def moderation_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v1/moderations"]

    # ---- shared by the endpoint modules -----------------------------------------------------
    def next_id(self) -> str:
        self._count += 1
        return f"req_{self._count}"

    def unavailable_models(self) -> set[str]:
        """Retired models, and any model GET /models does not list now."""
        return self.retired_models | (set(MODELS) - set(self.model_ids()))

    def look(self) -> Look:
        return Look(auto_quality=self.auto_quality, noise=self.noise, usage=not self.hide_usage)

    def record_served(
        self, call: Call, project: str | None, partials: int = 0, *, batch: bool = False
    ) -> None:
        self.org.record_served(call, project, partials, batch=batch)

    async def preamble(self, request: web.Request, rid: str, model: object = None) -> None:
        """Latency, hangs, the key and scripted failures, in the order a real server meets them."""
        named = model if isinstance(model, str) else None
        await self.faults.preamble(
            self.latency, lambda: check_key(request, self.api_key), rid, named
        )

    def begin(self, request: web.Request) -> str:
        """Record a request (headers only) and give it a request id (Files and Batches)."""
        self.requests.append(recorded(request, self.api_key))
        return self.next_id()

    async def check_auth(self, request: web.Request) -> None:
        """As `preamble`, a raw scripted body becoming an error (Files and Batches)."""
        try:
            await self.preamble(request, f"req_{self._count}")
        except RawFailureError as raw:
            raise ApiError(raw.response.status, None, "Scripted raw failure.") from None

    @staticmethod
    def error_response(err: ApiError, rid: str) -> web.Response:
        return error_response(err, rid)
