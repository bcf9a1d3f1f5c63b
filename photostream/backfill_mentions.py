"""`photostream backfill comment-mentions`: the mention record (:mod:`sinks.comment_mentions`) of every comment
made before migration 0032, which has none.

A comment's deletion withdraws the "mentioned you in a comment" it caused through that record
(``comment-deleted`` carries no text); a comment made before the record existed kept its mentions after its
deletion. This walks ``comments_by_post`` (every comment not deleted) a page at a time and writes the record for
each comment that mentions someone and has none, at the comment's own time as the processor does, so a deletion
racing the walk (a later tombstone) still wins. The mentioned names are resolved to their holders now: a name
renamed since the comment was made points at its new holder (the processor resolves them when it applies the
comment). Safe to run again: a comment with a record is left as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from photostream.domain.notifications import mentioned_usernames
from photostream.rebuild import stores
from photostream.settings import Settings
from sinks.cassandra import ms_of, pages
from sinks.comment_mentions import CommentMentions
from sinks.usernames import UsernameDirectory

PAGE_SIZE = 1000


@dataclass
class BackfillReport:
    comments_read: int = 0
    mentioning: int = 0
    recorded_already: int = 0
    written: int = 0


async def backfill_comment_mentions(settings: Settings, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport()
    async with stores(settings) as (session, _redis):
        mentions, usernames = CommentMentions(session), UsernameDirectory(session)
        walk = session.prepare("SELECT comment_id, text, created_at FROM comments_by_post")
        async for page in pages(session, walk, (), PAGE_SIZE):
            report.comments_read += len(page)
            await _backfill_page(page, mentions, usernames, report, dry_run)
    return report


async def _backfill_page(rows: list[Any], mentions: CommentMentions, usernames: UsernameDirectory,
                         report: BackfillReport, dry_run: bool) -> None:
    names = {row.comment_id: found for row in rows if (found := mentioned_usernames(row.text or ""))}
    if not names:
        return
    report.mentioning += len(names)
    recorded = await mentions.of(names)
    missing = {comment: found for comment, found in names.items() if comment not in recorded}
    report.recorded_already += len(names) - len(missing)
    if not missing:
        return
    owners = await usernames.owners({name for found in missing.values() for name in found})
    made_at = {row.comment_id: ms_of(row.created_at) for row in rows if row.comment_id in missing and row.created_at}
    to_write = {comment: found for comment, found in missing.items()
                if comment in made_at and any(name in owners for name in found)}
    report.written += len(to_write)
    if not dry_run:
        await mentions.remember(to_write, owners, made_at)


def backfill(settings: Settings, dry_run: bool) -> BackfillReport:
    return asyncio.run(backfill_comment_mentions(settings, dry_run))
