"""The read API through the real stack: hydrated posts with real counts, the profile grid, comments, follower
lists — paged by opaque cursors that neither skip nor repeat while new items arrive — and engagement refused on
posts the caller may not see."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from api.auth import mint_access_token
from api.consistency import ConsistencyToken, token_key
from api.paging import encode_cursor, list_of
from photostream.settings import Settings
from producers import events
from producers.events import event_type
from producers.ids import new_id, now_ms
from producers.publisher import Publisher, producer_config
from sinks import keys
from sinks.cassandra import connect as cassandra_connect
from sinks.partition_cache import LIKES
from sinks.redis_client import sync_client
from tests.integration.conftest import Process, auth
from tests.integration.waiting import wait_for


def token(settings: Settings, result: Any) -> str:
    return ConsistencyToken(result.topic, result.partition, result.offset).encode(token_key(settings))


def readable(client: httpx.Client, settings: Settings, path: str, viewer: str | None, after: str) -> None:
    """Wait until ``path`` answers 200 after the write behind ``after`` (a worker that just started may still be
    joining its groups, so one bounded read-your-writes wait is not always enough)."""
    wait_for(lambda: get(client, settings, path, viewer, after=after).status_code, lambda s: s == 200, 60,
             f"{path} to be readable")


def register(client: httpx.Client, settings: Settings, publisher: Publisher, username: str,
             avatar: str | None = None) -> str:
    return register_as(client, settings, publisher, new_id(), username, avatar)


def register_as(client: httpx.Client, settings: Settings, publisher: Publisher, user: str, username: str,
                avatar: str | None = None) -> str:
    """``user`` registered (by an upstream service, through the SDK) with a readable profile."""
    result = publisher.publish(events.user_registered(user_id=user, username=username, display_name=username,
                                                      avatar_image_id=avatar))
    readable(client, settings, f"/users/{user}", None, token(settings, result))
    return user


def test_a_list_of_a_user_nobody_registered_is_the_404_of_a_user_who_blocked_the_caller(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """A block answers 404 as if the user were absent; an id nobody registered answered an empty 200, which told
    a blocked caller which of the two it was. The grid too: its empty page kept a cursor, which told a blocked
    caller the account exists and, page by page, roughly how many posts it has."""
    owner, blocked, nobody = register(client, settings, publisher, f"own{new_id()[-6:]}"), new_id(), new_id()
    publish_posts(client, settings, publisher, owner, 3)
    block = client.post(f"/users/{blocked}/block", headers=auth(settings, owner))
    assert block.status_code == 202
    readable(client, settings, f"/users/{owner}", owner, block.json()["token"])
    for path in ("followers", "following", "tagged", "posts?limit=1"):
        answers = [client.get(f"/users/{user}/{path}", headers=auth(settings, blocked)) for user in (owner, nobody)]
        assert [a.status_code for a in answers] == [404, 404], (path, [a.text for a in answers])
        assert answers[0].json() == answers[1].json()


def publish_posts(client: httpx.Client, settings: Settings, publisher: Publisher, author: str, n: int,
                  visibility: str = "public") -> list[str]:
    """``n`` posts by ``author`` (straight onto the log: the API's post rate limit is not under test), oldest
    first, each readable before this returns."""
    ids, result = [], None
    for i in range(n):
        event = events.post_created(author_id=author, caption=f"post {i}", image_ids=[new_id()],
                                    visibility=visibility)
        result = publisher.publish(event)
        ids.append(event.value["post_id"])
    # one author's posts share a partition: once the last is applied, all are
    readable(client, settings, f"/posts/{ids[-1]}", author, token(settings, result))
    return ids


def get(client: httpx.Client, settings: Settings, path: str, viewer: str | None, **params: Any) -> httpx.Response:
    return client.get(path, headers=auth(settings, viewer) if viewer else {}, params=params)


def pages(client: httpx.Client, settings: Settings, path: str, viewer: str | None, limit: int,
          key: str = "post_id") -> list[list[str]]:
    """Every page of a list, following next_cursor to the end."""
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        answer = get(client, settings, path, viewer, **params)
        assert answer.status_code == 200, answer.text
        found.append([item[key] for item in answer.json()["items"]])
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return found


def test_a_post_reads_hydrated_with_its_real_counts(client: httpx.Client, settings: Settings,
                                                    publisher: Publisher, worker: Process) -> None:
    avatar, photos = new_id(), [new_id(), new_id()]
    author = register(client, settings, publisher, f"ada{new_id()[-6:]}", avatar=avatar)
    fans = [new_id() for _ in range(4)]
    created = events.post_created(author_id=author, caption="two photos", image_ids=photos)
    result = publisher.publish(created)  # straight onto the log: uploads are not under test here
    post_id = created.value["post_id"]
    readable(client, settings, f"/posts/{post_id}", None, token(settings, result))
    comments = [client.post(f"/posts/{post_id}/comments", headers=auth(settings, fans[1]), json={"text": t})
                for t in ("first", "second")]
    assert all(c.status_code == 202 for c in comments)
    likes = [(fans[0], "POST"), (fans[0], "POST"), (fans[1], "POST"), (fans[2], "POST"), (fans[2], "DELETE"),
             (fans[3], "POST")]  # a duplicate like, a like taken back, and last a like only the end state has
    for fan, method in likes:
        assert client.request(method, f"/posts/{post_id}/like", headers=auth(settings, fan)).status_code == 202

    def seen_by_last_fan() -> tuple[bool, int, int]:
        item = get(client, settings, f"/posts/{post_id}", fans[3]).json()
        return item["liked_by_me"], item["like_count"], item["comment_count"]

    # applied by the popularity processor in the background (shared topics: behind everyone else's events)
    wait_for(seen_by_last_fan, lambda seen: seen == (True, 3, 2), 240, "every like and comment to count")
    item = get(client, settings, f"/posts/{post_id}", fans[0]).json()
    assert item == {
        "post_id": post_id,
        "author": {"id": author, "username": item["author"]["username"], "avatar_url": f"/api/v1/images/{avatar}"},
        "caption": "two photos",
        "photos": [f"/api/v1/images/{p}" for p in photos],
        "like_count": 3, "comment_count": 2, "liked_by_me": True,
        "created_at": item["created_at"], "visibility": "public",
        "blurhashes": [None, None],  # these ids were never uploaded: no placeholder to show
        "photo_tags": [[], []],  # nobody tagged on either photo
    }
    assert item["author"]["username"].startswith("ada") and isinstance(item["created_at"], int)
    assert get(client, settings, f"/posts/{post_id}", fans[2]).json()["liked_by_me"] is False  # unliked
    assert get(client, settings, f"/posts/{post_id}", None).json()["liked_by_me"] is False


def test_liked_by_me_follows_a_readers_likes_after_their_copy_is_warm(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    """The reader's Redis copy of their likes (sinks.partition_cache) is read before they like: the popularity
    processor must edit it, or the heart would stay empty for the copy's lifetime. And a read given the like's
    token shows it: the heart and the count, at once."""
    author, fan = new_id(), new_id()
    created = events.post_created(author_id=author, caption="heart", image_ids=[new_id()])
    post_id = created.value["post_id"]
    readable(client, settings, f"/posts/{post_id}", None, token(settings, publisher.publish(created)))

    def liked() -> bool:
        return bool(get(client, settings, f"/posts/{post_id}", fan).json()["liked_by_me"])

    assert liked() is False  # copies the fan's (empty) likes
    assert copied_likes(settings, fan) == {}
    for method, expected in (("POST", True), ("DELETE", False), ("POST", True)):
        answer = client.request(method, f"/posts/{post_id}/like", headers=auth(settings, fan))
        assert answer.status_code == 202
        # read-your-writes: the like's token waits for the processor that applies it, so no polling
        seen = get(client, settings, f"/posts/{post_id}", fan, after=answer.json()["token"])
        assert seen.headers.get("X-Photostream-Consistency") is None, "the like was not applied within the wait"
        assert (seen.json()["liked_by_me"], seen.json()["like_count"]) == (expected, int(expected))
    assert copied_likes(settings, fan) == {post_id: "1"}  # edited in place, never dropped


def copied_likes(settings: Settings, user: str) -> dict[str, str]:
    held = sync_client(settings).hgetall(keys.partition_copy(LIKES, user))
    assert held.pop("\x00state") == "ok"
    return dict(held)


def test_the_profile_grid_pages_newest_first_without_gaps_or_duplicates_while_posts_arrive(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    author, stranger = register(client, settings, publisher, f"grid{new_id()[-6:]}"), new_id()
    older = publish_posts(client, settings, publisher, author, 7)
    secret = publish_posts(client, settings, publisher, author, 1, visibility="private")
    path = f"/users/{author}/posts"
    first = get(client, settings, path, stranger, limit=3).json()
    assert [i["post_id"] for i in first["items"]] == older[::-1][:3]
    newer = publish_posts(client, settings, publisher, author, 2)  # arrive while the stranger scrolls
    seen = [i["post_id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = get(client, settings, path, stranger, limit=3, cursor=cursor).json()
        seen += [i["post_id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == older[::-1]  # every older post once, in order; the new ones are above the first page
    assert [p for page in pages(client, settings, path, stranger, 4) for p in page] == (older + newer)[::-1]
    assert [p for page in pages(client, settings, path, author, 4) for p in page] == \
        (older + secret + newer)[::-1]  # the author also sees their private post, in its place


def test_comments_read_newest_first_in_pages_only_for_who_may_see_the_post(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    author, fan, stranger = new_id(), new_id(), new_id()
    commenter = register(client, settings, publisher, f"bo{new_id()[-6:]}")
    [post_id] = publish_posts(client, settings, publisher, author, 1)
    texts = [f"comment {i}" for i in range(5)]
    answers = [client.post(f"/posts/{post_id}/comments", headers=auth(settings, commenter), json={"text": t})
               for t in texts]
    assert all(a.status_code == 202 for a in answers)
    latest = answers[-1].json()
    first = get(client, settings, f"/posts/{post_id}/comments", fan, limit=2, after=latest["token"])
    assert first.status_code == 200 and "X-Photostream-Consistency" not in first.headers
    assert [c["text"] for c in first.json()["items"]] == ["comment 4", "comment 3"]
    assert first.json()["items"][0]["comment_id"] == latest["id"]
    assert first.json()["items"][0]["author"]["id"] == commenter
    assert first.json()["items"][0]["author"]["username"].startswith("bo")
    walked = pages(client, settings, f"/posts/{post_id}/comments", stranger, 2, key="comment_id")
    assert [len(p) for p in walked] == [2, 2, 1]
    assert [c for p in walked for c in p] == [a.json()["id"] for a in answers][::-1]

    [hidden] = publish_posts(client, settings, publisher, author, 1, visibility="private")
    assert get(client, settings, f"/posts/{hidden}/comments", stranger).status_code == 404
    assert get(client, settings, f"/posts/{hidden}/comments", author).status_code == 200
    assert get(client, settings, f"/posts/{new_id()}/comments", None).status_code == 404


def test_followers_and_following_page_with_counts(client: httpx.Client, settings: Settings,
                                                  publisher: Publisher, worker: Process) -> None:
    star = register(client, settings, publisher, f"star{new_id()[-6:]}")
    fans = [new_id() for _ in range(5)]
    for fan in fans:
        assert client.post(f"/users/{star}/follow", headers=auth(settings, fan)).status_code == 202
    wait_for(lambda: get(client, settings, f"/users/{star}/followers", None).json()["count"],
             lambda n: n == 5, 60, "five followers")
    walked = pages(client, settings, f"/users/{star}/followers", None, 2, key="id")
    assert [len(p) for p in walked] == [2, 2, 1]
    assert [f for p in walked for f in p] == sorted(fans)
    register_as(client, settings, publisher, fans[0], f"fan{new_id()[-6:]}")  # (an unknown user's lists are 404)
    following = get(client, settings, f"/users/{fans[0]}/following", None).json()
    assert following["count"] == 1 and following["next_cursor"] is None
    assert following["items"][0]["id"] == star and following["items"][0]["username"].startswith("star")

    assert client.delete(f"/users/{star}/follow", headers=auth(settings, fans[0])).status_code == 202
    wait_for(lambda: get(client, settings, f"/users/{star}/followers", None).json()["count"],
             lambda n: n == 4, 60, "four followers")
    assert get(client, settings, f"/users/{fans[0]}/following", None).json() == {
        "items": [], "count": 0, "next_cursor": None}
    remaining = get(client, settings, f"/users/{star}/followers", None, limit=10).json()
    assert [f["id"] for f in remaining["items"]] == sorted(fans[1:])


def test_likes_and_comments_on_a_post_the_caller_may_not_see_are_404(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    author, stranger = new_id(), new_id()
    [private] = publish_posts(client, settings, publisher, author, 1, visibility="private")
    for method, path, body in (("POST", "like", None), ("DELETE", "like", None), ("POST", "comments", {"text": "x"})):
        for post_id in (private, new_id()):
            answer = client.request(method, f"/posts/{post_id}/{path}", headers=auth(settings, stranger), json=body)
            assert answer.status_code == 404, answer.text
            assert answer.json()["error"]["code"] == "not_found"
    assert client.post(f"/posts/{private}/like", headers=auth(settings, author)).status_code == 202


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/users/{user}/posts", {"cursor": "garbage"}, "cursor"),
    ("/users/{user}/followers", {"cursor": "Z3JpZDp4"}, "cursor"),
    ("/posts/{post}/comments", {"limit": 0}, "limit"),
    ("/users/{user}/following", {"limit": 101}, "limit"),
    ("/users/{user}/posts", {"limit": "many"}, "limit"),
])
def test_bad_cursors_and_limits_are_422_naming_the_field(client: httpx.Client, path: str, params: dict[str, Any],
                                                         field: str) -> None:
    answer = client.get(path.format(user=new_id(), post=new_id()), params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_a_cursor_of_one_list_is_refused_by_another(client: httpx.Client, settings: Settings,
                                                    publisher: Publisher, worker: Process) -> None:
    author = register(client, settings, publisher, f"cur{new_id()[-6:]}")
    publish_posts(client, settings, publisher, author, 2)
    grid_cursor = get(client, settings, f"/users/{author}/posts", None, limit=1).json()["next_cursor"]
    assert grid_cursor is not None
    answer = get(client, settings, f"/users/{author}/followers", None, cursor=grid_cursor)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "cursor"
    # and by the list of the same kind of another owner: another user's grid, another post's comments
    other = new_id()
    [theirs] = publish_posts(client, settings, publisher, other, 1)
    assert get(client, settings, f"/users/{other}/posts", None, cursor=grid_cursor).status_code == 422
    [post] = publish_posts(client, settings, publisher, author, 1)
    for commenter in (new_id(), new_id()):
        commented = client.post(f"/posts/{post}/comments", headers=auth(settings, commenter), json={"text": "hi"})
        assert commented.status_code == 202, commented.text
    readable(client, settings, f"/posts/{post}/comments", None, commented.json()["token"])
    comments_cursor = get(client, settings, f"/posts/{post}/comments", None, limit=1).json()["next_cursor"]
    assert comments_cursor is not None
    elsewhere = get(client, settings, f"/posts/{theirs}/comments", None, cursor=comments_cursor)
    assert elsewhere.status_code == 422 and elsewhere.json()["error"]["field"] == "cursor"


def test_a_deleted_post_created_again_stays_deleted_and_out_of_the_post_count(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """An upstream retry of a create (a new event id, the same post id) after the delete listed the post again:
    still a 404 itself, but counted in its author's posts."""
    author = register(client, settings, publisher, f"redo{new_id()[-6:]}")
    kept, gone = publish_posts(client, settings, publisher, author, 2)
    deleted = publisher.publish(events.post_deleted(post_id=gone, author_id=author))
    assert get(client, settings, f"/posts/{gone}", None, after=token(settings, deleted)).status_code == 404
    again = publisher.publish(events.post_created(post_id=gone, author_id=author, caption="again",
                                                  image_ids=[new_id()]))
    profile = get(client, settings, f"/users/{author}", author, after=token(settings, again))
    assert profile.json()["counts"]["posts"] == 1, profile.text
    assert get(client, settings, f"/posts/{gone}", None).status_code == 404
    assert [i["post_id"] for i in get(client, settings, f"/users/{author}/posts", author).json()["items"]] == [kept]
    # the author's words went with the post, and the retried create did not write them back
    cluster, session = cassandra_connect(settings)
    try:
        row = session.execute("SELECT caption, location_name, deleted FROM posts WHERE post_id = %s", (gone,)).one()
    finally:
        cluster.shutdown()
    assert (row.caption, row.location_name, row.deleted) == (None, None, True)


def test_likes_resolve_by_their_time_and_a_like_by_a_non_id_is_not_counted(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """An older like that reaches the log after the unlike that followed it (a DLQ redrive, a late retry) was
    counted; a raw record naming user "bob" was counted by the popularity processor and refused by every other
    processor of likes."""
    author, fan, other = register(client, settings, publisher, f"lk{new_id()[-6:]}"), new_id(), new_id()
    [post_id] = publish_posts(client, settings, publisher, author, 1)
    at = now_ms() - 60_000  # (in the past: a time ahead of the log's is capped at the log's)
    like = event_type("like-changed")
    liked = publisher.publish(like.build({"post_id": post_id, "user_id": fan, "action": "like", "occurred_at": at}))
    unliked = publisher.publish(like.build({"post_id": post_id, "user_id": fan, "action": "unlike",
                                            "occurred_at": at + 1000}))
    assert get(client, settings, f"/posts/{post_id}", fan, after=token(settings, unliked)).json()["like_count"] == 0
    # in a later batch: the like again (a re-send of the same event), and a like older than the unlike
    publisher.publish(like.build({"post_id": post_id, "user_id": fan, "action": "like", "occurred_at": at,
                                  "event_id": liked.event_id}))
    publisher.publish(like.build({"post_id": post_id, "user_id": fan, "action": "like", "occurred_at": at + 500}))
    # a raw record, past the SDK's checks (encoded as the SDK would, with a user that is no id)
    raw = {"event_id": new_id(), "occurred_at": at, "post_id": post_id, "user_id": "bob", "action": "like"}
    producer = Producer(producer_config(settings))  # (the SDK's partitioner: the post's partition)
    producer.produce(settings.topic_names.physical("like-changed"), like._encode(raw), post_id.encode())
    assert producer.flush(10) == 0
    last = publisher.publish(events.like_changed(post_id=post_id, user_id=other, action="like"))  # same partition
    item = get(client, settings, f"/posts/{post_id}", fan, after=token(settings, last)).json()
    assert (item["like_count"], item["liked_by_me"]) == (1, False), item


def test_an_unlike_outranks_a_like_a_producer_stamped_ahead_of_its_time(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """An upstream like stamped ten minutes ahead made the user's unlike through the API (202, and a token that
    said it was applied) a no-op until those ten minutes had passed."""
    author, fan = register(client, settings, publisher, f"ah{new_id()[-6:]}"), new_id()
    [post_id] = publish_posts(client, settings, publisher, author, 1)
    ahead = publisher.publish(event_type("like-changed").build({"post_id": post_id, "user_id": fan, "action": "like",
                                                                "occurred_at": now_ms() + 600_000}))
    item = get(client, settings, f"/posts/{post_id}", fan, after=token(settings, ahead)).json()
    assert (item["like_count"], item["liked_by_me"]) == (1, True), item
    unliked = client.delete(f"/posts/{post_id}/like", headers=auth(settings, fan))
    assert unliked.status_code == 202
    item = get(client, settings, f"/posts/{post_id}", fan, after=unliked.json()["token"]).json()
    assert (item["like_count"], item["liked_by_me"]) == (0, False), item


def test_who_likes_a_post_pages_in_id_order_without_unlikers_or_people_in_a_block(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    author = new_id()
    [post] = publish_posts(client, settings, publisher, author, 1)
    likers = sorted(new_id() for _ in range(6))
    for liker in likers:
        assert client.post(f"/posts/{post}/like", headers=auth(settings, liker)).status_code == 202
    unliked = client.delete(f"/posts/{post}/like", headers=auth(settings, likers[2]))
    assert unliked.status_code == 202
    first = get(client, settings, f"/posts/{post}/likes", author, limit=2, after=unliked.json()["token"])
    assert first.status_code == 200, first.text
    assert first.json()["count"] == 5
    walked = pages(client, settings, f"/posts/{post}/likes", None, 2, key="id")
    assert [u for page in walked for u in page] == likers[:2] + likers[3:]  # the unliker's row is skipped
    assert [len(page) for page in walked] == [2, 2, 1]

    blocked = client.post(f"/users/{likers[0]}/block", headers=auth(settings, author))
    assert blocked.status_code == 202
    mine = get(client, settings, f"/posts/{post}/likes", author, after=blocked.json()["token"]).json()
    assert likers[0] not in [u["id"] for u in mine["items"]]

    [hidden] = publish_posts(client, settings, publisher, author, 1, visibility="private")
    for missing in (hidden, new_id()):
        answer = get(client, settings, f"/posts/{missing}/likes", likers[1])
        assert answer.status_code == 404 and answer.json()["error"]["field"] == "post_id", answer.text
    comments_cursor = encode_cursor(list_of("comments", post), likers[1])
    refused = get(client, settings, f"/posts/{post}/likes", None, cursor=comments_cursor)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "cursor"


def test_me_names_the_caller_on_every_route_that_names_a_user(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process, api_url: str) -> None:
    """``me`` worked on the profile and "photos of you" only: the grid, followers, following and status were a
    422 (and the status stream a 403); a path naming no user at all is a 422 there too, as on HTTP."""
    me = register(client, settings, publisher, f"me{new_id()[-6:]}")
    publish_posts(client, settings, publisher, me, 1)
    for path in ("posts", "followers", "following", "status"):
        mine, by_id = get(client, settings, f"/users/me/{path}", me), get(client, settings, f"/users/{me}/{path}", me)
        assert mine.status_code == 200 and mine.json() == by_id.json(), (path, mine.text)
        assert get(client, settings, f"/users/me/{path}", None).status_code == 401, path
    token = mint_access_token(settings, me)
    base = api_url.replace("http://", "ws://") + "/api/v1/users/{}/status/stream?token=" + token
    with connect(base.format("me"), open_timeout=20) as ws:
        assert "unread_notifications" in ws.recv(timeout=20)
    with pytest.raises(InvalidStatus) as refused:
        connect(base.format("not-an-id"), open_timeout=20)
    assert refused.value.response.status_code == 422
