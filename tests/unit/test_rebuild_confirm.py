"""`rebuild --check` on a live stream: a difference is reported only if it is still there when read again; a
repair that a projection races is compared again and retried, never forced."""

from __future__ import annotations

import asyncio

from photostream.rebuild import CONFIRMING_READS, REPAIR_ATTEMPTS, RebuildReport, fenced_repair, persisting


class Views:
    """Two sides of each key that a comparison reads: ``settle_after`` reads later, the sides agree."""

    def __init__(self, settle_after: dict[str, int]) -> None:
        self.settle_after = settle_after
        self.reads: list[list[str]] = []

    async def compare_again(self, keys: list[str]) -> dict[str, str]:
        self.reads.append(keys)
        return {key: f"still differs (read {len(self.reads)})" for key in keys
                if len(self.reads) < self.settle_after[key]}


def test_a_write_landing_between_the_two_reads_is_not_reported_and_a_stale_view_is() -> None:
    views = Views({"raced": 1, "slow": CONFIRMING_READS, "stale": CONFIRMING_READS + 1})
    found = asyncio.run(persisting({"raced": "first read", "slow": "first read", "stale": "first read"},
                                   views.compare_again))
    assert found == {"stale": f"still differs (read {CONFIRMING_READS})"}  # with what its last reading found
    assert views.reads[0] == ["raced", "slow", "stale"]
    assert views.reads[1:] == [["slow", "stale"]] * (CONFIRMING_READS - 1)  # "slow" agreed at its last chance


def test_nothing_differing_is_read_again() -> None:
    views = Views({})
    assert asyncio.run(persisting({}, views.compare_again)) == {}
    assert views.reads == []


class RacedKey:
    """One key whose fenced fill is refused ``refusals`` times (a projection landed meanwhile); each comparison
    reads a new version, and from ``agrees_from`` on the two sides agree."""

    def __init__(self, refusals: int, agrees_from: int = 10**6) -> None:
        self.refusals, self.agrees_from = refusals, agrees_from
        self.version = 0
        self.filled: list[int] = []  # the versions each fill was fenced by
        self.report = RebuildReport("test")

    async def compare(self) -> tuple[int, bool]:
        self.version += 1
        return self.version, self.version >= self.agrees_from

    async def fill(self, compared: tuple[int, bool]) -> bool:
        self.filled.append(compared[0])
        return len(self.filled) > self.refusals

    def repair(self) -> str:
        return asyncio.run(fenced_repair(self.report, "key k", (0, False), self.compare, lambda found: found[1],
                                         self.fill))


def test_a_fenced_repair_fills_from_the_comparison_it_was_given() -> None:
    key = RacedKey(refusals=0)
    assert key.repair() == "repaired"
    assert key.filled == [0] and key.version == 0  # nothing read again
    assert (key.report.repaired, key.report.differences) == (1, [])


def test_a_refused_repair_reads_the_key_again_and_fills_with_the_new_version() -> None:
    key = RacedKey(refusals=1)
    assert key.repair() == "repaired"
    assert key.filled == [0, 1]  # the second fill is fenced by what the second reading saw


def test_a_key_that_agrees_when_read_again_is_left_alone() -> None:
    key = RacedKey(refusals=1, agrees_from=1)
    assert key.repair() == "agrees"
    assert key.filled == [0] and (key.report.repaired, key.report.differences) == (0, [])


def test_a_key_changing_during_every_attempt_is_left_to_the_next_run() -> None:
    key = RacedKey(refusals=REPAIR_ATTEMPTS)
    assert key.repair() == "changing"
    assert key.filled == list(range(REPAIR_ATTEMPTS))
    assert key.report.differences == [f"key k: changed during each of {REPAIR_ATTEMPTS} repairs (left to the next run)"]
