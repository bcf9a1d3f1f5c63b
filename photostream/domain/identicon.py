"""Avatar rules as plain functions: the e-mail hash that names an avatar, and the default picture of a hash.

An avatar URL carries ``hex(SHA-256(normalised e-mail))`` (Gravatar's scheme with a stronger hash): anyone who
knows an address can find its avatar, nobody can read an address off a URL. A hash without an active photo gets
an identicon: a 5x5 left-right symmetric pattern in one colour, both taken from the hash, so the same hash always
gets the same picture (CDNs and browsers may cache it) and different people look different.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
#: cells per side; the left three columns are drawn from the hash, the right two mirror them
GRID = 5
_BACKGROUND = (240, 240, 240)


def normalise_email(email: str) -> str:
    """What the hash is taken of: the address trimmed and lower-cased (as Gravatar does)."""
    return email.strip().lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def is_email_hash(value: str) -> bool:
    """64 lower-case hex digits (callers lower-case what clients send first)."""
    return bool(_HASH_RE.match(value))


@dataclass(frozen=True)
class Identicon:
    colour: tuple[int, int, int]
    #: ``cells[row][column]``: True where the colour is drawn
    cells: tuple[tuple[bool, ...], ...]


def identicon(hash_hex: str) -> Identicon:
    """The pattern of a hash: the first 15 bits choose the left three columns (mirrored), later bytes the hue."""
    digest = bytes.fromhex(hash_hex)
    half = (GRID + 1) // 2
    bits = int.from_bytes(digest[:4], "big")
    rows = []
    for row in range(GRID):
        left = [bool(bits >> (row * half + col) & 1) for col in range(half)]
        rows.append(tuple(left + left[: GRID - half][::-1]))
    return Identicon(_colour(digest[4], digest[5], digest[6]), tuple(rows))


def _colour(hue_byte: int, sat_byte: int, light_byte: int) -> tuple[int, int, int]:
    """A saturated, mid-light colour (never near-white on the light background, never near-black)."""
    hue = hue_byte / 256 * 6
    saturation = 0.45 + sat_byte / 255 * 0.35
    lightness = 0.40 + light_byte / 255 * 0.20
    chroma = (1 - abs(2 * lightness - 1)) * saturation
    x = chroma * (1 - abs(hue % 2 - 1))
    r, g, b = [(chroma, x, 0), (x, chroma, 0), (0, chroma, x), (0, x, chroma), (x, 0, chroma), (chroma, 0, x)][
        int(hue) % 6]
    m = lightness - chroma / 2
    return round((r + m) * 255), round((g + m) * 255), round((b + m) * 255)


def png(icon: Identicon, size: int) -> bytes:
    """``icon`` as a ``size`` x ``size`` RGB PNG (a margin of half a cell around the grid)."""
    cell = size / (GRID + 1)
    margin = cell / 2
    colour, background = bytes(icon.colour), bytes(_BACKGROUND)

    def index(at: int) -> int:
        return int((at - margin) // cell) if margin <= at < size - margin else -1

    columns = [index(x) for x in range(size)]
    scanlines: dict[int, bytes] = {}  # one per grid row (and one for the margins): rows repeat
    lines = []
    for y in range(size):
        row = index(y)
        if row not in scanlines:
            on = icon.cells[row] if 0 <= row < GRID else (False,) * GRID
            scanlines[row] = b"\0" + b"".join(colour if 0 <= c < GRID and on[c] else background for c in columns)
        lines.append(scanlines[row])
    return _png_file(size, size, b"".join(lines))


def _png_file(width: int, height: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + \
        chunk(b"IEND", b"")
