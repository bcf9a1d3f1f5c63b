"""Small real photos for the simulated posts: the API decodes every completed upload (junk bytes are refused)
and the worker renders its sizes, so the images must be real; they need not be big or pretty.

Each is a gradient tinted by three random factors plus a random disc, 320x240, alternately PNG and JPEG: a few
milliseconds of libvips (which releases the GIL, so callers run it in a thread) and every image differs.
"""

from __future__ import annotations

import random

WIDTH, HEIGHT = 320, 240


def photo(rng: random.Random) -> tuple[bytes, str]:
    """(bytes, content type) of a fresh image."""
    import pyvips

    xy = pyvips.Image.xyz(WIDTH, HEIGHT)
    x, y = xy[0] * (255 / WIDTH), xy[1] * (255 / HEIGHT)
    r, g, b = (rng.uniform(0.3, 1.0) for _ in range(3))
    cx, cy, radius = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT), rng.uniform(20, 90)
    disc = (((xy[0] - cx) ** 2 + (xy[1] - cy) ** 2) < radius ** 2).ifthenelse(rng.uniform(60, 200), 0)
    image = (x * r + disc).bandjoin([y * g, (x + y) * b / 2 + disc]).cast("uchar")
    if rng.random() < 0.5:
        return bytes(image.pngsave_buffer()), "image/png"
    return bytes(image.jpegsave_buffer(Q=80)), "image/jpeg"
