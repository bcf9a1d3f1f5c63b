"""Photos through the real stack: enforced uploads to S3, completion, sizes on demand, signed links."""

from __future__ import annotations

import asyncio
import io
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from api.consistency import ConsistencyToken
from api.images_links import ImageLinks
from photostream.domain.images import object_key
from photostream.settings import Settings
from producers.ids import new_id, now_ms
from sinks import s3, upload_sweeper
from sinks.cassandra import connect as cassandra_connect
from sinks.images import ImageFile, ImageIndex
from sinks.photos_codec import probe
from sinks.redis_client import sync_client
from tests.integration.conftest import auth
from tests.integration.kafka_read import read_event
from tests.integration.photos import (
    GPS_IFD,
    complete,
    gif,
    jpeg,
    jpeg_with_metadata_first,
    png_header,
    send,
    ticket,
    upload_photo,
)
from tests.integration.waiting import applied, wait_for


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


def joins(api_url: str, width: int) -> float:
    """Requests that awaited a copy another request was already fetching or rendering."""
    text = httpx.get(api_url + "/metrics").text
    found = re.search(rf'^photostream_image_render_joins_total\{{width="{width}"\}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def stored(settings: Settings, user: str, image_id: str) -> bool:
    """Whether the original's object exists in S3."""
    return s3.size_of(s3.client(settings), settings, object_key(user, image_id)) is not None


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
    # the sizes rendered at once are rendered from the checked original first (swapped before that, the render
    # finds the original replaced and the image broken: a retry then answers that, a race this test avoided
    # only by luck)
    applied(sync_client(settings), [(t.topic, t.partition, t.offset)], lambda _: ("photos",))
    # completed again (a retry), after the object was swapped with the same ticket: the facts the first
    # completion checked stand (the object is not checked, nor read, again: each check could read 20 MiB)
    assert send(upload, jpeg(30, 20)).status_code in (200, 204)
    again = complete(client, settings, user, upload["image_id"])
    assert again.status_code == 200 and (again.json()["width"], again.json()["height"]) == (80, 60), again.text
    # and the replaced bytes are never shown: a size not rendered yet was rendered from them
    swapped = client.get(f"/images/{upload['image_id']}", params={"w": 640}, headers=auth(settings, user))
    assert swapped.status_code == 422 and "replaced" in swapped.json()["error"]["message"], swapped.text


def test_a_jpeg_with_more_metadata_before_its_header_than_the_first_read_completes(client: httpx.Client,
                                                                                   settings: Settings) -> None:
    """Six 64 KiB XMP segments (~390 KB) push the frame header past the first bytes completion reads: the
    photo was refused as "not an image" and deleted; now the whole object is read when the start does not do."""
    user = new_id()
    upload = ticket(client, settings, user)
    data = jpeg_with_metadata_first(400, 300, segments=6)
    assert len(data) > 6 * 65000
    assert send(upload, data).status_code in (200, 204)
    done = complete(client, settings, user, upload["image_id"])
    assert done.status_code == 200, done.text
    assert (done.json()["width"], done.json()["height"], done.json()["content_type"]) == (400, 300, "image/jpeg")


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


def test_only_the_uploader_completes_and_a_strangers_attempt_leaves_the_object(client: httpx.Client,
                                                                               settings: Settings) -> None:
    owner, stranger = new_id(), new_id()
    upload = ticket(client, settings, owner)
    assert send(upload, jpeg()).status_code in (200, 204)
    refused = complete(client, settings, stranger, upload["image_id"])
    assert refused.status_code == 403
    assert stored(settings, owner, upload["image_id"])  # a stranger cannot get someone's upload deleted
    assert complete(client, settings, owner, upload["image_id"]).status_code == 200


def test_only_allowed_types_are_offered_an_upload(client: httpx.Client, settings: Settings) -> None:
    for declared in ("image/gif", "text/html", "image/svg+xml"):
        answer = client.post("/uploads", headers=auth(settings, new_id()), json={"content_type": declared})
        assert answer.status_code == 422, declared
    oversize = client.post("/uploads", headers=auth(settings, new_id()),
                           json={"content_type": "image/png", "size_bytes": settings.upload_max_bytes + 1})
    assert oversize.status_code == 413


def test_a_ticket_is_valid_for_minutes(client: httpx.Client, settings: Settings) -> None:
    upload = ticket(client, settings, new_id())
    left_s = upload["expires_at"] / 1000 - time.time()
    assert 60 <= left_s <= settings.s3_presign_expiry_s <= 3600


def test_uploads_are_rate_limited_per_user(client: httpx.Client, settings: Settings) -> None:
    user, other = new_id(), new_id()
    burst = settings.rate_limit_uploads_burst
    answers = [client.post("/uploads", headers=auth(settings, user), json={}) for _ in range(burst + 10)]
    assert [a.status_code for a in answers[:burst]] == [201] * burst
    limited = [a for a in answers[burst:] if a.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert client.post("/uploads", headers=auth(settings, other), json={}).status_code == 201  # per user


@pytest.mark.parametrize(("data", "name"), [(b"<html><script>alert(1)</script></html>", "cat.jpg"),
                                             (gif(), "still-a-gif.jpg"),
                                             (jpeg(640, 480)[:len(jpeg(640, 480)) // 2], "cut.jpg")],
                         ids=["html", "gif", "truncated"])
def test_a_non_image_a_cut_photo_or_a_disallowed_type_is_refused_and_deleted(
        client: httpx.Client, settings: Settings, data: bytes, name: str) -> None:
    """A truncated photo's header decodes: it completed, and a post made at once showed a photo no viewer could
    load (its damage was found only when the worker rendered it). Completion decodes every pixel now."""
    user = new_id()
    upload = ticket(client, settings, user)
    assert send(upload, data, name).status_code in (200, 204)
    assert stored(settings, user, upload["image_id"])
    refused = complete(client, settings, user, upload["image_id"])
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_an_image"
    assert not stored(settings, user, upload["image_id"])  # a refused object is deleted at once
    assert post(client, settings, user, [upload["image_id"]]).status_code == 422
    assert complete(client, settings, user, upload["image_id"]).json()["error"]["code"] == "not_uploaded"


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
    assert not stored(settings, user, upload["image_id"])


def test_the_sweeper_deletes_only_old_uploads_never_completed(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    kept = upload_photo(client, settings, user)
    abandoned = ticket(client, settings, user)
    assert send(abandoned, jpeg()).status_code in (200, 204)
    # an object whose ticket another keyspace issued (another namespace sharing the bucket): never judged here
    elsewhere = new_id()
    s3.write(s3.client(settings), settings, object_key(user, elsewhere), jpeg(), "image/jpeg")
    scope = f"photos/{user}/"  # the bucket is shared with other runs: sweep only this test's user
    young = upload_sweeper.run(settings, older_than_s=3600, prefix=scope)
    assert young.deleted == [] and stored(settings, user, abandoned["image_id"])
    later = int(time.time() * 1000) + 5_000  # the objects are older than a zero cut-off five seconds from now
    swept = upload_sweeper.run(settings, older_than_s=0, prefix=scope, now_ms=later)
    assert (swept.examined, swept.deleted, swept.not_ours) == (3, [object_key(user, abandoned["image_id"])], 1)
    assert stored(settings, user, kept) and not stored(settings, user, abandoned["image_id"])
    assert stored(settings, user, elsewhere)
    assert upload_sweeper.run(settings, older_than_s=0, prefix=scope, now_ms=later).deleted == []


# --- sizes on demand ----------------------------------------------------------------------------------------


def at_once(count: int, call: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """``count`` calls released together from as many threads (a barrier, not a sleep)."""
    barrier = threading.Barrier(count)

    def one(_: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


# 150 and 640: the widths the photos processor does not render ahead of time (streams.photos.PRERENDER_WIDTHS;
# test_photos_extra proves 320 and 1080 are rendered once, ahead)
@pytest.mark.parametrize("width", [150, 640])
def test_each_width_is_rendered_once_then_served_from_the_store(client: httpx.Client, settings: Settings,
                                                                api_url: str, width: int) -> None:
    # concurrent first requests share one render. Whether they really overlapped (else the test proves nothing)
    # is up to the scheduler on a loaded machine: a burst whose render ended before the others arrived is tried
    # again on a new photo, and each burst must render once whatever happened.
    for _ in range(3):
        user = new_id()
        image_id = upload_photo(client, settings, user, jpeg(4000, 3000))  # 12 MP: a render long enough to overlap
        posted(client, settings, user, image_id)
        before, joined = renders(api_url, width, "rendered"), joins(api_url, width)
        answers = at_once(6, lambda image_id=image_id: client.get(f"/images/{image_id}", params={"w": width}))
        assert {a.status_code for a in answers} == {200}
        assert len({a.content for a in answers}) == 1
        assert renders(api_url, width, "rendered") == before + 1
        if joins(api_url, width) > joined:
            break
    assert joins(api_url, width) > joined, "no burst of six first requests overlapped a render in three tries"
    again = client.get(f"/images/{image_id}", params={"w": width})
    assert again.content == answers[0].content and renders(api_url, width, "rendered") == before + 1
    assert Image.open(io.BytesIO(again.content)).size == (width, int(width * 3 / 4 + 0.5))  # aspect kept
    assert again.headers["content-type"] == "image/jpeg"
    assert again.headers["cache-control"] == f"public, max-age={settings.image_public_max_age_s}"
    unchanged = client.get(f"/images/{image_id}", params={"w": width},
                           headers={"If-None-Match": again.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    webp = client.get(f"/images/{image_id}", params={"w": width}, headers={"Accept": "image/webp,*/*"})
    assert webp.headers["content-type"] == "image/webp" and webp.headers["etag"] != again.headers["etag"]
    assert Image.open(io.BytesIO(webp.content)).format == "WEBP"
    assert renders(api_url, width, "rendered") == before + 2  # the other format: its own single render


@pytest.mark.parametrize("width", [0, 100, 1081, 4000])
def test_widths_outside_the_allowed_set_are_422(client: httpx.Client, width: int) -> None:
    answer = client.get(f"/images/{new_id()}", params={"w": width})
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "w"


def test_orientation_is_applied_and_gps_is_stripped(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    original = jpeg(400, 200, gps=True, orientation=6)  # stored landscape, shown rotated to portrait
    assert GPS_IFD in Image.open(io.BytesIO(original)).getexif()
    upload = ticket(client, settings, user)
    assert send(upload, original).status_code in (200, 201, 204)
    done = complete(client, settings, user, upload["image_id"])
    assert (done.json()["width"], done.json()["height"]) == (200, 400)  # as shown, not as stored
    image_id = str(upload["image_id"])
    posted(client, settings, user, image_id)
    shown = Image.open(io.BytesIO(client.get(f"/images/{image_id}", params={"w": 150}).content))
    assert shown.size == (150, 300)
    assert dict(shown.getexif()) == {} and "exif" not in shown.info


def completed_unchecked(client: httpx.Client, settings: Settings, user: str, data: bytes) -> str:
    """An upload recorded as complete without the completion's checks: what completion accepted before it decoded
    every pixel (a truncated photo's header decodes), for the defences that still meet such originals."""
    upload = ticket(client, settings, user)
    assert send(upload, data).status_code in (200, 201, 204)
    image_id, key = upload["image_id"], object_key(user, upload["image_id"])
    found, stored_as = probe(data, settings.image_max_pixels), s3.head(s3.client(settings), settings, key)
    assert stored_as is not None
    cluster, session = cassandra_connect(settings)
    try:
        asyncio.run(ImageIndex(session).record_completion(ImageFile(
            image_id=image_id, user_id=user, object_key=key, content_type=found.content_type, size_bytes=stored_as[0],
            width=found.width, height=found.height, completed_at_ms=now_ms(), etag=stored_as[1])))
    finally:
        cluster.shutdown()
    return str(image_id)


def test_an_undecodable_original_is_422_and_remembered(client: httpx.Client, settings: Settings,
                                                       api_url: str) -> None:
    user = new_id()
    whole = jpeg(640, 480)
    image_id = completed_unchecked(client, settings, user, whole[: len(whole) // 2])  # the header decodes only
    posted(client, settings, user, image_id)
    before = renders(api_url, 640, "undecodable")
    for _ in range(3):
        answer = client.get(f"/images/{image_id}", params={"w": 640})
        assert answer.status_code == 422 and answer.json()["error"]["code"] == "undecodable"
    # at most one decode attempt: by the API's first request, or none when the photos processor (which decodes
    # every upload ahead of time) already remembered the original as broken
    assert renders(api_url, 640, "undecodable") - before <= 1


def test_an_image_found_damaged_is_refused_for_new_posts_and_avatars(client: httpx.Client,
                                                                    settings: Settings) -> None:
    """Completion checked the header only; once rendering found the rest damaged, a post or an avatar using the
    image showed a 422 to every viewer (they were accepted with a 202). (Completion decodes every pixel now: an
    original completed before is what meets this.)"""
    user = new_id()
    whole = jpeg(640, 480)
    image_id = completed_unchecked(client, settings, user, whole[: len(whole) // 2])
    posted(client, settings, user, image_id)
    assert client.get(f"/images/{image_id}", params={"w": 640}).status_code == 422  # now remembered as broken
    again = post(client, settings, user, [image_id])
    assert again.status_code == 422 and again.json()["error"]["field"] == "image_ids", again.text
    avatar = client.patch("/users/me", headers=auth(settings, user), json={"avatar_image_id": image_id})
    assert avatar.status_code == 422 and avatar.json()["error"]["field"] == "avatar_image_id", avatar.text


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


def test_a_private_accounts_photos_get_signed_links_even_on_posts_marked_public(client: httpx.Client,
                                                                                 settings: Settings) -> None:
    """Only the account's followers see its posts, so an ``<img>`` (no token) could not load a plain path."""
    name = f"p_{new_id()[-12:].replace('-', '')}"
    author = client.post("/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                 "password": "correct horse battery"}).json()["id"]
    private = client.patch("/users/me", headers=auth(settings, author), json={"is_private": True})
    assert private.status_code == 202
    assert client.get("/users/me", headers=auth(settings, author),
                      params={"after": private.json()["token"]}).json()["is_private"] is True
    image_id = upload_photo(client, settings, author)
    [link] = posted(client, settings, author, image_id, "public")["photos"]
    assert "sig=" in link and "exp=" in link
    assert httpx.get(str(client.base_url.copy_with(path="")) + link).status_code == 200  # no token needed
    assert client.get(f"/images/{image_id}", params={"w": 1080}).status_code == 404  # unsigned, anonymous


def test_an_avatar_loads_for_everyone_while_it_is_one(client: httpx.Client, settings: Settings) -> None:
    name = f"a_{new_id()[-12:].replace('-', '')}"
    owner = client.post("/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                "password": "correct horse battery"}).json()["id"]
    photo, other = upload_photo(client, settings, owner), upload_photo(client, settings, owner)
    chosen = client.patch("/users/me", headers=auth(settings, owner), json={"avatar_image_id": photo})
    assert chosen.status_code == 202
    url = client.get(f"/users/{owner}", params={"after": chosen.json()["token"]}).json()["avatar_url"]
    assert url == f"/api/v1/images/{photo}"
    base = str(client.base_url.copy_with(path=""))
    for headers in ({}, auth(settings, new_id())):  # anonymous, and someone else
        shown = httpx.get(base + url, params={"w": 320}, headers=headers)
        assert shown.status_code == 200
        assert shown.headers["cache-control"] == f"public, max-age={settings.avatar_max_age_s}"
    assert client.get(f"/images/{other}", params={"w": 320}).status_code == 404  # not the avatar: the uploader's
    changed = client.patch("/users/me", headers=auth(settings, owner), json={"avatar_image_id": other})
    client.get(f"/users/{owner}", params={"after": changed.json()["token"]})
    assert client.get(f"/images/{photo}", params={"w": 320}).status_code == 404  # no longer anyone's to see
    assert client.get(f"/images/{other}", params={"w": 320}).status_code == 200


def test_public_photos_get_plain_cacheable_urls(client: httpx.Client, settings: Settings) -> None:
    author = new_id()
    image_id = upload_photo(client, settings, author)
    item = posted(client, settings, author, image_id, "public")
    assert item["photos"] == [f"/api/v1/images/{image_id}"]
