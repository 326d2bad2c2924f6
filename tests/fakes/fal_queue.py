"""A loopback fake of fal.ai's queue API for its GPT Image endpoints, written from fal's docs.

- Queue: https://docs.fal.ai/model-endpoints/queue (POST {model_id}[/{subpath}] answers
  request_id and URLs; GET {model_id}/requests/{id}/status gives IN_QUEUE, IN_PROGRESS or
  COMPLETED; GET {model_id}/requests/{id} the output; status and result paths drop the subpath).
- Auth: `Authorization: Key $FAL_KEY` (the same page's curl example).
- Inputs and output: https://fal.ai/models/fal-ai/gpt-image-1/edit-image/llms.txt (prompt,
  image_urls, image_size auto/1024x1024/1536x1024/1024x1536, quality, num_images 1-4,
  output_format; `images: [{url, width, height, content_type}]` on fal's CDN).
- openai/gpt-image-2 and its /edit: `image_size` is a preset (square_hd, square, portrait_4_3,
  portrait_16_9, landscape_4_3, landscape_16_9) or an object `{width, height}` (custom sizes:
  multiples of 16, long edge <= 3840, ratio <= 3:1, 655,360-8,294,400 pixels), not "WxH"
  (https://fal.ai/models/openai/gpt-image-2/llms.txt and .../edit/llms.txt).
- Masks: `mask_image_url` on the gpt-image-1 and 1.5 edit endpoints, "the mask image to use
  for the generation. White areas indicate where the image should be edited"
  (https://fal.ai/models/fal-ai/gpt-image-1.5/edit/api); `mask_url` on openai/gpt-image-2/edit,
  "white pixels mark regions to edit; black pixels are preserved"
  (https://fal.ai/models/openai/gpt-image-2/edit/api). The fake takes only an opaque picture
  that is white somewhere (a transparent, OpenAI-style mask would edit nothing there).
Requests are made at once; a result is served from the CDN host the test routes here.
"""

from __future__ import annotations

import base64
import binascii
import io
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web
from PIL import Image

from tests.fakes.openai_outputs import make_image

MASK_FIELDS = {  # the edit endpoint's mask field
    "fal-ai/gpt-image-1/edit-image": "mask_image_url",
    "fal-ai/gpt-image-1.5/edit": "mask_image_url",
    "openai/gpt-image-2/edit": "mask_url",
}
ENDPOINTS = {  # endpoint (model id + subpath) -> ("generate" | "edit")
    "fal-ai/gpt-image-1/text-to-image": "generate",
    "fal-ai/gpt-image-1/edit-image": "edit",
    "fal-ai/gpt-image-1.5": "generate",
    "fal-ai/gpt-image-1.5/edit": "edit",
    "fal-ai/gpt-image-1-mini": "generate",  # https://fal.ai/models/fal-ai/gpt-image-1-mini/llms.txt
    "fal-ai/gpt-image-1-mini/edit": "edit",
    "openai/gpt-image-2": "generate",
    "openai/gpt-image-2/edit": "edit",
}
SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")  # the gpt-image-1 family's enum
PRESETS = ("square_hd", "square", "portrait_4_3", "portrait_16_9", "landscape_4_3",
           "landscape_16_9")  # fmt: skip
FREE_SIZE_ENDPOINTS = ("openai/gpt-image-2", "openai/gpt-image-2/edit")
QUALITIES = ("auto", "low", "medium", "high")
FORMATS = ("png", "jpeg", "webp")
KNOWN = {"prompt", "image_size", "quality", "num_images", "output_format", "background",
         "image_urls", "input_fidelity", "sync_mode"}  # fmt: skip
CDN_HOST = "v3.fal.media"


@dataclass
class Queued:
    endpoint: str
    input: dict[str, Any]
    polls: int = 0
    files: list[str] = field(default_factory=list)


class FakeFal:
    """`async with FakeFal() as fal:` serves http://127.0.0.1:PORT as queue.fal.run and the CDN."""

    def __init__(self, api_key: str = "fal-key") -> None:
        self.api_key = api_key
        self.submitted: list[Queued] = []
        self.unauthorized = 0
        self.requests: dict[str, Queued] = {}
        self.files: dict[str, bytes] = {}
        self.images_out: list[bytes] = []
        self.polls_before_done = 1  # status answers IN_QUEUE this many times first
        self.drop_next = 0  # submissions taken, then the connection dropped (billed)
        self.files_gone = False  # the CDN answers 404 for every file (made, billed, lost)
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeFal:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/{owner}/{app}/requests/{rid}/status", self._status)
        app.router.add_get("/{owner}/{app}/requests/{rid}", self._result)
        app.router.add_post("/{endpoint:.+}", self._submit)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorized(self, request: web.Request) -> bool:
        ok = request.headers.get("Authorization") == f"Key {self.api_key}"
        self.unauthorized += not ok
        return ok

    async def _submit(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"detail": "Unauthorized"}, status=401)
        endpoint = request.match_info["endpoint"]
        if endpoint not in ENDPOINTS:
            return web.json_response({"detail": "Application not found"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"detail": "Invalid JSON"}, status=422)
        problem = _problem(ENDPOINTS[endpoint], body, MASK_FIELDS.get(endpoint)) or _size_problem(
            endpoint, body
        )
        if problem is not None:
            return web.json_response({"detail": [{"loc": ["body", problem[0]],
                                                  "msg": problem[1]}]}, status=422)  # fmt: skip
        rid = str(uuid.uuid4())
        queued = Queued(endpoint, body)
        self.submitted.append(queued)
        self.requests[rid] = queued
        if self.drop_next:
            self.drop_next -= 1
            if request.transport is not None:
                request.transport.abort()
        app = "/".join(endpoint.split("/")[:2])
        base = f"https://queue.fal.run/{app}/requests/{rid}"
        return web.json_response({"request_id": rid, "response_url": base,
                                  "status_url": f"{base}/status", "cancel_url": f"{base}/cancel",
                                  "queue_position": 0})  # fmt: skip

    async def _status(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"detail": "Unauthorized"}, status=401)
        queued = self._find(request)
        if queued is None:
            return web.json_response({"detail": "Request not found"}, status=404)
        queued.polls += 1
        done = queued.polls > self.polls_before_done
        return web.json_response(
            {"status": "COMPLETED"} if done else {"status": "IN_QUEUE", "queue_position": 0},
            status=200 if done else 202,
        )

    async def _result(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"detail": "Unauthorized"}, status=401)
        queued = self._find(request)
        if queued is None or queued.polls <= self.polls_before_done:
            return web.json_response({"detail": "Request is still in progress"}, status=400)
        if not queued.files:
            self._make(queued)
        images = [
            {"url": f"https://{CDN_HOST}/files/{name}", "content_type": "image/png",
             "file_name": name}
            for name in queued.files
        ]  # fmt: skip
        return web.json_response({"images": images})

    def _make(self, queued: Queued) -> None:
        size = queued.input.get("image_size", "auto")
        if isinstance(size, dict):
            size = f"{size['width']}x{size['height']}"
        size = "1024x1024" if size == "auto" or size in PRESETS else size
        fmt = queued.input.get("output_format", "png")
        for i in range(int(queued.input.get("num_images", 1))):
            data = make_image(size, fmt, transparent=False, noise=False, shade=i * 40)
            name = f"{uuid.uuid4().hex}.{fmt}"
            self.files[name] = data
            self.images_out.append(data)
            queued.files.append(name)

    def _find(self, request: web.Request) -> Queued | None:
        queued = self.requests.get(request.match_info["rid"])
        app = f"{request.match_info['owner']}/{request.match_info['app']}"
        return queued if queued is not None and queued.endpoint.startswith(app) else None

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None or self.files_gone:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")


def _problem(operation: str, body: Any, mask_field: str | None) -> tuple[str, str] | None:
    """The first field fal's schema would refuse, or None."""
    if not isinstance(body, dict):
        return "body", "must be an object"
    for key in body:
        if key not in KNOWN and key != mask_field:  # OpenAI's names (n, size, mask) are not fal's
            return key, "unexpected field"
    if mask_field is not None and mask_field in body:
        problem = _mask_problem(body[mask_field])
        if problem is not None:
            return mask_field, problem
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        return "prompt", "field required"
    checks = (("quality", QUALITIES), ("output_format", FORMATS))
    for key, allowed in checks:
        if key in body and body[key] not in allowed:
            return key, f"must be one of {allowed}"
    n = body.get("num_images", 1)
    if not isinstance(n, int) or not 1 <= n <= 4:
        return "num_images", "must be 1 to 4"
    if operation == "edit":
        urls = body.get("image_urls")
        if not isinstance(urls, list) or not urls or not all(_data_or_https(u) for u in urls):
            return "image_urls", "must be a list of URLs or data URIs"
    elif "image_urls" in body:
        return "image_urls", "unexpected field"
    return None


def _size_problem(endpoint: str, body: dict[str, Any]) -> tuple[str, str] | None:
    """Why `image_size` is not what this endpoint's schema takes, or None."""
    if "image_size" not in body:
        return None
    size = body["image_size"]
    if endpoint not in FREE_SIZE_ENDPOINTS:
        return None if size in SIZES else ("image_size", f"must be one of {SIZES}")
    if isinstance(size, str):
        return (
            None if size in PRESETS else ("image_size", f"a preset {PRESETS} or {{width, height}}")
        )
    if not isinstance(size, dict) or set(size) != {"width", "height"}:
        return "image_size", "must be a preset name or an object {width, height}"
    w, h = size["width"], size["height"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v % 16 == 0 for v in (w, h)):
        return "image_size", "width and height must be multiples of 16"
    if max(w, h) > 3840 or max(w, h) > 3 * min(w, h) or not 655_360 <= w * h <= 8_294_400:
        return "image_size", "outside gpt-image-2's size limits"
    return None


def _data_or_https(url: object) -> bool:
    if not isinstance(url, str):
        return False
    if url.startswith("https://"):
        return True
    if not url.startswith("data:image/") or ";base64," not in url:
        return False
    try:
        base64.b64decode(url.partition(";base64,")[2], validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _mask_problem(url: object) -> str | None:
    """Why a mask edits nothing in fal's convention (white = edit), or None."""
    if not _data_or_https(url) or not isinstance(url, str) or url.startswith("https://"):
        return "must be an image's data URI"
    data = base64.b64decode(url.partition(";base64,")[2])
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgba = image.convert("RGBA")
    except (OSError, ValueError):
        return "is not an image"
    lowest_alpha, _ = cast(tuple[int, int], rgba.getchannel("A").getextrema())
    if lowest_alpha < 255:
        return "white marks the area to edit: a transparent mask is not fal's convention"
    _, brightest = cast(tuple[int, int], rgba.convert("L").getextrema())
    if brightest < 128:
        return "has no white area to edit"
    return None
