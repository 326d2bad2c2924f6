"""The fake organization's projects and project API keys, as the Admin API lists them.

Shapes from the API reference and openai/openai-python (`resources/admin/organization/projects/
api_keys.py`, `types/admin/organization/projects/project_api_key.py`;
https://platform.openai.com/docs/api-reference/project-api-keys/list): cursor lists
`{object: "list", data, first_id, last_id, has_more}` followed with `after`, `limit` 1-100
(default 20); each key `{object: "organization.project.api_key", id, name, redacted_value,
created_at, last_used_at, owner}`, the value redacted as in the reference's example
"sk-abc...def".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.openai_rules import ApiError

CREATED = 1_767_225_600  # 2026-01-01: when the fake's projects and keys were made


@dataclass(frozen=True)
class OrgKey:
    """A project API key the organization holds (the secret stays in the fake)."""

    key_id: str
    project: str
    secret: str
    name: str = "Secret key"

    def listed(self) -> dict[str, Any]:
        return {
            "object": "organization.project.api_key",
            "id": self.key_id,
            "name": self.name,
            "redacted_value": f"{self.secret[:6]}...{self.secret[-3:]}",
            "created_at": CREATED,
            "last_used_at": None,
            "owner": {"type": "service_account", "service_account": {
                "id": f"svc_{self.key_id}", "name": self.name, "created_at": CREATED,
                "role": "member"}},
        }  # fmt: skip


def project_list(projects: Sequence[str], query: Mapping[str, list[str]]) -> dict[str, Any]:
    """GET /organization/projects: the organization's active projects."""
    rows = [
        {"object": "organization.project", "id": p, "name": p, "created_at": CREATED,
         "archived_at": None, "status": "active"}
        for p in projects
    ]  # fmt: skip
    return _cursor_page(rows, query)


def key_list(
    keys: Sequence[OrgKey], project: str, query: Mapping[str, list[str]]
) -> dict[str, Any]:
    """GET /organization/projects/{project_id}/api_keys; 404 for a project that does not exist."""
    if project not in {k.project for k in keys}:
        raise ApiError(404, None, f"No such project: '{project}'.")
    return _cursor_page([k.listed() for k in keys if k.project == project], query)


def _cursor_page(rows: list[dict[str, Any]], query: Mapping[str, list[str]]) -> dict[str, Any]:
    try:
        limit = int(query.get("limit", ["20"])[0])
    except ValueError:
        raise ApiError(400, "invalid_type", "Invalid type for 'limit'.", param="limit") from None
    if not 1 <= limit <= 100:
        raise ApiError(400, "invalid_value", "Invalid 'limit': must be 1 to 100.", param="limit")
    after = query.get("after", [""])[0]
    ids = [row["id"] for row in rows]
    start = ids.index(after) + 1 if after in ids else 0
    page = rows[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": start + limit < len(rows),
    }
