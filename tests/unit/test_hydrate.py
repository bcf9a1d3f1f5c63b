"""Hydration: the item shape, visibility, durable counts, and a round-trip cost independent of the page length."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from api.hydrate import hydrate_posts
from api.images_links import ImageLinks
from sinks import keys
from sinks.engagement_reads import EngagementReads
from sinks.photo_derivatives import ABSENT_MEMO_S, PhotoDerivatives
from sinks.photo_tags import PhotoTagReads
from sinks.safety import SafeAudience
from tests.unit.counting_fakes import CountingRedis, CountingSession, Data, post_row, user_row

VIEWER = "viewer"


@dataclass
class Resources:
    session: CountingSession
    redis: CountingRedis
    graph: SafeAudience
    engagement: EngagementReads
    derivatives: PhotoDerivatives
    photo_tags: PhotoTagReads
    image_links: ImageLinks = field(default_factory=lambda: ImageLinks(b"k" * 32, 3600))
    redis_reads: Any = None  # the plain fake client answers the page's reads

    @classmethod
    def over(cls, data: Data) -> Resources:
        session, redis = CountingSession(data), CountingRedis()
        return cls(session, redis, SafeAudience(session, redis), EngagementReads(session, redis),  # type: ignore[arg-type]
                   PhotoDerivatives(session), PhotoTagReads(session))  # type: ignore[arg-type]

    def trips(self) -> tuple[int, int]:
        """(Redis, Cassandra) round trips so far; resets the counters."""
        counted = (self.redis.round_trips, self.session.round_trips)
        self.redis.round_trips = self.session.round_trips = 0
        return counted


def page_of(n: int) -> tuple[Data, list[str]]:
    """``n`` posts by ``n`` different authors, every kind of visibility the viewer may see, all engaged with."""
    data = Data()
    ids = []
    for i in range(n):
        author, post_id = f"author{i}", f"post{i:03d}"
        visibility = ("followers", "public", "private")[i % 3]
        if visibility == "private":
            author = VIEWER  # the viewer's own private post
        data.posts[post_id] = post_row(author, visibility)
        data.users.setdefault(author, user_row(f"user{i}", avatar_image_id=f"avatar{i}"))
        data.follows.add((VIEWER, author))
        data.engagement[post_id] = (i + 1, i)
        if i % 2:
            data.likes.add((post_id, VIEWER))
        ids.append(post_id)
    return data, ids


async def test_a_page_of_20_costs_the_same_round_trips_as_a_page_of_1() -> None:
    costs: dict[int, list[tuple[int, int]]] = {}
    for n in (1, 20):
        data, ids = page_of(n)
        resources = Resources.over(data)
        cold = await hydrate_posts(resources, VIEWER, ids)
        cold_cost = resources.trips()
        warm = await hydrate_posts(resources, VIEWER, ids)
        warm_cost = resources.trips()
        assert len(cold) == len(warm) == n and cold == warm
        costs[n] = [cold_cost, warm_cost]
    assert costs[1] == costs[20]
    # cold: posts MGET + fill, profiles pipeline + fill, counts pipeline + fill, the viewer's follows,
    #       relations and likes copies + their fills (Redis); posts, profiles (the authors' privacy with them),
    #       counts, the viewer's follows, relations and likes partitions, blurhashes, people tags (Cassandra).
    #       Warm: people tags only (blurhashes found absent are not asked again at once).
    assert costs[20] == [(12, 8), (6, 1)]


async def test_an_anonymous_page_reads_no_likes_and_no_follows() -> None:
    data, ids = page_of(20)
    public = [i for i in ids if data.posts[i]["visibility"] == "public"]
    resources = Resources.over(data)
    await hydrate_posts(resources, None, ids)
    resources.trips()
    items = await hydrate_posts(resources, None, ids)
    assert [i["post_id"] for i in items] == public
    assert not any(i["liked_by_me"] for i in items)
    assert resources.trips() == (3, 1)  # posts, profiles (privacy with them), counts: all cached; people tags


async def test_items_keep_the_given_order_and_skip_posts_gone_or_hidden() -> None:
    data = Data()
    data.posts["p1"] = post_row("alice", "public", caption="one", image_ids=["img1", "img2"])
    data.posts["p2"] = post_row("bob", "private")
    data.posts["p3"] = post_row("carol", "followers")
    data.posts["p4"] = post_row("alice", "public", deleted=True)
    data.posts["p5"] = post_row("dave", "followers")  # the viewer does not follow dave
    data.users["alice"] = user_row("alice", avatar_image_id="face")
    data.blurhashes["img1"] = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
    data.follows.add((VIEWER, "carol"))
    data.engagement["p1"] = (3, 2)
    data.likes.add(("p1", VIEWER))
    items = await hydrate_posts(Resources.over(data), VIEWER, ["p3", "missing", "p2", "p1", "p4", "p5"])
    assert [i["post_id"] for i in items] == ["p3", "p1"]
    assert items[1] == {
        "post_id": "p1",
        "author": {"id": "alice", "username": "alice", "avatar_url": "/api/v1/images/face"},
        "caption": "one",
        "photos": ["/api/v1/images/img1", "/api/v1/images/img2"],
        "blurhashes": ["LEHV6nWB2yk8pyo0adR*.7kCMdnj", None],
        "photo_tags": [[], []],
        "like_count": 3, "comment_count": 2, "liked_by_me": True,
        "created_at": items[1]["created_at"], "visibility": "public",
    }
    assert isinstance(items[1]["created_at"], int)
    # carol has no profile: the item still names her, without a username or avatar
    assert items[0]["author"] == {"id": "carol", "username": None, "avatar_url": None}
    assert (items[0]["like_count"], items[0]["comment_count"], items[0]["liked_by_me"]) == (0, 0, False)


async def test_a_block_either_way_hides_the_authors_posts_in_one_read() -> None:
    data = Data()
    for post_id, author in (("p1", "blocked"), ("p2", "blocker"), ("p3", "friend")):
        data.posts[post_id] = post_row(author, "public")
    data.blocks |= {(VIEWER, "blocked"), ("blocker", VIEWER)}
    resources = Resources.over(data)
    for _ in range(2):
        items = await hydrate_posts(resources, VIEWER, ["p1", "p2", "p3"])
        assert [i["post_id"] for i in items] == ["p3"]
    # the viewer's relations partition is read once, whole; the second page reads its Redis copy
    assert sum("user_relations" in s for s in resources.session.statements) == 1
    assert [i["post_id"] for i in await hydrate_posts(resources, None, ["p1", "p2", "p3"])] == ["p1", "p2", "p3"]
    assert [i["post_id"] for i in await hydrate_posts(resources, "blocked", ["p1"])] == ["p1"]  # their own


async def test_counts_survive_an_expired_cache_entry() -> None:
    data = Data()
    data.posts["p1"] = post_row("alice")
    data.engagement["p1"] = (41, 7)
    resources = Resources.over(data)
    assert keys.post_engagement("p1") not in resources.redis.hashes  # expired (or never cached)
    [item] = await hydrate_posts(resources, None, ["p1"])
    assert (item["like_count"], item["comment_count"]) == (41, 7)
    assert resources.redis.hashes[keys.post_engagement("p1")] == {"like_count": "41", "comment_count": "7"}


async def test_a_refill_never_overwrites_a_newer_cached_count() -> None:
    """The processor wrote a newer value between our Cassandra read and our fill: HSETNX keeps it."""
    data = Data()
    data.engagement["p1"] = (1, 0)
    resources = Resources.over(data)
    reads = resources.engagement
    original = reads._durable_counts

    async def read_then_processor_writes(post_ids: list[str]) -> Any:
        found = await original(post_ids)
        resources.redis.hashes[keys.post_engagement("p1")] = {"like_count": "2", "comment_count": "0"}
        return found

    reads._durable_counts = read_then_processor_writes  # type: ignore[method-assign]
    await reads.counts(["p1"])
    assert resources.redis.hashes[keys.post_engagement("p1")]["like_count"] == "2"


@pytest.mark.parametrize("n", [0, 1])
async def test_an_empty_page_costs_one_lookup_at_most(n: int) -> None:
    resources = Resources.over(Data())
    assert await hydrate_posts(resources, VIEWER, ["gone"] * n) == []
    redis_trips, _ = resources.trips()
    assert redis_trips <= 1


def tag_row(post_id: str, image_id: str, tagged_id: str, pending: bool = False, author: str = "alice") -> dict:
    return {"post_id": post_id, "image_id": image_id, "tagged_id": tagged_id, "tagger_id": author, "x": 0.25,
            "y": 0.5, "pending": pending, "tagged_at": None}


async def test_each_photo_carries_its_approved_tags_and_pending_ones_only_for_the_author_and_the_tagged() -> None:
    data = Data()
    data.posts["p1"] = post_row("alice", "public", image_ids=["img1", "img2"])
    data.users["bob"] = user_row("bob")
    data.photo_tags += [tag_row("p1", "img2", "bob"), tag_row("p1", "img2", "carol", pending=True),
                        tag_row("p1", "img1", "blocker"),
                        # an approval that raced a removal leaves a row without its add: no tag
                        {**tag_row("p1", "img1", "ghost"), "tagger_id": None, "x": None, "y": None}]
    data.blocks.add(("blocker", VIEWER))
    resources = Resources.over(data)
    items = await hydrate_posts(resources, VIEWER, ["p1"])
    assert items[0]["photo_tags"] == [[], [{"user_id": "bob", "username": "bob", "x": 0.25, "y": 0.5,
                                            "pending": False}]]
    # the author and the tagged person see the pending tag; nobody sees a user they stand in a block with
    for viewer, seen in (("alice", [[("blocker", False)], [("bob", False), ("carol", True)]]),
                         ("carol", [[("blocker", False)], [("bob", False), ("carol", True)]]),
                         (None, [[("blocker", False)], [("bob", False)]])):
        got = await hydrate_posts(resources, viewer, ["p1"])
        assert [[(t["user_id"], t["pending"]) for t in photo] for photo in got[0]["photo_tags"]] == seen


async def test_a_page_of_tagged_posts_costs_the_same_round_trips_as_one() -> None:
    costs = {}
    for n in (1, 20):
        data, ids = page_of(n)
        for i, post_id in enumerate(ids):
            data.photo_tags.append(tag_row(post_id, "i1", f"tagged{i}", author=data.posts[post_id]["author_id"]))
        resources = Resources.over(data)
        items = await hydrate_posts(resources, VIEWER, ids)
        assert all(len(item["photo_tags"][0]) == 1 for item in items)
        costs[n] = resources.trips()
    assert costs[1] == costs[20]


async def test_a_placeholder_not_derived_yet_is_asked_again_only_after_the_memo() -> None:
    data = Data()
    now = [1_000.0]
    derivatives = PhotoDerivatives(CountingSession(data), clock=lambda: now[0])
    session = derivatives._session
    assert await derivatives.blurhashes(["img"]) == {}
    data.blurhashes["img"] = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"  # the photos processor derives it now
    asked = session.round_trips
    assert await derivatives.blurhashes(["img"]) == {}  # remembered as absent: not asked again at once
    assert session.round_trips == asked
    now[0] += ABSENT_MEMO_S + 0.1
    assert await derivatives.blurhashes(["img"]) == {"img": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"}
    assert session.round_trips == asked + 1
    assert await derivatives.blurhashes(["img"]) == {"img": "LEHV6nWB2yk8pyo0adR*.7kCMdnj"}  # known for good
    assert session.round_trips == asked + 1


async def test_privacy_comes_with_the_profiles_and_an_old_cached_profile_asks_cassandra() -> None:
    """The authors' privacy is taken from the profiles the page reads anyway; a cached profile written before
    the flag existed says nothing about it, so that author's privacy is read the durable way, never assumed."""
    data = Data()
    data.posts["p1"] = post_row("locked", "public")
    data.posts["p2"] = post_row("open", "public")
    data.users["locked"] = user_row("locked", is_private=True)
    data.users["open"] = user_row("open")
    resources = Resources.over(data)
    assert [i["post_id"] for i in await hydrate_posts(resources, VIEWER, ["p1", "p2"])] == ["p2"]
    old_hash = resources.redis.hashes[keys.user_profile("locked")]
    del old_hash["is_private"]
    resources.session.statements.clear()
    assert [i["post_id"] for i in await hydrate_posts(resources, VIEWER, ["p1", "p2"])] == ["p2"]
    assert sum("is_private FROM users" in s for s in resources.session.statements) == 1
    data.follows.add((VIEWER, "locked"))  # a follower sees the private account's posts
    assert [i["post_id"] for i in await hydrate_posts(Resources.over(data), VIEWER, ["p1", "p2"])] == ["p1", "p2"]
