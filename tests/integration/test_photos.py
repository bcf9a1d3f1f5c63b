"""Photos through the real stack: enforced uploads to S3, completion, sizes on demand, signed links."""

from __future__ import annotations

import io
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from api.consistency import ConsistencyToken
from api.images_links import ImageLinks
from photostream.domain.images import object_key
from photostream.settings import Settings
from producers.ids import new_id
from sinks import s3
from tests.integration.conftest import auth
from tests.integration.kafka_read import read_event
from tests.integration.photos import GPS_IFD, complete, jpeg, png_header, send, ticket, upload_photo
from tests.integration.waiting import wait_for


def post(client: httpx.Client, settings: Settings, user: str, image_ids: list[str],
         visibility: str = "public") -> httpx.Response:
    return client.post("/posts", headers=auth(settings, user),
                       json={"caption": "photo", "image_ids": image_ids, "visibility": visibility})


def posted(client: httpx.Client, settings: Settings, user: str, image_id: str, visibility: str = "public") -> dict:
    """A post showing ``image_id``, once the posts projector has applied it."""
    answer = post(client, settings, user, [image_id], visibility)
    assert answer.status_code == 202, answer.text
    seen = wait_for(lambda: client.get(f"/posts/{answer.json()['id']}", headers=auth(settings, user),
                                       params={"after": answer.json()["token"]}),
                    lambda r: r.status_code == 200 and "X-Photostream-Consistency" not in r.headers,
                    60, "the post to be projected")
    return dict(seen.json())


def renders(api_url: str, width: int, outcome: str) -> float:
    text = httpx.get(api_url + "/metrics").text
    pattern = rf'^photostream_image_renders_total\{{outcome="{outcome}",width="{width}"\}} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


# --- uploads ------------------------------------------------------------------------------------------------


def test_an_upload_completes_publishes_photo_uploaded_and_may_be_posted(client: httpx.Client,
                                                                        settings: Settings) -> None:
    user = new_id()
    upload = ticket(client, settings, user)
    assert upload["max_bytes"] == settings.upload_max_bytes and upload["method"] == "POST"
    assert send(upload, jpeg(80, 60)).status_code in (200, 204)
    done = complete(client, settings, user, upload["image_id"])
    assert done.status_code == 200, done.text
    assert (done.json()["width"], done.json()["height"], done.json()["content_type"]) == (80, 60, "image/jpeg")
    t = ConsistencyToken.decode(done.json()["token"])
    event = read_event(settings, t.topic, t.partition, t.offset)
    assert t.topic == "photo-uploaded"
    assert (event["image_id"], event["user_id"], event["object_key"]) == \
        (upload["image_id"], user, object_key(user, upload["image_id"]))
    assert event["size_bytes"] == done.json()["size_bytes"] > 0
    assert post(client, settings, user, [upload["image_id"]]).status_code == 202


def test_a_post_shows_only_its_authors_completed_photos(client: httpx.Client, settings: Settings) -> None:
    author, other = new_id(), new_id()
    theirs = upload_photo(client, settings, other)
    assert post(client, settings, author, [theirs]).status_code == 403
    unfinished_theirs = ticket(client, settings, other)["image_id"]
    assert post(client, settings, author, [unfinished_theirs]).status_code == 403
    unknown = post(client, settings, author, [new_id()])
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "image_ids"
    unfinished = ticket(client, settings, author)["image_id"]
    assert post(client, settings, author, [unfinished]).status_code == 422
    assert complete(client, settings, other, unfinished).status_code == 403  # only the uploader completes


def test_a_non_image_with_a_jpg_name_is_refused_at_completion(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    upload = ticket(client, settings, user)
    assert send(upload, b"<html><script>alert(1)</script></html>", "cat.jpg").status_code in (200, 204)
    refused = complete(client, settings, user, upload["image_id"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_an_image"
    assert post(client, settings, user, [upload["image_id"]]).status_code == 422


def test_s3_itself_refuses_an_upload_over_the_limit(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    upload = ticket(client, settings, user)
    oversize = jpeg() + b"\0" * (upload["max_bytes"] + 1)
    sent = send(upload, oversize)
    assert sent.status_code == 400 and "EntityTooLarge" in sent.text  # S3's answer, not the API's
    assert s3.size_of(s3.client(settings), settings, object_key(user, upload["image_id"])) is None
    assert complete(client, settings, user, upload["image_id"]).json()["error"]["code"] == "not_uploaded"


def test_the_signed_upload_cannot_be_redirected_to_another_key(client: httpx.Client, settings: Settings) -> None:
    user, victim = new_id(), new_id()
    upload = ticket(client, settings, user)
    upload["fields"] = upload["fields"] | {"key": object_key(victim, new_id())}
    assert send(upload, jpeg()).status_code == 403


def test_a_decompression_bomb_is_refused(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    upload = ticket(client, settings, user, "image/png")
    assert send(upload, png_header(60_000, 60_000), "bomb.png").status_code in (200, 204)
    refused = complete(client, settings, user, upload["image_id"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "too_many_pixels"


# --- sizes on demand ----------------------------------------------------------------------------------------


def test_each_width_is_rendered_once_then_served_from_the_store(client: httpx.Client, settings: Settings,
                                                                api_url: str) -> None:
    user = new_id()
    image_id = upload_photo(client, settings, user, jpeg(1200, 900))
    posted(client, settings, user, image_id)
    # 640: a width the photos processor does not render ahead of time (streams.photos.PRERENDER_WIDTHS)
    before = renders(api_url, 640, "rendered")
    with ThreadPoolExecutor(6) as pool:  # concurrent first requests share one render
        answers = list(pool.map(lambda _: client.get(f"/images/{image_id}", params={"w": 640}), range(6)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert renders(api_url, 640, "rendered") == before + 1
    again = client.get(f"/images/{image_id}", params={"w": 640})
    assert again.content == answers[0].content and renders(api_url, 640, "rendered") == before + 1
    assert Image.open(io.BytesIO(again.content)).size == (640, 480)
    assert again.headers["content-type"] == "image/jpeg"
    assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
    unchanged = client.get(f"/images/{image_id}", params={"w": 640}, headers={"If-None-Match": again.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    webp = client.get(f"/images/{image_id}", params={"w": 640}, headers={"Accept": "image/webp,*/*"})
    assert webp.headers["content-type"] == "image/webp" and webp.headers["etag"] != again.headers["etag"]
    assert Image.open(io.BytesIO(webp.content)).format == "WEBP"


@pytest.mark.parametrize("width", [0, 100, 1081, 4000])
def test_widths_outside_the_allowed_set_are_422(client: httpx.Client, width: int) -> None:
    answer = client.get(f"/images/{new_id()}", params={"w": width})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "w"


def test_orientation_is_applied_and_gps_is_stripped(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    original = jpeg(400, 200, gps=True, orientation=6)  # stored landscape, shown rotated to portrait
    assert GPS_IFD in Image.open(io.BytesIO(original)).getexif()
    image_id = upload_photo(client, settings, user, original)
    posted(client, settings, user, image_id)
    shown = Image.open(io.BytesIO(client.get(f"/images/{image_id}", params={"w": 150}).content))
    assert shown.size == (150, 300)
    assert dict(shown.getexif()) == {} and "exif" not in shown.info


def test_an_undecodable_original_is_422_and_remembered(client: httpx.Client, settings: Settings,
                                                       api_url: str) -> None:
    user = new_id()
    whole = jpeg(640, 480)
    image_id = upload_photo(client, settings, user, whole[: len(whole) // 2])  # the header decodes, the rest not
    posted(client, settings, user, image_id)
    before = renders(api_url, 640, "undecodable")
    for _ in range(3):
        answer = client.get(f"/images/{image_id}", params={"w": 640})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "undecodable"
    # at most one decode attempt: by the API's first request, or none when the photos processor (which decodes
    # every upload ahead of time) already remembered the original as broken
    assert renders(api_url, 640, "undecodable") - before <= 1


# --- signed links -------------------------------------------------------------------------------------------


def test_private_photos_are_served_through_signed_links_only(client: httpx.Client, settings: Settings) -> None:
    author = new_id()
    image_id = upload_photo(client, settings, author, jpeg(1200, 800))
    item = posted(client, settings, author, image_id, "private")
    [link] = item["photos"]
    assert "sig=" in link and "exp=" in link
    base = client.base_url.copy_with(path="")
    shown = httpx.get(str(base) + link)  # no token: the link is the permission
    assert shown.status_code == 200, shown.text
    assert shown.headers["cache-control"].startswith("private")
    assert client.get(f"/images/{image_id}", params={"w": 1080}).status_code == 404  # unsigned, anonymous
    tampered_sig = re.sub(r"sig=.", lambda m: "sig=" + ("B" if m.group(0)[-1] != "B" else "C"), link)
    other_width = link.replace("w=1080", "w=640")
    later_expiry = re.sub(r"exp=(\d+)", lambda m: f"exp={int(m.group(1)) + 600}", link)
    for forged in (tampered_sig, other_width, later_expiry):
        assert httpx.get(str(base) + forged).status_code == 403
    expired = ImageLinks.of(settings).signed(image_id, 1080, now_s=1_000_000)
    assert httpx.get(str(base) + expired).status_code == 403


def test_public_photos_get_plain_cacheable_urls(client: httpx.Client, settings: Settings) -> None:
    author = new_id()
    image_id = upload_photo(client, settings, author)
    item = posted(client, settings, author, image_id, "public")
    assert item["photos"] == [f"/api/v1/images/{image_id}"]
