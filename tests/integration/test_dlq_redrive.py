"""`photostream dlq`: a DLQ's records counted, and sent back to their source topic once, unchanged, on the real
broker. In a namespace of its own (its topics are reused by later runs; no worker reads them), so redriving
its whole DLQ touches no other test's records; a drain first marks what earlier runs left."""

from __future__ import annotations

import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from photostream import dlq_redrive
from photostream.contracts.codec import DecodeError
from photostream.dlq_redrive import REDRIVEN_FROM, redrive, summarise
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topic_ranges import watermarks
from photostream.topics_admin import ensure_topics
from producers.dlq import PoisonRecord, dead_letter_many
from producers.ids import new_id
from producers.publisher import Publisher

TOPIC = "like-changed"
PHOTOSTREAM = str(Path(sys.executable).parent / "photostream")


@pytest.fixture(scope="module")
def dlq_settings(settings: Settings) -> Settings:
    # one app id for every run: its redrive mark carries over, so a run's drain sends only what the last left
    namespaced = settings.model_copy(update={"namespace": "it-dlq", "app_id": "photostream-it-dlq"})
    ensure_topics(namespaced)
    return namespaced


def ends(settings: Settings, topic: str) -> dict[int, int]:
    physical = settings.topic_names.physical(topic)
    consumer = Consumer(client_config(settings, **{"group.id": f"test-ends-{uuid.uuid4()}"}))
    try:
        partitions = list(consumer.list_topics(physical, timeout=10).topics[physical].partitions)
        return {p: high for p, (_, high) in watermarks(consumer, physical, partitions).items()}
    finally:
        consumer.close()


def records_since(settings: Settings, topic: str, since: dict[int, int]) -> list[Message]:
    """Every record of ``topic`` from ``since`` to its current end."""
    physical, until = settings.topic_names.physical(topic), ends(settings, topic)
    consumer = Consumer(client_config(settings, **{"group.id": f"test-read-{uuid.uuid4()}",
                                                   "enable.auto.commit": False,  # (no group left behind)
                                                   "fetch.queue.backoff.ms": 10}))
    found: list[Message] = []
    try:
        wanted = {p for p in until if until[p] > since.get(p, 0)}
        consumer.assign([TopicPartition(physical, p, since.get(p, 0)) for p in wanted])
        while wanted:
            for message in consumer.consume(100, 5.0):
                assert message.error() is None, message.error()
                found.append(message)
                if (message.offset() or 0) + 1 >= until[message.partition() or 0]:
                    wanted.discard(message.partition() or 0)
        return found
    finally:
        consumer.close()


def test_parked_records_go_back_once_unchanged_and_filters_pick_them(dlq_settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    redrive(dlq_settings, TOPIC)  # what earlier runs parked is marked as handled
    keys = [new_id().encode() for _ in range(4)]
    at = random.randrange(10**12)  # source coordinates of this run's own (a source record is parked once per kind)
    values: list[bytes | None] = [b"\x00junk-0", b"\x00junk-1", None]  # a null record (a tombstone) stays null
    poison = [(PoisonRecord(TOPIC, 0, at + i, keys[i], values[i], [("trace", b"t-%d" % i)]), DecodeError("not avro"))
              for i in range(3)]  # each with a header of its own, which goes back with it
    with Publisher(dlq_settings) as publisher:
        dead_letter_many(publisher, poison, "popularity").result(timeout=30)
        # the same source record parked by a second processor, and one parked for another reason
        dead_letter_many(publisher, poison[:1], "notifications").result(timeout=30)
        dead_letter_many(publisher, [(PoisonRecord(TOPIC, 1, at, keys[3], b"\x00other"), KeyError("post_id"))],
                         "popularity").result(timeout=30)

    counted = summarise(dlq_settings, TOPIC)
    assert counted.parked[("popularity", "DecodeError")] >= 3 and counted.parked[("popularity", "KeyError")] >= 1

    before = ends(dlq_settings, TOPIC)
    dry = redrive(dlq_settings, TOPIC, error_class="DecodeError", dry_run=True)
    assert (dry.sent, dry.repeated, dry.skipped) == (3, 1, 1)
    assert ends(dlq_settings, TOPIC) == before  # a dry run sends nothing and moves no mark

    monkeypatch.setattr(dlq_redrive, "CHUNK", 2)  # three records: two chunks, the mark moved after each
    run = redrive(dlq_settings, TOPIC, error_class="DecodeError")
    assert (run.sent, run.repeated, run.skipped) == (3, 1, 1)
    back = records_since(dlq_settings, TOPIC, before)
    assert {(m.key(), m.value()) for m in back} == {(keys[i], values[i]) for i in range(3)}
    assert all(dict(m.headers() or [])[REDRIVEN_FROM] for m in back)  # where each came from
    assert {m.key(): dict(m.headers() or []).get("trace") for m in back} == {keys[i]: b"t-%d" % i for i in range(3)}

    again = redrive(dlq_settings, TOPIC)  # the mark moved: nothing is sent twice
    assert (again.sent, sum(again.parked.values())) == (0, 0)

    before = ends(dlq_settings, TOPIC)
    skipped = redrive(dlq_settings, TOPIC, error_class="KeyError", from_beginning=True)
    assert skipped.sent >= 1
    assert keys[3] in {m.key() for m in records_since(dlq_settings, TOPIC, before)}


def test_the_command_reports_and_refuses_an_unknown_topic(dlq_settings: Settings, test_env: dict[str, str]) -> None:
    env = test_env | {"PHOTOSTREAM_NAMESPACE": "it-dlq", "PHOTOSTREAM_APP_ID": dlq_settings.app_id}
    with Publisher(dlq_settings) as publisher:  # its own parked record: the typo refusal names what is there
        poison = PoisonRecord(TOPIC, 0, random.randrange(10**12), new_id().encode(), b"\x00junk")
        dead_letter_many(publisher, [(poison, DecodeError("not avro"))], "popularity").result(timeout=30)

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PHOTOSTREAM, "dlq", *args], capture_output=True, text=True, timeout=120, env=env)

    summary = command("summary", TOPIC + ".dlq")  # the DLQ's own name names it too
    assert summary.returncode == 0 and f"{TOPIC}.dlq: " in summary.stdout, summary.stderr
    dry = command("redrive", TOPIC, "--dry-run")
    assert dry.returncode == 0 and "would be sent" in dry.stdout, dry.stderr
    unknown = command("redrive", "no-such-topic")
    assert unknown.returncode == 2 and "unknown topic 'no-such-topic'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    # a filter nothing was parked under (a typo) is refused, naming what is there: it moved the mark past all
    for option, typo in (("--processor", "popularty"), ("--error-class", "DecodeErorr")):
        mistyped = command("redrive", TOPIC, option, typo)
        assert mistyped.returncode == 2 and f"{option} {typo}: no record" in mistyped.stderr, mistyped.stderr
        assert "popularity" in mistyped.stderr or "DecodeError" in mistyped.stderr


def test_the_broker_keeps_the_redrive_s_place_as_long_as_the_dlq_keeps_records(dlq_settings: Settings) -> None:
    """The redrive's place is a memberless group's committed offsets, which the broker's default retention (7
    days) deleted: a redrive a quiet week later sent every record of the 30-day DLQ again."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    from photostream.contracts.catalog import DLQ_CONFIG

    admin = AdminClient(client_config(dlq_settings))
    broker = admin.list_topics(timeout=10).brokers
    resource = ConfigResource(ConfigResource.Type.BROKER, str(next(iter(broker))))
    config = admin.describe_configs([resource])[resource].result(10)
    assert int(config["offsets.retention.minutes"].value) * 60_000 > int(DLQ_CONFIG["retention.ms"])
