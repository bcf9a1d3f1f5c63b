"""A Redis that records what ``sinks.offsets.advance_all`` sends it, in order (no server)."""

from __future__ import annotations

from typing import Any


class Pipeline:
    def __init__(self, sent: list[tuple[Any, ...]]) -> None:
        self.sent = sent

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def zadd(self, key: str, mapping: dict[str, int]) -> None:
        self.sent.append(("derived", key, *mapping.items()))

    def zremrangebyrank(self, *args: Any) -> None:
        return None

    def expire(self, *args: Any) -> None:
        return None

    def eval(self, script: str, numkeys: int, key: str, partition: str, offset: str) -> None:
        self.sent.append(("mark", key, int(partition), int(offset)))

    async def execute(self) -> None:
        return None


class Redis:
    """``sent``: shared with the test's other fakes, so their order shows (data before the marks)."""

    def __init__(self, sent: list[tuple[Any, ...]] | None = None) -> None:
        self.sent: list[tuple[Any, ...]] = [] if sent is None else sent

    def pipeline(self, transaction: bool = True) -> Pipeline:
        return Pipeline(self.sent)
