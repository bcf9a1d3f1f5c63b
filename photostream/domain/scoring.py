"""Popularity with recency decay, as a time-invariant score (pure).

score = ln(1 + likes·w_like + comments·w_comment) + created_at_s / τ

Ranking by this score is exactly ranking by engagement decayed exponentially with time constant τ
(e^score = (1+E)·e^{t/τ}; dividing every post by e^{now/τ} does not change the order), so scores never need
recomputing as time passes: only when a post's engagement changes. Defaults: w_like 1, w_comment 3,
τ = 12 h (a post needs ~e≈2.7× the engagement to beat one 12 hours younger).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from photostream.settings import Settings


@dataclass(frozen=True)
class ScoreWeights:
    like: float = 1.0
    comment: float = 3.0
    tau_s: float = 12 * 3600.0


def popularity(likes: int, comments: int, created_at_ms: int, weights: ScoreWeights = ScoreWeights()) -> float:
    engagement = max(0, likes) * weights.like + max(0, comments) * weights.comment
    return math.log1p(engagement) + (created_at_ms / 1000.0) / weights.tau_s


def score_weights(settings: Settings) -> ScoreWeights:
    return ScoreWeights(settings.popularity_like_weight, settings.popularity_comment_weight,
                        settings.popularity_tau_hours * 3600)
