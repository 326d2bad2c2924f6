"""A loopback fake of an OpenAI-shaped gateway (Azure, Lumenfall, Vercel, LiteLLM).

The dialect's own rules come first (key header, paths, query, model ids, edit encoding,
`response_format`); the request, turned into OpenAI's names, is then checked by the OpenAI
fake's rules, and the answer is shaped as the gateway sends it (URLs, cost fields, headers).
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import uuid
from typing import Any

from aiohttp import ClientSession, web

from tests.fakes.gateway_dialects import AZURE_API_VERSIONS, AZURE_MIN_BATCH_FILE_SECONDS, Dialect
from tests.fakes.openai_edit_files import FilePart, check_edit_files
from tests.fakes.openai_http import read_record
from tests.fakes.openai_models import MODELS
from tests.fakes.openai_outputs import Look, json_body
from tests.fakes.openai_records import RecordedRequest
from tests.fakes.openai_rules import ApiError, Call, find_model, validate

MAX_BODY = 64 * 1024 * 1024
COST_PER_IMAGE_USD = "0.0051"  # what the fake gateway says each image cost (its own price)


class FakeGateway:
    """`async with FakeGateway(AZURE) as gw:` serves http://127.0.0.1:PORT{root}."""

    def __init__(self, dialect: Dialect, api_key: str = "gw-key", *, batches: Any = None) -> None:
        self.dialect = dialect
        # Azure's Files and Batches: checked here (key, api-version, the 14-day input expiry),
        # then run by an OpenAI fake (`batches` = a FakeOpenAI), whose Batch API is the same.
        self.batches = batches
        self.batch_file_expiries: list[int] = []
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.served: list[Call] = []
        self.results: dict[str, bytes] = {}  # URL path -> bytes, on the result host
        self.downloads: list[str] = []
        self.images_out: list[bytes] = []  # every image the gateway made, as bytes
        self.drop_next = 0  # answers lost after the gateway took the call (billed)
        self.cost_per_image_usd = COST_PER_IMAGE_USD  # a gateway's own price, margin and all
        self.base_url = ""
        self.result_base = ""
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> FakeGateway:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/{tail:.*}", self._post)
        app.router.add_get("/results/{name}", self._result)
        if self.batches is not None:
            for path in ("/files", "/files/{tail:.*}", "/batches", "/batches/{tail:.*}"):
                app.router.add_route("*", self.dialect.root + path, self._batch_api)
        app.router.add_get(self.dialect.root + "/models", self._models)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}{self.dialect.root}"
        self.result_base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def reported_micro_usd(self) -> int:
        """What the gateway reported for every image it served, in micro-USD."""
        return round(float(self.cost_per_image_usd) * 1_000_000) * sum(c.n for c in self.served)

    async def _post(self, request: web.Request) -> web.StreamResponse:
        record = await read_record(request, self.api_key)
        self.requests.append(record)
        try:
            self._check_auth(request)
            operation, path_model = self._route(request)
            params, parts = self._openai_params(operation, record, path_model)
            call = self._validate(operation, params, parts)
        except ApiError as err:
            return self._error(err)
        if self.dialect.envelope == "azure" and "CONTENT_FILTER" in call.prompt:
            refusal = "Your task failed as a result of our safety system."
            return self._error(ApiError(400, "contentFilter", refusal))
        self.served.append(call)
        if self.drop_next:
            self.drop_next -= 1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        return self._answer(call, asked_b64=record.params.get("response_format") == "b64_json")

    def _check_auth(self, request: web.Request) -> None:
        d = self.dialect
        if request.headers.get(d.auth_header) != d.auth_value(self.api_key):
            raise ApiError(401, "401", "Access denied due to invalid subscription key.")

    def _route(self, request: web.Request) -> tuple[str, str | None]:
        d = self.dialect
        rest = request.path.removeprefix(d.root)
        if d.needs_api_version and request.query.get("api-version") not in AZURE_API_VERSIONS:
            raise ApiError(404, "404", "Resource not found")
        model = None
        if d.deployments and rest.startswith("/deployments/"):
            model, _, rest = rest.removeprefix("/deployments/").partition("/")
            rest = "/" + rest
        routes = {"/images/generations": "generate", "/images/edits": "edit"}
        if rest not in routes:
            raise ApiError(404, "404", "Resource not found")
        return routes[rest], model

    def _openai_params(
        self, operation: str, record: RecordedRequest, path_model: str | None
    ) -> tuple[dict[str, Any], list[FilePart]]:
        d = self.dialect
        params = dict(record.params)
        if "response_format" in params and d.refuses_response_format:
            raise ApiError(400, "unknown_parameter", "Unknown parameter: 'response_format'.")
        params.pop("response_format", None)
        name = path_model if path_model is not None else params.get("model")
        if not isinstance(name, str) or not name.startswith(d.model_prefix):
            raise ApiError(404, "model_not_found", f"The model `{name}` does not exist.")
        params["model"] = name.removeprefix(d.model_prefix)
        if operation == "generate":
            if record.json is None:
                raise ApiError(400, None, "We could not parse the JSON body of your request.")
            return params, []
        return params, self._edit_parts(record, params)

    def _edit_parts(self, record: RecordedRequest, params: dict[str, Any]) -> list[FilePart]:
        d = self.dialect
        if d.json_edits:
            if record.json is None:
                raise ApiError(400, None, "Edits take a JSON body: images: [{image_url}].")
            images = params.pop("images", None)
            if params.pop("mask", None) is not None and not d.masks:
                raise ApiError(400, "unknown_parameter", "Unknown parameter: 'mask'.")
            if not isinstance(images, list) or not images:
                raise ApiError(400, None, "Missing required parameter: 'images'.")
            return [_from_data_uri(item) for item in images]
        if record.json is not None:
            raise ApiError(400, None, "Edits take multipart/form-data.")
        names = {p.name for p in record.parts if p.filename is not None and p.name != "mask"}
        if names - d.multipart_fields or (d.mixed_fields_refused and len(names) > 1):
            raise ApiError(422 if d.mixed_fields_refused else 400, None,
                           f"Unexpected file fields: {sorted(names)}")  # fmt: skip
        return [FilePart(p.name, p.content_type, p.data) for p in record.parts if p.filename]

    def _validate(self, operation: str, params: dict[str, Any], parts: list[FilePart]) -> Call:
        model = find_model(params, set())
        form = operation == "edit" and not self.dialect.json_edits
        call = validate(operation, params, model, form=form)
        if operation == "edit":
            images = [p for p in parts if p.name.startswith("image")]
            masks = [p for p in parts if p.name == "mask"]
            check_edit_files(call, images, masks[0] if masks else None)
        return call

    def _answer(self, call: Call, *, asked_b64: bool) -> web.Response:
        d = self.dialect
        body = json_body(call, Look(usage=d.usage))
        self.images_out += [base64.b64decode(item["b64_json"]) for item in body["data"]]
        if d.url_unless_b64 and not asked_b64:
            for item in body["data"]:
                name = f"{uuid.uuid4().hex}.png"
                self.results[name] = base64.b64decode(item.pop("b64_json"))
                item["url"] = f"https://{d.result_host}/results/{name}"
        headers = {"x-request-id": f"req_{len(self.requests)}"}
        cost = str(float(self.cost_per_image_usd) * call.n)
        if d.cost_field:
            body["metadata"] = {"cost": float(cost), "cost_currency": "USD", "provider": "openai"}
        if d.cost_header:
            headers[d.cost_header] = cost
        return web.json_response(body, headers=headers)

    async def _batch_api(self, request: web.Request) -> web.Response:
        try:
            self._check_auth(request)
            if request.query.get("api-version") not in AZURE_API_VERSIONS:
                raise ApiError(404, "404", "Resource not found")
        except ApiError as err:
            return self._error(err)
        raw = await request.read()
        if request.method == "POST" and request.path.endswith("/files"):
            form = _form_fields(raw)
            seconds = int(form.get("expires_after[seconds]", "0") or 0)
            self.batch_file_expiries.append(seconds)
            if seconds < AZURE_MIN_BATCH_FILE_SECONDS:
                return self._error(ApiError(400, "invalidPayload", "expires_after.seconds must "
                                            "be at least 1209600 (14 days)."))  # fmt: skip
        target = self.batches.base_url + request.path.removeprefix(self.dialect.root)
        headers = {"Authorization": f"Bearer {self.batches.api_key}"}
        if "Content-Type" in request.headers:
            headers["Content-Type"] = request.headers["Content-Type"]
        async with (
            ClientSession() as session,
            session.request(request.method, target, data=raw or None, headers=headers) as answer,
        ):
            body = await answer.read()
            ctype = answer.headers.get("Content-Type", "application/json")
            return web.Response(status=answer.status, body=body, headers={"Content-Type": ctype})

    async def _models(self, request: web.Request) -> web.Response:
        try:
            self._check_auth(request)
        except ApiError as err:
            return self._error(err)
        ids = [self.dialect.model_prefix + name for name in MODELS]
        return web.json_response({"object": "list", "data": [{"id": i} for i in ids]})

    async def _result(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.downloads.append(name)
        if name not in self.results:
            return web.Response(status=404)
        return web.Response(body=self.results[name], content_type="image/png")

    def _error(self, err: ApiError) -> web.Response:
        body = err.body()
        if self.dialect.envelope == "azure":
            body = {"error": {"code": err.code or str(err.status), "message": err.message}}
        return web.json_response(body, status=err.status)


def _form_fields(raw: bytes) -> dict[str, str]:
    """The plain fields of a multipart body (name -> text); file parts are skipped."""
    pattern = rb'name="([^"]+)"\r\n(?:Content-Type: [^\r]+\r\n)?\r\n([^\r]*)\r\n'
    return {m[1].decode(): m[2].decode() for m in re.finditer(pattern, raw)
            if b"filename=" not in m[0]}  # fmt: skip


def _from_data_uri(item: object) -> FilePart:
    url = item.get("image_url") if isinstance(item, dict) else None
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        raise ApiError(400, None, "images[].image_url must be a URL or a data URI.")
    mime, _, data = url.removeprefix("data:").partition(";base64,")
    try:
        return FilePart("image", mime, base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise ApiError(400, None, "images[].image_url is not valid base64.") from None
