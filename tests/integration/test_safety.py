"""Blocks, mutes, muted hashtags and reports through the real stack (API → Kafka → worker → Cassandra/Redis → API).

Each test publishes its own events and awaits exactly them: the applied-offset marks of every processor that
applies a record's topic (api.consistency.APPLIERS) reaching its offset.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from cassandra.query import BatchStatement, BatchType, SimpleStatement

from api.consistency import APPLIERS, ConsistencyToken
from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher
from sinks.cassandra import connect as cassandra_connect
from sinks.redis_client import sync_client
from tests.integration.conftest import Process, auth
from tests.integration.test_feed import build_feed, feed_ids, redis_feed
from tests.integration.waiting import applied, wait_for


class Log:
    """Publishes events (or takes the API's 202 tokens) and awaits their application by every applier."""

    def __init__(self, publisher: Publisher, settings: Settings) -> None:
        self.publisher, self.settings = publisher, settings
        self.pending: list[tuple[str, int, int]] = []

    def publish(self, event: events.Event) -> None:
        result = self.publisher.publish(event)
        self.pending.append((result.topic, result.partition, result.offset))

    def accepted(self, answer: httpx.Response) -> str:
        assert answer.status_code == 202, answer.text
        token = answer.json()["token"]
        decoded = ConsistencyToken.decode(token)
        self.pending.append((decoded.topic, decoded.partition, decoded.offset))
        return str(token)

    def user(self, name: str) -> str:
        user_id = new_id()
        self.publish(events.user_registered(user_id=user_id, username=f"{name}_{uuid.uuid4().hex[:8]}",
                                            display_name=name))
        return user_id

    def follow(self, follower: str, followee: str) -> None:
        self.publish(events.follow_changed(follower_id=follower, followee_id=followee, action="follow"))

    def post(self, author: str, caption: str = "a photo") -> str:
        event = events.post_created(author_id=author, caption=caption, image_ids=[new_id()])
        self.publish(event)
        return str(event.value["post_id"])

    def settle(self) -> None:
        applied(sync_client(self.settings), self.pending, APPLIERS.__getitem__)
        self.pending.clear()


@pytest.fixture()
def log(publisher: Publisher, settings: Settings, worker: Process) -> Log:
    return Log(publisher, settings)


def counts(client: httpx.Client, settings: Settings, user: str) -> tuple[int, int]:
    body = client.get(f"/users/{user}", headers=auth(settings, new_id())).json()  # as a bystander
    return body["counts"]["followers"], body["counts"]["following"]


def test_a_block_ends_follows_both_ways_and_makes_each_absent_to_the_other(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    blocker, blocked = log.user("blocker"), log.user("blocked")
    log.follow(blocker, blocked)
    log.follow(blocked, blocker)
    post = log.post(blocker)
    theirs = log.post(blocked)
    log.settle()
    assert counts(client, settings, blocker) == (1, 1)
    assert client.get(f"/posts/{post}", headers=auth(settings, blocked)).status_code == 200

    log.accepted(client.post(f"/users/{blocked}/block", headers=auth(settings, blocker)))
    log.settle()
    # the processor's unfollows (one per direction) reach the graph through the feeds processor
    wait_for(lambda: (counts(client, settings, blocker), counts(client, settings, blocked)),
             lambda both: both == ((0, 0), (0, 0)), 60, "the follows between them to end")
    as_blocked, as_blocker = auth(settings, blocked), auth(settings, blocker)
    assert client.get(f"/users/{blocker}", headers=as_blocked).status_code == 404
    assert client.get(f"/posts/{post}", headers=as_blocked).status_code == 404
    assert client.post(f"/users/{blocker}/follow", headers=as_blocked).status_code == 404
    assert client.post(f"/posts/{post}/like", headers=as_blocked).status_code == 404
    assert client.post(f"/posts/{post}/comments", headers=as_blocked, json={"text": "hi"}).status_code == 404
    # and the other way round
    assert client.get(f"/users/{blocked}", headers=as_blocker).status_code == 404
    assert client.get(f"/posts/{theirs}", headers=as_blocker).status_code == 404
    assert client.post(f"/users/{blocked}/follow", headers=as_blocker).status_code == 404
    # everyone else still sees both
    assert client.get(f"/posts/{post}", headers=auth(settings, new_id())).status_code == 200

    log.accepted(client.delete(f"/users/{blocked}/block", headers=as_blocker))
    log.settle()
    assert client.get(f"/users/{blocker}", headers=as_blocked).status_code == 200
    assert client.get(f"/posts/{post}", headers=as_blocked).status_code == 200
    assert counts(client, settings, blocker) == (0, 0)  # unblocking restores no follow


def test_someone_in_a_block_with_the_reader_is_left_out_of_comments_people_lists_and_notifications(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    author, commenter, reader = log.user("author"), log.user("commenter"), log.user("reader")
    log.follow(commenter, author)
    post = log.post(author)
    log.settle()
    log.accepted(client.post(f"/posts/{post}/comments", headers=auth(settings, commenter), json={"text": "nice"}))
    log.accepted(client.post(f"/posts/{post}/comments", headers=auth(settings, author), json={"text": "thanks"}))
    log.settle()

    def comment_authors(viewer: str) -> list[str]:
        answer = client.get(f"/posts/{post}/comments", headers=auth(settings, viewer))
        return [c["author"]["id"] for c in answer.json()["items"]]

    def followers(viewer: str) -> list[str]:
        answer = client.get(f"/users/{author}/followers", headers=auth(settings, viewer))
        return [p["id"] for p in answer.json()["items"]]

    def notified_by(user: str) -> set[str]:
        items = client.get("/notifications", headers=auth(settings, user)).json()["items"]
        return {a["id"] for n in items for a in n["actors"]}

    assert sorted(comment_authors(reader)) == sorted([commenter, author])
    assert followers(reader) == [commenter]
    wait_for(lambda: notified_by(author), lambda actors: commenter in actors, 60, "the comment's notification")

    log.accepted(client.post(f"/users/{reader}/block", headers=auth(settings, commenter)))  # blocked by them
    log.accepted(client.post(f"/users/{commenter}/block", headers=auth(settings, author)))  # and by the author
    log.settle()
    assert comment_authors(reader) == [author]
    assert followers(reader) == []
    assert comment_authors(author) == [author]  # the author blocked the commenter: not shown to the author...
    assert commenter not in notified_by(author)  # ... nor named in the author's notifications
    # and the block deletes the blocked person's comments on the blocker's posts, for everyone (they stayed,
    # readable by all but the blocker); the count follows
    wait_for(lambda: comment_authors(new_id()), lambda authors: authors == [author], 60,
             "the blocked commenter's comment to be deleted")
    wait_for(lambda: client.get(f"/posts/{post}", headers=auth(settings, reader)).json()["comment_count"],
             lambda n: n == 1, 60, "the comment count to drop")


def test_a_block_delivered_again_after_an_unblock_deletes_no_later_comment_and_reads_no_later_message(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """A block applies to the state it meets: re-delivered (or replayed) after an unblock, it deleted the comment
    the blocked person wrote since, for good, and marked their message sent since as read."""
    blocker, blocked = log.user("blocker"), log.user("blocked")
    post = log.post(blocker)
    block = events.block_changed(actor_id=blocker, target_id=blocked, action="on")
    log.publish(block)
    log.settle()
    log.publish(events.block_changed(actor_id=blocker, target_id=blocked, action="off"))
    log.settle()
    comment = client.post(f"/posts/{post}/comments", headers=auth(settings, blocked), json={"text": "hi again"})
    log.accepted(comment)
    log.publish(events.message_unsent(src=blocked, dest=blocker, msg_id=new_id()))
    log.settle()
    badge = client.get(f"/users/{blocker}/status", headers=auth(settings, blocker), params={"detail": 1}).json()
    assert badge["sender_ids"] == [blocked]

    log.publish(block)  # the same record again, as a retrying producer or a replay delivers it
    log.settle()
    # what the block derives (comment deletions, read marks) is published before its offset is applied; a later
    # event on each of their topics and partitions, once applied, shows they were applied too
    log.publish(events.comment_deleted(post_id=post, comment_id=new_id(), user_id=blocker, actor_id=blocker,
                                       commented_at=now_ms()))
    log.publish(events.messages_read(user_id=blocker, sender_id=new_id(), read_up_to_msg_id=new_id()))
    log.settle()
    texts = [c["text"] for c in client.get(f"/posts/{post}/comments", headers=auth(settings, blocker)).json()["items"]]
    assert texts == ["hi again"]
    badge = client.get(f"/users/{blocker}/status", headers=auth(settings, blocker), params={"detail": 1}).json()
    assert blocked in badge["sender_ids"]


def test_a_message_sent_before_a_block_but_delivered_after_it_does_not_count(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """The block marked read only what the badges held when it was applied: a message written before it and
    delivered after (a messaging service's retry) counted, and the blocked person stayed in the badge."""
    blocker, blocked = log.user("blocker"), log.user("blocked")
    written_before = [new_id(), new_id()]
    log.publish(events.block_changed(actor_id=blocker, target_id=blocked, action="on"))
    log.settle()
    log.publish(events.message_unsent(src=blocked, dest=blocker, msg_id=written_before[0]))
    log.publish(events.message_unsent(src=blocker, dest=blocked, msg_id=written_before[1]))
    for owner in (blocker, blocked):  # later on each badge's partition: applied after the block's marks too
        log.publish(events.message_unsent(src=new_id(), dest=owner, msg_id=new_id()))
    log.settle()
    for owner, other in ((blocker, blocked), (blocked, blocker)):
        badge = client.get(f"/users/{owner}/status", headers=auth(settings, owner), params={"detail": 1}).json()
        assert other not in badge["sender_ids"] and badge["newly_unread_count"] == 1, badge


def test_a_status_read_with_the_blocks_token_no_longer_counts_the_blocked_sender(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """The read waited for the safety processor only; the badge is the unread processor's, which took the block's
    derived read mark a moment later: the blocked sender was still counted (one read in five)."""
    blocker, blocked = log.user("blocker"), log.user("blocked")
    log.publish(events.message_unsent(src=blocked, dest=blocker, msg_id=new_id()))
    log.settle()
    assert client.get(f"/users/{blocker}/status", headers=auth(settings, blocker)).json()["newly_unread_count"] == 1
    token = log.accepted(client.post(f"/users/{blocked}/block", headers=auth(settings, blocker)))
    badge = client.get(f"/users/{blocker}/status", headers=auth(settings, blocker),
                       params={"detail": 1, "after": token}).json()
    assert badge["sender_ids"] == [] and badge["newly_unread_count"] == 0, badge


def test_a_read_with_the_blocks_token_sees_what_the_block_ends(client: httpx.Client, settings: Settings,
                                                              log: Log) -> None:
    """The token waited for the processors that read the block itself. The unfollow and the unlike the safety
    processor derives from it were applied a moment later: read with the token, the blocked person was still
    counted among the blocker's followers, and their like on the blocker's post."""
    blocker, blocked = log.user("blocker"), log.user("blocked")
    log.follow(blocked, blocker)
    post = log.post(blocker)
    log.settle()
    log.publish(events.like_changed(post_id=post, user_id=blocked, action="like", post_author_id=blocker))
    log.settle()
    as_blocker = auth(settings, blocker)
    assert counts(client, settings, blocker) == (1, 0)
    assert client.get(f"/posts/{post}", headers=as_blocker).json()["like_count"] == 1
    token = log.accepted(client.post(f"/users/{blocked}/block", headers=as_blocker))
    profile = client.get(f"/users/{blocker}", headers=as_blocker, params={"after": token})
    liked = client.get(f"/posts/{post}", headers=as_blocker, params={"after": token})
    assert "X-Photostream-Consistency" not in profile.headers and "X-Photostream-Consistency" not in liked.headers
    assert profile.json()["counts"]["followers"] == 0 and liked.json()["like_count"] == 0


def test_a_mute_hides_the_muted_authors_posts_from_the_muters_feed_older_ones_too(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    muter, muted, other, friend = (log.user(n) for n in ("muter", "muted", "other", "friend"))
    for fan in (muter, other):
        log.follow(fan, muted)
        log.follow(fan, friend)
    log.follow(muted, muter)
    log.settle()
    for fan in (muter, other):
        build_feed(client, settings, fan)
    older, kept = log.post(muted), log.post(friend)
    mine = log.post(muter)
    log.settle()
    assert older in feed_ids(client, settings, muter)

    token = log.accepted(client.post(f"/users/{muted}/mute", headers=auth(settings, muter)))
    answer = client.get("/feed", headers=auth(settings, muter), params={"after": token})
    assert [i["post_id"] for i in answer.json()["items"]] == sorted([kept, mine], reverse=True)
    log.settle()
    newer = log.post(muted)
    log.settle()
    assert newer not in (redis_feed(settings, muter) or [])  # skipped at fan-out
    assert set(feed_ids(client, settings, muter)) == {kept, mine}
    assert {older, newer, kept} <= set(feed_ids(client, settings, other))  # others see everything
    # the muted user notices nothing: the muter still follows them back, profile and posts as before
    profile = client.get(f"/users/{muter}", headers=auth(settings, muted)).json()
    assert profile["follows_me"] is True and profile["followed_by_me"] is True and profile["muted_by_me"] is False
    assert mine in feed_ids(client, settings, muted)
    assert client.get(f"/posts/{older}", headers=auth(settings, muter)).status_code == 200  # a mute is no block
    # the muter's own view of the profile says so (the client's "Unmute")
    assert client.get(f"/users/{muted}", headers=auth(settings, muter)).json()["muted_by_me"] is True

    log.accepted(client.delete(f"/users/{muted}/mute", headers=auth(settings, muter)))
    log.settle()
    assert older in feed_ids(client, settings, muter)
    assert client.get(f"/users/{muted}", headers=auth(settings, muter)).json()["muted_by_me"] is False


def unique_tag() -> str:
    return "safe" + uuid.uuid4().hex[:10]


def test_a_muted_tag_leaves_the_muters_hashtag_pages_and_trending(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    tag, viewer, bystander = unique_tag(), new_id(), new_id()
    for _ in range(6):
        log.post(new_id(), f"#{tag} sunset")
    log.settle()
    wait_for(lambda: client.get(f"/hashtags/{tag}").json(), lambda body: body.get("post_count") == 6, 60,
             f"#{tag} to count 6")

    def trending(user: str) -> list[str]:
        answer = client.get("/trending", params={"window": "1h", "limit": 100}, headers=auth(settings, user))
        return [t["tag"] for t in answer.json()]

    wait_for(lambda: trending(viewer), lambda tags: tag in tags, 60, f"#{tag} to trend")
    assert client.get(f"/hashtags/{tag}", headers=auth(settings, viewer)).status_code == 200

    muted = log.accepted(client.post("/users/me/muted-tags", headers=auth(settings, viewer),
                                     json={"tag": f"#{tag.upper()}"}))
    # read-your-writes: the mute's token is waited for by the tag's pages (they answered 200 for a moment)
    for path in (f"/hashtags/{tag}", f"/hashtags/{tag}/posts"):
        answer = client.get(path, headers=auth(settings, viewer), params={"after": muted})
        assert answer.status_code == 404 and "X-Photostream-Consistency" not in answer.headers, answer.text
    log.settle()
    assert client.get("/users/me/muted-tags", headers=auth(settings, viewer)).json() == {"tags": [tag]}
    assert client.get(f"/hashtags/{tag}", headers=auth(settings, viewer)).status_code == 404
    assert client.get(f"/hashtags/{tag}/posts", headers=auth(settings, viewer)).status_code == 404
    assert tag not in trending(viewer)
    assert tag in trending(bystander)
    assert client.get(f"/hashtags/{tag}", headers=auth(settings, bystander)).status_code == 200

    log.accepted(client.delete(f"/users/me/muted-tags/{tag}", headers=auth(settings, viewer)))
    log.settle()
    assert client.get(f"/hashtags/{tag}", headers=auth(settings, viewer)).status_code == 200


def test_a_mute_counts_however_many_tags_were_unmuted_before_it(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    """Rows of unmuted tags took places in the read's LIMIT of 1,000: after 1,000 unmutes, no mute counted (and
    the cap of 1,000 muted tags was no longer enforced)."""
    viewer, tag = new_id(), unique_tag()
    cluster, session = cassandra_connect(settings)
    try:  # rows as unmutes wrote them until now (``muted = false``), sorted ahead of the tag muted after them
        for start in range(0, 1_100, 100):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for i in range(start, start + 100):
                batch.add(SimpleStatement("INSERT INTO muted_tags (user_id, tag, muted) VALUES (%s, %s, false)"),
                          (viewer, f"a{i:04d}{tag}"))
            session.execute(batch)
    finally:
        cluster.shutdown()
    for i in range(300):  # and unmutes as they are written now: deletions
        log.publish(events.mute_changed(actor_id=viewer, target_id=f"b{i:04d}{tag}", action="off",
                                        target_kind="hashtag"))
    log.accepted(client.post("/users/me/muted-tags", headers=auth(settings, viewer), json={"tag": f"#z{tag}"}))
    log.settle()
    assert client.get("/users/me/muted-tags", headers=auth(settings, viewer)).json() == {"tags": [f"z{tag}"]}


def test_reports_take_a_reason_from_the_list_and_are_rate_limited(
    client: httpx.Client, settings: Settings, log: Log
) -> None:
    reporter, target = new_id(), log.user("target")
    post = log.post(target)
    log.settle()
    as_reporter = auth(settings, reporter)
    answer = client.post(f"/users/{target}/report", headers=as_reporter,
                         json={"reason": "harassment", "details": "keeps messaging me"})
    assert answer.status_code == 202 and answer.json()["event_id"]
    assert client.post(f"/posts/{post}/report", headers=as_reporter, json={"reason": "spam"}).status_code == 202
    bad = client.post(f"/posts/{post}/report", headers=as_reporter, json={"reason": "ugly"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "reason"
    long = client.post(f"/posts/{post}/report", headers=as_reporter, json={"reason": "other", "details": "x" * 1001})
    assert long.status_code == 422 and long.json()["error"]["field"] == "details"
    assert client.post(f"/posts/{new_id()}/report", headers=as_reporter, json={"reason": "spam"}).status_code == 404
    # an account that blocked the reporter is as absent as its profile; one the reporter blocked is reportable
    blocker, blocked = log.user("blocker"), log.user("blocked")
    log.publish(events.block_changed(actor_id=blocker, target_id=reporter, action="on"))
    log.publish(events.block_changed(actor_id=reporter, target_id=blocked, action="on"))
    log.settle()
    hidden = client.post(f"/users/{blocker}/report", headers=as_reporter, json={"reason": "spam"})
    assert hidden.status_code == 404 and hidden.json()["error"]["field"] == "user_id", hidden.text
    assert client.post(f"/users/{blocked}/report", headers=as_reporter, json={"reason": "spam"}).status_code == 202
    statuses = [client.post(f"/posts/{post}/report", headers=as_reporter, json={"reason": "spam"}).status_code
                for _ in range(settings.rate_limit_posts_burst)]
    assert statuses[-1] == 429 and set(statuses) <= {202, 429}


def test_blocking_or_muting_yourself_is_422(client: httpx.Client, settings: Settings) -> None:
    me = new_id()
    for path in (f"/users/{me}/block", f"/users/{me}/mute"):
        answer = client.post(path, headers=auth(settings, me))
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "user_id"


def test_a_user_lists_the_accounts_they_block_and_mute_and_only_their_own(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    """``GET /users/me/blocked`` and ``/users/me/muted``: the accounts the caller's standing blocks and mutes name,
    in id order and in pages, since when; not those unblocked, not those who block or mute the caller, not an
    account that does not exist (any more)."""
    me, a, b, c = (log.user(name) for name in ("lister", "a", "b", "c"))
    log.settle()
    as_me, began = auth(settings, me), now_ms()
    for target in (a, b, c, new_id()):  # (the last: nobody's id)
        log.accepted(client.post(f"/users/{target}/block", headers=as_me))
    log.accepted(client.post(f"/users/{b}/mute", headers=as_me))
    log.accepted(client.post(f"/users/{me}/block", headers=auth(settings, a)))  # a blocks the caller back
    log.accepted(client.post(f"/users/{me}/mute", headers=auth(settings, c)))  # c mutes the caller
    unblocked = log.accepted(client.delete(f"/users/{c}/block", headers=as_me))
    blocked = client.get("/users/me/blocked", headers=as_me, params={"after": unblocked}).json()  # read-your-writes
    log.settle()
    assert [item["id"] for item in blocked["items"]] == sorted([a, b]) and blocked["next_cursor"] is None
    assert all(began <= item["blocked_at"] <= now_ms() and item["username"] for item in blocked["items"])
    muted = client.get("/users/me/muted", headers=as_me).json()
    assert [(item["id"], began <= item["muted_at"] <= now_ms()) for item in muted["items"]] == [(b, True)]

    first = client.get("/users/me/blocked", headers=as_me, params={"limit": 1}).json()
    second = client.get("/users/me/blocked", headers=as_me, params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [item["id"] for item in first["items"] + second["items"]] == sorted([a, b])
    if second["next_cursor"] is not None:  # a full page may be the last one: the next answers none
        assert client.get("/users/me/blocked", headers=as_me, params={"limit": 1, "cursor": second["next_cursor"]}
                          ).json()["items"] == []
    refused = client.get("/users/me/muted", headers=as_me, params={"cursor": first["next_cursor"]})  # another list's
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "cursor"
    assert [item["id"] for item in client.get("/users/me/blocked", headers=auth(settings, a)).json()["items"]] == [me]
    assert client.get("/users/me/muted", headers=auth(settings, me)).status_code == 200
    assert client.get("/users/me/blocked").status_code == 401
