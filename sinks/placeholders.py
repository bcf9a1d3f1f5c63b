"""Blurhash placeholders (the ``blurhash`` package: a pure-Python encoder) of photos, from a tiny libvips render.

A blurhash is ~30 characters that a client decodes into a blurred preview of the photo while the real one
loads. Encoding cost grows with pixels times components, so it is taken of a 32-pixel-wide thumbnail (shrunk
on load, EXIF orientation applied), which is all the detail 4x3 components can hold anyway.

Blocking and CPU-bound: callers run it off the event loop.
"""

from __future__ import annotations

from typing import Any

import blurhash
import pyvips

from sinks.photos_codec import UndecodableImageError

#: components across and down: 4x3 suits the 4:3 and 1:1 photos a feed mostly shows
COMPONENTS = (4, 3)
_THUMB_WIDTH = 32


def placeholder(data: bytes) -> str:
    """The blurhash of the photo in ``data`` (already checked by :func:`sinks.photos_codec.probe`)."""
    try:
        image: Any = pyvips.Image.thumbnail_buffer(data, _THUMB_WIDTH, height=_THUMB_WIDTH * 4, size="down")
        image = image.colourspace("srgb") if image.interpretation != "srgb" else image
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        image = image.extract_band(0, n=3) if image.bands > 3 else image
        if image.bands == 1:
            image = image.bandjoin([image, image])
        image = image.cast("uchar")
        width, height = int(image.width), int(image.height)
        pixels = bytes(image.write_to_memory())
    except pyvips.Error as exc:
        raise UndecodableImageError("the image data is damaged") from exc
    rows = [[[pixels[(y * width + x) * 3 + c] for c in range(3)] for x in range(width)] for y in range(height)]
    return str(blurhash.encode(rows, components_x=COMPONENTS[0], components_y=COMPONENTS[1]))
