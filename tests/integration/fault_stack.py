"""What the fault tests share: a Redis server of their own (killable, wipeable), a random social workload with its
oracle (what every view must say once the events are applied), and probes of an isolated worker and API.

Nothing here touches the shared services: the tests give their own processes a Redis they start and a Cassandra
behind a :class:`tests.integration.tcp_proxy.TcpProxy` they can pause.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from photostream.domain.notifications import bucket_of, notification_id, parse_notification_id
from photostream.lag import LagReader
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishResult
from streams.consumer_groups import groups_of
from tests.integration.conftest import _die_with_pytest, auth
from tests.integration.waiting import wait_for


class RedisServer:
    """``redis-server`` on ``port`` with its data (an append-only file) in ``data_dir``."""

    def __init__(self, port: int, data_dir: Path, log: Path) -> None:
        self.port, self.data_dir, self.log = port, data_dir, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not on PATH (Debian package redis-server)"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                                          str(self.data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
                                          "--save", ""], stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_pytest)  # never outlives the test run
        client = redis.Redis(port=self.port)
        wait_for(lambda: self._ping(client), bool, 20, f"redis-server on {self.port}")

    @staticmethod
    def _ping(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    def kill_and_wipe(self) -> None:
        """SIGKILL, then remove every data file: the next start is an empty Redis."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.data_dir)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Oracle:
    """What the views must say, derived from the events as published (each key's events in publish order)."""

    users: list[str]
    tag: str
    #: the notifications' time bucket (``NOTIFICATION_BUCKET_S``), in ms: an actor joins the group of an act's bucket
    bucket_ms: int = 3_600_000
    follows: set[tuple[str, str]] = field(default_factory=set)  # (follower, followee)
    requests: set[tuple[str, str]] = field(default_factory=set)  # pending follow requests (requester, owner)
    #: what changed (a tag of a person on a post, a request of a pair, a user's privacy) -> its last change's time
    changed_at: dict[tuple[str, ...], int] = field(default_factory=dict)
    authors: dict[str, str] = field(default_factory=dict)  # post -> author
    likes: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # post -> likers
    comments: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # post -> comment ids
    photos: dict[str, str] = field(default_factory=dict)  # post -> its photo
    tagged: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # post -> the people tagged on it
    #: comment id -> (post, commenter, when): what a block deletes, and the group each deletion leaves
    commented: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    #: the pairs a block stands between (the workload never unblocks, and sends nothing across one)
    blocked: set[frozenset[str]] = field(default_factory=set)
    muted: set[tuple[str, str]] = field(default_factory=set)  # (muter, muted): never unmuted
    unread: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # user -> senders
    #: recipient -> notification id -> its actors: standing acts (a like, a follow) in the group of the bucket the
    #: actor last joined in, withdrawn by the undoing act; each comment adds its writer to its own bucket's group
    notified: dict[str, dict[str, set[str]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(set)))
    #: (recipient, kind, target, actor) -> the notification id a standing act put the actor in
    standing: dict[tuple[str, str, str, str], str] = field(default_factory=dict)
    hashtagged: set[str] = field(default_factory=set)  # the posts whose caption carries the oracle's hashtag
    #: the accounts that switch between public and private (the others stay public), and those private now
    togglers: tuple[str, ...] = ()
    private: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)  # the accounts deleted (out of ``users``)
    published: int = 0

    def feed(self, user: str) -> set[str]:
        """Every post the user's home feed shows: their own and their followees' that stand, less the muted
        ones'."""
        followed = {b for a, b in self.follows if a == user and (user, b) not in self.muted} | {user}
        return {p for p, author in self.authors.items() if author in followed}

    @property
    def tagged_posts(self) -> int:
        """The hashtag's post count: its posts by accounts public now (a private account's are counted nowhere)."""
        return sum(1 for post in self.hashtagged if self.authors[post] not in self.private)

    def hidden_from(self, viewer: str, author: str) -> bool:
        """Whether the API refuses ``viewer`` the author's posts (and so a like or a comment on them)."""
        return author in self.private and viewer != author and (viewer, author) not in self.follows

    def requesters_of(self, user: str) -> set[str]:
        """Who has a pending request to follow the user."""
        return {a for a, b in self.requests if b == user}

    def unfollow(self, follower: str, followee: str, at_ms: int) -> None:
        """A follow ends: "followed you" withdrawn, and "accepted your follow request" with it."""
        self.follows.discard((follower, followee))
        self.notify(followee, "follow", followee, follower, at_ms, on=False)
        self.notify(follower, "follow_accepted", followee, followee, at_ms, on=False)

    def photos_of(self, user: str) -> set[str]:
        """The posts the user is tagged in ("photos of you")."""
        return {post for post, people in self.tagged.items() if user in people}

    def notify(self, recipient: str, kind: str, target: str, actor: str, at_ms: int, on: bool = True) -> None:
        """Apply one act to the recipient's notifications: none for one's own act; a standing act (``like``,
        ``follow``, ``tag``, ``follow_request``, and ``follow_accepted``, which the workload makes only once per
        follow) joins once and is withdrawn (``on`` False) from where it joined; a comment always joins."""
        if actor == recipient or (recipient, actor) in self.muted:
            return
        key = (recipient, kind, target, actor)
        if kind == "comment":
            self.notified[recipient][notification_id(bucket_of(at_ms, self.bucket_ms), kind, target)].add(actor)
        elif on and key not in self.standing:
            self.standing[key] = notification_id(bucket_of(at_ms, self.bucket_ms), kind, target)
            self.notified[recipient][self.standing[key]].add(actor)
        elif not on and key in self.standing:
            self.notified[recipient][self.standing.pop(key)].discard(actor)

    def block(self, blocker: str, blocked: str, at_ms: int) -> None:
        """What a block ends, both ways, as the safety processor publishes it (``photostream.domain.safety``):
        follows, pending follow requests, likes of and comments on the other's posts, tags on the other's photos
        (each withdrawn from the notifications it made, from where it joined), and each one's unread messages from
        the other."""
        self.blocked.add(frozenset((blocker, blocked)))
        for one, other in ((blocker, blocked), (blocked, blocker)):
            if (one, other) in self.follows:
                self.unfollow(one, other, at_ms)
            if (one, other) in self.requests:
                self.requests.discard((one, other))
                self.notify(other, "follow_request", other, one, at_ms, on=False)
            self.unread[one].discard(other)
            for post, author in self.authors.items():
                if author != other:
                    continue
                if one in self.likes[post]:
                    self.likes[post].discard(one)
                    self.notify(other, "like", post, one, at_ms, on=False)
                if one in self.tagged[post]:
                    self.tagged[post].discard(one)
                    self.notify(one, "tag", post, other, at_ms, on=False)
                for comment in [c for c in self.comments[post] if self.commented[c][1] == one]:
                    self.uncomment(comment)

    def mute(self, muter: str, muted: str) -> None:
        """The muter hears no more from the muted, and what the muted did before leaves their notifications."""
        self.muted.add((muter, muted))
        for actors in self.notified[muter].values():
            actors.discard(muted)
        for key in [k for k in self.standing if k[0] == muter and k[3] == muted]:
            del self.standing[key]

    def uncomment(self, comment: str) -> None:
        """A comment deleted: out of its thread, and its writer out of that hour's "commented on your post" unless
        another comment of theirs from that hour stands (membership is per comment:
        :mod:`photostream.domain.notifications`)."""
        post, commenter, at_ms = self.commented[comment]
        self.comments[post].discard(comment)
        bucket = bucket_of(at_ms, self.bucket_ms)
        if not any(self.commented[c][1] == commenter and bucket_of(self.commented[c][2], self.bucket_ms) == bucket
                   for c in self.comments[post]):
            self.notified[self.authors[post]][notification_id(bucket, "comment", post)].discard(commenter)

    def delete_post(self, post: str) -> None:
        """The author deletes a post: out of every feed and the hashtag's count, its likes, comments and people
        tags gone with it, and every notification about it (whoever it was for, whatever its kind)."""
        del self.authors[post]
        self.photos.pop(post, None)
        self.likes.pop(post, None)
        self.tagged.pop(post, None)
        self.hashtagged.discard(post)
        for comment in self.comments.pop(post, set()):
            del self.commented[comment]
        for groups in self.notified.values():
            for nid in [nid for nid in groups if parse_notification_id(nid)[2] == post]:
                del groups[nid]
        for key in [key for key in self.standing if key[2] == post]:
            del self.standing[key]

    def delete_account(self, user: str, at_ms: int) -> None:
        """The account is deleted (``account-deleted``, as an upstream service publishes it): the user acts and
        is looked at no more, and what others see of them goes, as the purge retracts it
        (``photostream.domain.account_purge``): their posts, follows both ways, follow requests both ways, likes,
        comments, people tags of them, and the unread messages they sent."""
        self.users.remove(user)
        self.deleted.add(user)
        for post in [post for post, author in self.authors.items() if author == user]:
            self.delete_post(post)
        for follower, followee in [pair for pair in self.follows if user in pair]:
            self.unfollow(follower, followee, at_ms)
        for requester, owner in [pair for pair in self.requests if user in pair]:
            self.requests.discard((requester, owner))
            self.notify(owner, "follow_request", owner, requester, at_ms, on=False)
        for post in [post for post, likers in self.likes.items() if user in likers]:
            self.likes[post].discard(user)
            self.notify(self.authors[post], "like", post, user, at_ms, on=False)
        for comment in [c for comments in self.comments.values() for c in comments if self.commented[c][1] == user]:
            self.uncomment(comment)
        for people in self.tagged.values():
            people.discard(user)
        for senders in self.unread.values():
            senders.discard(user)

    def across_a_block(self, *people: str) -> bool:
        return any(frozenset((a, b)) in self.blocked for a in people for b in people if a != b)

    def notifications(self, user: str) -> dict[str, int]:
        """The user's notifications as ``GET /notifications`` must list them: id -> actor count (none empty)."""
        return {nid: len(actors) for nid, actors in self.notified[user].items() if actors}


#: how many of a workload's users switch between a public and a private account
TOGGLERS = 3
#: how many accounts a workload deletes at most
ACCOUNTS_DELETED = 2
#: the topics a :class:`Workload` publishes to
WORKLOAD_TOPICS = ("follow-changed", "follow-requested", "post-created", "post-deleted", "like-changed",
                   "comment-added", "comment-deleted", "photo-tag-changed", "profile-updated", "block-changed",
                   "mute-changed", "MESSAGES_READ", "ON_MSG_UNSENT", "account-deleted")


class Workload:
    """A random mix of follows/unfollows, follow requests (approved, denied or withdrawn), switches between a
    public and a private account, posts (some with the oracle's hashtag, a few deleted by their authors while
    likes, comments and tags of them are still on their way), likes/unlikes, comments (some deleted),
    people tags added and removed, a few blocks and mutes, direct messages sent and read, and an account or two
    deleted (while what its owner did a moment before is still on its way), published straight to the event
    log; :attr:`oracle` tracks what it must produce (``settings``: the stack's, for the notifications' time
    bucket)."""

    def __init__(self, publisher: Publisher, users: int, seed: int, settings: Settings) -> None:
        self.publisher, self.rng = publisher, random.Random(seed)
        people = [new_id() for _ in range(users)]
        self.oracle = Oracle(people, f"fault{new_id()[-12:]}", settings.notification_bucket_s * 1000,
                             togglers=tuple(people[:TOGGLERS]))
        self._pending: list[Future[PublishResult]] = []
        #: where each of its records landed (so a test can tell its own records from other runs' on shared topics)
        self.records: list[PublishResult] = []

    def publish(self, event: events.Event) -> None:
        self._pending.append(self.publisher.submit(event))
        self.oracle.published += 1

    def step(self) -> None:
        o, rng = self.oracle, self.rng
        a, b = rng.sample(o.users, 2)
        kind = rng.choices(["follow", "post", "like", "comment", "uncomment", "tag", "dm", "block", "request",
                            "answer", "privacy", "mute", "delete", "leave"],
                           [3, 2, 4, 2, 0.5, 2, 3, 0.25, 1, 1, 0.5, 0.25, 0.6, 0.15])[0]
        if kind == "leave":
            self._delete_account(a)
            return
        if kind == "privacy":
            self._switch_privacy(rng.choice(o.togglers))
            return
        if kind == "delete":
            if o.authors:
                self._delete(rng.choice(sorted(o.authors)))
            return
        if kind == "uncomment" and not any(o.comments.values()):
            kind = "comment"
        if kind == "answer" and not o.requests:
            kind = "request"
        if kind == "answer":
            self._answer(*rng.choice(sorted(o.requests)))
            return
        if kind in ("like", "comment", "tag") and not o.authors:
            kind = "post"
        if kind == "uncomment":  # the commenter or the post's author deletes a comment
            comment = rng.choice(sorted(c for comments in o.comments.values() for c in comments))
            post_id, commenter, commented_at = o.commented[comment]
            event = events.comment_deleted(post_id=post_id, comment_id=comment, user_id=commenter,
                                           actor_id=rng.choice([commenter, o.authors[post_id]]),
                                           commented_at=commented_at)
            self.publish(event)
            o.uncomment(comment)
            return
        post_id = rng.choice(sorted(o.authors)) if kind in ("like", "comment", "tag") else ""
        if kind == "tag" and a == o.authors[post_id]:
            a = b
        if kind == "tag" and o.authors[post_id] in o.togglers:
            return  # (whether a tag notifies, or stays listed, once its author turns private races the switch)
        if kind in ("like", "comment") and o.hidden_from(a, o.authors[post_id]):
            return  # (the API refuses it)
        if o.across_a_block(a, b if kind in ("follow", "dm", "block", "request") else o.authors.get(post_id, a)):
            return  # (the API refuses acts across a block; the block's own effects are the oracle's)
        if kind == "request":  # a asks to follow b (as for a private account: b answers later)
            if (a, b) in o.follows or (a, b) in o.requests:
                return
            event = events.follow_requested(follower_id=a, followee_id=b, action="request")
            if not self._first_this_millisecond(("request", a, b), event):
                return
            self.publish(event)
            o.requests.add((a, b))
            o.notify(b, "follow_request", b, a, _at(event))
        elif kind == "follow":
            if (a, b) in o.requests:
                return  # (a request pending: the account is private, and only an approval makes the follow)
            action = "unfollow" if (a, b) in o.follows and rng.random() < 0.3 else "follow"
            if action == "follow" and b in o.private:
                return  # (a private account is followed by request only)
            event = events.follow_changed(follower_id=a, followee_id=b, action=action)
            if not self._first_this_millisecond(("follow", a, b), event):
                return  # (an approval's "accepted" and an unfollow of one millisecond, on two topics, tie)
            self.publish(event)
            if action == "unfollow":
                o.unfollow(a, b, _at(event))
            else:
                o.follows.add((a, b))
                o.notify(b, "follow", b, a, _at(event))
        elif kind == "post":
            tagged = rng.random() < 0.5
            post = events.post_created(author_id=a, caption=f"a fault test #{o.tag}" if tagged else "plain",
                                       image_ids=[new_id()])
            self.publish(post)
            o.authors[str(post.value["post_id"])] = a
            o.photos[str(post.value["post_id"])] = str(post.value["image_ids"][0])
            if tagged:
                o.hashtagged.add(str(post.value["post_id"]))
        elif kind == "like":  # (without the post's author: the notifications processor finds it, as for v1 likes)
            action = "unlike" if a in o.likes[post_id] and rng.random() < 0.3 else "like"
            self.publish(event := events.like_changed(post_id=post_id, user_id=a, action=action))
            (o.likes[post_id].discard if action == "unlike" else o.likes[post_id].add)(a)
            o.notify(o.authors[post_id], "like", post_id, a, _at(event), on=action == "like")
        elif kind == "comment":
            event = events.comment_added(post_id=post_id, user_id=a, text=f"fault comment {rng.random()}")
            self.publish(event)
            o.comments[post_id].add(str(event.value["comment_id"]))
            o.commented[str(event.value["comment_id"])] = (post_id, a, _at(event))
            o.notify(o.authors[post_id], "comment", post_id, a, _at(event))
        elif kind == "tag":  # the author tags a on the post's photo, or a (tagged) removes themselves
            author = o.authors[post_id]
            remove = a in o.tagged[post_id] and rng.random() < 0.4
            event = events.photo_tag_changed(
                post_id=post_id, image_id=o.photos[post_id], tagger_id=author, tagged_id=a,
                action="remove" if remove else "add", **({} if remove else {"x": rng.random(), "y": rng.random()}))
            if not self._first_this_millisecond(("tag", post_id, a), event):
                return  # (within one millisecond a removal outranks an add: photo_tags.write_timestamp_us)
            self.publish(event)
            (o.tagged[post_id].discard if remove else o.tagged[post_id].add)(a)
            o.notify(a, "tag", post_id, author, _at(event), on=not remove)
        elif kind == "mute":  # a mutes b, for good
            if (a, b) not in o.muted:
                self.publish(events.mute_changed(actor_id=a, target_id=b, action="on"))
                o.mute(a, b)
        elif kind == "block":  # a blocks b, for good
            event = events.block_changed(actor_id=a, target_id=b, action="on")
            if not all([self._first_this_millisecond(("follow", a, b), event),
                        self._first_this_millisecond(("follow", b, a), event)]):
                return  # (the unfollows it makes tie with a follow or an approval of the same millisecond)
            self.publish(event)
            o.block(a, b, _at(event))
        elif b in o.unread[a] and rng.random() < 0.4:  # a reads b's messages
            self.publish(events.messages_read(user_id=a, sender_id=b, read_up_to_msg_id=new_id()))
            o.unread[a].discard(b)
        else:  # b writes to a, who is offline
            self.publish(events.message_unsent(src=b, dest=a, msg_id=new_id()))
            o.unread[a].add(b)

    def _switch_privacy(self, user: str) -> None:
        """The user's account turns private, or public again (the whole profile, as every profile-updated is)."""
        o = self.oracle
        private = user not in o.private
        event = events.profile_updated(user_id=user, username=f"f{user.replace('-', '')[-20:]}", display_name="F",
                                       is_private=private, tags_followed_only=False, tags_manual_approval=False)
        if not self._first_this_millisecond(("privacy", user), event):
            return  # (profiles are written with their event's time: two switches of one millisecond tie)
        self.publish(event)
        (o.private.add if private else o.private.discard)(user)

    def _delete(self, post_id: str) -> None:
        """The post's author deletes it (what acted on it is still on its way: a like published a moment before
        may be applied after the deletion)."""
        self.publish(events.post_deleted(post_id=post_id, author_id=self.oracle.authors[post_id]))
        self.oracle.delete_post(post_id)

    def _delete_account(self, user: str) -> None:
        """The user deletes their account (at most :data:`ACCOUNTS_DELETED` a workload, and none of the togglers,
        the first users, whom the tests also act as): what they did a moment before is still on its way."""
        o = self.oracle
        if len(o.deleted) >= ACCOUNTS_DELETED or user in o.togglers:
            return
        self.publish(event := events.account_deleted(user_id=user))
        o.delete_account(user, _at(event))

    def _answer(self, requester: str, owner: str) -> None:
        """The owner approves (the API publishes the follow, then the approval) or denies the request, or the
        requester withdraws it (a denial too)."""
        o = self.oracle
        approve = self.rng.random() < 0.6
        answer = events.follow_requested(follower_id=requester, followee_id=owner,
                                         action="approve" if approve else "deny")
        if approve and not self._first_this_millisecond(("follow", requester, owner), answer):
            return
        if not self._first_this_millisecond(("request", requester, owner), answer):
            return
        if approve:
            self.publish(follow := events.follow_changed(follower_id=requester, followee_id=owner, action="follow"))
            o.follows.add((requester, owner))
            o.notify(owner, "follow", owner, requester, _at(follow))
            o.notify(requester, "follow_accepted", owner, owner, _at(answer))
        self.publish(answer)
        o.requests.discard((requester, owner))
        o.notify(owner, "follow_request", owner, requester, _at(answer), on=False)

    def _first_this_millisecond(self, what: tuple[str, ...], event: events.Event) -> bool:
        """Whether ``event`` is the first change of ``what`` in its millisecond (then it is published). Such
        changes are timestamped writes with their event's time, where two of one millisecond tie and a deletion
        wins whatever the log order; the oracle follows the log, so the workload leaves such ties out (people do
        not act that fast)."""
        if self.oracle.changed_at.get(what) == _at(event):
            return False
        self.oracle.changed_at[what] = _at(event)
        return True

    def run(self, count: int) -> None:
        """``count`` steps, acknowledged by the broker when this returns (a refused publish fails the test)."""
        for _ in range(count):
            self.step()
        self.settle()

    def settle(self) -> None:
        self.publisher.flush()
        self.records += [future.result(timeout=60) for future in self._pending]
        self._pending.clear()


def _at(event: events.Event) -> int:
    """When the processors take an event to have happened (its ``occurred_at``: the broker's append time is never
    earlier, as producer and broker share this machine's clock)."""
    return int(event.value["occurred_at"])


# --- probes -------------------------------------------------------------------------------------------------------

def lag_of(settings: Settings) -> int:
    """Records not yet committed by any of the app id's consumer groups (on the topics each group reads)."""
    reader = LagReader(settings)
    groups = groups_of(settings.app_id)
    committed = reader.committed(list(groups))
    wanted = {settings.topic_names.physical(t) for ts in groups.values() for t in ts}
    partitions = {(tp.topic, tp.partition) for tps in committed.values() for tp in tps if tp.topic in wanted}
    ends = reader.end_offsets(partitions)
    return sum(max(0, ends[(tp.topic, tp.partition)] - max(tp.offset, 0)) for tps in committed.values()
               for tp in tps if (tp.topic, tp.partition) in ends)


def drained(settings: Settings, timeout_s: float, what: str) -> float:
    """Wait until every group of the app id has committed everything published so far; the seconds it took."""
    start = time.monotonic()
    wait_for(lambda: lag_of(settings), lambda lag: lag == 0, timeout_s, what)
    return time.monotonic() - start


def feed_of(api: str, settings: Settings, user: str) -> tuple[list[str], set[str]]:
    """Every post id of the user's feed, all pages, newest first; and the sources the pages came from."""
    ids: list[str] = []
    sources: set[str] = set()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        answer = httpx.get(f"{api}/api/v1/feed", params=params, headers=auth(settings, user), timeout=30)
        assert answer.status_code == 200, answer.text
        ids += [item["post_id"] for item in answer.json()["items"]]
        sources.add(answer.headers.get("X-Photostream-Feed-Source", "redis"))
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return ids, sources


def badge_of(api: str, settings: Settings, user: str) -> httpx.Response:
    return httpx.get(f"{api}/api/v1/users/{user}/status", params={"detail": 1}, headers=auth(settings, user),
                     timeout=30)


def senders_of(api: str, settings: Settings, user: str) -> set[str]:
    answer = badge_of(api, settings, user)
    assert answer.status_code == 200, answer.text
    return set(answer.json()["sender_ids"])


def engagement_of(api: str, settings: Settings, post_id: str, reader: str) -> tuple[int, int, set[str]]:
    """The post page's like and comment counts, and the people its photos show tagged (read by ``reader``)."""
    answer = httpx.get(f"{api}/api/v1/posts/{post_id}", headers=auth(settings, reader), timeout=30)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    tagged = {tag["user_id"] for tags in page.get("photo_tags") or [] for tag in tags or []}
    return int(page["like_count"]), int(page["comment_count"]), tagged


def all_items(api: str, settings: Settings, path: str, reader: str, limit: int = 50) -> list[dict[str, Any]]:
    """Every item of a paged list (``/api/v1`` + ``path``), all pages, as ``reader`` reads it."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        answer = httpx.get(f"{api}/api/v1{path}", params=params, headers=auth(settings, reader), timeout=30)
        assert answer.status_code == 200, answer.text
        items += answer.json()["items"]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return items


def comment_ids_of(api: str, settings: Settings, post_id: str, reader: str) -> list[str]:
    """Every comment id of the post's thread (read by ``reader``)."""
    return [item["comment_id"] for item in all_items(api, settings, f"/posts/{post_id}/comments", reader)]


def requesters_of(api: str, settings: Settings, user: str) -> list[str]:
    """Everyone whose request to follow the user is pending (read by the user)."""
    return [item["id"] for item in all_items(api, settings, "/users/me/follow-requests", user)]


def tagged_posts_of(api: str, settings: Settings, user: str) -> list[str]:
    """Every post of the user's "photos of you" (read by the user)."""
    return [item["post_id"] for item in all_items(api, settings, f"/users/{user}/tagged", user)]


def notifications_listed(api: str, settings: Settings, user: str) -> dict[str, tuple[int, list[str]]]:
    """Every notification of the user's list: id -> (actor count, the actors it shows)."""
    found: dict[str, tuple[int, list[str]]] = {}
    for item in all_items(api, settings, "/notifications", user, limit=100):
        assert item["id"] not in found, f"notification {item['id']} listed twice for {user}"
        found[item["id"]] = (item["actor_count"], [actor["id"] for actor in item["actors"]])
    return found


def metric_total(url: str, name: str) -> float:
    """The sum of every sample of ``name`` on a Prometheus page."""
    text = httpx.get(url, timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))
