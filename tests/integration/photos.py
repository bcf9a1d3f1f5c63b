"""Uploading photos the way a client does: ticket, a POST straight to S3, completion."""

from __future__ import annotations

import io
import struct
import zlib

import httpx
from PIL import Image

from photostream.settings import Settings
from tests.integration.conftest import auth

#: EXIF tags: orientation, and the GPS block that must never reach a viewer
ORIENTATION, GPS_IFD = 0x0112, 0x8825


def jpeg(width: int = 64, height: int = 48, gps: bool = False, orientation: int = 1) -> bytes:
    image = Image.new("RGB", (width, height), (200, 40, 40))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    if gps:
        exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 26.0), 3: "W", 4: (0.0, 7.0, 39.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def jpeg_with_metadata_first(width: int, height: int, segments: int) -> bytes:
    """A valid JPEG with ``segments`` APP1 segments of ~64 KiB (XMP extension, as a phone's portrait photo
    carries its depth map) between its start and its frame header, which holds the dimensions."""
    plain = jpeg(width, height)
    payload = b"http://ns.adobe.com/xmp/extension/\x00" + b"x" * 65000
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return plain[:2] + app1 * segments + plain[2:]


def gif(width: int = 64, height: int = 48) -> bytes:
    """A real image, of a type photos may not be (only JPEG, PNG, WebP and HEIC)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 200, 40)).save(out, "GIF")
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` in a few dozen bytes: a decompression bomb's header."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def ticket(client: httpx.Client, settings: Settings, user: str, content_type: str = "image/jpeg") -> dict:
    answer = client.post("/uploads", headers=auth(settings, user), json={"content_type": content_type})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def send(upload: dict, data: bytes, filename: str = "photo.jpg") -> httpx.Response:
    """The browser-style POST to S3 the ticket describes: its fields, then the file."""
    return httpx.post(upload["upload_url"], data=upload["fields"],
                      files={"file": (filename, data, upload["content_type"])}, timeout=30)


def complete(client: httpx.Client, settings: Settings, user: str, image_id: str) -> httpx.Response:
    return client.post(f"/uploads/{image_id}/complete", headers=auth(settings, user))


def upload_photo(client: httpx.Client, settings: Settings, user: str, data: bytes | None = None) -> str:
    """The id of a completed upload of ``data`` (a small JPEG by default) by ``user``."""
    upload = ticket(client, settings, user)
    sent = send(upload, data if data is not None else jpeg())
    assert sent.status_code in (200, 201, 204), sent.text
    done = complete(client, settings, user, upload["image_id"])
    assert done.status_code == 200, done.text
    return str(upload["image_id"])
