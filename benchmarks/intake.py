"""Intake cost of members' real photos: time to make each one what the Images API takes.

Builds phone-sized inputs (a 12 MP iPhone HEIC, a 12 MP HDR MPO with its gain-map picture, an
AVIF, a 16-bit PNG scan, a CMYK JPEG, an animated GIF, an upright-already JPEG) and prints, per
input, the median time of `prepare_input` (decode, convert, re-encode; what runs off the event
loop before a job is queued), the bytes in and out, and what the API is sent.

    .venv/bin/python -m benchmarks.intake [--runs 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import pillow_heif
from PIL import Image, ImageDraw

from bot.imaging.convert import prepare_input


def _photo(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    """A photo-like picture: gradients and shapes, so encoders do real work."""
    base = Image.linear_gradient("L").resize(size)
    image = Image.merge(
        "RGB",
        (base, base.rotate(90, expand=False), base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    )
    draw = ImageDraw.Draw(image)
    for i in range(0, size[0], max(1, size[0] // 12)):
        draw.ellipse((i, i // 2, i + size[0] // 8, i // 2 + size[1] // 8), fill=(i % 256, 80, 160))
    return image.convert(mode)


def _save(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def _heic(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    pillow_heif.from_pillow(image).save(buffer, quality=80)
    return buffer.getvalue()


def _grey16(size: tuple[int, int]) -> Image.Image:
    return _photo(size, "L").convert("I").point(lambda v: v * 257).convert("I;16")


INPUTS: dict[str, Callable[[], bytes]] = {
    "iPhone HEIC 4032x3024": lambda: _heic(_photo((4032, 3024))),
    "HDR MPO 4000x3000 + gain map": lambda: _save(
        _photo((4000, 3000)), "MPO", save_all=True, append_images=[_photo((1000, 750))]
    ),
    "AVIF 2000x1500": lambda: _save(_photo((2000, 1500)), "AVIF", quality=60),
    "16-bit grey PNG 3000x2000": lambda: _save(_grey16((3000, 2000)), "PNG"),
    "CMYK JPEG 2400x1600": lambda: _save(_photo((2400, 1600), "CMYK"), "JPEG", quality=90),
    "animated GIF 800x600 x10": lambda: _save(
        _photo((800, 600), "P"), "GIF", save_all=True, append_images=[_photo((800, 600), "P")] * 9
    ),
    "JPEG 4000x3000 (sent as is)": lambda: _save(_photo((4000, 3000)), "JPEG", quality=90),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'input':34} {'median ms':>9} {'in MB':>7} {'out MB':>7}  sent")
    for name, build in INPUTS.items():
        data = build()
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            prepared = prepare_input(data, filename=name)
            times.append(time.perf_counter() - started)
        sent = f"{prepared.mime} {prepared.width}x{prepared.height}"
        if prepared.data == data:
            sent += " (unchanged)"
        median = statistics.median(times) * 1000
        sizes = f"{len(data) / 1e6:7.2f} {len(prepared.data) / 1e6:7.2f}"
        print(f"{name:34} {median:9.0f} {sizes}  {sent}")


if __name__ == "__main__":
    main()
