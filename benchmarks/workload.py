"""Synthetic but realistic inputs: power-law tag popularity, distinct posts, a few tags per caption.

Tag names carry the run id, so one run's tags never meet another run's (or anyone's) in a view.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass
from typing import Any

from producers.ids import deterministic_id, new_id

#: how many distinct tags a post carries, with weights (most posts have one or two)
TAGS_PER_POST = (1, 2, 3, 4, 5)
TAGS_PER_POST_WEIGHTS = (0.35, 0.30, 0.20, 0.10, 0.05)
WORDS = ("golden hour at the beach", "coffee first", "new lens day", "weekend hike", "city lights",
         "homemade pasta", "rainy window", "street art")


@dataclass
class TagWorkload:
    """A Zipf(s) popularity over ``tag_count`` tags (rank 1 is the most used) and a pool of authors."""

    run_id: str
    tag_count: int = 3000
    zipf_s: float = 1.1
    authors: int = 20_000
    seed: int = 7

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.tags = [f"b{self.run_id}t{rank}" for rank in range(1, self.tag_count + 1)]
        self.cum_weights = list(itertools.accumulate(1 / rank ** self.zipf_s for rank in range(1, self.tag_count + 1)))
        self.author_ids = [new_id() for _ in range(self.authors)]

    def post_tags(self) -> list[str]:
        """Distinct tags of one post, drawn by popularity."""
        want = self.rng.choices(TAGS_PER_POST, TAGS_PER_POST_WEIGHTS)[0]
        tags: list[str] = []
        for _ in range(20):  # bounded: popular tags repeat, so draw until enough distinct ones
            for tag in self.rng.choices(self.tags, cum_weights=self.cum_weights, k=want - len(tags)):
                if tag not in tags:
                    tags.append(tag)
            if len(tags) == want:
                break
        return tags

    def caption(self, tags: list[str]) -> str:
        return self.rng.choice(WORDS) + " " + " ".join(f"#{t}" for t in tags)

    def author(self) -> str:
        return self.rng.choice(self.author_ids)

    def post_hashtag_records(self, count: int, span_ms: int = 30_000) -> list[dict[str, Any]]:
        """``count`` post-hashtag ``add`` records of distinct posts created over the last ``span_ms`` (a burst
        that arrives live is a few windows old, not hours)."""
        now_ms = int(time.time() * 1000)
        records: list[dict[str, Any]] = []
        while len(records) < count:
            post_id, author, tags = new_id(), self.author(), self.post_tags()
            created = now_ms - self.rng.randrange(span_ms)
            for tag in tags[:count - len(records)]:
                records.append({
                    "event_id": deterministic_id("post-hashtag", post_id, tag, "add"), "occurred_at": created,
                    "post_id": post_id, "author_id": author, "hashtag": tag, "action": "add",
                    "post_created_at": created, "post_tags": tags,
                })
        return records

    def post_created_records(self, count: int, span_ms: int = 30_000) -> list[dict[str, Any]]:
        """``count`` post-created records with tagged captions, created over the last ``span_ms``."""
        now_ms = int(time.time() * 1000)
        return [{"event_id": new_id(), "occurred_at": now_ms - self.rng.randrange(span_ms), "post_id": new_id(),
                 "author_id": self.author(), "caption": self.caption(self.post_tags()), "image_ids": [new_id()],
                 "visibility": "public", "location": None} for _ in range(count)]
