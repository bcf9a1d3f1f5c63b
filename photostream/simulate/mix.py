"""Which action comes next: a weighted draw, pure so its proportions are unit-tested.

Likes and comments need a post that the worker already applied (the API answers 404 for any other), and
reading direct messages needs one sent: :meth:`ActionMix.pick` draws only among the kinds possible right now.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Kind = Literal["post", "like", "comment", "follow", "message", "feed"]
KINDS: tuple[Kind, ...] = get_args(Kind)
#: kinds that act on an applied post
NEEDS_POST: frozenset[Kind] = frozenset({"like", "comment"})

#: the default mix: mostly likes, a few posts (each uploads an image and costs the worker a resize), direct
#: messages to offline users, a trickle of follows and feed reads
DEFAULT_WEIGHTS: dict[Kind, float] = {"post": 0.10, "like": 0.45, "comment": 0.15, "follow": 0.05,
                                      "message": 0.20, "feed": 0.05}


@dataclass(frozen=True)
class ActionMix:
    weights: Mapping[Kind, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown action kinds: {', '.join(sorted(unknown))}")
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise ValueError("action weights must be non-negative and not all zero")

    def pick(self, rng: random.Random, *, have_posts: bool) -> Kind | None:
        """The next action's kind (None: nothing possible yet, e.g. only likes weighted and no post applied)."""
        kinds = [k for k, w in self.weights.items() if w > 0 and (have_posts or k not in NEEDS_POST)]
        if not kinds:
            return None
        return rng.choices(kinds, weights=[self.weights[k] for k in kinds])[0]


def parse_mix(text: str) -> ActionMix:
    """``post=0.1,like=0.5,...`` (kinds left out weigh 0); an empty text is the default mix."""
    if not text.strip():
        return ActionMix()
    weights: dict[Kind, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError(f"unknown action kind {name!r}; known: {', '.join(KINDS)}")
        try:
            weights[name] = float(value)
        except ValueError:
            raise ValueError(f"{name}: weight {value!r} is not a number") from None
    return ActionMix(weights)
