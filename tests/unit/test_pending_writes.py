"""Which users a write is remembered for (``api.pending_writes``): every user the event names."""

from __future__ import annotations

import pytest

from api.pending_writes import users_of
from producers import events
from producers.ids import new_id


def test_a_write_is_about_every_user_it_names() -> None:
    a, b, post, image = new_id(), new_id(), new_id(), new_id()
    assert users_of(events.follow_changed(follower_id=a, followee_id=b, action="follow")) == {a, b}
    assert users_of(events.block_changed(actor_id=a, target_id=b, action="on")) == {a, b}
    assert users_of(events.photo_tag_changed(post_id=post, image_id=image, tagger_id=a, tagged_id=b,
                                             action="add", x=0.1, y=0.2)) == {a, b}
    assert users_of(events.like_changed(post_id=post, user_id=a, action="like")) == {a}


class LockRedis:
    """Just enough of Redis for :func:`one_at_a_time`: SET NX and the release script."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def set(self, key: str, value: str, nx: bool, px: int) -> bool:
        if key in self.values:
            return False
        self.values[key] = value
        return True

    async def eval(self, _script: str, _n: int, key: str, token: str) -> int:
        return int(self.values.pop(key) == token) if self.values.get(key) == token else 0


async def test_a_strict_decision_waits_for_a_holder_past_the_settle_bound() -> None:
    """Profile edits: the holder may spend the whole settle bound inside the lock, and waiters that went ahead
    unlocked at that bound all read the same profile (an account set private turned public)."""
    import asyncio
    from types import SimpleNamespace

    from api.pending_writes import one_at_a_time

    resources, settings = SimpleNamespace(redis=LockRedis()), SimpleNamespace(read_your_writes_timeout_s=0.05)
    order: list[str] = []

    async def decide(name: str, hold_s: float, strict: bool) -> None:
        async with one_at_a_time(resources, settings, "lock", strict=strict):
            order.append(f"{name} in")
            await asyncio.sleep(hold_s)  # a slow settle, past the 0.05 s bound
            order.append(f"{name} out")

    first = asyncio.create_task(decide("first", 0.3, strict=True))
    await asyncio.sleep(0.01)
    await decide("second", 0, strict=True)
    await first
    assert order == ["first in", "first out", "second in", "second out"]

    order.clear()  # not strict: past the bound it goes ahead (a photo tag decision, as before)
    first = asyncio.create_task(decide("first", 0.3, strict=False))
    await asyncio.sleep(0.01)
    await decide("second", 0, strict=False)
    await first
    assert order == ["first in", "second in", "second out", "first out"]


async def test_a_strict_decision_that_never_gets_the_lock_is_a_503(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from api import pending_writes
    from api.errors import ApiError

    monkeypatch.setattr(pending_writes, "LOCK_TTL_S", 0.05)
    redis = LockRedis()
    redis.values["lock"] = "someone else"
    with pytest.raises(ApiError) as refused:
        async with pending_writes.one_at_a_time(SimpleNamespace(redis=redis), SimpleNamespace(), "lock",
                                                strict=True):
            pass
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "1"}


class RememberingRedis:
    """Redis as :func:`settle` reads it: one remembered follow-changed write of each user."""

    def pipeline(self, transaction: bool) -> RememberingRedis:
        self.users = 0
        return self

    async def __aenter__(self) -> RememberingRedis:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def hgetall(self, key: str) -> None:
        self.users += 1

    async def execute(self) -> list[dict[str, str]]:
        return [{"follow-changed:2": "41"} for _ in range(self.users)]


async def test_a_decision_whose_writes_are_not_applied_within_the_bound_is_a_503_not_a_guess(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follow sent after a block, with the processors 5 s behind, went ahead on the state before the block
    (and outlived it): past the bound the decision is refused, with Retry-After."""
    from types import SimpleNamespace

    import api.pending_writes as pending_writes
    from api.errors import ApiError

    waited: list[tuple[str, int, int]] = []

    async def never_applied(_redis: object, token: object, timeout_s: float, _waits: object) -> bool:
        waited.append((token.topic, token.partition, token.offset))  # type: ignore[attr-defined]
        return False

    monkeypatch.setattr(pending_writes, "wait_applied", never_applied)
    resources, settings = SimpleNamespace(redis=RememberingRedis()), SimpleNamespace(read_your_writes_timeout_s=5)
    with pytest.raises(ApiError) as refused:
        await pending_writes.settle(resources, settings, [new_id(), new_id()], pending_writes.FOLLOWING)
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "5"}
    assert waited == [("follow-changed", 2, 41)]
    # a topic the decision does not read is not waited for: it decides at once, on what it read before (False:
    # nothing was waited for, so nothing needs reading again)
    assert await pending_writes.settle(resources, settings, [new_id()], pending_writes.POSTING) is False
    assert waited == [("follow-changed", 2, 41)]


async def test_past_the_bound_a_target_hidden_from_the_caller_is_its_404_not_a_503(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 503 for a private account's post and an immediate 404 for a random id told a stranger the post exists:
    past the bound, the decision first asks whether the target is hidden on the state as it is."""
    from types import SimpleNamespace

    import api.pending_writes as pending_writes
    from api.errors import ApiError

    async def never_applied(_redis: object, _token: object, _timeout_s: float, _waits: object) -> bool:
        return False

    monkeypatch.setattr(pending_writes, "wait_applied", never_applied)
    resources, settings = SimpleNamespace(redis=RememberingRedis()), SimpleNamespace(read_your_writes_timeout_s=5)

    async def hidden() -> ApiError | None:
        return ApiError(404, "not_found", "no such post", "post_id")

    async def visible() -> ApiError | None:
        return None

    for check, status in ((hidden, 404), (visible, 503)):
        with pytest.raises(ApiError) as refused:
            await pending_writes.settle(resources, settings, [new_id()], pending_writes.FOLLOWING,
                                        unless_hidden=check)
        assert refused.value.status == status
