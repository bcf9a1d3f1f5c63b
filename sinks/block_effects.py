"""What a block ends between two people, read for the safety processor: each side's likes of and comments on
the other's posts, and their tags in them. (Unread messages need no reading: the block marks both sides read
up to its time, :func:`photostream.domain.safety.reads_of_block`.)

Read for a whole batch of blocks at once (:meth:`BlockFootprint.between`), each person once however many of the
batch's blocks they are in:
- likes through ``likes_by_user`` (written by the popularity processor, migration 0014) and people tags through
  ``tagged_posts`` and ``pending_tagged_posts``: one multi-partition read (``IN``) per :data:`_PEOPLE_PER_READ`
  people, paged;
- comments through the storage-attached index on ``comments_by_post.user_id`` (migration 0019): one read per
  person (an index takes no ``IN``);
- the posts' authors in one read per 100 posts; only what touches the other side's posts is kept.
Eight reads per block before (two people × likes, comments and two tag tables): benchmark 13's safety
processor spent ~1.5 ms of CPU per block in the driver.

Only the people whose counterpart in a block has posts are read (one multi-partition read of
``posts_by_author`` per :data:`_PEOPLE_PER_READ` people first): nothing can be liked, commented on or tagged
in the posts of someone who has none. A post published after that read is safe to miss: engagement with it is
applied only if no block stands (:mod:`streams.engagement_blocks`), and this block's row is written before it
is read.

Comments are found from whichever side is cheaper. The index read costs Cassandra ~0.3–0.9 ms of CPU even for
someone who never commented (benchmark 13: one per block, and the safety processor's slowest step), while the
usual blocker has a few posts with short threads. So that same first read also lists up to
:data:`FEW_POSTS` post ids per person, and a person whose counterparts all have that few posts has their
comments picked from those posts' threads, read whole (one multi-partition read per :data:`_POSTS_PER_READ`
posts, shared by every block of the batch on the same author: a wave of blocks by one account reads its
threads once). A thread longer than :data:`LONG_THREAD` comments, or a counterpart with more posts, sends the
person to the index as before. Both ways find every comment of theirs on the posts the counterparts list (the
index finds all of theirs, and the posts' authors then keep the same ones; it also finds those on posts the
counterpart deleted, which nobody sees and which the threads leave as they are).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session

from photostream.domain.safety import CommentAcross, TagAcross
from sinks.cassandra import ms_of, pages
from sinks.posts import read_post_rows

_PAGE = 1000
#: people per multi-partition read of likes or tags
_PEOPLE_PER_READ = 50
#: people whose comments are read at the same time
_COMMENT_READS_AT_ONCE = 64
#: a counterpart with at most this many posts has their threads read whole instead of the commenter's index
FEW_POSTS = 20
#: a thread with more comments than this is not read whole (its commenters are asked of the index)
LONG_THREAD = 500
#: posts per multi-partition read of whole threads
_POSTS_PER_READ = 50

#: what a block ends between two people: likes (liker, post), comments, people tags
Across = tuple[list[tuple[str, str]], list[CommentAcross], list[TagAcross]]


class BlockFootprint:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._liked = session.prepare("SELECT user_id, post_id FROM likes_by_user WHERE user_id IN ?")
        self._commented = session.prepare(
            "SELECT post_id, comment_id, created_at FROM comments_by_post WHERE user_id = ?")
        self._threads = session.prepare(
            "SELECT post_id, comment_id, created_at, user_id FROM comments_by_post WHERE post_id IN ? "
            f"PER PARTITION LIMIT {LONG_THREAD + 1}")
        self._tagged_in = [session.prepare(f"SELECT tagged_id, post_id, image_ids FROM {table} WHERE tagged_id IN ?")
                           for table in ("tagged_posts", "pending_tagged_posts")]
        self._posting = session.prepare(
            f"SELECT author_id, post_id FROM posts_by_author WHERE author_id IN ? PER PARTITION LIMIT {FEW_POSTS + 1}")

    async def between(self, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Across]:
        """For each (blocker, blocked): each side's likes of the other's posts, comments on them and tags in
        them, approved or waiting for approval (the blocker's first, then the blocked person's)."""
        wanted = list(dict.fromkeys(pairs))
        if not wanted:
            return {}
        posts_of = await self._posts_of(sorted({person for pair in wanted for person in pair}))
        # each side's engagement matters only with the other side's posts
        counterparts: dict[str, set[str]] = defaultdict(set)
        for a, b in wanted:
            for person, other in ((a, b), (b, a)):
                if other in posts_of:
                    counterparts[person].add(other)
        people = sorted(counterparts)
        likes, comments, tags = await asyncio.gather(self._likes_of(people),
                                                     self._comments_of(counterparts, posts_of),
                                                     self._tags_of(people))
        posts = {post for found in likes.values() for post in found}
        posts |= {c.post_id for found in comments.values() for c in found}
        posts |= {t.post_id for found in tags.values() for t in found}
        rows = await read_post_rows(self._session, sorted(posts))
        author = {post_id: row.author_id for post_id, row in rows.items()}
        across: dict[tuple[str, str], Across] = {}
        for a, b in wanted:
            sides = ((a, b), (b, a))  # (the one who acted, the author of the posts)
            across[a, b] = (
                [(liker, post) for liker, other in sides for post in likes[liker] if author.get(post) == other],
                [c for commenter, other in sides for c in comments[commenter] if author.get(c.post_id) == other],
                [t for tagged, other in sides for t in tags[tagged] if author.get(t.post_id) == other])
        return across

    async def _posts_of(self, people: list[str]) -> dict[str, list[str]]:
        """Those of ``people`` who have posts, each with up to ``FEW_POSTS + 1`` of their post ids (more than
        :data:`FEW_POSTS`: too many to read the threads of)."""
        found = await asyncio.gather(*(self._all(self._posting, chunk) for chunk in _chunks(people)))
        posts: dict[str, list[str]] = defaultdict(list)
        for rows in found:
            for row in rows:
                posts[row.author_id].append(row.post_id)
        return posts

    async def _likes_of(self, people: list[str]) -> dict[str, list[str]]:
        """Each person's liked post ids."""
        liked: dict[str, list[str]] = defaultdict(list)
        for rows in await asyncio.gather(*(self._all(self._liked, chunk) for chunk in _chunks(people))):
            for row in rows:
                liked[row.user_id].append(row.post_id)
        return liked

    async def _tags_of(self, people: list[str]) -> dict[str, list[TagAcross]]:
        """Each person's tags (approved, then waiting), a tag per photo."""
        tagged: dict[str, list[TagAcross]] = defaultdict(list)
        reads = [self._all(statement, chunk) for statement in self._tagged_in for chunk in _chunks(people)]
        for rows in await asyncio.gather(*reads):
            for row in rows:
                tagged[row.tagged_id] += [TagAcross(row.tagged_id, row.post_id, image) for image in row.image_ids or ()]
        return tagged

    async def _comments_of(self, counterparts: dict[str, set[str]], posts_of: dict[str, list[str]]
                           ) -> dict[str, list[CommentAcross]]:
        """Each person's comments on their counterparts' posts (and perhaps others: the caller keeps those on a
        counterpart's posts): from the counterparts' threads when all have few posts and short threads, else
        from the index on the commenter (see the module docstring)."""
        few = {author: posts for author, posts in posts_of.items() if len(posts) <= FEW_POSTS}
        by_threads = {person for person, others in counterparts.items() if others <= few.keys()}
        threads = await self._threads_of(sorted({post for person in by_threads for other in counterparts[person]
                                                 for post in few[other]}))
        long = {post for post, comments in threads.items() if len(comments) > LONG_THREAD}
        by_threads = {person for person in by_threads
                      if not any(post in long for other in counterparts[person] for post in few[other])}
        # each thread walked once, by commenter (a wave of blocks by one account asks its threads about each
        # blocked person: walked per person, that was threads × people)
        by_commenter: dict[str, list[CommentAcross]] = defaultdict(list)
        for comments in threads.values():
            for comment in comments:
                if comment.commenter in by_threads:
                    by_commenter[comment.commenter].append(comment)
        found: dict[str, list[CommentAcross]] = defaultdict(list)
        for person in by_threads:
            theirs = {post for other in counterparts[person] for post in few[other]}
            found[person] = [c for c in by_commenter.get(person, ()) if c.post_id in theirs]
        indexed = sorted(counterparts.keys() - by_threads)
        gate = asyncio.Semaphore(_COMMENT_READS_AT_ONCE)

        async def of(person: str) -> list[CommentAcross]:
            async with gate:
                return [CommentAcross(person, row.post_id, row.comment_id, ms_of(row.created_at))
                        async for batch in pages(self._session, self._commented, (person,), _PAGE) for row in batch]

        found.update(zip(indexed, await asyncio.gather(*(of(p) for p in indexed)), strict=True))
        return found

    async def _threads_of(self, posts: list[str]) -> dict[str, list[CommentAcross]]:
        """Each post's comments (``LONG_THREAD + 1`` at most: a longer thread is not to be read whole), as
        :class:`CommentAcross` whose ``commenter`` is the comment's author."""
        chunks = [posts[i:i + _POSTS_PER_READ] for i in range(0, len(posts), _POSTS_PER_READ)]
        threads: dict[str, list[CommentAcross]] = defaultdict(list)
        for rows in await asyncio.gather(*(self._all(self._threads, chunk) for chunk in chunks)):
            for row in rows:
                threads[row.post_id].append(CommentAcross(row.user_id, row.post_id, row.comment_id,
                                                          ms_of(row.created_at)))
        return threads

    async def _all(self, statement: Any, people: list[str]) -> list[Any]:
        return [row async for batch in pages(self._session, statement, (people,), _PAGE) for row in batch]


def _chunks(people: list[str]) -> list[list[str]]:
    return [people[i:i + _PEOPLE_PER_READ] for i in range(0, len(people), _PEOPLE_PER_READ)]
