"""Rebuild of the set of tagged posts (:mod:`sinks.tagged_posts`) from ``photo_tags``.

The set is a superset by design (a post whose tags were all removed stays in it), so "equal" here means: the
set is built and holds every post that has a tag row. Extra members are not differences. Repair re-adds every
durable tagged post and the built marker (never removes: a racing writer's post must not be taken out). A post
tagged while the check runs (its row written, its set entry next) is not missing: what is missing is read again
before it is reported (:func:`photostream.rebuild.persisting`).
"""

from __future__ import annotations

from photostream.rebuild import RebuildReport, persisting, stores
from photostream.settings import Settings
from sinks.tagged_posts import TaggedPosts, durable_pages


async def rebuild_photo_tags(settings: Settings, repair: bool) -> RebuildReport:
    report = RebuildReport("photo-tags")
    async with stores(settings) as (session, redis):
        tagged = TaggedPosts(redis)
        durable = {post_id async for ids in durable_pages(session) for post_id in ids}
        live, built = await tagged.live()
        report.keys_compared = 1

        async def still_missing(post_ids: list[str]) -> dict[str, bool]:
            now_live, _ = await tagged.live()
            return {post_id: True for post_id in post_ids if post_id not in now_live}

        missing = sorted(await persisting({post_id: True for post_id in durable - live}, still_missing))
        if not built:
            report.differences.append("the tagged-posts set is not built (pages read every post's tags)")
        if missing:
            report.differences.append(f"{len(missing)} tagged post(s) missing from the set: {missing[:5]}…")
        if repair and report.differences:
            await tagged.rebuild(session)
            report.repaired = 1
    return report
