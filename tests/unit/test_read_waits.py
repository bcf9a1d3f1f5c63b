"""Each read given ``?after=`` waits for the views it reads (``api.consistency.Waits``): which applied-offset marks
a post's page, a tag page and every other read wait on."""

from __future__ import annotations

from typing import Any

from api.consistency import EVERY_VIEW, POST_PAGES, TAG_PAGES, ConsistencyToken, wait_applied
from sinks import keys


class Marks:
    """The two things a wait reads from Redis: applied-offset marks and the derived-offset batches."""

    def __init__(self) -> None:
        self.applied: dict[str, dict[str, int]] = {}
        self.derived: dict[str, list[tuple[int, str]]] = {}

    def mark(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        self.applied.setdefault(keys.applied_offsets(consumer, topic), {})[str(partition)] = offset

    async def hget(self, key: str, field: str) -> Any:
        return self.applied.get(key, {}).get(field)

    async def zrangebyscore(self, key: str, low: int, _high: str, start: int, num: int) -> list[str]:
        return [member for score, member in sorted(self.derived.get(key, [])) if score >= low][start:start + num]


async def applied(marks: Marks, token: str, waits: Any) -> bool:
    topic, partition, offset = token.rsplit(":", 2)
    return await wait_applied(marks, ConsistencyToken(topic, int(partition), int(offset)), 0.05, waits)


async def test_a_post_s_page_waits_for_the_posts_projector_not_for_its_fan_out() -> None:
    marks = Marks()
    marks.mark("posts", "post-created", 0, 10)
    marks.mark("feeds", "post-created", 0, 9)  # the fan-out is behind
    assert await applied(marks, "post-created:0:10", POST_PAGES)
    assert not await applied(marks, "post-created:0:10", EVERY_VIEW)  # the home feed waits for it
    marks.mark("feeds", "post-created", 0, 10)
    assert await applied(marks, "post-created:0:10", EVERY_VIEW)


async def test_a_follow_s_token_still_waits_for_the_graph_on_a_post_s_page() -> None:
    """A followers-only post is shown by the graph, which the feeds processor keeps."""
    marks = Marks()
    marks.mark("feeds", "follow-changed", 3, 4)
    assert not await applied(marks, "follow-changed:3:5", POST_PAGES)
    marks.mark("feeds", "follow-changed", 3, 5)
    assert await applied(marks, "follow-changed:3:5", POST_PAGES)


async def test_a_tag_page_waits_for_the_extractor_and_for_the_counter_to_count_what_it_announced() -> None:
    marks = Marks()
    for consumer in ("posts", "feeds"):
        marks.mark(consumer, "post-created", 1, 20)
    assert await applied(marks, "post-created:1:20", EVERY_VIEW)
    assert not await applied(marks, "post-created:1:20", TAG_PAGES)  # the extractor has not reached it
    marks.mark("hashtag-extractor", "post-created", 1, 22)  # its batch 18–22 announced up to post-hashtag 4:77
    marks.derived[keys.derived_offsets("hashtag-extractor", "post-created", 1)] = [(22, "18|post-hashtag:4:77")]
    marks.mark("hashtag-counter", "post-hashtag", 4, 76)
    assert not await applied(marks, "post-created:1:20", TAG_PAGES)
    marks.mark("hashtag-counter", "post-hashtag", 4, 77)
    assert await applied(marks, "post-created:1:20", TAG_PAGES)
