"""What simulated users write: captions with hashtags from a small vocabulary where a few tags are hot,
comments, usernames. Pure (a seeded ``random.Random`` in, text out)."""

from __future__ import annotations

import random

#: the hot tags come first: they carry most of the weight, so their pages and the trending list fill up
HOT_TAGS = ("sunset", "coffee", "travel")
TAGS = (*HOT_TAGS, "beach", "mountains", "citylights", "foodie", "dogsofinstagram", "catsofinstagram", "art",
        "streetphotography", "nature", "fitness", "bookstagram", "vintage", "rainyday", "brunch", "architecture",
        "garden", "nightsky")
_TAG_WEIGHTS = [12.0] * len(HOT_TAGS) + [1.0] * (len(TAGS) - len(HOT_TAGS))
_OPENERS = ("Golden hour again", "Weekend mood", "Found this place today", "Cannot get enough of this view",
            "Morning walk", "Throwback", "First try, be kind", "Best day in a while", "Tiny details",
            "Colours of the city")
COMMENTS = ("wow!", "love this", "where is this?", "stunning 😍", "so good", "need to go there", "🔥🔥",
            "great light", "beautiful colours", "this made my day")


def hashtags(rng: random.Random, most: int = 3) -> list[str]:
    """1..``most`` distinct tags, the hot ones far more often."""
    wanted = rng.randint(1, most)
    chosen: list[str] = []
    while len(chosen) < wanted:
        tag = rng.choices(TAGS, weights=_TAG_WEIGHTS)[0]
        if tag not in chosen:
            chosen.append(tag)
    return chosen


def caption(rng: random.Random) -> str:
    return f"{rng.choice(_OPENERS)} " + " ".join(f"#{tag}" for tag in hashtags(rng))


def comment(rng: random.Random) -> str:
    return rng.choice(COMMENTS)


def username(index: int, run_tag: str) -> str:
    """Unique per run (the run tag) and per user; readable in a feed."""
    return f"sim{run_tag}_{index}"
