"""The projectors on the batch loop: a batch reaches the store in bounded slices, the marks move after the data,
and a record the store refuses is dead-lettered alone (the loop's isolation, with the projector's own sink)."""

from __future__ import annotations

from typing import Any

from streams import projector
from streams.engine.records import Record
from tests.unit.offsets_fakes import Redis


class Sink:
    """A store that refuses a record with ``"bad"`` in it, whole slices included (as a driver refuses a value)."""

    def __init__(self, sent: list[tuple[Any, ...]]) -> None:
        self.sent = sent

    async def apply_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        if any(event.get("bad") for _, event in events):
            raise ValueError("the store refuses this value")
        self.sent.append(("slice", [event["id"] for _, event in events]))


def records(count: int, bad: int | None = None) -> list[Record]:
    return [Record("post-created", i % 2, i, b"k", {"id": i, "bad": i == bad}) for i in range(count)]


async def test_a_backlog_s_batch_reaches_the_store_in_slices_then_the_marks_move_once_per_partition() -> None:
    sent: list[tuple[Any, ...]] = []
    posts = projector.PostsProjector(Sink(sent), Redis(sent))
    await posts.process(records(2_500), lambda record, error: None)
    slices = [entry[1] for entry in sent if entry[0] == "slice"]
    assert [len(s) for s in slices] == [1_000, 1_000, 500] and [i for s in slices for i in s] == list(range(2_500))
    marks = [entry for entry in sent if entry[0] == "mark"]
    assert sent[-len(marks):] == marks  # after every slice
    assert sorted((partition, offset) for _, _, partition, offset in marks) == [(0, 2_498), (1, 2_499)]


async def test_a_refused_record_fails_its_batch_whole_so_the_loop_can_isolate_it() -> None:
    """The loop (``BatchLoop._process_resiliently``) re-applies a batch that raised a record-shaped error one record
    at a time; what matters here is that nothing of the refused batch was marked applied."""
    sent: list[tuple[Any, ...]] = []
    posts = projector.PostsProjector(Sink(sent), Redis(sent))
    try:
        await posts.process(records(10, bad=4), lambda record, error: None)
    except ValueError:
        pass
    else:
        raise AssertionError("the refusal must reach the loop")
    assert sent == []
