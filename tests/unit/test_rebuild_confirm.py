"""`rebuild --check` on a live stream: a difference is reported only if it is still there when read again."""

from __future__ import annotations

import asyncio

from photostream.rebuild import CONFIRMING_READS, persisting


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
