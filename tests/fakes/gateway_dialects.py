"""How each OpenAI-shaped gateway is spoken to, written from its documentation (not the bot's).

Sources (public documentation):
- Azure OpenAI: https://learn.microsoft.com/azure/ai-foundry/openai/how-to/dall-e (the `api-key`
  header, deployments in the path, `api-version` in the query, base64 only, no `usage` in the
  sample, errors `{"error": {"code": "...", "message"}}`).
- Lumenfall: https://docs.lumenfall.ai/openai-compatibility, /api-reference/images/edit,
  /client-libraries/http (Bearer, `image` parts, URL results on media.lumenfall.ai unless
  `response_format: "b64_json"`, `metadata.cost`).
- Vercel AI Gateway: https://vercel.com/docs/ai-gateway/image-generation/openai (Bearer,
  `openai/gpt-image-2` ids; edits seen only as JSON `images: [{image_url}]`).
- LiteLLM proxy: https://docs.litellm.ai/docs/image_edits, /proxy/response_headers (Bearer,
  `image` or `image[]` but not both, the `x-litellm-response-cost` header in USD).
"""

from __future__ import annotations

from dataclasses import dataclass, field

AZURE_API_VERSIONS = frozenset({"2025-04-01-preview", "preview", "v1"})
# Azure's Batch API: input files must expire no sooner than 14 days ("expires_after.seconds ...
# minimum 1209600"): https://learn.microsoft.com/azure/ai-foundry/openai/how-to/batch
AZURE_MIN_BATCH_FILE_SECONDS = 14 * 86_400


@dataclass(frozen=True)
class Dialect:
    """One gateway's rules as the fake enforces them."""

    name: str
    root: str  # the base URL's path
    auth_header: str
    auth_scheme: str  # "" = the bare key
    deployments: bool = False  # model named in the path (Azure), not the body
    needs_api_version: bool = False
    model_prefix: str = ""  # ids the gateway takes: prefix + OpenAI's name
    multipart_fields: frozenset[str] = frozenset({"image", "image[]"})
    mixed_fields_refused: bool = False  # LiteLLM: `image` and `image[]` together is a 422
    json_edits: bool = False  # edits only as JSON images: [{image_url}]
    masks: bool = True
    url_unless_b64: bool = False  # URL results unless response_format b64_json is asked
    refuses_response_format: bool = False
    result_host: str = ""
    cost_field: str = ""  # "metadata.cost" in the body
    cost_header: str = ""
    usage: bool = True
    envelope: str = "openai"
    extra: dict[str, str] = field(default_factory=dict)

    def auth_value(self, key: str) -> str:
        return f"{self.auth_scheme} {key}" if self.auth_scheme else key


AZURE = Dialect(
    "azure", "/openai", "api-key", "", deployments=True, needs_api_version=True,
    multipart_fields=frozenset({"image", "image[]"}), refuses_response_format=True,
    usage=False, envelope="azure",
)  # fmt: skip
LUMENFALL = Dialect(
    "lumenfall", "/openai/v1", "Authorization", "Bearer", multipart_fields=frozenset({"image"}),
    url_unless_b64=True, result_host="media.lumenfall.ai", cost_field="metadata.cost",
    usage=False,
)  # fmt: skip
VERCEL = Dialect(
    "vercel", "/v1", "Authorization", "Bearer", model_prefix="openai/", json_edits=True,
    masks=False, usage=False,
)  # fmt: skip
LITELLM = Dialect(
    "litellm", "/v1", "Authorization", "Bearer", mixed_fields_refused=True,
    cost_header="x-litellm-response-cost", refuses_response_format=True,
)  # fmt: skip
DIALECTS = {d.name: d for d in (AZURE, LUMENFALL, VERCEL, LITELLM)}
