"""Photo rules: real types from magic numbers, formats by Accept, bombs by pixel count, signed links."""

from __future__ import annotations

import pytest

from photostream.domain import images
from photostream.domain.images import sign_link, verify_link

KEY = b"k" * 32


@pytest.mark.parametrize(("head", "expected"), [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "image/webp"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
    (b"<html><script>alert(1)</script>", None),
    (b"GIF89a\x01\x00\x01\x00", None),
    (b"", None),
])
def test_the_type_comes_from_the_bytes_not_the_name(head: bytes, expected: str | None) -> None:
    assert images.sniff_content_type(head) == expected


@pytest.mark.parametrize(("accept", "fmt"), [
    ("image/avif,image/webp,*/*", "webp"), ("IMAGE/WEBP", "webp"), ("*/*", "jpeg"), ("image/*", "jpeg"),
    (None, "jpeg"), ("image/avif,image/webp;q=0", "jpeg"), ("image/webp; q=0.0, */*", "jpeg"),
    ("image/webp;q=0.5", "webp"), ("image/webpx", "jpeg"),
])
def test_webp_only_for_clients_that_name_it(accept: str | None, fmt: str) -> None:
    assert images.choose_format(accept) == fmt


@pytest.mark.parametrize(("w", "h", "bomb"), [(4000, 3000, False), (50_000, 50_000, True), (0, 10, True),
                                               (10_000, 5_000, False), (10_001, 5_000, True)])
def test_a_header_with_too_many_pixels_is_a_bomb(w: int, h: int, bomb: bool) -> None:
    assert images.too_many_pixels(w, h, 50_000_000) is bomb


def test_render_keys_and_etags_differ_by_width_and_format() -> None:
    keys = {images.render_key("i", w, f) for w in images.WIDTHS for f in ("webp", "jpeg")}
    tags = {images.render_etag("i", w, f) for w in images.WIDTHS for f in ("webp", "jpeg")}
    assert len(keys) == len(tags) == 2 * len(images.WIDTHS)
    assert images.object_key("u", "i") == "photos/u/i"


def test_a_signed_link_is_valid_until_it_expires() -> None:
    link = sign_link(KEY, "/api/v1/images/x", 1080, now_s=1_000, ttl_s=3600)
    assert link.expires >= 1_000 + 3600 and link.expires % 600 == 0
    assert verify_link(KEY, link.path, 1080, link.expires, link.signature, now_s=link.expires)
    assert not verify_link(KEY, link.path, 1080, link.expires, link.signature, now_s=link.expires + 1)


def test_a_signature_that_is_not_ascii_is_refused_not_an_error() -> None:
    """``hmac.compare_digest`` raised TypeError on it: a 500 for anyone who sent ``sig=%C3%A9``."""
    link = sign_link(KEY, "/api/v1/images/x", 1080, now_s=1_000, ttl_s=3600)
    for signature in ("é", "\udc80", link.signature + "é"):
        assert not verify_link(KEY, link.path, 1080, link.expires, signature, now_s=1_000)


def test_links_signed_within_the_same_window_are_identical() -> None:
    assert sign_link(KEY, "/p", 320, 1_201, 600) == sign_link(KEY, "/p", 320, 1_799, 600)


@pytest.mark.parametrize("change", ["path", "width", "expires", "signature", "key"])
def test_changing_any_part_of_a_signed_link_invalidates_it(change: str) -> None:
    link = sign_link(KEY, "/api/v1/images/x", 640, now_s=0, ttl_s=60)
    args = {"key": KEY, "path": link.path, "width": 640, "expires": link.expires, "signature": link.signature}
    args[change] = {"path": "/api/v1/images/y", "width": 1080, "expires": link.expires + 600,
                    "signature": "A" + link.signature[1:] if link.signature[0] != "A" else "B" + link.signature[1:],
                    "key": b"j" * 32}[change]
    assert not verify_link(args["key"], args["path"], args["width"], args["expires"], args["signature"], now_s=0)


@pytest.mark.parametrize(("if_none_match", "fresh"), [
    ('"abc"', True), ('W/"abc"', True), ('"x", W/"abc"', True), ("*", True), ('"abd"', False), (None, False),
])
def test_if_none_match_compares_weakly_and_takes_a_wildcard(if_none_match: str | None, fresh: bool) -> None:
    assert images.not_modified('"abc"', if_none_match) is fresh
