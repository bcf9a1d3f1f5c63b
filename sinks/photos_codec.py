"""Decoding and resizing photos with libvips (``pyvips`` over the ``pyvips-binary`` wheel).

Chosen over Pillow by measurement (``benchmarks/resize.py``, 12 MP JPEG → 1080 px, one thread, CPU time):
libvips 8.6 resizes per CPU-second, Pillow with JPEG draft mode 6.6, Debian's ``vipsthumbnail`` 5.7. libvips
also shrinks while decoding and streams the image instead of holding every pixel, uses every core for one
render when the machine is idle, and the wheel decodes HEIC (an allowed upload type) where Pillow would need
another plug-in.

These are blocking, CPU-bound functions; callers run them off the event loop (``api.images_service``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pyvips

from photostream.domain.images import ContentType, RenderFormat, sniff_content_type, too_many_pixels

# libvips hands every GLib message to the "pyvips" logger at INFO ("VIPS: shrinkh by 5", one per resize step):
# 96,810 of a worker's 96,917 log lines after 13 minutes of `simulate`, burying its dead-letter warnings
logging.getLogger("pyvips").setLevel(logging.WARNING)

#: libvips' own operation cache only helps repeated identical pipelines; rendered copies are stored in S3
pyvips.cache_set_max(0)

_UNBOUNDED = 10_000_000  # thumbnail's height bound when only the width matters


class UndecodableImageError(ValueError):
    """The bytes are not an image of an allowed type, or are damaged: a permanent property of the object."""


class FormatLimitError(ValueError):
    """The picture is fine, but too tall or wide for the format asked for (WebP stops at 16,383 pixels a side:
    a long phone screenshot at the feed width). Not an undecodable original: it was remembered as one, and every
    size of the photo then failed for good. Callers fall back to JPEG."""


#: WebP's largest width or height
WEBP_MAX_SIDE = 16383
#: JPEG's (the largest side any rendered size may have: completion refuses originals beyond it, since a size
#: is never larger than its original)
JPEG_MAX_SIDE = 65535


class TooManyPixelsError(UndecodableImageError):
    """The header declares more pixels than ``max_pixels`` (a decompression bomb): refused before decoding."""


@dataclass(frozen=True)
class Probe:
    content_type: ContentType
    width: int
    height: int


def _header(data: bytes, max_pixels: int) -> tuple[Probe, Any]:
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
    if _orientation(header) in _QUARTER_TURNS:  # stored on its side: shown (and rendered) turned upright
        width, height = height, width
    return Probe(content_type, width, height), header


#: EXIF orientations that turn the picture a quarter (its width and height trade places when it is shown)
_QUARTER_TURNS = frozenset({5, 6, 7, 8})


def _orientation(header: Any) -> int:
    try:
        return int(header.get("orientation")) if header.get_typeof("orientation") else 1
    except (pyvips.Error, TypeError, ValueError):
        return 1


def probe(data: bytes, max_pixels: int) -> Probe:
    """The real type and dimensions as the photo is shown (its EXIF orientation applied), from the magic number
    and the header only (no pixel is decoded).

    ``data`` may be just the start of the file: every supported format keeps its dimensions near the front.
    """
    return _header(data, max_pixels)[0]


#: the width :func:`check_pixels` decodes to: JPEG shrinks on load by 8 (its inverse transforms and colour
#: conversion run on 1/64 of the pixels), yet every byte of its entropy-coded data is still read (a cut file fails)
_CHECK_WIDTH = 16


def check_pixels(data: bytes, max_pixels: int) -> None:
    """Raise :class:`UndecodableImageError` unless the whole of ``data``'s pixel data decodes. The upload's
    completion asks this, not only the header: a truncated photo whose header decoded completed, and a post made
    at once went out with a photo no viewer could load (its damage was found only when the worker rendered it)."""
    render(data, _CHECK_WIDTH, "jpeg", max_pixels)


def render(data: bytes, width: int, fmt: RenderFormat, max_pixels: int) -> bytes:
    """``data`` resized to ``width`` (aspect kept, never upscaled), EXIF orientation applied, every piece of
    metadata (EXIF with GPS, XMP, IPTC; an ICC profile after conversion to sRGB) dropped, encoded as ``fmt``.

    Truncated or corrupt pixel data raises :class:`UndecodableImageError` instead of rendering a grey half-picture
    that would then be cached forever. (The loader's ``fail_on`` goes in the option string: thumbnail's own
    ``fail_on`` argument lets a truncated JPEG through when it shrinks on load.)
    """
    _, header = _header(data, max_pixels)
    # colour-manage only photos that carry a profile (a wide-gamut phone photo must not shift once the profile
    # is stripped); converting untagged images, already sRGB by convention, would double the CPU per render
    managed = {"output_profile": "srgb"} if header.get_typeof("icc-profile-data") else {}
    try:
        image: Any = pyvips.Image.thumbnail_buffer(data, width, height=_UNBOUNDED, size="down",
                                                   option_string="fail_on=truncated", **managed)
        if fmt == "webp":
            if max(image.width, image.height) > WEBP_MAX_SIDE:
                raise FormatLimitError(f"{image.width}×{image.height} is beyond WebP's {WEBP_MAX_SIDE} pixels a side")
            return bytes(image.webpsave_buffer(Q=80, keep="none"))
        if max(image.width, image.height) > JPEG_MAX_SIDE:
            raise FormatLimitError(f"{image.width}×{image.height} is beyond JPEG's {JPEG_MAX_SIDE} pixels a side")
        if image.hasalpha():  # JPEG has no transparency: on white, as a page shows it (it came out on black)
            image = image.flatten(background=255)
        return bytes(image.jpegsave_buffer(Q=82, keep="none"))
    except pyvips.Error as exc:
        raise UndecodableImageError("the image data is damaged") from exc
