"""The hashtag pipeline through the real stack: exact counts, retractions, replays, crashes, trending, DLQ."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest
from cassandra.query import ValueSequence
from confluent_kafka import Producer

from api.images_links import image_path
from photostream.contracts.codec import EventCodec
from photostream.domain.extraction import on_post_created
from photostream.lag import consumer_lag
from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher, producer_config
from sinks.cassandra import connect
from streams.consumer_groups import groups_of, seed_groups
from tests.integration.conftest import Process, auth, worker_ready_urls
from tests.integration.kafka_read import find_dlq_record
from tests.integration.test_visibility import create_post
from tests.integration.waiting import caught_up, wait_for

#: generous bound for the pipeline to show an effect in tests that are about *what* it shows
SETTLE_S = 20.0


def unique_tag(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def post(publisher: Publisher, caption: str, author: str | None = None) -> events.Event:
    event = events.post_created(author_id=author or new_id(), caption=caption, image_ids=[new_id()])
    publisher.publish(event)
    return event


def tag_count(client: httpx.Client, tag: str) -> int | None:
    answer = client.get(f"/hashtags/{tag}")
    return answer.json()["post_count"] if answer.status_code == 200 else None


def wait_count(client: httpx.Client, tag: str, expected: int, timeout_s: float = SETTLE_S) -> None:
    wait_for(lambda: tag_count(client, tag), lambda c: c == expected, timeout_s, f"#{tag} to count {expected}")


def uncommitted(settings: Settings) -> int:
    """Records the hashtag stages have not committed yet (their lag)."""
    return sum(r.lag for stage, topic in (("hashtag-extractor", "post-created"), ("hashtag-counter", "post-hashtag"))
               for r in consumer_lag(settings, f"{settings.app_id}.{stage}") if r.topic == topic)


def settle(settings: Settings) -> None:
    """Both stages have committed everything published so far."""
    caught_up(settings, "hashtag-extractor", "post-created")
    caught_up(settings, "hashtag-extractor", "post-deleted")
    caught_up(settings, "hashtag-counter", "post-hashtag")


def test_a_post_is_counted_once_per_distinct_tag_within_window_plus_2s(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    tag = unique_tag("Sunset")
    post(publisher, f"golden hour #{tag} #{tag.lower()} #{tag.upper()} and #日本{tag[-6:]}")
    deadline = time.monotonic() + settings.hashtag_window_s + 2
    wait_count(client, tag.casefold(), 1, timeout_s=settings.hashtag_window_s + 2)
    # (each tag's post-hashtag event has a partition of its own, and the counter may apply them in two batches:
    # asserted at once, the second tag read None in one CI run)
    wait_count(client, f"日本{tag[-6:]}", 1, timeout_s=max(0.0, deadline - time.monotonic()))
    body = client.get(f"/hashtags/{tag.upper()}").json()  # the path is normalised too
    assert body["tag"] == tag.casefold() and body["post_count"] == 1
    assert body["related"] == [f"日本{tag[-6:]}"]
    assert len(body["top_posts"]) == 1


def test_deleting_a_post_retracts_its_tags_and_erases_them(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """The deleted post's tags leave its remembered row too (a deleted caption's words); the tombstone stays,
    so the delete delivered again, or the create, changes no count."""
    tag = unique_tag()
    keep, gone = post(publisher, f"#{tag}"), post(publisher, f"#{tag} bye")
    wait_count(client, tag, 2)
    deletion = events.post_deleted(post_id=gone.value["post_id"], author_id=gone.value["author_id"])
    publisher.publish(deletion)
    wait_count(client, tag, 1)
    listed = client.get(f"/hashtags/{tag}/posts").json()
    assert [p["post_id"] for p in listed["items"]] == [keep.value["post_id"]]
    settle(settings)
    cluster, session = connect(settings)
    try:
        rows = {r.post_id: r for r in session.execute(
            "SELECT post_id, tags, deleted FROM post_hashtags WHERE post_id IN %s",
            (ValueSequence([keep.value["post_id"], gone.value["post_id"]]),))}
    finally:
        cluster.shutdown()
    assert (rows[gone.value["post_id"]].tags, rows[gone.value["post_id"]].deleted) == (None, True)
    assert rows[keep.value["post_id"]].tags == [tag]
    publisher.publish(deletion)
    publisher.publish(gone)
    settle(settings)
    assert tag_count(client, tag) == 1


def test_duplicates_and_adapter_reruns_count_once(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    tag = unique_tag()
    first = post(publisher, f"#{tag}")
    publisher.publish(first)  # the same post-created again: the adapter re-emits the same event ids
    _, adds = on_post_created({**first.value})
    duplicate = events.post_hashtag(**adds[0])
    publisher.publish(duplicate)  # and the same post-hashtag event published twice more by hand
    publisher.publish(duplicate)
    post(publisher, f"#{tag}")
    settle(settings)
    assert tag_count(client, tag) == 2


def test_newest_posts_page_by_cursor(publisher: Publisher, client: httpx.Client, settings: Settings,
                                     worker: Process) -> None:
    tag = unique_tag()
    posted = [post(publisher, f"#{tag} {i}").value["post_id"] for i in range(5)]
    wait_count(client, tag, 5)
    first = client.get(f"/hashtags/{tag}/posts", params={"limit": 3}).json()
    second = client.get(f"/hashtags/{tag}/posts", params={"limit": 3, "cursor": first["next_cursor"]}).json()
    assert [p["post_id"] for p in first["items"] + second["items"]] == posted[::-1]
    assert second["next_cursor"] is None
    for foreign in (posted[2], first["next_cursor"]):  # a bare post id; this tag's cursor on another tag
        wrong = client.get(f"/hashtags/{unique_tag() if foreign != posted[2] else tag}/posts",
                           params={"cursor": foreign})
        assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "cursor"


def test_engagement_orders_top_posts(publisher: Publisher, client: httpx.Client, worker: Process) -> None:
    tag = unique_tag()
    quiet, loved = post(publisher, f"#{tag}"), post(publisher, f"#{tag}")
    wait_count(client, tag, 2)
    for _ in range(3):
        publisher.publish(events.like_changed(post_id=loved.value["post_id"], user_id=new_id(), action="like"))
    liker = new_id()
    publisher.publish(events.like_changed(post_id=quiet.value["post_id"], user_id=liker, action="like"))
    publisher.publish(events.like_changed(post_id=quiet.value["post_id"], user_id=liker, action="like"))  # dup
    publisher.publish(events.comment_added(post_id=loved.value["post_id"], user_id=new_id(), text="wow"))

    def top() -> list[tuple[str, int, int]]:
        return [(p["post_id"], p["like_count"], p["comment_count"])
                for p in client.get(f"/hashtags/{tag}").json()["top_posts"]]

    wait_for(top, lambda t: t == [(loved.value["post_id"], 3, 1), (quiet.value["post_id"], 1, 0)],
             SETTLE_S, "top posts by engagement")


def test_top_posts_are_hydrated_items_with_the_viewers_own_likes(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """The tag page's top posts have the shape of every other post list (author, photo links, counts,
    liked_by_me); the page is shared between readers, what is personal is not."""
    tag, author, reader = unique_tag(), new_id(), new_id()
    shown = post(publisher, f"#{tag}", author=author)
    post_id, image_id = shown.value["post_id"], shown.value["image_ids"][0]
    wait_count(client, tag, 1)
    publisher.publish(events.like_changed(post_id=post_id, user_id=reader, action="like"))
    caught_up(settings, "popularity", "like-changed")

    def top(headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        return list(client.get(f"/hashtags/{tag}", headers=headers).json()["top_posts"])

    wait_for(top, lambda t: [p["like_count"] for p in t] == [1], SETTLE_S, "the like to reach the tag page")
    [anonymous] = top()
    assert anonymous["post_id"] == post_id and anonymous["author"]["id"] == author
    assert anonymous["photos"] == [image_path(image_id)] and anonymous["liked_by_me"] is False
    [mine] = top(auth(settings, reader))
    assert mine["liked_by_me"] is True and mine["like_count"] == 1
    [theirs] = top(auth(settings, new_id()))
    assert theirs["liked_by_me"] is False


def test_a_viewer_who_blocked_a_tag_s_flooder_still_sees_nine_top_posts(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """The shared answer held nine top posts, and a viewer's blocks were taken out of them: blocking the
    account that flooded the tag left the top section empty."""
    tag, flooder, viewer = unique_tag("flood"), new_id(), new_id()
    others = [post(publisher, f"#{tag} mine {i}").value["post_id"] for i in range(3)]
    for i in range(10):
        post(publisher, f"#{tag} spam {i}", flooder)
    wait_count(client, tag, 13)
    block = client.post(f"/users/{flooder}/block", headers=auth(settings, viewer))
    assert block.status_code == 202, block.text
    page = client.get(f"/hashtags/{tag}", headers=auth(settings, viewer), params={"after": block.json()["token"]})
    shown = page.json()["top_posts"]
    assert {p["post_id"] for p in shown} == set(others), page.text
    assert len(client.get(f"/hashtags/{tag}").json()["top_posts"]) == 9  # everyone else: the nine


def test_a_tag_page_read_with_a_token_shows_the_write_behind_it(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """The page is shared for a moment: read with a like's token, it showed the reader's heart filled beside a
    like count of 0, and a post its author had just deleted."""
    tag, reader = unique_tag("ryw"), new_id()
    liked = post(publisher, f"#{tag} liked")
    deleted = post(publisher, f"#{tag} deleted")
    wait_count(client, tag, 2)
    assert len(client.get(f"/hashtags/{tag}", headers=auth(settings, reader)).json()["top_posts"]) == 2
    like = client.post(f"/posts/{liked.value['post_id']}/like", headers=auth(settings, reader))
    assert like.status_code == 202, like.text
    [after_like] = [p for p in client.get(f"/hashtags/{tag}", headers=auth(settings, reader),
                                          params={"after": like.json()["token"]}).json()["top_posts"]
                    if p["post_id"] == liked.value["post_id"]]
    assert (after_like["liked_by_me"], after_like["like_count"]) == (True, 1), after_like
    author = deleted.value["author_id"]
    gone = client.delete(f"/posts/{deleted.value['post_id']}", headers=auth(settings, author))
    assert gone.status_code == 202, gone.text
    page = client.get(f"/hashtags/{tag}", headers=auth(settings, author), params={"after": gone.json()["token"]})
    assert deleted.value["post_id"] not in {p["post_id"] for p in page.json()["top_posts"]}, page.text


def test_the_author_opening_a_tag_with_the_post_s_token_finds_the_post_counted_there(
    client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """A post's token makes the tag pages wait for the extractor's announcement and the counter's count, not
    only for the post's own views: read with it, a tag the post was the first to use answered 404 until the
    counter's next flush. A deletion's token, the same way, finds the post gone from the tag."""
    tag, author = unique_tag("first"), new_id()
    kept, _ = create_post(client, settings, author, "public", caption=f"the first of #{tag}")
    deleted, token = create_post(client, settings, author, "public", caption=f"and another #{tag}")
    page = client.get(f"/hashtags/{tag}", headers=auth(settings, author), params={"after": token})
    assert page.status_code == 200, page.text
    assert "x-photostream-consistency" not in page.headers  # applied, not given up on
    assert page.json()["post_count"] == 2, page.text
    assert {p["post_id"] for p in page.json()["top_posts"]} == {kept, deleted}
    newest = client.get(f"/hashtags/{tag}/posts", params={"after": token}).json()
    assert [p["post_id"] for p in newest["items"]] == [deleted, kept]
    gone = client.delete(f"/posts/{deleted}", headers=auth(settings, author))
    assert gone.status_code == 202, gone.text
    page = client.get(f"/hashtags/{tag}", headers=auth(settings, author), params={"after": gone.json()["token"]})
    assert page.json()["post_count"] == 1, page.text
    assert [p["post_id"] for p in page.json()["top_posts"]] == [kept]


def test_exact_after_a_worker_is_killed_mid_stream_and_restarted(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    tag = unique_tag()
    burst = 1500

    def publish_burst(first: int) -> None:
        futures = [publisher.submit(events.post_created(author_id=new_id(), caption=f"#{tag} n{i}",
                                                        image_ids=[new_id()])) for i in range(first, first + burst)]
        for future in futures:
            future.result()

    publish_burst(0)
    seen = wait_for(lambda: tag_count(client, tag), lambda c: c is not None and c > 0, 60, "some posts counted")
    total = burst
    for _ in range(5):  # the stream is still flowing when the kill comes; a fast worker may drain one burst
        publish_burst(total)
        total += burst
        if (pending := uncommitted(settings)) > 0:
            break
    worker.kill()  # SIGKILL somewhere mid-stream: no flush, no commit
    assert pending > 0, "nothing was pending when the worker was killed: the kill proved nothing"
    worker.restart()
    settle(settings)
    assert tag_count(client, tag) == total, f"counted {seen} before the kill"


def test_a_replay_from_the_start_changes_no_count(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process, test_env: dict[str, str],
    run_start_offsets: dict[tuple[str, int], int], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Every processor replays from where this run's data starts (offset 0 on a fresh stack, as in CI)."""
    tag = unique_tag()
    for _ in range(3):
        post(publisher, f"#{tag}")
    retracted = post(publisher, f"#{tag}")
    publisher.publish(events.post_deleted(post_id=retracted.value["post_id"], author_id=retracted.value["author_id"]))
    wait_count(client, tag, 3)
    settle(settings)
    worker.kill()  # one writer at a time: the replaying worker takes over the same stores
    replay_app = settings.model_copy(update={"app_id": f"{settings.app_id}-replay"})
    seed_groups(settings, groups_of(replay_app.app_id), run_start_offsets)
    replayer = Process(["worker", "--loglevel", "warning"], test_env | {"PHOTOSTREAM_APP_ID": replay_app.app_id},
                       tmp_path_factory.mktemp("logs") / "replay.log", worker_ready_urls(test_env))
    try:
        settle(replay_app)  # new consumer groups start at offset 0 of every topic
        assert tag_count(client, tag) == 3
    finally:
        replayer.stop()
        worker.restart()


def test_one_author_spamming_a_tag_does_not_trend_it(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    spam, real = unique_tag("spam"), unique_tag("real")
    spammer = new_id()
    for _ in range(12):
        post(publisher, f"#{spam} buy now", author=spammer)
    for _ in range(6):
        post(publisher, f"#{real}")
    wait_count(client, real, 6, timeout_s=60)

    def trending() -> list[str]:
        return [t["tag"] for t in client.get("/trending", params={"window": "1h", "limit": 100}).json()]

    listed = wait_for(trending, lambda tags: real in tags, 30, f"#{real} to trend")
    assert spam not in listed
    entry = next(t for t in client.get("/trending", params={"window": "1h", "limit": 100}).json() if t["tag"] == real)
    assert entry["count"] == 6 and entry["velocity"] >= 1


def test_one_account_posting_hundreds_of_one_off_tags_does_not_push_real_tags_out_of_trending(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    """Trending read the 500 most recently used tags as its candidates: 18 posts of 30 fresh tags each, from one
    account (four such accounts get there through the API's post limit at once), emptied it."""
    real = unique_tag("real")
    for _ in range(4):
        post(publisher, f"#{real}")
    wait_count(client, real, 4, timeout_s=60)
    spammer, last = new_id(), ""
    for _ in range(18):
        fresh = [unique_tag("once") for _ in range(30)]
        post(publisher, " ".join(f"#{t}" for t in fresh), author=spammer)
        last = fresh[-1]
    wait_count(client, last, 1, timeout_s=60)

    def trending() -> list[str]:
        return [t["tag"] for t in client.get("/trending", params={"window": "1h", "limit": 100}).json()]

    wait_for(trending, lambda tags: real in tags, 30, f"#{real} to stay trending")  # (a 5 s cache, then recomputed)
    assert not any(tag.startswith("once") for tag in trending())


def test_malformed_events_go_to_the_dlq_and_the_stream_goes_on(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    tag = unique_tag()
    producer = Producer(producer_config(settings))  # (the SDK's partitioner)
    landed: dict[str, tuple[int, int]] = {}

    def remember(name: str):
        return lambda err, msg: landed.__setitem__(name, (msg.partition(), msg.offset()))

    producer.produce("post-hashtag", b"\x00garbage", tag.encode(), on_delivery=remember("counter"))
    wrong = EventCodec().encode("post-deleted", events.post_deleted(post_id=new_id(), author_id=new_id()).value)
    producer.produce("post-created", wrong, b"someone", on_delivery=remember("extractor"))
    producer.flush(10)
    post(publisher, f"#{tag}")
    wait_count(client, tag, 1)
    dead = find_dlq_record(settings, "post-hashtag", *landed["counter"])
    assert dict((k, v.decode()) for k, v in dead.headers())["dlq.processor"] == "hashtag-counter"
    dead = find_dlq_record(settings, "post-created", *landed["extractor"])
    headers = {k: v.decode() for k, v in dead.headers()}
    assert headers["dlq.error.class"] == "DecodeError" and "PostDeleted" in headers["dlq.error.message"]


def test_unknown_and_invalid_tags(client: httpx.Client) -> None:
    answer = client.get(f"/hashtags/{unique_tag()}")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    answer = client.get("/hashtags/2024")
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "tag"
    assert client.get("/trending", params={"window": "7d"}).status_code == 422


def test_a_delete_that_arrives_before_its_create_still_wins(
    publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process
) -> None:
    tag = unique_tag()
    early = events.post_created(author_id=new_id(), caption=f"#{tag}", image_ids=[new_id()])
    publisher.publish(events.post_deleted(post_id=early.value["post_id"], author_id=early.value["author_id"]))
    publisher.publish(early)  # two topics: nothing orders the create before the delete
    post(publisher, f"#{tag}")
    wait_count(client, tag, 1)
    settle(settings)
    assert tag_count(client, tag) == 1


def test_an_account_turning_private_leaves_every_tag_and_turning_public_comes_back(
        publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process) -> None:
    """A private account's public posts are counted nowhere (counts, top posts, related tags); switching back
    restores them; replaying the profile changes changes nothing."""
    tag, other = unique_tag("aud"), unique_tag("rel")
    author = new_id()
    posts = [post(publisher, f"#{tag} #{other} number {i}", author) for i in range(3)]
    wait_count(client, tag, 3)

    def switch(private: bool) -> events.Event:
        change = events.profile_updated(user_id=author, username=f"u{tag}", display_name="U", is_private=private,
                                        tags_followed_only=False, tags_manual_approval=False)
        publisher.publish(change)
        return change

    made_private = switch(True)
    wait_count(client, tag, 0)
    wait_count(client, other, 0)
    page = client.get(f"/hashtags/{tag}/posts").json()
    assert page["items"] == []
    # a new public post while private is remembered, not announced
    posts.append(post(publisher, f"#{tag} while private", author))
    settle(settings)
    assert tag_count(client, tag) == 0

    made_public = switch(False)
    wait_count(client, tag, 4)
    wait_count(client, other, 3)
    listed = {p["post_id"] for p in client.get(f"/hashtags/{tag}/posts").json()["items"]}
    assert listed == {p.value["post_id"] for p in posts}

    for change in (made_private, made_public):  # a replay of both changes, in order: nothing moves
        publisher.submit_raw(change.topic, change.key, change.payload).result(30)
    settle(settings)
    caught_up(settings, "hashtag-extractor", "profile-updated")
    settle(settings)
    assert (tag_count(client, tag), tag_count(client, other)) == (4, 3)


def test_a_profile_edit_from_a_writer_before_privacy_keeps_the_account_private(
        publisher: Publisher, client: httpx.Client, settings: Settings, worker: Process) -> None:
    """A service still publishing profile-updated v1 (no ``is_private``, no tag settings) edits a private user's
    bio: Avro filled ``is_private`` with its default, false, and the account turned public (its profile, its
    tagged posts back on every tag page) and its people-tag settings reset."""
    from photostream.contracts.schema_store import default_store

    tag = unique_tag("old")
    author = new_id()
    publisher.publish(events.profile_updated(user_id=author, username=f"u{tag}", display_name="Private",
                                             is_private=True, tags_followed_only=True, tags_manual_approval=True))
    post(publisher, f"#{tag} hidden", author)
    stranger = auth(settings, new_id())

    def profile() -> dict[str, Any]:
        answer = client.get(f"/users/{author}", headers=stranger)
        return answer.json() if answer.status_code == 200 else {}

    wait_for(profile, lambda p: p.get("display_name") == "Private", SETTLE_S, "the private profile")
    caught_up(settings, "hashtag-extractor", "post-created")
    v1 = default_store().versions("profile-updated")[0]
    assert "is_private" not in {f["name"] for f in v1.raw["fields"]}
    record = {"event_id": new_id(), "occurred_at": now_ms(), "user_id": author, "username": f"u{tag}",
              "display_name": "Edited by an old writer", "bio": "new bio", "avatar_image_id": None}
    publisher.submit_raw("profile-updated", author, EventCodec().encode("profile-updated", record, v1),
                         record["event_id"]).result(30)
    wait_for(profile, lambda p: p.get("display_name") == "Edited by an old writer", SETTLE_S, "the old edit")
    caught_up(settings, "hashtag-extractor", "profile-updated")
    settle(settings)
    assert profile()["is_private"] is True
    assert tag_count(client, tag) in (0, None)
    mine = client.get("/users/me/tag-settings", headers=auth(settings, author))
    assert mine.json() == {"tags_from": "following", "tags_manual_approval": True}, mine.text


def test_tied_related_tags_read_the_same_from_redis_as_from_cassandra(settings: Settings) -> None:
    """Redis broke ties in reverse alphabetical order, Cassandra's read alphabetically: the related tags changed
    order (and, tied on the last place, which were shown) whenever the copy was lost and read back."""
    import asyncio

    from sinks import keys
    from sinks.hashtags.reads import HashtagReads
    from streams.resources import Resources

    tag = unique_tag()
    others = [f"r{i:02d}{tag}" for i in range(12)]

    async def run() -> tuple[list[str], list[str]]:
        resources = Resources.open(settings)
        try:
            reads = HashtagReads(resources.session, resources.redis)
            await resources.redis.zadd(keys.hashtag_related(tag), {o: 1 for o in others} | {"top" + tag: 2})
            from_redis = await reads.related(tag)
            await resources.redis.delete(keys.hashtag_related(tag))
            for other, count in [(o, 1) for o in others] + [("top" + tag, 2)]:
                resources.session.execute("INSERT INTO hashtag_state (tag, kind, key, count) VALUES (%s, 'r', %s, %s)",
                                          (tag, other, count))
            return from_redis, await reads.related(tag)
        finally:
            await resources.close()

    from_redis, from_cassandra = asyncio.run(run())
    assert from_redis == from_cassandra == ["top" + tag, *sorted(others)[:9]]
