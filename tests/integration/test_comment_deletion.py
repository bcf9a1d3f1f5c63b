"""Deleting a comment through the real stack (API → comment-deleted → comments and popularity processors →
Cassandra/Redis → API): who may delete, what a refusal reveals, the thread and the count after it, a deletion
seen before its comment, and the comments a block takes away."""

from __future__ import annotations

from typing import Any

import httpx

from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher
from tests.integration.conftest import Process, auth
from tests.integration.test_read_api import get, publish_posts, readable, token
from tests.integration.waiting import wait_for


def accepted(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def comment(client: httpx.Client, settings: Settings, post: str, user: str, text: str) -> dict[str, Any]:
    return accepted(client.post(f"/posts/{post}/comments", headers=auth(settings, user), json={"text": text}))


def delete(client: httpx.Client, settings: Settings, post: str, comment_id: str, user: str) -> httpx.Response:
    return client.delete(f"/posts/{post}/comments/{comment_id}", headers=auth(settings, user))


def thread(client: httpx.Client, settings: Settings, post: str, viewer: str, after: str | None = None) -> list[str]:
    answer = get(client, settings, f"/posts/{post}/comments", viewer, **({"after": after} if after else {}))
    assert answer.status_code == 200, answer.text
    return [c["comment_id"] for c in answer.json()["items"]]


def comment_count(client: httpx.Client, settings: Settings, post: str, viewer: str, after: str) -> int:
    answer = get(client, settings, f"/posts/{post}", viewer, after=after)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["comment_count"])


def test_a_commenter_deletes_their_comment_at_once_and_it_leaves_the_thread_and_the_count(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    author, commenter = new_id(), new_id()
    [post] = publish_posts(client, settings, publisher, author, 1)
    written = [comment(client, settings, post, commenter, f"comment {i}") for i in range(3)]
    # right after writing it (the comment may not be applied yet: the delete waits for the caller's own write)
    gone = accepted(delete(client, settings, post, written[1]["id"], commenter))
    assert thread(client, settings, post, author, gone["token"]) == [written[2]["id"], written[0]["id"]]
    assert comment_count(client, settings, post, author, gone["token"]) == 2
    again = delete(client, settings, post, written[1]["id"], commenter)  # deleted already: no such comment
    assert again.status_code == 404 and again.json()["error"]["field"] == "comment_id", again.text


def test_the_posts_author_may_delete_any_comment_and_nobody_else_may(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    author, commenter, bystander = new_id(), new_id(), new_id()
    [post] = publish_posts(client, settings, publisher, author, 1)
    [private] = publish_posts(client, settings, publisher, author, 1, visibility="private")
    mine = comment(client, settings, post, commenter, "first!")
    readable(client, settings, f"/posts/{post}/comments", author, mine["token"])

    refused = delete(client, settings, post, mine["id"], bystander)
    assert refused.status_code == 403, refused.text
    # a post the caller may not see, and one that does not exist: the same 404, before any word on comments
    for hidden in (private, new_id()):
        answer = delete(client, settings, hidden, new_id(), bystander)
        assert answer.status_code == 404 and answer.json()["error"]["field"] == "post_id", answer.text
    unknown = delete(client, settings, post, new_id(), bystander)
    assert unknown.status_code == 404 and unknown.json()["error"]["field"] == "comment_id", unknown.text
    for bad in ("not-an-id", "1' OR '1'='1"):
        answer = delete(client, settings, post, bad, author)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "comment_id", answer.text

    gone = accepted(delete(client, settings, post, mine["id"], author))
    assert thread(client, settings, post, commenter, gone["token"]) == []
    assert comment_count(client, settings, post, commenter, gone["token"]) == 0


def test_a_commenter_may_delete_their_comment_on_a_post_they_can_no_longer_see(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """Their words stay theirs: unfollowed from a followers-only post, they can still take their comment back
    (the answer confirms nothing they did not know: they wrote on it)."""
    author, fan = new_id(), new_id()
    followed = publisher.publish(events.follow_changed(follower_id=fan, followee_id=author, action="follow"))
    [post] = publish_posts(client, settings, publisher, author, 1, visibility="followers")
    readable(client, settings, f"/posts/{post}", fan, token(settings, followed))
    mine = comment(client, settings, post, fan, "lovely")
    left = accepted(client.delete(f"/users/{author}/follow", headers=auth(settings, fan)))
    assert get(client, settings, f"/posts/{post}", fan, after=left["token"]).status_code == 404
    gone = accepted(delete(client, settings, post, mine["id"], fan))
    assert thread(client, settings, post, author, gone["token"]) == []


def test_a_deletion_applied_before_its_comment_keeps_it_out_of_the_thread_and_the_count(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    """comment-added and comment-deleted are two topics, not ordered against each other (and a replay re-sends
    the add): a deletion is final, whichever is applied first."""
    author, commenter = new_id(), new_id()
    [post] = publish_posts(client, settings, publisher, author, 1)
    doomed = new_id()
    publisher.publish(events.comment_deleted(post_id=post, comment_id=doomed, user_id=commenter, actor_id=commenter,
                                             commented_at=now_ms()))
    publisher.publish(events.comment_added(post_id=post, user_id=commenter, text="gone", comment_id=doomed))
    kept = events.comment_added(post_id=post, user_id=commenter, text="kept")
    last = token(settings, publisher.publish(kept))  # same post, same partition: applied after the two above
    assert thread(client, settings, post, author, last) == [kept.value["comment_id"]]
    assert comment_count(client, settings, post, author, last) == 1


def test_a_block_deletes_each_sides_comments_on_the_others_posts(
        client: httpx.Client, settings: Settings, publisher: Publisher, worker: Process) -> None:
    blocker, blocked = new_id(), new_id()
    [blockers_post] = publish_posts(client, settings, publisher, blocker, 1)
    [blockeds_post] = publish_posts(client, settings, publisher, blocked, 1)
    theirs = comment(client, settings, blockers_post, blocked, "from the blocked")
    own = comment(client, settings, blockers_post, blocker, "from the blocker")
    mine = comment(client, settings, blockeds_post, blocker, "the blocker's, on the blocked one's post")
    for post, written in ((blockers_post, own), (blockeds_post, mine)):
        readable(client, settings, f"/posts/{post}/comments", None, written["token"])
    accepted(client.post(f"/users/{blocked}/block", headers=auth(settings, blocker)))
    bystander = new_id()
    wait_for(lambda: (thread(client, settings, blockers_post, bystander),
                      thread(client, settings, blockeds_post, bystander)),
             lambda threads: threads == ([own["id"]], []), 60, "the comments across the block to be deleted")
    assert theirs["id"] != own["id"]

    def counts() -> list[int]:
        return [get(client, settings, f"/posts/{p}", bystander).json()["comment_count"]
                for p in (blockers_post, blockeds_post)]

    wait_for(counts, lambda found: found == [1, 0], 60, "the comment counts to follow")
