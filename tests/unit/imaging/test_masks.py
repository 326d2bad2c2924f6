"""A prepared mask turned to the white-marks-the-edit convention (fal.ai's)."""

from __future__ import annotations

import io

from PIL import Image

from bot.imaging.masks import prepare_mask, white_edits


def test_the_transparent_area_becomes_white_and_the_kept_area_black() -> None:
    drawn = Image.new("RGBA", (40, 20), (255, 0, 0, 255))
    drawn.paste((0, 0, 0, 0), (0, 0, 10, 20))  # edit the left quarter
    buffer = io.BytesIO()
    drawn.save(buffer, "PNG")
    mask = prepare_mask(buffer.getvalue(), filename="m.png", size=(40, 20))
    converted = white_edits(mask)
    assert (converted.mime, converted.width, converted.height) == ("image/png", 40, 20)
    with Image.open(io.BytesIO(converted.data)) as image:
        assert "A" not in image.getbands()  # opaque: only black and white carry the meaning
        grey = image.convert("L")
        assert grey.getpixel((5, 10)) == 255 and grey.getpixel((30, 10)) == 0


def test_a_black_and_white_mask_comes_back_as_drawn() -> None:
    drawn = Image.new("L", (16, 16), 0)
    drawn.paste(255, (8, 0, 16, 16))  # white = change, as members may draw it
    buffer = io.BytesIO()
    drawn.save(buffer, "PNG")
    mask = prepare_mask(buffer.getvalue(), filename="m.png", size=(16, 16))
    with Image.open(io.BytesIO(white_edits(mask).data)) as image:
        assert image.convert("L").tobytes() == drawn.tobytes()
