"""Small statistics and formatting helpers: percentiles, rates and ratios as the report prints them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Distribution:
    """Latency percentiles in milliseconds (nearest-rank, so p99 of 10k samples is a real sample)."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Distribution:
        if not samples_ms:
            return cls(0, math.nan, math.nan, math.nan, math.nan)
        ordered = sorted(samples_ms)
        return cls(len(ordered), percentile(ordered, 50), percentile(ordered, 90), percentile(ordered, 99),
                   ordered[-1])


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted samples."""
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline and not math.isnan(baseline) else math.nan


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}×"


def fmt_rate(per_s: float) -> str:
    return "n/a" if math.isnan(per_s) else f"{per_s:,.0f}/s"


def fmt_ms(ms: float) -> str:
    if math.isnan(ms):
        return "n/a"
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def fmt_us(us: float) -> str:
    return "n/a" if math.isnan(us) else f"{us:.1f} µs"


def fmt_pct(share: float) -> str:
    return "n/a" if math.isnan(share) else f"{share * 100:.1f}%"


def verdict(ok: bool | None) -> str:
    """Goal column: met / missed / not applicable."""
    return "–" if ok is None else "met" if ok else "**missed**"
