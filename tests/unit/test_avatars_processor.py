"""The avatars processor without a CDN: the change is applied and marked purged, and no purge is attempted."""

from __future__ import annotations

from producers.ids import new_id
from sinks.avatars import Avatar
from sinks.cdn_purge import CdnPurger
from streams.avatars import PURGES, AvatarsProcessor
from streams.engine.records import Record
from tests.unit.counting_fakes import CountingRedis

HASH = "a" * 64


class Directory:
    """``sinks.avatars.AvatarDirectory`` in memory, for one registered user."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.avatar = Avatar(user_id, None, 0, 0)

    async def hash_of(self, user_id: str) -> str | None:
        return HASH if user_id == self.user_id else None

    async def lookup(self, email_hash: str) -> Avatar | None:
        return self.avatar if email_hash == HASH else None

    async def activate(self, email_hash: str, image_id: str | None, at_ms: int) -> None:
        self.avatar = Avatar(self.user_id, image_id, at_ms, self.avatar.purged_at)

    async def mark_purged(self, email_hash: str, at_ms: int) -> None:
        self.avatar = Avatar(self.user_id, self.avatar.image_id, self.avatar.avatar_at, at_ms)


async def test_without_a_purge_endpoint_the_switch_applies_and_nothing_is_sent() -> None:
    user, image = new_id(), new_id()
    directory, redis = Directory(user), CountingRedis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]  # the offset mark script
    purger = CdnPurger(None, "PURGE", 1.0)
    assert not purger.configured
    counts = {o: PURGES.labels(o)._value.get() for o in ("unconfigured", "purged", "failed")}
    record = Record("profile-updated", 0, 7, None, {"user_id": user, "avatar_image_id": image, "occurred_at": 1000})
    rejected: list[Exception] = []
    await AvatarsProcessor(directory, purger, redis).process(  # type: ignore[arg-type]
        [record], lambda _, exc: rejected.append(exc))
    assert rejected == []
    assert directory.avatar == Avatar(user, image, 1000, 1000)  # switched, and the change counts as purged
    after = {o: PURGES.labels(o)._value.get() for o in ("unconfigured", "purged", "failed")}
    assert after == counts | {"unconfigured": counts["unconfigured"] + 1}  # no purge attempted, none failed
