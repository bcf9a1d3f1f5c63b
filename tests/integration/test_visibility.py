"""Who may see what, through the real stack: a post the caller may not see is a 404, exactly like a post
that does not exist — on the post page, its images, and every hashtag aggregate."""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher
from sinks import keys
from sinks.redis_client import sync_client
from tests.integration.conftest import Process, auth
from tests.integration.photos import upload_photo
from tests.integration.test_accounts import register
from tests.integration.waiting import applied, caught_up, wait_for


def create_post(client: httpx.Client, settings: Settings, author: str, visibility: str,
                caption: str = "hello", image_ids: list[str] | None = None) -> tuple[str, str]:
    """(post id, consistency token) of a post created through the API."""
    answer = client.post("/posts", headers=auth(settings, author),
                         json={"caption": caption, "image_ids": image_ids or [upload_photo(client, settings, author)],
                               "visibility": visibility})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"], answer.json()["token"]


def get_post(client: httpx.Client, settings: Settings, post_id: str, viewer: str | None,
             after: str | None = None) -> httpx.Response:
    headers = auth(settings, viewer) if viewer else {}
    return client.get(f"/posts/{post_id}", headers=headers, params={"after": after} if after else None)


def follow(client: httpx.Client, settings: Settings, follower: str, followee: str, on: bool = True) -> str:
    method = client.post if on else client.delete
    answer = method(f"/users/{followee}/follow", headers=auth(settings, follower))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["token"])


def test_a_private_post_is_seen_by_its_author_only(client: httpx.Client, settings: Settings,
                                                   worker: Process) -> None:
    author, stranger = new_id(), new_id()
    post_id, token = create_post(client, settings, author, "private")
    mine = get_post(client, settings, post_id, author, after=token)
    assert mine.status_code == 200 and mine.json()["post_id"] == post_id
    absent = get_post(client, settings, new_id(), None)
    for viewer in (None, stranger):
        hidden = get_post(client, settings, post_id, viewer)
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == absent.json()["error"]["code"] == "not_found"


def test_a_followers_post_is_seen_by_followers_and_no_longer_after_an_unfollow(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    author, fan, stranger = str(register(client)["id"]), new_id(), new_id()  # (a follow needs a real account)
    post_id, token = create_post(client, settings, author, "followers")
    assert get_post(client, settings, post_id, author, after=token).status_code == 200
    assert get_post(client, settings, post_id, fan).status_code == 404  # not following yet
    followed = follow(client, settings, fan, author)
    assert get_post(client, settings, post_id, fan, after=followed).status_code == 200
    assert get_post(client, settings, post_id, stranger).status_code == 404
    assert get_post(client, settings, post_id, None).status_code == 404
    unfollowed = follow(client, settings, fan, author, on=False)
    assert get_post(client, settings, post_id, fan, after=unfollowed).status_code == 404


def test_the_newest_follow_event_wins_whatever_the_arrival_order(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    author, fan = new_id(), new_id()
    post_id, token = create_post(client, settings, author, "followers")
    assert get_post(client, settings, post_id, author, after=token).status_code == 200
    t = now_ms()
    pair = {"follower_id": fan, "followee_id": author}
    publisher.publish(events.build("follow-changed", pair | {"action": "follow", "occurred_at": t + 1000}))
    publisher.publish(events.build("follow-changed", pair | {"action": "unfollow", "occurred_at": t}))  # late
    publisher.publish(events.build("follow-changed", pair | {"action": "follow", "occurred_at": t + 1000}))  # dup
    caught_up(settings, "feeds", "follow-changed")
    assert get_post(client, settings, post_id, fan).status_code == 200


def test_an_invalid_token_on_a_public_read_is_401_not_anonymous(client: httpx.Client) -> None:
    answer = client.get(f"/posts/{new_id()}", headers={"Authorization": "Bearer forged"})
    assert answer.status_code == 401


def test_hashtags_count_and_show_public_posts_only(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    tag = f"vis{uuid.uuid4().hex[:12]}"
    author = new_id()
    for visibility in ("private", "followers"):
        publisher.publish(events.post_created(author_id=author, caption=f"secret #{tag}", image_ids=[new_id()],
                                              visibility=visibility))
    public = events.post_created(author_id=author, caption=f"open #{tag}", image_ids=[new_id()])
    publisher.publish(public)
    wait_for(lambda: client.get(f"/hashtags/{tag}").status_code, lambda s: s == 200, 30, f"#{tag} to exist")
    caught_up(settings, "hashtag-extractor", "post-created")
    caught_up(settings, "hashtag-counter", "post-hashtag")
    body = client.get(f"/hashtags/{tag}").json()
    assert body["post_count"] == 1
    assert [p["post_id"] for p in body["top_posts"]] == [public.value["post_id"]]
    listed = client.get(f"/hashtags/{tag}/posts").json()
    assert [p["post_id"] for p in listed["items"]] == [public.value["post_id"]]


@pytest.mark.parametrize(("visibility", "anonymous_status"), [("public", 307), ("private", 404)])
def test_an_image_is_as_visible_as_its_post(client: httpx.Client, settings: Settings, worker: Process,
                                            visibility: str, anonymous_status: int) -> None:
    author, stranger = new_id(), new_id()
    image_id = upload_photo(client, settings, author)
    assert client.get(f"/images/{image_id}", follow_redirects=False).status_code == 404  # in no post yet
    post_id, token = create_post(client, settings, author, visibility, image_ids=[image_id])
    assert get_post(client, settings, post_id, author, after=token).status_code == 200
    assert client.get(f"/images/{image_id}", follow_redirects=False).status_code == anonymous_status
    as_stranger = client.get(f"/images/{image_id}", headers=auth(settings, stranger), follow_redirects=False)
    assert as_stranger.status_code == anonymous_status
    as_author = client.get(f"/images/{image_id}", headers=auth(settings, author), follow_redirects=False)
    assert as_author.status_code == 307
    assert as_author.headers["cache-control"].startswith("private")


def test_hashtag_pages_leave_out_private_accounts_and_blocked_authors(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    tag = f"acct{uuid.uuid4().hex[:12]}"
    private_author, open_author, reader = new_id(), new_id(), new_id()
    made_private = publisher.publish(events.profile_updated(user_id=private_author, username=f"p{tag}",
                                                            display_name="P", is_private=True,
                                                            tags_followed_only=False, tags_manual_approval=False))
    hidden = events.post_created(author_id=private_author, caption=f"#{tag}", image_ids=[new_id()])
    shown = events.post_created(author_id=open_author, caption=f"#{tag}", image_ids=[new_id()])
    redis_marks = sync_client(settings)
    wait_for(lambda: int(redis_marks.hget(keys.applied_offsets("profiles", made_private.topic),
                                          str(made_private.partition)) or -1),
             lambda applied: applied >= made_private.offset, 30, "the private profile to be projected")
    publisher.publish(hidden)
    publisher.publish(shown)
    # a sync point: the public account's post is counted; the private account's public post counts nowhere
    wait_for(lambda: client.get(f"/hashtags/{tag}").json().get("post_count"), lambda c: c == 1, 30,
             f"#{tag} to hold the public account's post")
    caught_up(settings, "hashtag-extractor", "post-created")
    caught_up(settings, "hashtag-counter", "post-hashtag")
    assert client.get(f"/hashtags/{tag}").json()["post_count"] == 1
    anonymous = client.get(f"/hashtags/{tag}/posts").json()
    assert [p["post_id"] for p in anonymous["items"]] == [shown.value["post_id"]]
    page = client.get(f"/hashtags/{tag}").json()
    assert [p["post_id"] for p in page["top_posts"]] == [shown.value["post_id"]]

    blocked = client.post(f"/users/{open_author}/block", headers=auth(settings, reader))
    assert blocked.status_code == 202, blocked.text
    # the block is applied by the safety processor; once it is, the reader no longer sees the author's post
    wait_for(lambda: client.get(f"/hashtags/{tag}/posts", headers=auth(settings, reader)).json()["items"],
             lambda items: items == [], 30, "the blocked author's post to leave the reader's hashtag page")
    assert [p["post_id"] for p in client.get(f"/hashtags/{tag}/posts").json()["items"]] == [shown.value["post_id"]]


def test_a_like_of_a_hidden_post_does_not_rank_it_into_its_tags_top_posts(
    client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process
) -> None:
    """A like or comment ranked a post into every tag it carries, counted there or not: a private account's
    post took a slot of the tag's top posts (the page, which leaves it out, showed one fewer) and
    `rebuild hashtags --check` differed."""
    tag = f"liked{uuid.uuid4().hex[:12]}"
    private_author, open_author, fan = new_id(), new_id(), new_id()
    made_private = publisher.publish(events.profile_updated(user_id=private_author, username=f"p{tag}",
                                                            display_name="P", is_private=True,
                                                            tags_followed_only=False, tags_manual_approval=False))
    redis = sync_client(settings)
    applied(redis, [(made_private.topic, made_private.partition, made_private.offset)], lambda _: ["profiles"])
    hidden = events.post_created(author_id=private_author, caption=f"#{tag}", image_ids=[new_id()])
    shown = events.post_created(author_id=open_author, caption=f"#{tag}", image_ids=[new_id()])
    publisher.publish(hidden)
    publisher.publish(shown)
    wait_for(lambda: client.get(f"/hashtags/{tag}").json().get("post_count"), lambda c: c == 1, 30,
             f"#{tag} to hold the public account's post")
    caught_up(settings, "hashtag-counter", "post-hashtag")  # the hidden post's membership is written too
    like = publisher.publish(events.like_changed(post_id=hidden.value["post_id"], user_id=fan, action="like"))
    applied(redis, [(like.topic, like.partition, like.offset)], lambda _: ["popularity"])
    assert redis.zrange(keys.hashtag_top(tag), 0, -1) == [shown.value["post_id"]]
    assert [p["post_id"] for p in client.get(f"/hashtags/{tag}").json()["top_posts"]] == [shown.value["post_id"]]


class NewerWriteLandsFirst:
    """A Redis client on which, right after the first command of a write, another (newer) write lands: the
    interleaving a check-then-write loses, made certain."""

    def __init__(self, redis: Any, newer: Callable[[], Awaitable[None]]) -> None:
        self._redis, self._newer, self._fired = redis, newer, False

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._redis, name)
        if not callable(found) or name == "pipeline":  # (a pipeline's commands go out at its execute)
            return found

        def command(*args: Any, **kwargs: Any) -> Any:
            answer = found(*args, **kwargs)
            return self._then_newer(answer) if inspect.isawaitable(answer) else answer

        return command

    async def _then_newer(self, sent: Awaitable[Any]) -> Any:
        answer = await sent
        if not self._fired:
            self._fired = True
            await self._newer()
        return answer


async def test_an_older_profile_copy_never_overwrites_a_newer_one(settings: Settings) -> None:
    """An API read fills Redis with the profile it read from Cassandra (public, T1) while the projector writes
    the account's turn to private (T2): the copy must stay private, or non-followers see the posts of a
    private account for the copy's lifetime."""
    from sinks.profiles import cache_profile
    from sinks.redis_client import async_client

    redis = async_client(settings)
    user, t1 = new_id(), now_ms()
    profile = {"username": f"u{user[-8:]}", "display_name": "U", "bio": None, "avatar_image_id": None}
    try:
        racing = NewerWriteLandsFirst(redis, lambda: cache_profile(redis, user, profile | {"is_private": True},
                                                                   t1 + 1))
        await cache_profile(racing, user, profile | {"is_private": False}, t1)
        assert await redis.hmget(keys.user_profile(user), "is_private", "updated_at") == ["1", str(t1 + 1)]
    finally:
        await redis.delete(keys.user_profile(user))
        await redis.aclose()


async def test_a_profile_copy_is_not_filled_for_an_account_whose_deletion_was_accepted(settings: Settings) -> None:
    """A fill from a profile row read just before the account's purge deleted the row and its copy (the profiles
    processor's refresh, an API read's miss) put the deleted person's copy back for its week; the purge marks
    the account closed before it deletes, and a fill refuses a closed account."""
    from sinks.profiles import cache_profile
    from sinks.redis_client import async_client

    redis = async_client(settings)
    user, other = new_id(), new_id()
    profile = {"username": f"u{user[-8:]}", "display_name": "U", "bio": None, "avatar_image_id": None,
               "is_private": False}
    try:
        await redis.set(keys.closed_account(user), now_ms())
        await cache_profile(redis, user, profile, now_ms())
        await cache_profile(redis, other, profile, now_ms())  # (someone else's fills as ever)
        assert (await redis.exists(keys.user_profile(user)), await redis.exists(keys.user_profile(other))) == (0, 1)
    finally:
        await redis.delete(keys.closed_account(user), keys.user_profile(user), keys.user_profile(other))
        await redis.aclose()


def test_a_like_can_be_taken_back_after_the_post_is_hidden_from_the_liker_and_nothing_more(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """The fan liked a followers-only post, then unfollowed: the post is hidden from them, and the unlike was a
    404, so their like stayed counted for good. Their own like may be taken back; a like of it may not."""
    author, fan, stranger = str(register(client)["id"]), new_id(), new_id()
    post_id, _ = create_post(client, settings, author, "followers")
    # each write waited for as applied: past the settle bound (a worker behind on a loaded machine) a like of
    # a post hidden on the state as it is answers 404, whatever the follow on its way will change
    followed = follow(client, settings, fan, author)
    wait_for(lambda: get_post(client, settings, post_id, fan, after=followed).status_code, lambda code: code == 200,
             60, "the follow to show the fan the post")
    liked = client.post(f"/posts/{post_id}/like", headers=auth(settings, fan))
    assert liked.status_code == 202, liked.text
    wait_for(lambda: get_post(client, settings, post_id, author, after=liked.json()["token"]).json()["like_count"],
             lambda count: count == 1, 60, "the like to be counted")
    unfollowed = follow(client, settings, fan, author, on=False)
    wait_for(lambda: get_post(client, settings, post_id, fan, after=unfollowed).status_code,
             lambda code: code == 404, 60, "the unfollow to hide the post from the fan")
    assert client.post(f"/posts/{post_id}/like", headers=auth(settings, fan)).status_code == 404
    assert client.delete(f"/posts/{post_id}/like", headers=auth(settings, stranger)).status_code == 404
    unliked = client.delete(f"/posts/{post_id}/like", headers=auth(settings, fan))
    assert unliked.status_code == 202, unliked.text
    assert get_post(client, settings, post_id, author, after=unliked.json()["token"]).json()["like_count"] == 0
