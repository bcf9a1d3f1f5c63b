"""Paced offset commits: one request per interval at most, carrying the latest offset of every applied partition."""

from __future__ import annotations

from typing import Any

import pytest

from streams.engine.commits import PacedCommits
from tests.unit.test_batch_loop import FakeMessage as Message


class RecordingConsumer:
    def __init__(self) -> None:
        self.commits: list[dict[tuple[str, int], int]] = []

    def commit(self, offsets: list[Any]) -> None:
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _paced() -> tuple[PacedCommits, RecordingConsumer, Clock]:
    consumer, clock = RecordingConsumer(), Clock()
    return PacedCommits(consumer.commit, every_s=0.05, clock=clock), consumer, clock


def test_batches_within_an_interval_share_one_commit_of_their_latest_offsets() -> None:
    commits, consumer, clock = _paced()
    commits.add([Message("t", 0, 10, b""), Message("t", 1, 5, b"")])  # the first is sent at once
    clock.now += 0.01
    commits.add([Message("t", 0, 11, b""), Message("t", 0, 12, b"")])
    clock.now += 0.01
    commits.add([Message("t", 1, 6, b"")])
    assert consumer.commits == [{("t", 0): 11, ("t", 1): 6}]
    assert commits.due_in() == pytest.approx(0.03)  # the loop polls no longer than this

    clock.now += 0.03
    commits.send_due()  # (what the consume thread does after every poll)
    assert consumer.commits[1:] == [{("t", 0): 13, ("t", 1): 7}]
    assert commits.due_in() is None
    commits.send_due()
    assert len(consumer.commits) == 2  # nothing waits: no request


def test_a_commit_is_never_sent_before_its_interval_however_many_batches_finish() -> None:
    commits, consumer, clock = _paced()
    for offset in range(400):  # a live processor's batches at 5,000 events/s for one second
        commits.add([Message("t", 0, offset, b"")])
        clock.now += 0.0025
    assert len(consumer.commits) == 20
    commits.flush()
    assert consumer.commits[-1] == {("t", 0): 400}  # nothing applied is left uncommitted at close


def test_offsets_of_partitions_that_moved_are_not_committed_by_their_former_owner() -> None:
    commits, consumer, clock = _paced()
    commits.add([Message("t", 0, 1, b"")])
    commits.add([Message("t", 0, 2, b""), Message("t", 1, 8, b"")])
    commits.forget({("t", 1), ("t", 3)})
    clock.now += 1
    commits.send_due()
    assert consumer.commits == [{("t", 0): 2}, {("t", 0): 3}]
