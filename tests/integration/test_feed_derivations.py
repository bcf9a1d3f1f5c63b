"""The feed derivations on real Cassandra: an author's newest posts of one kind are read past the rows of other
kinds (an author whose tier changed has pulled posts below pushed ones and the other way round), a bounded read
says where it stopped, and the pulled-only read lets Cassandra skip an author's pushed posts."""

from __future__ import annotations

import time
import uuid

from photostream.settings import Settings
from producers.ids import new_id
from sinks.cassandra import connect
from sinks.feeds import READ_PAGES, DeliveredPost, FeedPosts, expected_pull_set, pushed_live


def ids_in_time_order(count: int) -> list[str]:
    """``count`` UUIDv7-shaped ids, oldest first (their text sorts as their times)."""
    base = int(time.time() * 1000)
    return [str(uuid.UUID(int=((base + i) << 80) | (0x7 << 76) | (i + 1))) for i in range(count)]


async def test_derivations_read_past_the_rows_they_do_not_keep(settings: Settings) -> None:
    cluster, session = connect(settings)
    posts, author, cap = FeedPosts(session), new_id(), 3
    ids = ids_in_time_order(6 + 3 * cap * READ_PAGES)
    # oldest first: 2 pushed, 3 pulled (one of them private), then many pushed (the author went back to push)
    delivery = ["push"] * 2 + ["pull"] * 3 + ["push"] * (len(ids) - 5)
    visibility = ["public"] * 3 + ["private"] + ["public"] * (len(ids) - 4)
    try:
        await posts.write([w for i, post_id in enumerate(ids) for w in posts.created(
            DeliveredPost(author, post_id, visibility[i], delivery[i], False), 1_000 + i)])  # type: ignore[arg-type]
        await posts.write(posts.deleted(author, ids[-1], 10_000))
        pulled = await expected_pull_set(posts, author, cap)
        assert pulled.post_ids == [ids[4], ids[2]] and not pulled.cut  # below every pushed post; the private not
        newest_pushed = await posts.newest_matching(author, cap, pushed_live)
        assert newest_pushed.post_ids == [ids[-2], ids[-3], ids[-4]]  # past the deleted
        assert newest_pushed.floor == ids[-4]  # as many as asked: older ones may exist, it vouches down to its last
        # a kind that only lies deep below the others: the read stops at its budget and says where
        oldest_pushed = await posts.newest_matching(author, cap, lambda p: pushed_live(p) and p.post_id < ids[2])
        assert oldest_pushed.posts == [] and oldest_pushed.floor == ids[-cap * READ_PAGES]
    finally:
        cluster.shutdown()
