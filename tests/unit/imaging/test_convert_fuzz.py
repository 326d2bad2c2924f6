"""The intake fuzzed: random and mutated files end in a usable upload or our own refusal only.

Each case goes through `prepare_input`, the function every edit input passes before anything is
queued or sent. Properties: only InvalidImageError escapes; each case allocates at most
CASE_PEAK_BYTES of Python memory (tracemalloc; Pillow's pixel
buffers are bounded by the pixel limit checked before decoding); and whatever is accepted is
exactly what the API takes (8-bit RGB/RGBA PNG, JPEG or WebP, one frame, within the side limit,
no MPF segment) and what the fake Images API, which mirrors the real one's checks, accepts.
A refused file never becomes an InputImage, so nothing of it can be queued or sent upstream
(tests/e2e/test_member_images.py shows the same through Discord).

FUZZ_EXAMPLES sets the number of cases per test (CI default below); the slowest case and the
count are printed with `pytest -s`.
"""

from __future__ import annotations

import io
import os
import struct
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from bot.errors import InvalidImageError
from bot.imaging.convert import API_MAX_INPUT_BYTES, MAX_INPUT_SIDE, prepare_input
from tests.fakes.openai_edit_files import FilePart, check_image_part, has_mpf_segment
from tests.unit.imaging.intake_seeds import png_with_header, seeds

# Pillow warns (UserWarning) about the corrupt metadata these files are made of; expected here.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
CASE_PEAK_BYTES = 64 * 1024 * 1024
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the per-case bound below is ours, measured without Hypothesis' overhead
    derandomize=True,  # the same cases on every run: CI never flakes, failures reproduce
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
_stats: dict[str, list[tuple[float, str]]] = {}


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    for test, cases in _stats.items():
        seconds, label = max(cases)
        print(f"\n{test}: {len(cases)} cases, slowest {seconds * 1000:.1f} ms ({label})")


def _run(test: str, label: str, data: bytes) -> None:
    """One case: refused with our error, or accepted as something the API takes."""
    tracemalloc.start()  # only around the case: tracing Hypothesis itself would triple the time
    started = time.perf_counter()
    try:
        result = prepare_input(data, filename="fuzz.bin")
    except InvalidImageError as exc:
        assert exc.filename == "fuzz.bin" and exc.reason
        result = None
    finally:
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    _stats.setdefault(test, []).append((elapsed, label))
    assert peak < CASE_PEAK_BYTES, f"{label} allocated {peak / 1e6:.0f} MB"
    if result is not None:
        _check_sendable(result.data, result.mime, (result.width, result.height))


def _check_sendable(data: bytes, mime: str, size: tuple[int, int]) -> None:
    assert mime in ("image/png", "image/jpeg", "image/webp")
    assert len(data) < API_MAX_INPUT_BYTES and not has_mpf_segment(data)
    assert check_image_part(FilePart("image", mime, data), 1) == size
    with Image.open(io.BytesIO(data)) as image:
        assert Image.MIME[image.format or ""] == mime
        assert image.mode in ("RGB", "RGBA")
        assert getattr(image, "n_frames", 1) == 1
        assert min(image.size) >= 1 and max(image.size) <= MAX_INPUT_SIDE


_SEEDS = seeds()
_seed = st.sampled_from(_SEEDS)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A seed file truncated, overwritten, spliced with another's header, or padded."""
    name, data = draw(_seed)
    kind = draw(st.sampled_from(["truncate", "flip", "splice", "insert", "append", "as-is"]))
    buffer = bytearray(data)
    if kind == "truncate" and data:
        buffer = buffer[: draw(st.integers(0, len(data) - 1))]
    elif kind == "flip" and data:
        for _ in range(draw(st.integers(1, 8))):
            buffer[draw(st.integers(0, len(buffer) - 1))] = draw(st.integers(0, 255))
    elif kind == "splice":
        _, other = draw(_seed)
        cut = draw(st.integers(1, 64))
        buffer = bytearray(other[:cut]) + buffer[cut:]
    elif kind == "insert":
        at = draw(st.integers(0, len(buffer)))
        buffer[at:at] = draw(st.binary(min_size=1, max_size=64))
    elif kind == "append":
        buffer += draw(st.binary(min_size=1, max_size=256))
    return f"{name}/{kind}", bytes(buffer)


@FUZZ
@given(case=mutated())
def test_mutated_files_are_refused_or_made_sendable(case: tuple[str, bytes]) -> None:
    _run("mutated", *case)


_DIMENSIONS = st.sampled_from([0, 1, 2, 16, 4097, 16384, 65535, 100_000, 2**31 - 1, 2**32 - 1])


@st.composite
def headers(draw: st.DrawFn) -> tuple[str, bytes]:
    """Header lies (huge, zero, negative-as-unsigned sizes; bad CRCs) and raw random bytes."""
    kind = draw(st.sampled_from(["png", "png-bad-crc", "gif", "bmp", "random", "magic+random"]))
    width, height = draw(_DIMENSIONS), draw(_DIMENSIONS)
    if kind.startswith("png"):
        data = png_with_header(width, height, fix_crc=kind == "png")
    elif kind == "gif":  # logical screen and image descriptor both claim the size
        size = struct.pack("<HH", width & 0xFFFF, height & 0xFFFF)
        body = b"\x2c\x00\x00\x00\x00" + size + b"\x00\x02\x02\x44\x01\x00\x3b"
        data = b"GIF89a" + size + b"\x00\x00\x00" + body
    elif kind == "bmp":
        info = struct.pack("<IiiHHIIiiII", 40, width & 0x7FFFFFFF, height & 0x7FFFFFFF, 1, 24,
                           0, 0, 0, 0, 0, 0)  # fmt: skip
        data = b"BM" + struct.pack("<IHHI", 54 + 64, 0, 0, 54) + info + b"\x00" * 64
    elif kind == "random":
        data = draw(st.binary(max_size=2048))
    else:
        magic = draw(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF", b"II*\x00"]))
        data = magic + draw(st.binary(max_size=1024))
    return f"{kind} {width}x{height}", data


@FUZZ
@given(case=headers())
def test_lying_headers_and_random_bytes_are_refused_or_made_sendable(
    case: tuple[str, bytes],
) -> None:
    _run("headers", *case)


def test_a_decompression_bomb_is_refused_from_its_header_alone() -> None:
    """A 2 GB-pixel claim over a 4 kB body: refused quickly, without allocating its pixels."""
    bomb = png_with_header(50_000, 50_000)
    tracemalloc.start()
    try:
        with pytest.raises(InvalidImageError, match="too large"):
            prepare_input(bomb, filename="bomb.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < CASE_PEAK_BYTES, f"{peak / 1e6:.0f} MB"  # the pixels alone would be 7.5 GB
    assert len(zlib.compress(bomb)) < 8192
