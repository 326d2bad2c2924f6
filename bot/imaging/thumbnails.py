"""Small JPEG copies of edit inputs for the moderation endpoint (Pillow; run off the loop)."""

from __future__ import annotations

import io

from PIL import Image

from bot.domain import InputImage

# Moderation needs no detail; a small RGB JPEG also avoids the endpoint's reported failures on
# big files (>20 MB) and on grey+alpha PNGs (docs/sources.md#moderation-errors).
MODERATION_SIDE = 1024
MODERATION_QUALITY = 85


def moderation_jpeg(image: InputImage) -> bytes:
    """The image as an RGB JPEG at most MODERATION_SIDE px on its longer side; transparent
    areas on white, as a viewer would see them."""
    with Image.open(io.BytesIO(image.data)) as source:
        source.draft("RGB", (MODERATION_SIDE, MODERATION_SIDE))  # JPEG: decode small at once
        picture = source.convert("RGBA")
    picture.thumbnail((MODERATION_SIDE, MODERATION_SIDE))
    flat = Image.new("RGB", picture.size, (255, 255, 255))
    flat.paste(picture, mask=picture.getchannel("A"))
    out = io.BytesIO()
    flat.save(out, format="JPEG", quality=MODERATION_QUALITY)
    return out.getvalue()
