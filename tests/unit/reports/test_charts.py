"""The /usage chart: a PNG of the expected size that shows the data where it belongs."""

from __future__ import annotations

import asyncio
import io
from datetime import date, timedelta

from PIL import Image

from bot.reports.charts import DPI, HEIGHT_IN, SPEND, WIDTH_IN, render_usage_chart
from bot.store.usage import DailyUsage

START = date(2026, 2, 14)
SIZE = (round(WIDTH_IN * DPI), round(HEIGHT_IN * DPI))


def series(spend: list[int], images: list[int] | None = None) -> list[DailyUsage]:
    images = images or [0] * len(spend)
    return [
        DailyUsage(START + timedelta(days=n), s, i, 1)
        for n, (s, i) in enumerate(zip(spend, images, strict=True))
    ]


def decode(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    return image.convert("RGB")


def spend_pixels(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """Pixels of the bars' colour inside box (left, top, right, bottom)."""
    target = tuple(int(SPEND[k : k + 2], 16) for k in (1, 3, 5))
    colours = image.crop(box).getcolors(maxcolors=1_000_000) or []
    return sum(count for count, colour in colours if colour == target)


def test_a_thirty_day_chart_is_a_png_of_the_expected_size_and_not_blank() -> None:
    days = series([(n % 7) * 400_000 for n in range(30)], [n % 5 * 3 for n in range(30)])
    image = decode(render_usage_chart(days, title="Spend and images per day", subtitle="Total"))
    assert image.size == SIZE
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # text, bars, line: not a flat card
    assert spend_pixels(image, (0, 0, *SIZE)) > 5_000


def test_bars_are_drawn_on_their_day() -> None:
    width, height = SIZE
    # Below the legend and right of the spend axis's label, both drawn in the bars' colour.
    plot_band = (int(width * 0.05), int(height * 0.3), width, int(height * 0.85))
    first_only = decode(render_usage_chart(series([900_000] + [0] * 29), title="t"))
    last_only = decode(render_usage_chart(series([0] * 29 + [900_000]), title="t"))
    left = (plot_band[0], plot_band[1], width // 2, plot_band[3])
    right = (width // 2, plot_band[1], plot_band[2], plot_band[3])
    assert spend_pixels(first_only, left) > 500
    assert spend_pixels(first_only, right) == 0
    assert spend_pixels(last_only, right) > 500
    assert spend_pixels(last_only, left) == 0


def test_empty_single_day_and_long_series_render() -> None:
    for days in ([], series([0] * 7), series([12_000]), series([n * 1_000 for n in range(400)])):
        assert decode(render_usage_chart(days, title="Usage")).size == SIZE


def test_charts_render_concurrently_in_threads_identically() -> None:
    # pyplot's global state is never used, so worker threads do not interfere.
    charts = [series([(n * k) % 9 * 100_000 for n in range(30)], [k] * 30) for k in range(1, 5)]

    async def render_all() -> list[bytes]:
        jobs = [
            asyncio.to_thread(render_usage_chart, d, title=f"c{k}") for k, d in enumerate(charts)
        ]
        return list(await asyncio.gather(*jobs))

    concurrent = asyncio.run(render_all())
    serial = [render_usage_chart(d, title=f"c{k}") for k, d in enumerate(charts)]
    assert concurrent == serial
