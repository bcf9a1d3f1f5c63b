"""``Idempotency-Key``: a post or a comment sent again after a lost answer is one post, one comment."""

from __future__ import annotations

import httpx

from api.idempotency import HEADER
from photostream.settings import Settings
from producers.ids import new_id
from producers.publisher import Publisher
from tests.integration.conftest import Process, auth
from tests.integration.photos import upload_photo
from tests.integration.test_accounts import register
from tests.integration.waiting import wait_for


def test_a_post_and_a_comment_sent_twice_with_one_key_are_made_once(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    author = str(register(client)["id"])
    headers = auth(settings, author)
    body = {"caption": "sent twice #once", "image_ids": [upload_photo(client, settings, author)]}
    key = new_id()
    first = client.post("/posts", headers=headers | {HEADER: key}, json=body)
    again = client.post("/posts", headers=headers | {HEADER: key}, json=body)
    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()  # the first answer, token included
    other = client.post("/posts", headers=headers | {HEADER: key}, json=body | {"caption": "something else"})
    assert other.status_code == 422 and other.json()["error"]["field"] == HEADER, other.text
    post_id = first.json()["id"]

    comment = {"text": "said once"}
    said = [client.post(f"/posts/{post_id}/comments", headers=headers | {HEADER: "comment-1"}, json=comment)
            for _ in range(2)]
    assert [s.status_code for s in said] == [202, 202] and said[0].json()["id"] == said[1].json()["id"]
    unkeyed = client.post(f"/posts/{post_id}/comments", headers=headers, json=comment)
    assert unkeyed.status_code == 202 and unkeyed.json()["id"] != said[0].json()["id"]  # no key: a new comment

    post = wait_for(lambda: client.get(f"/posts/{post_id}", headers=headers,
                                       params={"after": unkeyed.json()["token"]}).json(),
                    lambda p: p.get("comment_count") == 2, 60, "both comments to be counted")
    assert post["post_id"] == post_id
    listed = client.get(f"/users/{author}/posts", headers=headers, params={"after": again.json()["token"]}).json()
    assert [item["post_id"] for item in listed["items"]] == [post_id]
    bad = client.post("/posts", headers=headers | {HEADER: "with space"}, json=body)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == HEADER


async def test_repeats_sent_together_publish_once_and_a_refused_first_does_not_hold_the_key(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """Six requests with one key at once each published (six records) and the sixth was told it was
    rate-limited; a repeat now waits its turn (409 with Retry-After) or gets the first answer. A first request
    that was refused does not make its repeat a 409."""
    import asyncio

    author = str(register(client)["id"])
    headers = auth(settings, author) | {HEADER: new_id()}
    body = {"caption": "at once", "image_ids": [upload_photo(client, settings, author)]}
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=30) as api:
        answers = await asyncio.gather(*(api.post("/posts", headers=headers, json=body) for _ in range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {202, 409} and 202 in statuses, [a.text for a in answers]
    assert len({a.json()["token"] for a in answers if a.status_code == 202}) == 1  # one record published
    for busy in (a for a in answers if a.status_code == 409):
        assert busy.headers["Retry-After"] and busy.json()["error"]["field"] == HEADER

    someone_elses = {"caption": "not mine", "image_ids": [upload_photo(client, settings, new_id())]}
    key = auth(settings, author) | {HEADER: new_id()}
    refused = [client.post("/posts", headers=key, json=someone_elses).status_code for _ in range(2)]
    assert refused[0] == refused[1] != 409 and refused[0] >= 400, refused


def test_a_create_applied_twice_shows_each_photo_once(client: httpx.Client, settings: Settings,
                                                      publisher: Publisher, worker: Process) -> None:
    """``image_ids`` is a Cassandra list: the same create applied again (a redelivery after a crash, an
    idempotent re-send) appended its images again, and the post showed each photo twice."""
    from producers import events
    from tests.integration.test_first_flow import token_of

    author, images = new_id(), [new_id(), new_id()]
    post = events.post_created(author_id=author, caption="twice", image_ids=images)
    publisher.publish(post)
    again = publisher.publish(post)  # the very same event: same id, same time
    shown = client.get(f"/posts/{post.value['post_id']}", headers=auth(settings, author),
                       params={"after": token_of(again, settings)})
    assert shown.status_code == 200, shown.text
    photos = shown.json()["photos"]
    assert len(photos) == 2 and all(image in photo for image, photo in zip(images, photos, strict=True)), photos


def test_a_post_refused_then_sent_again_corrected_is_made_with_an_id_of_its_own_time(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """The key kept the refused attempt's ids: the corrected repeat (its upload completed meanwhile) made a post
    whose id carried the first attempt's time, sorted below posts made in between (off a full feed's top)."""
    from producers.ids import id_time_ms, now_ms
    from tests.integration.photos import complete, jpeg, send, ticket

    author = str(register(client)["id"])
    headers = auth(settings, author) | {HEADER: new_id()}
    upload = ticket(client, settings, author)
    body = {"caption": "once the photo is up", "image_ids": [upload["image_id"]]}
    early = client.post("/posts", headers=headers, json=body)
    assert early.status_code == 422, early.text  # the upload is not completed yet
    assert send(upload, jpeg()).status_code in (200, 201, 204)
    assert complete(client, settings, author, upload["image_id"]).status_code == 200
    retried_at = now_ms()
    made = client.post("/posts", headers=headers, json=body)
    assert made.status_code == 202, made.text
    assert id_time_ms(made.json()["id"]) >= retried_at
