"""The producer SDK and the publish/tail commands against the real broker."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishError, PublishTimeoutError, RawRecord
from tests.integration.kafka_read import read_event, read_message

PHOTOSTREAM = str(Path(sys.executable).parent / "photostream")


def test_publish_returns_where_the_record_landed_and_it_decodes(publisher: Publisher, settings: Settings) -> None:
    post = events.post_created(author_id=new_id(), caption="sdk #test", image_ids=[new_id()])
    result = publisher.publish(post)
    assert result.topic == "post-created" and result.offset >= 0
    message = read_message(settings, result.topic, result.partition, result.offset)
    assert message.key() == post.key.encode()
    assert read_event(settings, "post-created", result.partition, result.offset)["post_id"] == post.value["post_id"]


def test_events_of_one_key_share_a_partition_in_order(publisher: Publisher) -> None:
    author = new_id()
    results = [publisher.publish(events.post_created(author_id=author, caption=str(i), image_ids=[new_id()]))
               for i in range(5)]
    assert len({r.partition for r in results}) == 1
    assert [r.offset for r in results] == sorted(r.offset for r in results)


async def test_async_publish(publisher: Publisher, settings: Settings) -> None:
    results = await asyncio.gather(*[
        publisher.publish_async(events.like_changed(post_id=new_id(), user_id=new_id(), action="like"))
        for _ in range(10)
    ])
    assert all(r.offset >= 0 for r in results)
    assert read_event(settings, "like-changed", results[0].partition, results[0].offset)["action"] == "like"


def test_a_broker_that_never_acknowledges_fails_the_publish() -> None:
    dead = Settings(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=1.5)
    publisher = Publisher(dead)
    with pytest.raises(PublishTimeoutError):
        publisher.publish(events.post_deleted(post_id=new_id(), author_id=new_id()))
    publisher.close()


def test_a_raw_batch_the_broker_never_acknowledges_fails_as_a_whole() -> None:
    """The DLQ's lane reports failures only: its batch must still fail when nothing is acknowledged."""
    dead = Settings(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=1.5)
    publisher = Publisher(dead)
    batch = [RawRecord("like-changed.dlq", b"k%d" % i, b"\x00junk", [("dlq.error.class", b"DecodeError")])
             for i in range(3)]
    with pytest.raises(PublishError):  # a timeout (PublishTimeoutError) or the records' failed deliveries
        publisher.submit_raw_many(batch).result(timeout=30)
    publisher.close()


def test_publish_command_reports_each_line_and_sends_the_good_ones(settings: Settings) -> None:
    good = {"post_id": new_id(), "author_id": new_id()}
    lines = "\n".join([
        json.dumps(good),
        json.dumps({"post_id": new_id()}),  # author_id missing
        "{not json",
        json.dumps({**good, "post_id": 7}),  # wrong type
    ])
    run = subprocess.run([PHOTOSTREAM, "publish", "post-deleted"], input=lines, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1
    out = run.stdout.splitlines()  # one line per input line, in input order
    assert out[0].startswith("line 1: partition ")
    assert out[1].startswith("line 2: error: author_id")
    assert out[2].startswith("line 3: error: invalid JSON")
    assert out[3].startswith("line 4: error: post_id")
    partition, offset = int(out[0].split()[3]), int(out[0].split()[5])
    assert read_event(settings, "post-deleted", partition, offset)["post_id"] == good["post_id"]


def test_publish_command_carries_on_past_a_line_the_broker_refuses_or_that_is_not_unicode(
        settings: Settings) -> None:
    """A line too large for the broker (refused before it is sent, naming its field), or with a lone surrogate
    (valid JSON, no UTF-8) in a value or a field name, is that line's error: each stopped the command with a
    traceback, and the lines after it went unreported."""
    def upload(content_type: str) -> str:  # (a field without a length rule: only the broker's limit bounds it)
        user, image = new_id(), new_id()
        return json.dumps({"image_id": image, "user_id": user, "object_key": f"photos/{user}/{image}",
                           "content_type": content_type, "size_bytes": 1})
    user, image = new_id(), new_id()
    lines = "\n".join([upload("image/jpeg"), upload("x" * 2_000_000),
                        '{"image_id": "' + image + '", "user_id": "' + user + '", "object_key": "photos/' + user +
                        "/" + image + '", "content_type": "bad \\ud800 text", "size_bytes": 1}',
                        '{"\\ud800": 1}',  # a field *name* with no UTF-8 form: its report crashed the command
                        upload("image/still-sent")])
    run = subprocess.run([PHOTOSTREAM, "publish", "photo-uploaded"], input=lines, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    out = run.stdout.splitlines()
    assert [line.split(":")[0] for line in out] == ["line 1", "line 2", "line 3", "line 4", "line 5"]
    assert "partition" in out[0] and "error" in out[1] and out[2].startswith("line 3: error: content_type")
    assert out[3].startswith("line 4: error: ")
    partition, offset = int(out[4].split()[3]), int(out[4].split()[5])
    assert read_event(settings, "photo-uploaded", partition, offset)["content_type"] == "image/still-sent"


@pytest.mark.parametrize("topic", ["no-such-topic", "like-changed.dlq"])
def test_publish_and_tail_refuse_a_topic_that_takes_no_events_in_one_line(topic: str) -> None:
    for command in (["publish", topic], ["tail", topic, "--idle-timeout", "1"]):
        if command[0] == "tail" and topic.endswith(".dlq"):
            continue  # a DLQ is tailed (its records show their headers)
        run = subprocess.run([PHOTOSTREAM, *command], input="{}", capture_output=True, text=True, timeout=60)
        assert run.returncode == 2, run.stdout + run.stderr
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_tail_command_decodes_to_json_lines(publisher: Publisher) -> None:
    event = events.mute_changed(actor_id=new_id(), target_id=new_id(), action="on")
    publisher.publish(event)
    run = subprocess.run([PHOTOSTREAM, "tail", "mute-changed", "--from-beginning", "--idle-timeout", "3"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    decoded = [json.loads(line) for line in run.stdout.splitlines()]
    assert any(d.get("event_id") == event.event_id and d["action"] == "on" for d in decoded)


def test_the_kafka_tools_say_in_one_line_that_a_topic_is_missing_or_the_broker_is_down() -> None:
    """A namespace whose topics were never created: `tail` waited on nothing forever and `dlq summary` counted 0
    records (exit 0). A broker out of reach: ~190 librdkafka lines came before the one-line answer."""
    import os

    absent = dict(os.environ) | {"PHOTOSTREAM_NAMESPACE": f"never-made-{uuid.uuid4().hex[:8]}"}
    down = dict(os.environ) | {"PHOTOSTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                               "PHOTOSTREAM_KAFKA_ADMIN_TIMEOUT_S": "2"}  # (10 s each by default)
    for env, status, said in ((absent, 2, "does not exist on the broker"), (down, 3, "the broker did not answer")):
        for command in (["tail", "like-changed", "--max", "1"], ["dlq", "summary", "like-changed"]):
            run = subprocess.run([PHOTOSTREAM, *command], env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == status, run.stdout + run.stderr
            assert run.stderr.strip().splitlines() == [run.stderr.strip()] and said in run.stderr, run.stderr
