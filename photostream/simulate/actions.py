"""One simulated action each, through the API a real client uses (or the SDK, for direct messages).

A post is the full photo path: ``POST /uploads`` → the pre-signed multipart POST straight to S3 →
``POST /uploads/{id}/complete`` → ``POST /posts``; then a read-your-writes probe (``GET /posts/{id}?after=TOKEN``
until it answers 200) measures how long the worker took to apply it, and only then does the post become a target
for likes and comments (the API answers 404 for a post it cannot read yet).

Direct messages go to users who never connect (nobody's WebSocket is open: all are offline), so each one sets
the recipient's unread badge; most recipients read them a while later (``MESSAGES_READ``), and one user — the
badge user shown in the summary — never does, so their badge keeps counting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import httpx

from photostream.simulate import content
from photostream.simulate.api_client import ApiClient, ServiceDownError
from photostream.simulate.budgets import ReadPacer, UserBudgets
from photostream.simulate.graph import zipf_cumulative
from photostream.simulate.images import photo
from photostream.simulate.mix import Kind
from photostream.simulate.population import Population
from photostream.simulate.stats import Stats
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher

#: a post not readable after this long is given up on (counted as "unapplied")
PROBE_GIVE_UP_S = 300.0


@dataclass
class Facts:
    """What happened, for the summary, the links and the integration test's report."""

    posts: list[str] = field(default_factory=list)  # applied (readable) posts, oldest first
    post_authors: dict[str, str] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # post id -> its (completed) image id
    likes: Counter[str] = field(default_factory=Counter)  # accepted likes per post
    liked: set[tuple[str, str]] = field(default_factory=set)
    comments: Counter[str] = field(default_factory=Counter)
    messages_to: Counter[str] = field(default_factory=Counter)
    messages_read: int = 0
    unapplied: int = 0
    #: accepted posts whose read-back the end of the run cut short (neither seen applied nor given up on)
    unconfirmed: int = 0


@dataclass
class DueRead:
    at: float
    reader: str
    sender: str
    msg_id: str


class World:
    """Everything an action needs; one per run."""

    def __init__(self, population: Population, client: ApiClient, publisher: Publisher, stats: Stats,
                 budgets: UserBudgets, reads: ReadPacer, rng: random.Random, badge_user: str,
                 read_after_s: tuple[float, float] = (5.0, 30.0), read_share: float = 0.7) -> None:
        self.population, self.client, self.publisher, self.stats = population, client, publisher, stats
        self.budgets, self.reads, self.rng, self.badge_user = budgets, reads, rng, badge_user
        self.read_after_s, self.read_share = read_after_s, read_share
        self.facts = Facts()
        self.recent_posts: deque[str] = deque(maxlen=500)
        self.due_reads: list[DueRead] = []
        self.probes: set[asyncio.Task[None]] = set()
        self._cumulative = zipf_cumulative(population.size, 1.0)
        self._celebrities = population.celebrities()[:10]

    # --- who acts -------------------------------------------------------------------------------------------
    def actor(self, kind: Kind, exclude: str = "") -> str | None:
        """A user with budget left for ``kind``; posts come from a celebrity a third of the time."""
        ids = self.population.ids
        for attempt in range(6):
            if kind == "post" and self._celebrities and attempt < 2 and self.rng.random() < 0.33:
                user = self.rng.choice(self._celebrities)
            else:
                user = self.rng.choice(ids)
            if user != exclude and self.budgets.take(user, kind):
                return user
        return None

    def popular_user(self) -> str:
        return self.population.ids[self.rng.choices(range(self.population.size), cum_weights=self._cumulative)[0]]

    def outcome(self, kind: Kind, user: str, answer: httpx.Response) -> bool:
        if answer.status_code < 300:
            self.stats.outcome(kind, "ok")
            return True
        if answer.status_code == 429:
            self.budgets.back_off(user, kind)
            self.stats.outcome(kind, "throttled")
        else:
            self.stats.outcome(kind, f"refused {answer.status_code}")
        return False

    # --- the actions ----------------------------------------------------------------------------------------
    async def act(self, kind: Kind) -> None:
        await {"post": self.post, "like": self.like, "comment": self.comment, "follow": self.follow,
               "message": self.message, "feed": self.feed}[kind]()

    async def post(self) -> None:
        author = self.actor("post")
        if author is None:
            self.stats.outcome("post", "skipped (user limits)")
            return
        client = self.client
        body, content_type = await asyncio.to_thread(photo, random.Random(self.rng.random()))
        ticket = await client.call("upload", "POST", "/uploads", author, json={"content_type": content_type,
                                                                             "size_bytes": len(body)})
        if ticket.status_code >= 300:
            self.outcome("post", author, ticket)
            return
        ticket_body = ticket.json()
        sent = await client.upload(ticket_body["upload_url"], ticket_body["fields"], body, content_type)
        if sent.status_code >= 300:
            self.stats.outcome("post", f"S3 refused {sent.status_code}")
            return
        image_id = ticket_body["image_id"]
        done = await client.call("upload complete", "POST", f"/uploads/{image_id}/complete", author)
        if done.status_code >= 300:
            self.outcome("post", author, done)
            return
        created = await client.call("post", "POST", "/posts", author,
                                    json={"caption": content.caption(self.rng), "image_ids": [image_id]})
        if not self.outcome("post", author, created):
            return
        accepted = created.json()
        self.facts.post_authors[accepted["id"]] = author
        self.facts.images[accepted["id"]] = image_id
        task = asyncio.create_task(self._probe(accepted["id"], accepted["token"], time.monotonic()))
        self.probes.add(task)
        task.add_done_callback(self.probes.discard)

    async def _probe(self, post_id: str, token: str, accepted_at: float) -> None:
        """Read the post with its consistency token until the worker applied it; its age is the wait."""
        try:
            await self._read_back(post_id, token, accepted_at)
        except asyncio.CancelledError:  # the run ended first: the post is counted, as unconfirmed
            self.facts.unconfirmed += 1
            raise

    async def _read_back(self, post_id: str, token: str, accepted_at: float) -> None:
        while time.monotonic() - accepted_at < PROBE_GIVE_UP_S:
            await self.reads.wait()
            try:
                answer = await self.client.call("post read", "GET", f"/posts/{post_id}", params={"after": token})
            except ServiceDownError:
                await asyncio.sleep(1.0)
                continue
            if answer.status_code == 200 and "x-photostream-consistency" not in answer.headers:
                self.stats.applied(time.monotonic() - accepted_at)
                self.facts.posts.append(post_id)
                self.recent_posts.append(post_id)
                return
            await asyncio.sleep(0.2)  # the API already waited (bounded) for the worker; ask again
        self.facts.unapplied += 1

    async def like(self) -> None:
        post_id = self.rng.choice(self.recent_posts)
        user = self.actor("like", exclude=self.facts.post_authors.get(post_id, ""))
        if user is None or (user, post_id) in self.facts.liked:
            self.stats.outcome("like", "skipped (user limits)" if user is None else "skipped (liked already)")
            return
        self.facts.liked.add((user, post_id))
        if self.outcome("like", user, await self.client.call("like", "POST", f"/posts/{post_id}/like", user)):
            self.facts.likes[post_id] += 1

    async def comment(self) -> None:
        post_id = self.rng.choice(self.recent_posts)
        user = self.actor("comment")
        if user is None:
            self.stats.outcome("comment", "skipped (user limits)")
            return
        answer = await self.client.call("comment", "POST", f"/posts/{post_id}/comments", user,
                                        json={"text": content.comment(self.rng)})
        if self.outcome("comment", user, answer):
            self.facts.comments[post_id] += 1

    async def follow(self) -> None:
        user = self.actor("follow")
        followee = self.popular_user()
        if user is None or followee == user:
            self.stats.outcome("follow", "skipped (user limits)" if user is None else "skipped (self)")
            return
        self.outcome("follow", user, await self.client.call("follow", "POST", f"/users/{followee}/follow", user))

    async def feed(self) -> None:
        await self.reads.wait()
        user = self.rng.choice(self.population.ids)
        self.outcome("feed", user, await self.client.call("feed", "GET", "/feed", user, params={"limit": 20}))

    async def message(self) -> None:
        """A direct message through the SDK (the chat service's event); most are read later."""
        sender = self.rng.choice(self.population.ids)
        first = not self.facts.messages_to[self.badge_user]
        recipient = self.badge_user if first or self.rng.random() < 0.1 else self.rng.choice(self.population.ids)
        if recipient == sender:
            self.stats.outcome("message", "skipped (self)")
            return
        msg_id = new_id()
        await self.publisher.publish_async(events.message_unsent(src=sender, dest=recipient, msg_id=msg_id))
        self.stats.outcome("message", "ok")
        self.facts.messages_to[recipient] += 1
        if recipient != self.badge_user and self.rng.random() < self.read_share:
            self.due_reads.append(DueRead(time.monotonic() + self.rng.uniform(*self.read_after_s), recipient,
                                          sender, msg_id))

    async def read_due_messages(self) -> None:
        """Publish the read marks that are due (``MESSAGES_READ``: the reader's badge drops the sender)."""
        now = time.monotonic()
        due = [d for d in self.due_reads if d.at <= now]
        if not due:
            return
        for read in due:
            await self.publisher.publish_async(events.messages_read(user_id=read.reader, sender_id=read.sender,
                                                                    read_up_to_msg_id=read.msg_id))
            self.due_reads.remove(read)  # only once published: a failure leaves it due
            self.facts.messages_read += 1
            self.stats.outcome("message read", "ok")
