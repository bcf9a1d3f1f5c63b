"""The notifications processor on the real stores, batch by batch: an approval's "accepted your follow request"
and the unfollow that withdraws it come from two topics, so either may be applied first, in one batch or in two;
the outcome must be the same (the fault tests found the approval applied after the unfollow standing for good:
only standing kinds' adds were checked against a stored retraction, and this one is not standing)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from photostream.settings import Settings
from producers.ids import new_id, now_ms
from sinks.notifications import NotificationStore
from streams.batch_tasks import build_processors
from streams.engine.records import Record
from streams.resources import Resources


def _record(topic: str, offset: int, **value: Any) -> Record:
    return Record(topic, 0, offset, str(value["follower_id"]).encode(), {"event_id": new_id(), **value})


def _approved_then_unfollowed(requester: str, owner: str) -> dict[str, Record]:
    """As the API publishes them: the request, then on approval the follow and the approval; the unfollow later."""
    at, pair = now_ms(), {"follower_id": requester, "followee_id": owner}
    return {"request": _record("follow-requested", 1, occurred_at=at - 1, action="request", **pair),
            "follow": _record("follow-changed", 2, occurred_at=at, action="follow", **pair),
            "approve": _record("follow-requested", 3, occurred_at=at, action="approve", **pair),
            "unfollow": _record("follow-changed", 4, occurred_at=at + 1, action="unfollow", **pair)}


#: batches, in the order applied (the two topics are not ordered against each other)
ARRANGEMENTS = {
    "in log order, one batch each": [["request"], ["follow"], ["approve"], ["unfollow"]],
    "the unfollow applied before the approval": [["request"], ["follow"], ["unfollow"], ["approve"]],
    "all in one batch, the approval last": [["request", "follow", "unfollow", "approve"]],
    "the approval with the unfollow, after it": [["request"], ["follow"], ["unfollow", "approve"]],
}


@pytest.fixture()
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    opened = Resources.open(settings)
    yield opened
    await opened.close()


def _refuse(record: Record, error: Exception) -> None:
    raise AssertionError(f"rejected: {error}")


@pytest.mark.parametrize("arrangement", list(ARRANGEMENTS))
async def test_an_unfollow_withdraws_accepted_whichever_is_applied_first(
        settings: Settings, resources: Resources, arrangement: str) -> None:
    [processor] = build_processors(settings, resources, ["notifications"])
    requester, owner = new_id(), new_id()
    records = _approved_then_unfollowed(requester, owner)
    for batch in ARRANGEMENTS[arrangement]:
        await processor.process([records[name] for name in batch], _refuse)
    listed = await NotificationStore(resources.session).page(requester, None, 50)
    assert [n for n in listed if n.kind == "follow_accepted"] == []
