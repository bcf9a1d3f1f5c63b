"""Photos through the real stack, continued: sizes rendered ahead of time with a blurhash, and avatars by e-mail
hash (identicon default, switching the active photo purges the CDN and serves the new one)."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import blurhash
import httpx
import pytest
from PIL import Image

from api.consistency import ConsistencyToken
from photostream.domain.identicon import email_hash
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks import keys
from sinks.cassandra import connect
from sinks.redis_client import sync_client
from streams.avatars import avatar_paths
from tests.integration.conftest import auth
from tests.integration.photos import jpeg, send, ticket, upload_photo
from tests.integration.test_first_flow import token_of
from tests.integration.test_photos import posted
from tests.integration.waiting import wait_for


def metric(url: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus counter (0 when it was never incremented)."""
    text = httpx.get(url + "/metrics").text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def colour_of(data: bytes) -> tuple[int, int, int]:
    """The centre pixel of an image (the tests' photos are one flat colour)."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    r, g, b = image.getpixel((image.width // 2, image.height // 2))  # type: ignore[misc]
    return int(r), int(g), int(b)


def flat_jpeg(colour: tuple[int, int, int], width: int = 1600, height: int = 1200) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def worker_url(test_env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{test_env['PHOTOSTREAM_WORKER_WEB_PORT']}"


def applied(settings: Settings, consumer: str, topic: str, partition: int) -> int:
    value = sync_client(settings).hget(keys.applied_offsets(consumer, topic), str(partition))
    return int(value) if value is not None else -1


# --- sizes ahead of time and blurhash -----------------------------------------------------------------------


def test_the_feed_and_grid_sizes_are_rendered_ahead_so_the_first_view_is_a_stored_copy(
        client: httpx.Client, settings: Settings, api_url: str, worker: object) -> None:
    user = new_id()
    image_id = upload_photo(client, settings, user, flat_jpeg((30, 90, 200)))
    item = posted(client, settings, user, image_id)
    seen = wait_for(lambda: client.get(f"/posts/{item['post_id']}", headers=auth(settings, user)).json(),
                    lambda body: bool(body.get("blurhashes") and body["blurhashes"][0]),
                    60, "the photos processor to derive the upload")
    assert seen["photos"] == [f"/api/v1/images/{image_id}"]  # the photos shape is unchanged
    placeholder = seen["blurhashes"][0]
    assert len(placeholder) == 28  # 4x3 components
    decoded = blurhash.decode(placeholder, 4, 4)
    assert abs(decoded[2][2][2] - 200) < 30 and decoded[2][2][0] < 80  # the photo's blue, blurred

    before = {(w, o): metric(api_url, "photostream_image_renders_total", outcome=o, width=str(w))
              for w in (320, 1080) for o in ("rendered",)}
    hits = {w: metric(api_url, "photostream_image_render_hits_total", width=str(w)) for w in (320, 1080)}
    for width in (1080, 320):
        for accept in ("image/webp,*/*", "image/jpeg"):
            answer = client.get(f"/images/{image_id}", params={"w": width}, headers={"Accept": accept})
            assert answer.status_code == 200, answer.text
            assert Image.open(io.BytesIO(answer.content)).width == width
    after = {(w, o): metric(api_url, "photostream_image_renders_total", outcome=o, width=str(w))
             for w in (320, 1080) for o in ("rendered",)}
    assert after == before  # no render on the request path
    assert {w: metric(api_url, "photostream_image_render_hits_total", width=str(w)) - hits[w]
            for w in (320, 1080)} == {320: 2, 1080: 2}


def test_a_replayed_upload_event_renders_nothing_again(client: httpx.Client, settings: Settings,
                                                       worker_url: str, publisher: Publisher) -> None:
    user = new_id()
    upload = client.post("/uploads", headers=auth(settings, user), json={"content_type": "image/jpeg"}).json()
    sent = httpx.post(upload["upload_url"], data=upload["fields"],
                      files={"file": ("p.jpg", jpeg(400, 300), "image/jpeg")}, timeout=30)
    assert sent.status_code in (200, 204)
    done = client.post(f"/uploads/{upload['image_id']}/complete", headers=auth(settings, user)).json()
    first = ConsistencyToken.decode(done["token"])
    wait_for(lambda: applied(settings, "photos", first.topic, first.partition), lambda o: o >= first.offset,
             60, "the photos processor to apply the upload")
    rendered = metric(worker_url, "photostream_image_prerenders_total", outcome="rendered", width="1080")
    # the same announcement again (a client retrying completion, or a replay from the log)
    again = publisher.publish(events.photo_uploaded(image_id=upload["image_id"], user_id=user,
                                                    object_key=f"photos/{user}/{upload['image_id']}",
                                                    content_type="image/jpeg", size_bytes=done["size_bytes"]))
    wait_for(lambda: applied(settings, "photos", again.topic, again.partition), lambda o: o >= again.offset,
             60, "the photos processor to apply the repeated event")
    assert metric(worker_url, "photostream_image_prerenders_total", outcome="rendered", width="1080") == rendered


# --- avatars ------------------------------------------------------------------------------------------------


class PurgeReceiver:
    """A CDN's purge endpoint, in the test: records every PURGE and webhook POST it gets."""

    def __init__(self, port: int, prefix: str) -> None:
        self.prefix = prefix
        self.received: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                with receiver._lock:
                    receiver.received.append((self.command, self.path if self.command == "PURGE" else body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PURGE = do_POST = _record  # noqa: N815 - http.server's naming

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def purged(self, path: str) -> int:
        """How many ``PURGE {endpoint}{path}`` requests arrived."""
        with self._lock:
            return sum(1 for method, p in self.received if method == "PURGE" and p == self.prefix + path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def purges(test_env: dict[str, str]) -> Iterator[PurgeReceiver]:
    endpoint = urlsplit(test_env["PHOTOSTREAM_AVATAR_PURGE_URL"])
    assert endpoint.port is not None
    receiver = PurgeReceiver(endpoint.port, endpoint.path)
    yield receiver
    receiver.close()


def register(client: httpx.Client, email: str) -> str:
    name = "u" + new_id().replace("-", "")[-12:]
    answer = client.post("/auth/register", json={"username": name, "email": email, "password": "a long passphrase 1"})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_an_unknown_hash_gets_its_own_identicon_never_a_404(client: httpx.Client) -> None:
    one, other = email_hash(f"{new_id()}@example.com"), email_hash(f"{new_id()}@example.com")
    first, again = client.get(f"/avatar/{one}", params={"w": 150}), client.get(f"/avatar/{one}?w=150")
    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert first.content == again.content and first.headers["ETag"] == again.headers["ETag"]
    assert Image.open(io.BytesIO(first.content)).size == (150, 150)
    assert client.get(f"/avatar/{other}", params={"w": 150}).content != first.content
    assert client.get(f"/avatar/{one}", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert client.get("/avatar/not-a-hash").status_code == 422
    assert client.get(f"/avatar/{one}", params={"w": 151}).status_code == 422


def test_an_upper_case_hash_is_redirected_to_the_one_url_the_cdn_is_purged_at(client: httpx.Client) -> None:
    """Served under an upper-case spelling too, an avatar was cached by a CDN under a URL the avatars processor
    never purges (it purges the lower-case one): the old photo stayed there."""
    digest = email_hash(f"{new_id()}@example.com")
    moved = client.get(f"/avatar/{digest.upper()}", params={"w": 320}, follow_redirects=False)
    assert moved.status_code == 308, moved.text
    assert moved.headers["location"].endswith(f"/avatar/{digest}?w=320")
    assert client.get(moved.headers["location"]).status_code == 200


def test_switching_the_active_avatar_purges_the_cdn_and_serves_the_new_photo(
        client: httpx.Client, settings: Settings, worker: object, purges: PurgeReceiver) -> None:
    address = f"{new_id()}@Example.com"
    user = register(client, f"  {address.upper()} ")
    digest = email_hash(address)
    url, path = f"/avatar/{digest}", avatar_paths(digest)[0]
    assert client.get(url).headers["content-type"] == "image/png"  # registered, no photo yet: the identicon

    red, blue = (220, 30, 30), (30, 30, 220)
    for n, colour in enumerate((red, blue), start=1):
        photo = upload_photo(client, settings, user, flat_jpeg(colour, 800, 800))
        changed = client.patch("/users/me", headers=auth(settings, user), json={"avatar_image_id": photo})
        assert changed.status_code == 202, changed.text
        # every URL a CDN may hold: without w and at each width
        wait_for(lambda: min(purges.purged(p) for p in avatar_paths(digest)), lambda count, n=n: count >= n, 60,
                 f"purge #{n} of {path} and its widths")
        answer = client.get(url, params={"w": 150}, headers={"Accept": "image/jpeg"})
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
        assert all(abs(a - b) < 30 for a, b in zip(colour_of(answer.content), colour, strict=True))

    # a profile change that keeps the photo purges nothing
    kept = client.patch("/users/me", headers=auth(settings, user), json={"bio": "same face"})
    token = ConsistencyToken.decode(kept.json()["token"])
    wait_for(lambda: applied(settings, "avatars", token.topic, token.partition), lambda o: o >= token.offset,
             60, "the avatars processor to apply the bio change")
    assert purges.purged(path) == 2


def _registered_with_address(client: httpx.Client) -> tuple[str, str, str]:
    """An account registered through the API with an address of its own: (user id, username, address hash)."""
    address = f"{new_id()}@example.com"
    name = "u" + new_id().replace("-", "")[-12:]
    registered = client.post("/auth/register", json={"username": name, "email": address,
                                                     "password": "a long passphrase 1"})
    assert registered.status_code == 201, registered.text
    return str(registered.json()["id"]), name, email_hash(address)


def _deleted(client: httpx.Client, name: str) -> httpx.Response:
    """The account deleted through the API (logged in again, as the deletion asks): its 202."""
    login = client.post("/auth/login", json={"login": name, "password": "a long passphrase 1"})
    assert login.status_code == 200, login.text
    gone = client.request("DELETE", "/users/me", json={"password": "a long passphrase 1"},
                          headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert gone.status_code == 202, gone.text
    return gone


def test_deleting_an_account_purges_its_avatar_from_the_cdn(
        client: httpx.Client, settings: Settings, worker: object, purges: PurgeReceiver) -> None:
    """An avatar change purged the CDN's copies; the account's deletion did not, and the CDN served the deleted
    person's face for its max-age while the origin already answered the identicon."""
    user, name, digest = _registered_with_address(client)
    photo = upload_photo(client, settings, user, flat_jpeg((30, 200, 30), 600, 600))
    assert client.patch("/users/me", headers=auth(settings, user), json={"avatar_image_id": photo}).status_code == 202
    wait_for(lambda: min(purges.purged(p) for p in avatar_paths(digest)), lambda count: count >= 1, 60,
             "the avatar change's purge")
    _deleted(client, name)
    wait_for(lambda: min(purges.purged(p) for p in avatar_paths(digest)), lambda count: count >= 2, 60,
             "the deletion's purge of every avatar URL")
    assert client.get(f"/avatar/{digest}").headers["content-type"] == "image/png"  # the identicon


def test_a_profile_and_avatar_change_of_a_deleted_account_applied_after_its_purge_brings_nothing_back(
        client: httpx.Client, settings: Settings, worker: object, publisher: Publisher) -> None:
    """A profile update (a new name and photo) made just before the account's deletion, and applied by the
    profiles and avatars processors after its purge: the purge's deletes carry its time (the profile) or the
    server's (the avatar directory), later than the update's own, so the update's writes stay shadowed; the
    profile's hot copy is filled from the row the write left (none). Nothing of the person comes back."""
    user, name, digest = _registered_with_address(client)
    reader = register(client, f"{new_id()}@example.com")
    photo = upload_photo(client, settings, user, flat_jpeg((200, 30, 200), 600, 600))
    late = events.profile_updated(user_id=user, username=name, display_name="Still Here", is_private=False,
                                  tags_followed_only=False, tags_manual_approval=False, avatar_image_id=photo)
    gone = _deleted(client, name)
    wait_for(lambda: client.get("/users/me", headers=auth(settings, reader), params={"after": gone.json()["token"]}),
             lambda answer: answer.status_code == 200 and "X-Photostream-Consistency" not in answer.headers, 60,
             "the purge applied")
    delivered = publisher.publish(late)  # only now
    assert client.get(f"/users/{user}", headers=auth(settings, reader),
                      params={"after": token_of(delivered, settings)}).status_code == 404  # applied by profiles
    wait_for(lambda: applied(settings, "avatars", delivered.topic, delivered.partition),
             lambda offset: offset >= delivered.offset, 60, "the avatars processor to apply the late change")
    redis = sync_client(settings)
    try:
        assert not redis.exists(keys.user_profile(user))
    finally:
        redis.close()
    cluster, session = connect(settings, metadata=False)
    try:
        row = session.execute("SELECT user_id, image_id FROM avatars_by_hash WHERE email_hash = %s", (digest,)).one()
    finally:
        cluster.shutdown()
    assert row is None or (row.user_id, row.image_id) == (None, None)
    assert client.get(f"/avatar/{digest}").headers["content-type"] == "image/png"  # the identicon


def test_a_user_picks_the_active_avatar_among_their_own_completed_photos(client: httpx.Client, settings: Settings,
                                                                        worker: object) -> None:
    user, other = register(client, f"{new_id()}@example.com"), new_id()
    first, second = upload_photo(client, settings, user), upload_photo(client, settings, user)
    theirs, unfinished = upload_photo(client, settings, other), ticket(client, settings, user)["image_id"]

    def choose(image_id: str) -> httpx.Response:
        return client.patch("/users/me", headers=auth(settings, user), json={"avatar_image_id": image_id})

    assert choose(theirs).status_code == 403
    for unusable in (new_id(), unfinished):  # unknown, or not completed
        refused = choose(unusable)
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "avatar_image_id"

    def listed(token: str, **params: str | int) -> dict:
        answer = client.get("/users/me/profile-photos", headers=auth(settings, user),
                            params={"after": token, **params})
        assert answer.status_code == 200 and "X-Photostream-Consistency" not in answer.headers, answer.text
        return dict(answer.json())

    for active, inactive in ((first, second), (second, first)):
        chosen = choose(active)
        assert chosen.status_code == 202, chosen.text
        photos = listed(chosen.json()["token"])
        # newest first; someone else's and the unfinished upload are not there
        assert [(i["image_id"], i["active"]) for i in photos["items"]] == [(second, second == active),
                                                                           (first, first == active)]
        assert photos["active_image_id"] == active != inactive
    thumbnail = httpx.get(str(client.base_url.copy_with(path="")) + photos["items"][0]["url"])  # no token
    assert thumbnail.status_code == 200 and thumbnail.headers["cache-control"].startswith("private")

    page = listed(chosen.json()["token"], limit=1)
    assert [i["image_id"] for i in page["items"]] == [second] and page["next_cursor"]
    rest = listed(chosen.json()["token"], limit=1, cursor=page["next_cursor"])
    assert [i["image_id"] for i in rest["items"]] == [first]
    # the cursor pages this user's photos only (someone else's request answered an empty page with it)
    foreign = client.get("/users/me/profile-photos", headers=auth(settings, other),
                         params={"cursor": page["next_cursor"]})
    assert foreign.status_code == 422 and foreign.json()["error"]["field"] == "cursor", foreign.text


def test_the_email_behind_an_avatar_hash_cannot_be_changed(client: httpx.Client, settings: Settings) -> None:
    """Avatars are keyed by the registration e-mail's hash; no endpoint changes an address (so no hash moves)."""
    user = register(client, f"{new_id()}@example.com")
    changed = client.patch("/users/me", headers=auth(settings, user), json={"email": f"{new_id()}@example.com"})
    assert changed.status_code == 422


def test_a_long_screenshot_is_served_as_jpeg_where_webp_cannot_hold_it_and_stays_whole(
    client: httpx.Client, settings: Settings
) -> None:
    """WebP stops at 16,383 pixels a side: at the feed width a 1080×20000 screenshot is beyond it. That encoder
    limit was remembered as a damaged original, and every size and format of the photo answered 422 for good."""
    me = new_id()
    tall = io.BytesIO()
    Image.new("RGB", (1080, 20000), (30, 90, 200)).save(tall, "PNG")
    image_id = upload_photo(client, settings, me, tall.getvalue())
    as_webp = auth(settings, me) | {"Accept": "image/webp,*/*"}
    for _ in range(2):  # the second answer comes from what the first one learnt
        feed = client.get(f"/images/{image_id}", params={"w": 1080}, headers=as_webp)
        assert feed.status_code == 200 and feed.headers["content-type"] == "image/jpeg", feed.text
        assert Image.open(io.BytesIO(feed.content)).size == (1080, 20000)
    grid = client.get(f"/images/{image_id}", params={"w": 320}, headers=as_webp)
    assert grid.status_code == 200 and grid.headers["content-type"] == "image/webp"
    assert client.get(f"/images/{image_id}", params={"w": 640}, headers=auth(settings, me)).status_code == 200


def test_an_image_taller_than_any_format_holds_is_refused_at_completion(client: httpx.Client,
                                                                       settings: Settings) -> None:
    """200×70000 is under the pixel limit, but beyond JPEG's 65,535 pixels a side (and WebP's): it completed,
    and then every size of it answered 422 "damaged" for good."""
    me = new_id()
    strip = io.BytesIO()
    Image.new("RGB", (200, 70000), (0, 0, 0)).save(strip, "PNG")
    upload = ticket(client, settings, me)
    assert send(upload, strip.getvalue()).status_code in (200, 204)
    refused = client.post(f"/uploads/{upload['image_id']}/complete", headers=auth(settings, me))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "image_id", refused.text



async def test_sizes_derived_for_an_image_purged_meanwhile_are_removed_with_it(client: httpx.Client,
                                                                               settings: Settings) -> None:
    """An account deleted while the photos processor rendered its newest upload: the purge had listed the
    sizes already, so the ones written after stayed in S3 for good, with their placeholder row. The processor
    now checks the image is still there after deriving it (an original without its row: what it sees then)."""
    from photostream.domain.images import object_key
    from sinks import s3
    from sinks.cassandra import connect as cassandra_connect
    from sinks.images import ImageIndex
    from sinks.photo_derivatives import PhotoDerivatives
    from sinks.redis_client import async_client
    from streams.photos import PhotoDerivativesProcessor, Uploaded

    user = new_id()
    upload = ticket(client, settings, user)
    assert send(upload, jpeg(800, 600)).status_code in (200, 201, 204)  # in S3, never completed: no row
    image_id = str(upload["image_id"])
    storage = s3.client(settings)
    cluster, session = cassandra_connect(settings)
    redis = async_client(settings)
    try:
        processor = PhotoDerivativesProcessor(settings, storage, PhotoDerivatives(session), ImageIndex(session),
                                              redis)
        await processor._derive(Uploaded(image_id, object_key(user, image_id)))
        assert s3.keys_under(storage, settings, f"renders/{image_id}/") == []
        assert await PhotoDerivatives(session).derived([image_id]) == {}
    finally:
        await redis.aclose()
        cluster.shutdown()
        s3.delete(storage, settings, object_key(user, image_id))
