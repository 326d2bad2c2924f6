"""The Files and Batches API client: upload a JSONL input, create, follow, list and read batches.

No retries here: the relaxed lane's gatherer and poller retry on their own schedule, and a
batch create whose answer was lost is found again by its metadata (never created twice).
Errors are translated like the Images API's (bot/provider/failures.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from bot.errors import UpstreamError
from bot.provider.batch_wire import COMPLETION_WINDOW, BatchInfo, parse_batch
from bot.provider.failures import malformed, translate_error, translate_transport_error
from bot.provider.wire import MalformedResponseError

_HTTPX_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError)
LIST_PAGE = 100  # the API's maximum `limit` for GET /batches
INPUT_EXPIRES_SECONDS = 3 * 86_400  # 3600..2592000 allowed [OAS FileExpirationAfter]
# The output and error files hold members' images too. `output_expires_after` (openai 3.63.0,
# https://github.com/openai/openai-python types/batch_create_params.py) is anchored at the
# file's creation, when the batch ends; three days leaves a stopped bot time to fetch them.
OUTPUT_EXPIRES_SECONDS = 3 * 86_400


class OpenAIBatchesClient:
    """POST /files (purpose=batch), POST/GET /batches, GET /files/{id}/content."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        input_expiry_days: int = 3,
        model_ids: Callable[[str], str] | None = None,
    ) -> None:
        self._http = http
        # The provider's id for a catalog model (Azure's deployment names), put in each line.
        self._model_ids = model_ids
        # Azure wants batch input files kept 14 days or more (its profile says so).
        self._expires = max(INPUT_EXPIRES_SECONDS, input_expiry_days * 86_400)

    def __repr__(self) -> str:
        return f"OpenAIBatchesClient(base_url={str(self._http.base_url)!r})"

    async def upload(self, jsonl: bytes, filename: str) -> str:
        """Upload a batch input file; returns its file id (`file-...`).

        It expires after INPUT_EXPIRES_SECONDS (or the provider's minimum) instead of the
        default 30 days: edit lines carry members' images, and a batch needs its input only
        within its 24-hour window.
        """
        if self._model_ids is not None:
            jsonl = _renamed(jsonl, self._model_ids)
        files = {"file": (filename, jsonl, "application/jsonl")}
        form = {
            "purpose": "batch",
            "expires_after[anchor]": "created_at",
            "expires_after[seconds]": str(self._expires),
        }
        data = await self._json("POST", "files", data=form, files=files)
        file_id = data.get("id")
        if not isinstance(file_id, str):
            raise malformed("file object without an id", status=200, request_id=None)
        return file_id

    async def create(
        self, input_file_id: str, endpoint: str, metadata: Mapping[str, str]
    ) -> BatchInfo:
        """Create a batch over an uploaded file (completion_window 24h)."""
        body = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": COMPLETION_WINDOW,
            "metadata": dict(metadata),
            "output_expires_after": {"anchor": "created_at", "seconds": OUTPUT_EXPIRES_SECONDS},
        }
        return self._batch(await self._json("POST", "batches", json=body))

    async def retrieve(self, batch_id: str) -> BatchInfo:
        return self._batch(await self._json("GET", f"batches/{batch_id}"))

    async def cancel(self, batch_id: str) -> BatchInfo:
        return self._batch(await self._json("POST", f"batches/{batch_id}/cancel"))

    async def list_since(self, created_after: int) -> list[BatchInfo]:
        """Batches created at or after `created_after` (unix s), newest first, every page."""
        found: list[BatchInfo] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": LIST_PAGE}
            if after:
                params["after"] = after
            data = await self._json("GET", "batches", params=params)
            page = [self._batch(item) for item in data.get("data") or []]
            found.extend(b for b in page if b.created_at >= created_after)
            older = any(b.created_at < created_after for b in page)
            if not page or older or not data.get("has_more"):
                return found
            after = page[-1].id

    async def content(self, file_id: str) -> bytes:
        """The bytes of an output or error file."""
        response = await self._send("GET", f"files/{file_id}/content")
        return response.content

    # ---- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _batch(data: object) -> BatchInfo:
        try:
            return parse_batch(data)
        except MalformedResponseError as exc:
            raise malformed(str(exc), status=200, request_id=None) from None

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, path, **kwargs)
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            rid = response.headers.get("x-request-id")
            raise malformed(f"{path} answered without a JSON object", status=200, request_id=rid)
        return data

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except _HTTPX_ERRORS as exc:
            error: UpstreamError = translate_transport_error(exc)
            raise error from None
        if response.status_code >= 300:
            rid = response.headers.get("x-request-id")
            translated = translate_error(
                response.status_code, response.content, response.headers, model="", request_id=rid
            )
            raise translated
        return response


def _renamed(jsonl: bytes, model_ids: Callable[[str], str]) -> bytes:
    """Each line's `body.model` as the provider names it."""
    lines = []
    for raw in jsonl.splitlines():
        line = json.loads(raw)
        line["body"]["model"] = model_ids(line["body"]["model"])
        lines.append(json.dumps(line, separators=(",", ":")).encode())
    return b"\n".join(lines) + b"\n"
