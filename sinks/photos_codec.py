"""Decoding and resizing photos with libvips (``pyvips`` over the ``pyvips-binary`` wheel).

Chosen over Pillow by measurement on a 12 MP JPEG → 1080 px on this machine: libvips ~5 resizes/s against
Pillow's ~1.5/s with JPEG draft mode (0.7/s without): libvips shrinks while decoding and streams the image
through the pipeline instead of materialising every pixel (see the README's library table and
``benchmarks/resize.py``).

These are blocking, CPU-bound functions; callers run them off the event loop (``api.images_service``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyvips

from photostream.domain.images import ContentType, RenderFormat, sniff_content_type, too_many_pixels

#: libvips' own operation cache only helps repeated identical pipelines; rendered copies are stored in S3
pyvips.cache_set_max(0)

_UNBOUNDED = 10_000_000  # thumbnail's height bound when only the width matters


class UndecodableImageError(ValueError):
    """The bytes are not an image of an allowed type, or are damaged: a permanent property of the object."""


class TooManyPixelsError(UndecodableImageError):
    """The header declares more pixels than ``max_pixels`` (a decompression bomb): refused before decoding."""


@dataclass(frozen=True)
class Probe:
    content_type: ContentType
    width: int
    height: int


def probe(data: bytes, max_pixels: int) -> Probe:
    """The real type and dimensions from the magic number and the header only (no pixel is decoded).

    ``data`` may be just the start of the file: every supported format keeps its dimensions near the front.
    """
    content_type = sniff_content_type(data[:32])
    if content_type is None:
        raise UndecodableImageError("not a JPEG, PNG, WebP or HEIC image")
    try:
        header: Any = pyvips.Image.new_from_buffer(data, "", access="sequential")
        width, height = int(header.width), int(header.height)
    except pyvips.Error as exc:
        raise UndecodableImageError(f"the {content_type} header does not decode") from exc
    if too_many_pixels(width, height, max_pixels):
        raise TooManyPixelsError(f"{width}x{height} is more than {max_pixels} pixels")
    return Probe(content_type, width, height)


def render(data: bytes, width: int, fmt: RenderFormat, max_pixels: int) -> bytes:
    """``data`` resized to ``width`` (aspect kept, never upscaled), EXIF orientation applied, every piece of
    metadata (EXIF with GPS, XMP, IPTC, ICC after conversion to sRGB) dropped, encoded as ``fmt``.

    Truncated or corrupt pixel data raises :class:`UndecodableImageError` instead of rendering a grey half-picture
    that would then be cached forever. (The loader's ``fail_on`` goes in the option string: thumbnail's own
    ``fail_on`` argument lets a truncated JPEG through when it shrinks on load.)
    """
    probe(data, max_pixels)
    try:
        image: Any = pyvips.Image.thumbnail_buffer(data, width, height=_UNBOUNDED, size="down",
                                                   option_string="fail_on=truncated", output_profile="srgb")
        if fmt == "webp":
            return bytes(image.webpsave_buffer(Q=80, keep="none"))
        return bytes(image.jpegsave_buffer(Q=82, keep="none", optimize_coding=True, interlace=True))
    except pyvips.Error as exc:
        raise UndecodableImageError("the image data is damaged") from exc
