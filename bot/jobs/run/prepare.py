"""A queued job turned back into the API request it asks for, with its stored inputs."""

from __future__ import annotations

import hashlib
import secrets

from bot.catalog.models import Catalog, ModelSpec
from bot.db import Database
from bot.domain import ImageRequest, InputImage
from bot.errors import InvalidImageError
from bot.records import JobRecord
from bot.store import jobs as store, meta
from bot.store.files import FileStore, input_name

SALT_KEY = "safety_identifier_salt"


def safety_identifier(user_id: int, salt: str) -> str:
    """The member for OpenAI's abuse monitoring: stable per member, salted per install so the
    same Discord id gives different identifiers on different bots and cannot be looked up."""
    return hashlib.sha256(f"{salt}:discord-user:{user_id}".encode()).hexdigest()[:32]


async def install_salt(db: Database) -> str:
    """This install's random salt, made once and kept in the database."""
    salt = await meta.get(db, SALT_KEY)  # a read: no write lock once the salt exists
    if salt is not None:
        return salt
    async with db.transaction() as conn:
        return await meta.get_or_create(conn, SALT_KEY, secrets.token_hex(16))


async def prepare(
    job: JobRecord, catalog: Catalog, db: Database, files: FileStore
) -> tuple[ModelSpec, ImageRequest]:
    """The job's model and its whole request (n images); InvalidImageError if an input is gone."""
    spec = catalog.get(job.model)  # ModelNotAllowedError if the catalog dropped it
    images: list[InputImage] = []
    mask: InputImage | None = None
    markup: InputImage | None = None
    for row in await store.files_of(db, job.id):
        if row.role == "result":
            continue
        try:
            data = await files.read(row.relpath)
        except OSError:
            raise InvalidImageError(
                f"image {row.index + 1}", "the uploaded image is no longer stored"
            ) from None
        image = InputImage(data, row.mime, row.width, row.height, input_name(row.relpath))
        if row.role == "mask":
            mask = image
        elif row.role == "markup":
            markup = image
        else:
            images.append(image)
    request = ImageRequest(
        operation=job.operation,
        prompt=job.request_prompt,  # with the style's text
        options=job.options,
        images=tuple(images),
        mask=mask,
        markup=markup,
        safety_identifier=safety_identifier(job.user_id, await install_salt(db)),
    )
    return spec, request
