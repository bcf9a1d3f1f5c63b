"""The newly-unread badge, presence and the live status stream through the real stack.

Events go through Kafka to the worker's ``unread`` and ``presence`` processors; each test awaits exactly its own
records (the processors' applied-offset marks). Besides the suite's API process, this module starts two more
with a short presence TTL and heartbeat: one holds the second device of the two-process push test, the other is
SIGKILLed to show that a crashed process leaves nobody online; and one whose Redis is unreachable, to show the
status is answered from Cassandra.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from api.auth import AccessClaims, InvalidTokenError, decode_access_token, mint_access_token
from api.realtime_status import StatusReader
from photostream.contracts.catalog import topic as catalog_topic
from photostream.contracts.codec import EventCodec
from photostream.settings import Settings
from photostream.topics_admin import ensure_topics
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher, PublishResult
from sinks import keys
from sinks.cassandra import connect as cassandra_connect
from sinks.redis_client import async_client, sync_client
from sinks.revocations import RevocationLedger
from sinks.unread import UnreadPairs, UnreadSets, applied_at
from streams.consumer_groups import end_offsets, seed_groups
from streams.engine.loop import BatchLoop
from streams.engine.records import Record, Reject
from streams.resources import Resources
from streams.unread import TOPICS, UnreadProcessor
from tests.integration.conftest import Process, auth, free_port, photostream
from tests.integration.kafka_read import find_dlq_record
from tests.integration.waiting import applied, wait_for

APPLIERS = {"ON_MSG_UNSENT": "unread", "MESSAGES_READ": "unread", "presence-changed": "presence"}
SHORT_PRESENCE = {"PHOTOSTREAM_PRESENCE_TTL_S": "2", "PHOTOSTREAM_PRESENCE_HEARTBEAT_S": "0.5"}


class Inbox:
    """Publishes this test's badge events and awaits exactly them."""

    def __init__(self, publisher: Publisher, settings: Settings) -> None:
        self.publisher, self.settings = publisher, settings
        self.pending: list[PublishResult] = []
        self.published: list[PublishResult] = []

    def unsent(self, src: str, dest: str, msg_id: str | None = None) -> str:
        msg_id = msg_id or new_id()
        self._publish(events.message_unsent(src=src, dest=dest, msg_id=msg_id))
        return msg_id

    def unsent_from(self, senders: list[str], dest: str) -> None:
        """One message from each sender, queued together (one at a time, 3,000 took 19 s)."""
        futures = [self.publisher.submit(events.message_unsent(src=src, dest=dest, msg_id=new_id()))
                   for src in senders]
        results = [future.result(timeout=60) for future in futures]
        self.pending += results
        self.published += results

    def read(self, user: str, sender: str, up_to: str) -> PublishResult:
        return self._publish(events.messages_read(user_id=user, sender_id=sender, read_up_to_msg_id=up_to))

    def _publish(self, event: events.Event) -> PublishResult:
        result = self.publisher.publish(event)
        self.pending.append(result)
        self.published.append(result)
        return result

    def settle(self, redis: Any = None) -> None:
        applied(redis or sync_client(self.settings), ((r.topic, r.partition, r.offset) for r in self.pending),
                lambda topic: (APPLIERS[topic],), "the unread processor to apply this test's events")
        self.pending.clear()


@pytest.fixture()
def inbox(publisher: Publisher, settings: Settings, worker: Process) -> Inbox:
    return Inbox(publisher, settings)


def status(client: httpx.Client, settings: Settings, user: str, detail: bool = False) -> dict[str, Any]:
    answer = client.get(f"/users/{user}/status", headers=auth(settings, user),
                        params={"detail": 1} if detail else {})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def unchecked(publisher: Publisher, topic: str, fields: dict[str, Any]) -> PublishResult:
    """An event that fits the schema, published without the SDK's domain checks (as another producer could)."""
    record = {"event_id": new_id(), "occurred_at": now_ms(), **fields}
    key = record[catalog_topic(topic).key_field]
    return publisher.submit_raw(topic, key, EventCodec().encode(topic, record), record["event_id"]).result(30)


def messages(n: int) -> list[str]:
    return sorted(new_id() for _ in range(n))


@pytest.fixture(scope="module")
def api_b(test_env: dict[str, str], api_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second API process on the same stores (short presence TTL: it reaps quickly)."""
    port = free_port()
    env = {**test_env, **SHORT_PRESENCE, "PHOTOSTREAM_API_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    proc = Process(["api"], env, tmp_path_factory.mktemp("logs") / "api-b.log", url + "/readyz")
    yield url
    proc.stop()


def ws_url(base: str, user: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return base.replace("http://", "ws://") + f"/api/v1/users/{user}/status/stream" + (f"?{query}" if query else "")


def pushes_timed(base: str) -> float:
    """How many status pushes the API process at ``base`` timed (``photostream_status_push_delay_seconds``)."""
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith("photostream_status_push_delay_seconds_count"):
            return float(line.split()[-1])
    raise AssertionError(f"{base}/metrics has no photostream_status_push_delay_seconds")


def open_stream(base: str, settings: Settings, user: str) -> ClientConnection:
    return connect(ws_url(base, user), additional_headers=auth(settings, user), open_timeout=20)


def receive_until(ws: ClientConnection, done: Any, timeout_s: float = 30) -> dict[str, Any]:
    """Statuses pushed on ``ws`` until one satisfies ``done`` (a deadline, never a sleep)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            pushed: dict[str, Any] = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        except TimeoutError:
            break
        seen.append(pushed)
        if done(pushed):
            return pushed
    raise AssertionError(f"no pushed status matched within {timeout_s}s; pushed: {seen}")


# --- the badge --------------------------------------------------------------------------------------------------

def test_a_block_takes_the_blocked_person_out_of_the_badge_both_ways(
    client: httpx.Client, settings: Settings, inbox: Inbox, worker: Process
) -> None:
    """They counted (and ``detail=1`` named them) while the blocker could not even see their profile."""
    me, blocked, friend = new_id(), new_id(), new_id()
    inbox.unsent(blocked, me)
    inbox.unsent(friend, me)
    inbox.unsent(me, blocked)
    inbox.settle()
    assert sorted(status(client, settings, me, detail=True)["sender_ids"]) == sorted([blocked, friend])
    block = client.post(f"/users/{blocked}/block", headers=auth(settings, me))
    assert block.status_code == 202, block.text
    wait_for(lambda: (status(client, settings, me, detail=True)["sender_ids"],
                      status(client, settings, blocked, detail=True)["sender_ids"]),
             lambda found: found == ([friend], []), 60, "the block to take each out of the other's badge")
    unblock = client.delete(f"/users/{blocked}/block", headers=auth(settings, me))
    assert unblock.status_code == 202, unblock.text
    after = client.get(f"/users/{me}/status", headers=auth(settings, me), params={"after": unblock.json()["token"]})
    assert after.json()["newly_unread_count"] == 1, after.text  # the messages stay read after an unblock


def test_a_blocked_person_s_messages_never_reach_the_blocker_s_badge_and_count_again_after_an_unblock(
    client: httpx.Client, settings: Settings, inbox: Inbox, test_env: dict[str, str]
) -> None:
    """A message the blocked person sent after the block raised the blocker's badge, and ``detail=1`` named
    someone whose profile was a 404 to the blocker."""
    me, blocked = new_id(), new_id()
    block = client.post(f"/users/{blocked}/block", headers=auth(settings, me))
    assert block.status_code == 202, block.text
    inbox.unsent(blocked, me)
    inbox.settle()
    assert status(client, settings, me, detail=True)["sender_ids"] == []
    unblock = client.delete(f"/users/{blocked}/block", headers=auth(settings, me))
    assert unblock.status_code == 202, unblock.text
    after = client.get(f"/users/{me}/status", headers=auth(settings, me), params={"after": unblock.json()["token"]})
    assert after.json()["newly_unread_count"] == 0, after.text  # what was sent during the block stays unseen
    inbox.unsent(blocked, me)
    inbox.settle()
    assert status(client, settings, me, detail=True)["sender_ids"] == [blocked]
    checked = rebuild_unread(test_env, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_badge_counts_people_not_messages_and_reading_one_removes_them(
    client: httpx.Client, settings: Settings, inbox: Inbox
) -> None:
    me, a, c, d = (new_id() for _ in range(4))
    last = {}
    for sender, count in ((a, 45), (c, 30), (d, 25)):
        for msg in messages(count):
            last[sender] = inbox.unsent(sender, me, msg)
    inbox.settle()
    assert status(client, settings, me)["newly_unread_count"] == 3
    assert status(client, settings, me, detail=True)["sender_ids"] == sorted([a, c, d])
    token = inbox.read(me, a, last[a])
    inbox.settle()
    answer = status(client, settings, me, detail=True)
    assert answer["newly_unread_count"] == 2 and answer["sender_ids"] == sorted([c, d])
    assert "sender_ids" not in status(client, settings, me)
    assert sync_client(settings).smembers(keys.unread_senders(me)) == {c, d}
    assert token.offset >= 0


def test_a_late_unsent_message_covered_by_a_read_never_re_adds_its_sender(
    client: httpx.Client, settings: Settings, inbox: Inbox
) -> None:
    me, a, c = (new_id() for _ in range(3))
    old_a, read_a, old_c, read_c, new_c = messages(5)
    inbox.read(me, a, read_a)  # the read is seen first ...
    inbox.settle()
    inbox.unsent(a, me, old_a)  # ... and the message it covers arrives later
    inbox.read(me, c, read_c)
    inbox.unsent(c, me, old_c)  # same batch, reversed
    inbox.settle()
    assert status(client, settings, me)["newly_unread_count"] == 0
    inbox.unsent(c, me, new_c)  # newer than the read mark: counts
    inbox.settle()
    assert status(client, settings, me, detail=True)["sender_ids"] == [c]


def test_duplicates_change_nothing(client: httpx.Client, settings: Settings, inbox: Inbox) -> None:
    me, a = new_id(), new_id()
    first, second = messages(2)
    for _ in range(3):
        inbox.unsent(a, me, first)
        inbox.read(me, a, first)
    inbox.unsent(a, me, second)
    inbox.unsent(a, me, second)
    inbox.settle()
    assert status(client, settings, me, detail=True)["sender_ids"] == [a]


def test_bad_input_is_dead_lettered_and_a_read_mark_without_messages_is_a_no_op(
    client: httpx.Client, settings: Settings, inbox: Inbox
) -> None:
    me, stranger = new_id(), new_id()
    # the SDK refuses both (tests/unit/test_events.py): sent as a producer without its checks would send them
    to_self = unchecked(inbox.publisher, "ON_MSG_UNSENT", {"src": me, "dest": me, "msg_id": new_id()})
    not_ids = unchecked(inbox.publisher, "ON_MSG_UNSENT", {"src": "bob", "dest": me, "msg_id": "42"})
    inbox.read(me, stranger, new_id())
    inbox.unsent(new_id(), me)  # a good record after the bad ones: the processor carried on
    inbox.pending += [to_self, not_ids]
    inbox.settle()
    for bad, why in ((to_self, "themself"), (not_ids, "not an id")):
        dead = find_dlq_record(settings, "ON_MSG_UNSENT", bad.partition, bad.offset)
        headers = {k: v.decode() for k, v in dead.headers() or []}
        assert headers["dlq.processor"] == "unread" and headers["dlq.error.class"] == "ValueError"
        assert why in headers["dlq.error.message"]
    assert status(client, settings, me)["newly_unread_count"] == 1  # only the good message


# --- replay, rebuild, Redis outage -----------------------------------------------------------------------------

def replay(settings: Settings, start: dict[tuple[str, int], int], targets: list[PublishResult]) -> None:
    """A fresh consumer group of the ``unread`` processor from the run's start offsets, until it has applied
    ``targets`` (its ``process`` returned for them: their effects are durable)."""
    applied: dict[tuple[str, int], int] = {}
    done = threading.Event()
    failure: list[BaseException] = []

    def reached() -> bool:
        return all(applied.get((r.topic, r.partition), -1) >= r.offset for r in targets)

    async def run() -> None:
        resources = Resources.open(settings)
        try:
            processor = UnreadProcessor(UnreadPairs(resources.session), UnreadSets(resources.redis, settings.app_id),
                                       resources.redis, resources.session)
            process = processor.process

            async def observed(batch: list[Record], reject: Reject) -> None:
                await process(batch, reject)
                for record in batch:
                    tp = (record.topic, record.partition)
                    applied[tp] = max(applied.get(tp, -1), record.offset)
                if reached():
                    done.set()

            processor.process = observed  # type: ignore[method-assign]
            seed_groups(settings, {f"{settings.app_id}.unread": processor.topics}, start)
            loop = BatchLoop(settings, processor, resources.publisher, resources.codec)
            task = asyncio.create_task(loop.run())
            while not done.is_set() and not task.done():
                await asyncio.sleep(0.05)  # polling a flag set by the loop above; bounded by the join below
            loop.stop()
            await asyncio.wait_for(task, 30)
        finally:
            await resources.close()

    def thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # reported to the test below
            failure.append(exc)
            done.set()

    runner = threading.Thread(target=thread, daemon=True)
    runner.start()
    done.wait(180)
    runner.join(60)
    assert not failure, failure
    assert reached(), f"the replay did not apply the test's records in 180 s (applied: {applied})"


def test_replaying_the_topics_from_the_start_gives_the_same_badge(
    client: httpx.Client, settings: Settings, inbox: Inbox, run_start_offsets: dict[tuple[str, int], int]
) -> None:
    me, a, c, d = (new_id() for _ in range(4))
    old_d, read_d = messages(2)
    inbox.unsent(a, me)
    inbox.unsent(c, me)
    inbox.read(me, a, new_id())
    inbox.read(me, d, read_d)
    inbox.unsent(d, me, old_d)
    inbox.settle()
    live = status(client, settings, me, detail=True)
    assert live["sender_ids"] == [c]

    # from nothing: the user's durable pairs and Redis set gone, then a new consumer group from the start
    cluster, session = cassandra_connect(settings)
    try:
        session.execute("DELETE FROM unread_pairs WHERE user_id = %s", (me,))
    finally:
        cluster.shutdown()
    sync_client(settings).delete(keys.unread_senders(me))
    assert status(client, settings, me)["newly_unread_count"] == 0
    replay(settings.model_copy(update={"app_id": settings.app_id + "-replay"}),
           {tp: o for tp, o in run_start_offsets.items() if tp[0] in APPLIERS}, inbox.published)
    assert status(client, settings, me, detail=True) == live
    assert sync_client(settings).smembers(keys.unread_senders(me)) == {c}


def rebuild_unread(test_env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return photostream(test_env, "rebuild", "unread", *flags)


def lose_unread(settings: Settings, user: str) -> None:
    """What a flushed or restarted Redis does to one user's badge: the set, its whole marker and its version."""
    sync_client(settings).delete(keys.unread_senders(user), keys.unread_whole(user), keys.unread_version(user))


def test_rebuild_unread_equals_live_and_restores_lost_sets(
    client: httpx.Client, settings: Settings, inbox: Inbox, test_env: dict[str, str]
) -> None:
    me, you, a, c = (new_id() for _ in range(4))
    inbox.unsent(a, me)
    inbox.unsent(c, me)
    inbox.unsent(a, you)
    inbox.settle()
    checked = rebuild_unread(test_env, "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    lose_unread(settings, me)  # (nobody reads the status until the rebuild: no copy is under way)
    sync_client(settings).sadd(keys.unread_senders(you), c)  # a sender who never wrote
    damaged = rebuild_unread(test_env, "--check")
    assert damaged.returncode == 1 and damaged.stdout.count("differs:") == 2, damaged.stdout
    repaired = rebuild_unread(test_env)
    assert repaired.returncode == 0 and "2 rewritten" in repaired.stdout, repaired.stdout
    assert rebuild_unread(test_env, "--check").returncode == 0
    assert status(client, settings, me, detail=True)["sender_ids"] == sorted([a, c])
    assert status(client, settings, you, detail=True)["sender_ids"] == [a]


def test_a_set_redis_lost_is_copied_back_when_the_status_is_read_and_pushed_to_devices(
    client: httpx.Client, settings: Settings, inbox: Inbox, api_url: str
) -> None:
    """After a Redis loss, the next message made a set of one sender that the badge counted until someone ran
    the rebuild. The status read that finds the set not whole answers what Redis holds at once and has it
    copied from Cassandra in the background; the copy pings the user's devices."""
    me, a, c, d = (new_id() for _ in range(4))
    inbox.unsent(a, me)
    inbox.unsent(c, me)
    inbox.settle()
    wait_for(lambda: status(client, settings, me)["newly_unread_count"], lambda n: n == 2, 30, "the badge of 2")
    wait_for(lambda: sync_client(settings).exists(keys.unread_whole(me)), bool, 30, "the first read's copy")
    lose_unread(settings, me)
    inbox.unsent(d, me)
    inbox.settle()
    assert sync_client(settings).smembers(keys.unread_senders(me)) == {d}  # the remains: the new sender alone
    with open_stream(api_url, settings, me) as ws:  # connecting reads the status: the copy starts
        pushed = receive_until(ws, lambda pushed: pushed["newly_unread_count"] == 3)
        assert pushed["newly_unread_count"] == 3
    assert status(client, settings, me, detail=True)["sender_ids"] == sorted([a, c, d])


def test_with_redis_down_the_status_is_answered_from_cassandra(settings: Settings, inbox: Inbox) -> None:
    """The API's status reader over an unreachable Redis and the run's Cassandra. (Through HTTP a Redis outage is
    a 503 before the route runs: the token's revocation check fails closed, see ``api.auth.verify_access``.)"""
    me, a, c = (new_id() for _ in range(3))
    inbox.unsent(a, me)
    inbox.unsent(c, me)
    inbox.read(me, c, new_id())
    inbox.settle()
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})  # nothing listens

    async def read() -> dict[str, Any]:
        redis = async_client(dead)
        cluster, session = cassandra_connect(settings)
        try:
            return await StatusReader(redis, session).read(me, detail=True)
        finally:
            await redis.aclose()
            cluster.shutdown()

    assert asyncio.run(read()) == {"newly_unread_count": 1, "online_status": "offline", "last_seen": None,
                                   "unread_notifications": 0, "sender_ids": [a]}


class CountingRedis:
    """A Redis client that counts round trips: each pipeline executed, each command sent alone."""

    def __init__(self, redis: Any) -> None:
        self.redis, self.round_trips = redis, 0

    def pipeline(self, **kwargs: Any) -> Any:
        self.round_trips += 1
        return self.redis.pipeline(**kwargs)

    def __getattr__(self, name: str) -> Any:
        self.round_trips += 1
        return getattr(self.redis, name)


def test_the_status_read_checks_its_token_in_its_one_round_trip_and_without_redis_in_cassandra(
    settings: Settings, inbox: Inbox
) -> None:
    """``read_own`` queues the revocation check on the status pipeline: one round trip answers both, a
    revoked token is refused from it, and with Redis unreachable the durable ledger still refuses it."""
    me, a = new_id(), new_id()
    inbox.unsent(a, me)
    inbox.settle()
    live, logged_out = decode_access_token(settings, mint_access_token(settings, me)), \
        decode_access_token(settings, mint_access_token(settings, me))
    dead = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})  # nothing listens

    async def scenario() -> tuple[int, dict[str, Any], bool, dict[str, Any], bool]:
        redis, unreachable = CountingRedis(async_client(settings)), async_client(dead)
        cluster, session = cassandra_connect(settings)
        try:
            ledger = RevocationLedger(session, redis.redis)
            await ledger.revoke("token", logged_out.jti, 60)
            await ledger.reload()  # Redis holds every revocation: no Cassandra fallback, no reload behind the read
            reader, counted_ledger = StatusReader(redis, session), RevocationLedger(session, redis)
            redis.round_trips = 0
            answered = await reader.read_own(live, counted_ledger, True)
            trips = redis.round_trips
            refused = await refused_by(reader, ledger, logged_out)
            offline_ledger = RevocationLedger(session, unreachable)
            degraded = await StatusReader(unreachable, session).read_own(live, offline_ledger, True)
            refused_offline = await refused_by(StatusReader(unreachable, session), offline_ledger, logged_out)
            return trips, answered, refused, degraded, refused_offline
        finally:
            await redis.redis.aclose()
            await unreachable.aclose()
            cluster.shutdown()

    trips, answered, refused, degraded, refused_offline = asyncio.run(scenario())
    assert trips == 1
    assert answered["sender_ids"] == [a] and degraded["sender_ids"] == [a]
    assert refused and refused_offline


async def refused_by(reader: StatusReader, ledger: RevocationLedger, claims: AccessClaims) -> bool:
    try:
        await reader.read_own(claims, ledger)
    except InvalidTokenError:
        return True
    return False


def test_a_logged_out_token_reads_no_status(client: httpx.Client, settings: Settings) -> None:
    me = new_id()
    headers = auth(settings, me)
    assert client.get(f"/users/{me}/status", headers=headers).status_code == 200
    assert client.post("/auth/logout", headers=headers).status_code == 204
    refused = client.get(f"/users/{me}/status", headers=headers)
    assert refused.status_code == 401 and "revoked" in refused.text, refused.text
    # someone else's status too: the token is the problem before whom it asks about (it was a 403)
    elsewhere = client.get(f"/users/{new_id()}/status", headers=headers)
    assert elsewhere.status_code == 401 and "revoked" in elsewhere.text, elsewhere.text


# --- access ----------------------------------------------------------------------------------------------------

def test_only_the_user_themself_may_read_or_stream_their_status(
    client: httpx.Client, settings: Settings, api_url: str
) -> None:
    me, other = new_id(), new_id()
    assert client.get(f"/users/{me}/status").status_code == 401
    assert client.get(f"/users/{me}/status", headers=auth(settings, other)).status_code == 403
    assert client.get("/users/nobody/status", headers=auth(settings, other)).status_code == 422
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(api_url, me), additional_headers=auth(settings, other), open_timeout=20)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as anonymous:
        connect(ws_url(api_url, me), open_timeout=20)
    assert anonymous.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as forged:
        connect(ws_url(api_url, me, token="not-a-token"), open_timeout=20)
    assert forged.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as unclear:  # a bad parameter: the 422 the HTTP read answers, naming it
        connect(ws_url(api_url, me, detail="maybe"), additional_headers=auth(settings, me), open_timeout=20)
    assert unclear.value.response.status_code == 422
    assert json.loads(unclear.value.response.body)["error"]["field"] == "detail"
    with connect(ws_url(api_url, me, detail="true"), additional_headers=auth(settings, me), open_timeout=20) as ws:
        assert "sender_ids" in json.loads(ws.recv(timeout=20))


# --- live push and presence ------------------------------------------------------------------------------------

def test_every_device_on_every_api_process_gets_the_change_and_presence_follows_connections(
    settings: Settings, inbox: Inbox, api_url: str, api_b: str, client: httpx.Client
) -> None:
    me, a = new_id(), new_id()
    inbox.unsent(a, me)
    inbox.settle()
    token = mint_access_token(settings, me)
    with open_stream(api_url, settings, me) as phone:
        # compression offered (as browsers and this client do) and declined: a status frame is ~100 bytes, and
        # a compressed connection would hold a zlib context pair for its whole life
        assert "permessage-deflate" in (phone.request.headers.get("Sec-WebSocket-Extensions") or "")
        assert phone.response.headers.get("Sec-WebSocket-Extensions") is None
        first = json.loads(phone.recv(timeout=20))  # the current status at once, online (this connection) ...
        assert first["newly_unread_count"] == 1 and first["online_status"] == "online"
        if first["last_seen"] is None:  # ... then presence as the processor applied it
            receive_until(phone, lambda s: s["last_seen"] is not None)
        with connect(ws_url(api_b, me, token=token), open_timeout=20) as laptop:  # a browser: token in the query
            now = json.loads(laptop.recv(timeout=20))
            assert now["newly_unread_count"] == 1 and now["online_status"] == "online"
            assert now["last_seen"] is not None
            timed = [pushes_timed(base) for base in (api_url, api_b)]
            inbox.unsent(new_id(), me)
            for device in (phone, laptop):  # whichever API process holds it
                assert receive_until(device, lambda s: s["newly_unread_count"] == 2)["online_status"] == "online"
            # each process timed its push from the badge write the ping carried
            assert all(pushes_timed(base) > before for base, before in zip((api_url, api_b), timed, strict=True))
            phone.close()  # one device left: still online
            inbox.read(me, a, new_id())
            assert receive_until(laptop, lambda s: s["newly_unread_count"] == 1)["online_status"] == "online"
    wait_for(lambda: status(client, settings, me), lambda s: s["online_status"] == "offline", 30,
             "the user to go offline after the last device left")


def test_a_binary_frame_from_the_client_is_ignored_and_the_stream_goes_on(
    settings: Settings, inbox: Inbox, api_url: str
) -> None:
    """The stream read the client's frames as text: one binary frame ended it without a close frame (the
    client saw 1006) and took the user offline."""
    me = new_id()
    with open_stream(api_url, settings, me) as ws:
        assert json.loads(ws.recv(timeout=20))["newly_unread_count"] == 0
        ws.send(b"\x00\x01")
        inbox.unsent(new_id(), me)
        assert receive_until(ws, lambda s: s["newly_unread_count"] == 1)["online_status"] == "online"


def test_a_connected_device_is_always_told_it_is_online(settings: Settings, inbox: Inbox, api_url: str) -> None:
    """A push re-reads the status as stored; when the presence processor had not applied this connection's
    online yet (or a stale offline), the connected device itself was told "offline"."""
    me = new_id()
    with open_stream(api_url, settings, me) as ws:
        first = json.loads(ws.recv(timeout=20))
        if first["last_seen"] is None:  # the processor applied this connection's online: nothing in flight
            receive_until(ws, lambda s: s["last_seen"] is not None)
        sync_client(settings).hset(keys.presence(me), "status", "offline")  # as stored before it applies
        inbox.unsent(new_id(), me)
        assert receive_until(ws, lambda s: s["newly_unread_count"] == 1)["online_status"] == "online"


def test_a_token_in_the_streams_query_never_reaches_the_api_log(
    test_env: dict[str, str], settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """uvicorn logs each WebSocket handshake's path with its query at INFO: a browser's ``?token=`` (a working
    access token for an hour) was written to the API log in full. (An API with its access log on: without it,
    no handshake line is written at all, next test.)"""
    port = free_port()
    log = tmp_path_factory.mktemp("access-log") / "api.log"
    api = Process(["api"], test_env | {"PHOTOSTREAM_API_PORT": str(port), "PHOTOSTREAM_API_ACCESS_LOG": "true"}, log,
                  f"http://127.0.0.1:{port}/readyz")
    try:
        me = new_id()
        token = mint_access_token(settings, me)
        with connect(ws_url(f"http://127.0.0.1:{port}", me, token=token, detail="1"),
                     open_timeout=20) as browser:
            json.loads(browser.recv(timeout=20))  # (the accept, and so its line, came before the first status)
        text = log.read_text(errors="replace")
        assert f"/users/{me}/status/stream?token=[redacted]" in text
        assert token not in text
    finally:
        api.stop()


def test_without_the_access_log_no_line_is_written_per_handshake(
    settings: Settings, api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """With the access log off (the default) the handshake line was still written, one per connection: 12% of the
    API's CPU while 10,000 status streams connected."""
    me = new_id()
    with connect(ws_url(api_url, me, token=mint_access_token(settings, me)), open_timeout=20) as browser:
        json.loads(browser.recv(timeout=20))  # (the accept, and so any line of it, came before the first status)
    logs = list(Path(tmp_path_factory.getbasetemp()).rglob("*.log"))
    assert logs
    assert not [log.name for log in logs if f"/users/{me}/status/stream" in log.read_text(errors="replace")]


def test_a_crashed_api_process_does_not_leave_its_users_online(
    settings: Settings, test_env: dict[str, str], api_b: str, client: httpx.Client, worker: Process,
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    me = new_id()
    port = free_port()
    env = {**test_env, **SHORT_PRESENCE, "PHOTOSTREAM_API_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    victim = Process(["api"], env, tmp_path_factory.mktemp("logs") / "api-victim.log", url + "/readyz")
    try:
        with open_stream(url, settings, me) as device:
            # online as the presence processor applied it (the first frame says online before that)
            receive_until(device, lambda s: s["online_status"] == "online" and s["last_seen"] is not None)
            victim.kill()  # no goodbye: the connection stays registered until its expiry passes
            offline = wait_for(lambda: status(client, settings, me), lambda s: s["online_status"] == "offline", 60,
                               "another API process to reap the dead one's connection")
        assert offline["last_seen"] is not None
    finally:
        victim.stop()


def test_a_stalled_api_process_brings_its_still_connected_users_back_online(
    settings: Settings, test_env: dict[str, str], api_b: str, client: httpx.Client, worker: Process,
    tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A process frozen past the TTL (or a Redis away that long) is reaped like a dead one; once it runs again,
    its heartbeat registers the connection again. It only refreshed what was still registered, so the user read
    offline for as long as that socket stayed open."""
    me = new_id()
    port = free_port()
    env = {**test_env, **SHORT_PRESENCE, "PHOTOSTREAM_API_PORT": str(port)}
    url = f"http://127.0.0.1:{port}"
    stalled = Process(["api"], env, tmp_path_factory.mktemp("logs") / "api-stalled.log", url + "/readyz")
    try:
        with open_stream(url, settings, me) as device:
            receive_until(device, lambda s: s["online_status"] == "online" and s["last_seen"] is not None)
            stalled.proc.send_signal(signal.SIGSTOP)
            try:
                wait_for(lambda: status(client, settings, me), lambda s: s["online_status"] == "offline", 60,
                         "another API process to reap the stalled one's connection")
            finally:
                stalled.proc.send_signal(signal.SIGCONT)
            wait_for(lambda: status(client, settings, me), lambda s: s["online_status"] == "online", 60,
                     "the connection, still open, to count again")
    finally:
        stalled.stop()


def test_a_stream_ends_with_its_token_and_pushes_nothing_after_a_logout(
    client: httpx.Client, settings: Settings, inbox: Inbox, api_url: str
) -> None:
    """The token is checked at the handshake, and again before every push and at its expiry: a stream never
    outlives the token it was opened with (closed with 1008, "policy violation")."""
    short, me = new_id(), new_id()
    with connect(ws_url(api_url, short, token=mint_access_token(settings, short, ttl_s=3)), open_timeout=20) as ws:
        json.loads(ws.recv(timeout=20))  # the current status
        with pytest.raises(ConnectionClosed) as expired:
            while True:
                ws.recv(timeout=30)  # presence, then the close at the token's expiry
        assert expired.value.rcvd is not None and expired.value.rcvd.code == 1008
    token = mint_access_token(settings, me)
    with connect(ws_url(api_url, me), additional_headers={"Authorization": f"Bearer {token}"},
                 open_timeout=20) as ws:
        assert json.loads(ws.recv(timeout=20))["newly_unread_count"] == 0
        assert client.post("/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code == 204
        inbox.unsent(new_id(), me)
        inbox.settle()
        with pytest.raises(ConnectionClosed) as revoked:
            while True:
                assert json.loads(ws.recv(timeout=30))["newly_unread_count"] == 0, "pushed after the logout"
        assert revoked.value.rcvd is not None and revoked.value.rcvd.code == 1008


def test_a_client_that_stops_reading_is_dropped_and_a_reconnect_gets_the_current_status(
    settings: Settings, inbox: Inbox, api_b: str
) -> None:
    """Statuses with ``detail=1`` of a user with thousands of unread senders are large (~110 kB) and the client
    reads nothing (a one-message queue: the kernel's buffers fill, then the server's sends block); then
    the connection's bounded queue fills and the hub drops the client with 1013, well before the server's own
    keep-alive (20 s) would give up on it."""
    me, senders = new_id(), 3000
    inbox.unsent_from([new_id() for _ in range(senders)], me)
    inbox.settle()
    redis = sync_client(settings)

    def registered() -> int:  # the hub unregisters a connection it dropped
        return int(redis.zcard(keys.presence_connections(me)))

    # (the client's receive buffer left to the kernel: fixed small, reading the backlog after the drop crawled
    # through the tiny window at 40 kB/s, 100 s for this test)
    with connect(ws_url(api_b, me, detail="1"), additional_headers=auth(settings, me), open_timeout=20,
                 max_queue=1, ping_interval=None) as slow:  # it reads nothing, so it must not time out itself
        assert json.loads(slow.recv(timeout=20))["newly_unread_count"] == senders  # registered and served
        pushes = 0
        while registered() and pushes < 200:  # one applied change at a time: each is a push of its own
            inbox.unsent(new_id(), me)
            inbox.settle()
            pushes += 1
        assert registered() == 0, f"the slow client was not dropped after {pushes} pushes"
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                slow.recv(timeout=20)  # what was buffered, then the close frame
        # dropped by the hub: 1013, or no close frame at all when the client still had not read when the server
        # gave up waiting to send it (never the server's keep-alive 1011, which would mean the queue did not bound)
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1013, closed.value
    with open_stream(api_b, settings, me) as again:
        assert json.loads(again.recv(timeout=20))["newly_unread_count"] == senders + pushes


async def offered_count(connection: Any, count: int) -> None:
    """Until the hub offers ``connection`` a status with that unread count (presence may be pushed around it)."""
    while (await connection.queue.get())["newly_unread_count"] != count:
        pass


async def test_users_who_connect_at_the_same_moment_each_get_their_pushes(settings: Settings) -> None:
    """A fresh API process's first connections arrive together (a restart's reconnect wave). Their users'
    channels must all be subscribed on the one pub/sub connection the hub listens on: subscribed concurrently,
    redis-py's pub/sub opened a connection per caller and kept only the last, so the other users' changes were
    published to connections nobody read (the unread benchmark once saw 49 of 1,000 pushes never arrive)."""
    from api.realtime import open_hub
    from api.resources import ApiResources

    resources = ApiResources.open(settings)
    hub = open_hub(settings, resources)
    users = [new_id() for _ in range(60)]
    for user in users:  # (sets known whole: a first status read would copy each from Cassandra, where the
        # changes below, written to Redis only, are not, and a copy landing after them erased them)
        await resources.redis.set(keys.unread_whole(user), "1")
    try:
        connections = await asyncio.gather(*(hub.join(user, detail=False) for user in users))
        for connection in connections:  # the current status, offered on joining
            assert (await asyncio.wait_for(connection.queue.get(), 10))["newly_unread_count"] == 0
        for user in users:  # a change as the unread processor makes it: the version, the set written, the ping
            await resources.redis.incr(keys.unread_version(user))
            await resources.redis.sadd(keys.unread_senders(user), new_id())
            await resources.redis.publish(keys.status_channel(settings.app_id, user), "1")
        pushed = await asyncio.gather(*(asyncio.wait_for(offered_count(c, 1), 10) for c in connections),
                                      return_exceptions=True)
        missed = [user for user, outcome in zip(users, pushed, strict=True) if isinstance(outcome, BaseException)]
        assert not missed, f"{len(missed)} of {len(users)} users were not pushed their change"
    finally:
        await hub.close()
        await resources.close()


async def test_a_join_that_failed_half_way_does_not_stop_the_users_later_pushes(settings: Settings) -> None:
    """Redis drops the hub's subscribe (restarting): that join fails, and must not stay registered, or the
    user's next connection is not their first, never subscribes, and gets no push until the process restarts."""
    from api.realtime import open_hub
    from api.resources import ApiResources

    resources = ApiResources.open(settings)
    hub = open_hub(settings, resources)
    user = new_id()
    subscribe = hub._pubsub.subscribe

    async def dropped(*channels: str) -> None:
        hub._pubsub.subscribe = subscribe  # only this once
        raise ConnectionError("Redis is restarting")

    hub._pubsub.subscribe = dropped
    await resources.redis.set(keys.unread_whole(user), "1")  # (no copy from Cassandra: see the test above)
    try:
        with pytest.raises(ConnectionError):
            await hub.join(user, detail=False)
        assert hub.connections == 0
        connection = await hub.join(user, detail=False)
        assert (await asyncio.wait_for(connection.queue.get(), 10))["newly_unread_count"] == 0
        await resources.redis.incr(keys.unread_version(user))  # (as a projection: a copy under way is refused)
        await resources.redis.sadd(keys.unread_senders(user), new_id())
        await resources.redis.publish(keys.status_channel(settings.app_id, user), "1")
        await asyncio.wait_for(offered_count(connection, 1), 10)
    finally:
        await hub.close()
        await resources.close()


# --- two loops handing partitions over ------------------------------------------------------------------------

#: shared with test_namespace: its topics are created once; the groups, ids and Redis marks here are this run's
HANDOVER_NAMESPACE = "it-ns"


class Observed:
    """An unread loop whose applied records (``process`` returned: durable) are counted, by the test's own eyes
    rather than the Redis marks (the run's worker marks the plain-named topics under the same processor name)."""

    def __init__(self, settings: Settings, resources: Resources) -> None:
        self.processor = UnreadProcessor(UnreadPairs(resources.session),
                                         UnreadSets(resources.redis, settings.app_id), resources.redis,
                                         resources.session)
        self.applied: set[tuple[str, int, int]] = set()
        process = self.processor.process

        async def observed(batch: list[Record], reject: Reject) -> None:
            await process(batch, reject)
            self.applied |= {(r.topic, r.partition, r.offset) for r in batch}

        self.processor.process = observed  # type: ignore[method-assign]
        self.loop = BatchLoop(settings, self.processor, resources.publisher, resources.codec)
        self.task = asyncio.create_task(self.loop.run(batch_max=1000))

    async def stop(self) -> None:
        self.loop.stop()
        await asyncio.wait_for(self.task, 30)


def unsent_partitions(settings: Settings) -> range:
    return range(catalog_topic("ON_MSG_UNSENT").partitions)


async def eventually(done: Any, timeout_s: float, what: str) -> None:
    """Re-check ``done()`` while the loops under test run on this event loop (a deadline, never a fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_loop_that_gets_partitions_back_reads_its_users_again_instead_of_what_it_remembered(
    settings: Settings,
) -> None:
    """A loop remembers its users' pairs between batches. A second loop joins, takes half of the partitions
    and applies read marks there, then leaves; the first gets the partitions back. Had it kept its memory,
    a duplicate of each read message would re-add every sender of the other half."""
    ns = settings.model_copy(update={"namespace": HANDOVER_NAMESPACE, "app_id": f"{settings.app_id}-handover"})
    ensure_topics(ns)
    seed_groups(ns, {f"{ns.app_id}.unread": TOPICS}, end_offsets(ns, TOPICS))
    users = [new_id() for _ in range(32)]  # over every partition
    sender = {user: new_id() for user in users}
    message = {user: new_id() for user in users}
    keys.use_namespace(HANDOVER_NAMESPACE)  # the loops' Redis keys and marks stay out of the run's worker's
    resources = Resources.open(ns)
    first = Observed(ns, resources)
    second: Observed | None = None

    async def publish_all(built: list[events.Event]) -> set[tuple[str, int, int]]:
        results = await asyncio.gather(*(resources.publisher.publish_async(event) for event in built))
        return {(r.topic, r.partition, r.offset) for r in results}

    def applied_by_any(records: set[tuple[str, int, int]]) -> bool:
        return records <= first.applied | (second.applied if second else set())

    try:
        await eventually(lambda: first.loop.joined, 60, "the first loop to join")
        unsent = await publish_all([events.message_unsent(src=sender[u], dest=u, msg_id=message[u]) for u in users])
        await eventually(lambda: applied_by_any(unsent), 60, "the messages applied by the first loop")

        second = Observed(ns, resources)
        both = [first.loop._ownership, second.loop._ownership]
        await eventually(lambda: all(o.assigned for o in both) and len(both[0].assigned | both[1].assigned)
                         == len(both[0].assigned) + len(both[1].assigned) == len(TOPICS) * len(unsent_partitions(ns)),
                         60, "the partitions split between the two loops")
        reads = await publish_all([events.messages_read(user_id=u, sender_id=sender[u], read_up_to_msg_id=message[u])
                                   for u in users])
        await eventually(lambda: applied_by_any(reads), 60, "the read marks applied")
        assert reads & second.applied and reads & first.applied  # both halves saw some
        await second.stop()

        again = await publish_all([events.message_unsent(src=sender[u], dest=u, msg_id=message[u]) for u in users])
        await eventually(lambda: again <= first.applied, 60, "the duplicates applied by the first loop alone")
        sets = UnreadSets(resources.redis, ns.app_id)
        assert {u: await sets.senders(u) for u in users} == {u: set() for u in users}
        stored = UnreadPairs(resources.session)
        assert {u: await stored.unread_of(u) for u in users} == {u: [] for u in users}
    finally:
        if second is not None and not second.task.done():
            await second.stop()
        await first.stop()
        await resources.close()
        keys.use_namespace(settings.namespace)


# --- the projection's two shapes -----------------------------------------------------------------------------

async def test_one_script_call_for_many_users_projects_and_pings_as_one_call_per_user_does(
    settings: Settings,
) -> None:
    """A single server takes a batch's users in a few script calls; a cluster one call per user (its keys are
    spread over slots). Same sets, same count, the same users pinged — on the real Redis, past one call's
    worth of users."""
    from photostream.domain.unread import PairMarks
    from sinks.unread import USERS_PER_CALL

    redis = async_client(settings)
    outcomes = []
    try:
        for one_user_per_call in (True, False):
            namespace = f"{settings.app_id}-shape-{new_id()}"
            sets = UnreadSets(redis, namespace, one_user_per_call=one_user_per_call)
            users = [new_id() for _ in range(USERS_PER_CALL + 10)]
            kept, gone, later = new_id(), new_id(), new_id()
            for user in users:
                await redis.sadd(keys.unread_senders(user), kept, gone)
            pairs = {}
            for i, user in enumerate(users):
                pairs[(user, kept)] = PairMarks("2", "1")  # still unread: no change
                if i % 2:
                    pairs[(user, gone)] = PairMarks("2", "3")  # read: leaves the set
                if i % 3 == 0:
                    pairs[(user, later)] = PairMarks("4", None)  # joins the set
            pubsub = redis.pubsub(ignore_subscribe_messages=True)
            await pubsub.psubscribe(keys.status_channel(namespace, "*"))
            before = _redis_now(await redis.time())
            changed = await sets.project(pairs)
            after = _redis_now(await redis.time())
            await redis.publish(keys.status_channel(namespace, "end"), "end")  # after every ping, on one connection
            pinged = set()
            stamps = []
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline, "the end marker did not arrive"
                message = await pubsub.get_message(timeout=1)
                if message is None:  # (also what the subscription's confirmation reads as)
                    continue
                owner = keys.status_channel_owner(message["channel"])
                if owner == "end":
                    break
                pinged.add(users.index(owner))
                stamps.append(applied_at(message["data"]))
            await pubsub.aclose()
            # each ping says when its script wrote the badge, on Redis's clock (the benchmark's "applied")
            assert stamps and all(stamp is not None and before <= stamp <= after for stamp in stamps), \
                (before, after, stamps[:3])
            members = [await redis.smembers(keys.unread_senders(u)) for u in users]
            outcomes.append((changed, pinged, [sorted(m - {kept, gone, later}) for m in members],
                             [(kept in m, gone in m, later in m) for m in members]))
    finally:
        await redis.aclose()
    per_user, many = outcomes
    assert per_user == many
    changed, pinged, strays, shapes = many
    expected = {i for i in range(len(shapes)) if i % 2 or i % 3 == 0}
    assert changed == len(expected) and pinged == expected
    assert all(not stray for stray in strays)
    assert shapes == [(True, not i % 2, i % 3 == 0) for i in range(len(shapes))]


def _redis_now(time_reply: tuple[int, int]) -> float:
    """Redis's ``TIME`` (seconds, microseconds) as epoch seconds."""
    seconds, micros = time_reply
    return seconds + micros / 1e6


class RecordingPublisher:
    """Keeps the presence transitions a tracker publishes (which topic and user, which status) in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def publish_async(self, event: events.Event) -> None:
        self.sent.append((event.value["user_id"], event.value["status"]))


async def test_a_reaper_takes_offline_a_user_whose_registry_expired_before_anyone_reaped_it(
    settings: Settings,
) -> None:
    """The registry of connections expires at twice the TTL; when no process reaped within that (every API
    process down a while, or a reaper thousands of users behind) the reaper found it empty, announced nothing,
    and forgot the user: online for good."""
    from api.realtime_presence import PresenceTracker

    redis, publisher = async_client(settings), RecordingPublisher()
    tracker = PresenceTracker(redis, publisher, ttl_s=30)  # type: ignore[arg-type]
    user = new_id()
    try:
        await tracker.joined(user, "conn-1")
        await redis.delete(keys.presence_connections(user))  # expired unreaped
        await redis.zadd(keys.presence_live(), {user: 0})  # and due
        await tracker.reap()
        assert publisher.sent == [(user, "online"), (user, "offline")]
        await tracker.reap()  # once: the user is no longer due, nor online
        await tracker.left(user)
        assert publisher.sent == [(user, "online"), (user, "offline")]
    finally:
        await redis.aclose()


def own_live_index() -> Any:
    """A live index of this test's own: every API process of the suite reaps the shared one, and would take
    (and announce through its own publisher) the users a test makes due."""
    name = keys.presence_live() + f":test-{new_id()}"
    return lambda: name


async def test_a_process_shutting_down_leaves_its_connections_in_pages(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every connection it holds goes; a user offline once their last connection here went, and not while one
    elsewhere still counts (pages of 2 here, to cross their edges)."""
    from api import realtime_presence
    from api.realtime_presence import PresenceTracker

    monkeypatch.setattr(realtime_presence, "LEAVES_PER_TRIP", 2)
    monkeypatch.setattr(keys, "presence_live", own_live_index())
    redis, publisher = async_client(settings), RecordingPublisher()
    tracker = PresenceTracker(redis, publisher, ttl_s=30)  # type: ignore[arg-type]
    users = [new_id() for _ in range(5)]
    elsewhere = users[0]
    try:
        for user in users:
            await tracker.joined(user, f"here-{user}")
        await tracker.joined(elsewhere, "another-process")
        publisher.sent.clear()
        await tracker.left_many([(user, f"here-{user}") for user in users])
        assert sorted(publisher.sent) == sorted((user, "offline") for user in users if user != elsewhere)
        assert await redis.zrange(keys.presence_connections(elsewhere), 0, -1) == ["another-process"]
    finally:
        await redis.aclose()


async def test_reapers_of_two_processes_split_a_crashed_process_s_users_and_take_each_offline_once(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each page of due users is claimed by one reaper (they used to reap every due user each), several round
    trips a page (a small page here, to cross its edges); a user who connects again while claimed stays
    known to the reapers."""
    from api import realtime_presence
    from api.realtime_presence import PresenceTracker

    monkeypatch.setattr(realtime_presence, "LEAVES_PER_TRIP", 7)
    monkeypatch.setattr(keys, "presence_live", own_live_index())  # the suite's API processes reap too
    redis, first, second = async_client(settings), RecordingPublisher(), RecordingPublisher()
    reaper_a = PresenceTracker(redis, first, ttl_s=30)  # type: ignore[arg-type]
    reaper_b = PresenceTracker(redis, second, ttl_s=30)  # type: ignore[arg-type]
    users = [new_id() for _ in range(40)]
    try:
        for user in users:
            await reaper_a.joined(user, f"conn-{user}")
        first.sent.clear()
        for user in users:  # their process died: its connections expired, and every user is due
            await redis.zadd(keys.presence_connections(user), {f"conn-{user}": 0})
            await redis.zadd(keys.presence_live(), {user: 0})
        claim, due = await reaper_a._due(keys=[keys.presence_live()], args=[10, reaper_a._ttl_ms])
        assert len(due) == 10
        back = due[0]  # claimed by a first page; the user connects again before it is reaped
        await reaper_b.joined(back, "conn-again")
        second.sent.clear()
        await reaper_a._reap_page(due, claim)
        counts = await asyncio.gather(reaper_a.reap(limit=10), reaper_b.reap(limit=10))
        assert sum(counts) == len(users) - len(due)  # no user reaped twice
        assert sorted(first.sent + second.sent) == sorted((u, "offline") for u in users if u != back)
        assert await redis.zscore(keys.presence_live(), back) is not None  # still live: its reaper will see it
        assert await reaper_a.reap() == 0
    finally:
        await redis.aclose()


async def test_a_heartbeat_over_several_calls_and_trips_refreshes_each_user_s_own_connections(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many users per script call, several calls per round trip (small numbers here, to cross both edges): each
    user's connections move to the beat's expiry, and only a user whose registry had been reaped while still
    connected is online again (announced once)."""
    from api import realtime_presence
    from api.realtime_presence import PresenceTracker

    monkeypatch.setattr(realtime_presence, "USERS_PER_BEAT", 2)
    monkeypatch.setattr(realtime_presence, "BEAT_CALLS_PER_TRIP", 2)
    redis, publisher = async_client(settings), RecordingPublisher()
    tracker = PresenceTracker(redis, publisher, ttl_s=30)  # type: ignore[arg-type]
    users = [new_id() for _ in range(9)]
    connections = {user: [f"conn-{i}-{j}" for j in range(1 + i % 3)] for i, user in enumerate(users)}
    reaped = {users[1], users[4], users[8]}  # first of a call, across a trip, the last alone in its call
    try:
        for user in users:
            await tracker.joined(user, connections[user][0])
        await redis.delete(*(keys.presence_connections(user) for user in reaped))
        publisher.sent.clear()
        await tracker.heartbeat(connections)
        assert sorted(publisher.sent) == sorted((user, "online") for user in reaped)
        for user in users:
            registered = await redis.zrange(keys.presence_connections(user), 0, -1, withscores=True)
            assert sorted(member for member, _ in registered) == connections[user]
            expiries = {score for _, score in registered} | {await redis.zscore(keys.presence_live(), user)}
            assert len(expiries) == 1, (user, expiries)  # the beat's expiry, for each connection and the index
    finally:
        await redis.delete(*(k for user in users for k in (keys.presence_connections(user),
                                                           keys.presence_clock(user), keys.presence_online(user))))
        await redis.zrem(keys.presence_live(), *users)
        await redis.aclose()


async def test_presence_hashes_apply_last_writer_wins_per_user_over_several_script_calls(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Many users per script call (two here, so five users cross calls): an older transition moves nothing, an
    equal one goes to offline, a newer one moves status and last-seen; the count says how many hashes moved."""
    from sinks import presence
    from sinks.presence import PresenceChange, PresenceHashes

    monkeypatch.setattr(presence, "USERS_PER_CALL", 2)
    redis = async_client(settings)
    hashes = PresenceHashes(redis, settings.app_id)
    older, equal, newer, fresh, same = (new_id() for _ in range(5))
    try:
        assert await hashes.apply([PresenceChange(u, "online", 100) for u in (older, equal, newer, same)]) == 4
        moved = await hashes.apply([PresenceChange(older, "offline", 50), PresenceChange(equal, "offline", 100),
                                    PresenceChange(newer, "offline", 150), PresenceChange(fresh, "online", 10),
                                    PresenceChange(same, "online", 100)])
        assert moved == 3  # equal, newer, fresh
        stored = {u: await redis.hgetall(keys.presence(u)) for u in (older, equal, newer, fresh, same)}
        assert stored[older] == {"status": "online", "changed_at": "100", "last_seen": "100"}
        assert stored[equal] == {"status": "offline", "changed_at": "100", "last_seen": "100"}
        assert stored[newer] == {"status": "offline", "changed_at": "150", "last_seen": "150"}
        assert stored[fresh] == {"status": "online", "changed_at": "10", "last_seen": "10"}
        assert stored[same] == stored[older]
    finally:
        await redis.delete(*(keys.presence(u) for u in (older, equal, newer, fresh, same)))
        await redis.aclose()


async def test_a_deleted_accounts_last_connection_leaving_publishes_no_presence(settings: Settings) -> None:
    """The socket of a deleted account closes after the purge; its "offline" made the presence processor write
    the deleted user's presence row and hash again."""
    from api.realtime_presence import PresenceTracker

    redis, publisher = async_client(settings), RecordingPublisher()
    tracker = PresenceTracker(redis, publisher, ttl_s=30)  # type: ignore[arg-type]
    user = new_id()
    try:
        await tracker.joined(user, "conn-1")
        await redis.set(keys.closed_account(user), "1", ex=60)  # DELETE /users/me
        await tracker.left(user, "conn-1")
        assert publisher.sent == [(user, "online")]
    finally:
        await redis.aclose()


async def test_a_copy_read_before_a_projection_is_refused(settings: Settings) -> None:
    """The API's background copy and the rebuild's repair write a set whole from what Cassandra said; one read
    before a projection landed would erase that projection's sender, and one read before the account's deletion
    would put its badge back: both are refused (the version moved)."""
    from photostream.domain.unread import PairMarks

    redis = async_client(settings)
    sets, user, leaver, a, b = UnreadSets(redis, settings.app_id), new_id(), new_id(), new_id(), new_id()
    try:
        _, version = await sets.live(user)
        await sets.project({(user, a): PairMarks("1", None)})  # lands after the copy read the version
        assert not await sets.fill(user, version, [])  # the copy, which missed a, is refused
        assert await sets.senders(user) == {a} and not await redis.exists(keys.unread_whole(user))
        _, version = await sets.live(user)
        assert await sets.fill(user, version, [a, b])
        assert await sets.senders(user) == {a, b} and await redis.exists(keys.unread_whole(user))
        _, version = await sets.live(leaver)  # a copy under way when the account is deleted (after a Redis loss:
        # no version yet, "0")
        await sets.clear([leaver])
        assert not await sets.fill(leaver, version, [a, b])  # it would have put the deleted user's badge back
        assert await sets.senders(leaver) == set() and not await redis.exists(keys.unread_whole(leaver))
    finally:
        for who in (user, leaver):
            await redis.delete(keys.unread_senders(who), keys.unread_whole(who), keys.unread_version(who))
        await redis.aclose()


async def test_a_copy_that_read_cassandra_before_the_durable_write_landed_loses_no_sender(
        settings: Settings) -> None:
    """The processor projects the badge while Cassandra writes the batch. A copy of the set (the API's, for a
    set not yet known whole, as a new user's is) that read the version after that projection and the pairs
    before the write landed is accepted by the version fence and drops the new sender; the projection the
    processor makes once the write is durable puts the sender back."""
    resources = Resources.open(settings)
    user, sender = new_id(), new_id()
    pairs, sets = UnreadPairs(resources.session), UnreadSets(resources.redis, settings.app_id)
    held, projected, release = UnreadPairs(resources.session), asyncio.Event(), asyncio.Event()
    durable_write, live_projection = held.write, sets.write

    async def write_when_released(changed: Any) -> None:
        await release.wait()
        await durable_write(changed)

    async def noting_projection(outcome: Any) -> int:
        changed = await live_projection(outcome)
        projected.set()
        return changed

    held.write = write_when_released  # type: ignore[method-assign]
    sets.write = noting_projection  # type: ignore[method-assign]
    processor = UnreadProcessor(held, sets, resources.redis, resources.session)
    message = Record("ON_MSG_UNSENT", 0, 0, user.encode(),
                     {"src": sender, "dest": user, "msg_id": new_id(), "occurred_at": now_ms()})

    def not_rejected(record: Record, error: Exception) -> None:
        raise AssertionError(f"rejected: {error}")

    try:
        batch = asyncio.ensure_future(processor.process([message], not_rejected))
        await asyncio.wait_for(projected.wait(), 30)
        assert await sets.senders(user) == {sender} and not batch.done()  # live before durable
        assert await sets.copy(pairs, user)  # the copy read Cassandra before the write: accepted ...
        assert await sets.senders(user) == set()  # ... and it dropped the sender
        release.set()
        await asyncio.wait_for(batch, 30)
        assert await sets.senders(user) == {sender}  # put back by the projection after the write
        assert await resources.redis.exists(keys.unread_whole(user))
        assert await pairs.unread_of(user) == [sender]
    finally:
        release.set()
        await resources.redis.delete(keys.unread_senders(user), keys.unread_whole(user), keys.unread_version(user))
        await resources.close()


def test_a_message_from_or_to_an_account_delivered_after_its_deletion_counts_nowhere(
        client: httpx.Client, settings: Settings, inbox: Inbox) -> None:
    """The purge read the badges once: a message from the deleted account delivered after it put them back into
    a badge for good (no profile, and no one left to clear it), and one to them stored a deleted account's badge
    again."""
    from sinks.cassandra import connect
    from tests.integration.test_accounts import PASSWORD, bearer, login, register

    account = register(client)
    leaver, friend, other = account["id"], new_id(), new_id()
    written_before = new_id()
    session = login(client, account["username"])
    deleted = client.request("DELETE", "/users/me", headers=bearer(session), json={"password": PASSWORD})
    assert deleted.status_code == 202, deleted.text
    inbox.unsent(leaver, friend, written_before)  # from them, delivered late
    inbox.unsent(friend, leaver)  # to them
    inbox.unsent(other, friend)
    inbox.settle()
    assert status(client, settings, friend, detail=True)["sender_ids"] == [other]
    cluster, cassandra = connect(settings)
    try:
        assert list(cassandra.execute("SELECT sender_id FROM unread_pairs WHERE user_id = %s", (leaver,))) == []
    finally:
        cluster.shutdown()


def test_a_deleted_account_s_late_message_counts_nowhere_after_redis_lost_the_revocations(
        client: httpx.Client, settings: Settings, inbox: Inbox) -> None:
    """After a flushed Redis the closed-account check read only Redis, found no ``auth:closed`` marker, and put
    the deleted sender into a badge for good. Then only an API request ever started the revocations' reload:
    the worker's own check starts it now, so its later batches ask Redis again."""
    from tests.integration.test_accounts import PASSWORD, bearer, login, register

    account = register(client)
    leaver, friend = account["id"], new_id()
    session = login(client, account["username"])
    deleted = client.request("DELETE", "/users/me", headers=bearer(session), json={"password": PASSWORD})
    assert deleted.status_code == 202, deleted.text
    redis = sync_client(settings)
    redis.delete(keys.closed_account(leaver), keys.revocations_loaded())  # what a flush does to them
    inbox.unsent(leaver, friend)
    inbox.settle(redis)
    # before any API request: the processor's check answered from Cassandra and started the reload
    wait_for(lambda: (redis.exists(keys.closed_account(leaver)), redis.exists(keys.revocations_loaded())),
             lambda found: all(found), 30, "the worker to copy the revocations back into Redis")
    assert status(client, settings, friend, detail=True)["sender_ids"] == []


def test_an_account_s_deletion_takes_away_whom_it_wrote_to(
        client: httpx.Client, settings: Settings, inbox: Inbox) -> None:
    """The purge marked the deleted sender's messages read and left every pair: whom they wrote and when (the
    message ids carry the time), kept for good, though the deletion promised the index of what they sent."""
    from sinks.cassandra import connect
    from tests.integration.test_accounts import PASSWORD, bearer, login, register

    account = register(client)
    leaver, unread_by, read_by = account["id"], new_id(), new_id()
    inbox.unsent(leaver, unread_by)
    last = inbox.unsent(leaver, read_by)
    inbox.read(read_by, leaver, last)
    inbox.settle()
    assert status(client, settings, unread_by, detail=True)["sender_ids"] == [leaver]
    session = login(client, account["username"])
    deleted = client.request("DELETE", "/users/me", headers=bearer(session), json={"password": PASSWORD})
    assert deleted.status_code == 202, deleted.text
    cluster, cassandra = connect(settings)
    try:
        wait_for(lambda: list(cassandra.execute("SELECT user_id FROM unread_pairs WHERE sender_id = %s", (leaver,))),
                 lambda rows: rows == [], 60, "the deleted account's pairs to go")
    finally:
        cluster.shutdown()
    # the badge follows: the purge projects Redis after its durable delete, so it may be a moment behind
    assert wait_for(lambda: status(client, settings, unread_by, detail=True)["sender_ids"], lambda ids: ids == [],
                    30, "the deleted sender to leave the badge") == []
