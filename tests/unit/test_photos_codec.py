"""The renderer: orientation applied, metadata gone, aspect kept, damage and bombs refused (libvips, no stack)."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from sinks.photos_codec import FormatLimitError, TooManyPixelsError, UndecodableImageError, probe, render
from tests.integration.photos import GPS_IFD, jpeg, png_header

MAX = 50_000_000


def test_orientation_is_applied_and_exif_with_gps_is_dropped() -> None:
    original = jpeg(400, 200, gps=True, orientation=6)
    assert GPS_IFD in Image.open(io.BytesIO(original)).getexif()
    for fmt in ("jpeg", "webp"):
        shown = Image.open(io.BytesIO(render(original, 150, fmt, MAX)))
        assert shown.size == (150, 300) and dict(shown.getexif()) == {} and "exif" not in shown.info


def test_small_images_are_never_upscaled() -> None:
    assert Image.open(io.BytesIO(render(jpeg(100, 50), 1080, "jpeg", MAX))).size == (100, 50)


def test_a_truncated_jpeg_is_undecodable_not_half_grey() -> None:
    whole = jpeg(640, 480)
    assert probe(whole[: len(whole) // 2], MAX).width == 640  # the header alone still decodes
    with pytest.raises(UndecodableImageError):
        render(whole[: len(whole) // 2], 320, "jpeg", MAX)


def test_a_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(TooManyPixelsError):
        probe(png_header(60_000, 60_000), MAX)
    with pytest.raises(TooManyPixelsError):
        render(png_header(60_000, 60_000), 150, "jpeg", MAX)


def test_text_named_like_a_photo_is_not_an_image() -> None:
    with pytest.raises(UndecodableImageError):
        probe(b"<html></html>" * 10, MAX)


def test_libvips_chatter_stays_out_of_an_info_log(caplog: pytest.LogCaptureFixture) -> None:
    """libvips reports every resize step at INFO through the "pyvips" logger (14 lines for this one render):
    a worker's log was 99.9% of it."""
    caplog.set_level(logging.INFO)
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (1, 2, 3)).save(out, "JPEG")
    render(out.getvalue(), 100, "jpeg", 10**8)
    assert [r for r in caplog.records if r.name == "pyvips"] == []


def png(width: int, height: int, mode: str = "RGB", color: tuple[int, ...] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), color).save(out, "PNG")
    return out.getvalue()


def test_a_long_screenshot_is_beyond_webp_at_the_feed_width_but_not_damaged() -> None:
    """1080×20000: WebP stops at 16,383 pixels a side. It was taken for a damaged original, and every size of
    the photo failed for good."""
    tall = png(1080, 20000)
    with pytest.raises(FormatLimitError):
        render(tall, 1080, "webp", MAX)
    assert Image.open(io.BytesIO(render(tall, 1080, "jpeg", MAX))).size == (1080, 20000)
    assert Image.open(io.BytesIO(render(tall, 320, "webp", MAX))).size[0] == 320  # small enough for WebP


def test_transparency_is_white_in_a_jpeg() -> None:
    """JPEG has no alpha: a transparent background came out black, and black content with it."""
    clear = png(64, 64, "RGBA", (0, 0, 0, 0))
    assert Image.open(io.BytesIO(render(clear, 64, "jpeg", MAX))).convert("RGB").getpixel((32, 32)) == (255, 255, 255)
    grey_alpha = png(64, 64, "LA", (0, 0))
    assert Image.open(io.BytesIO(render(grey_alpha, 64, "jpeg", MAX))).convert("RGB").getpixel((5, 5)) >= (250,) * 3

