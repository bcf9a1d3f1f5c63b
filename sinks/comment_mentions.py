"""Whom each comment mentioned, as the notifications processor resolved it (``notification_comment_mentions``,
migration 0032): what a comment's deletion withdraws.

``comment-deleted`` carries no text (a deletion erases it), so without this record the "mentioned you in a
comment" of a deleted comment stayed, pointing at a comment nobody could read (a block's or an account purge's
comment deletions too). The mentioned people are kept by id, as they were when the comment was added: a rename
since then does not move the withdrawal to whoever holds the name now. Only comments that mention someone get
a row, and the row goes with the withdrawal. Both carry their event's time as the cell timestamp, so a
``comment-added`` delivered again after the deletion (a replay, a retrying producer) writes nothing: the
deletion's tombstone shadows it (for the table's ``gc_grace_seconds``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped, key_chunks


class CommentMentions:
    def __init__(self, session: Session) -> None:
        self._session = session
        prepare = session.prepare
        self._write = prepare("INSERT INTO notification_comment_mentions (comment_id, mentioned) VALUES (?, ?) "
                              "USING TIMESTAMP ?")
        self._read = prepare("SELECT comment_id, mentioned FROM notification_comment_mentions WHERE comment_id IN ?")
        self._delete = prepare("DELETE FROM notification_comment_mentions USING TIMESTAMP ? WHERE comment_id = ?")

    async def remember(self, names_by_comment: Mapping[str, Iterable[str]], owners: Mapping[str, str],
                       commented_at: Mapping[str, int]) -> None:
        """Record whom each comment mentions: ``owners``, the names' holders now, as the batch resolved them
        (:meth:`sinks.usernames.UsernameDirectory.owners`; names nobody holds are nobody), at the time each
        comment was made (``commented_at``, epoch ms)."""
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for comment, names in names_by_comment.items():
            mentioned = {owners[name] for name in names if name in owners}
            if mentioned:
                writes.append((self._write, (comment, mentioned, commented_at[comment] * 1000)))
        await execute_grouped(self._session, writes)

    async def of(self, comment_ids: Iterable[str]) -> dict[str, set[str]]:
        """Whom each of ``comment_ids`` mentioned (comments without a row mentioned nobody, or were withdrawn)."""
        found: dict[str, set[str]] = {}
        for chunk in key_chunks(comment_ids):
            for row in (await execute(self._session, self._read, (chunk,))).current_rows:
                found[row.comment_id] = set(row.mentioned or ())
        return found

    async def forget(self, deleted_at: Mapping[str, int]) -> None:
        """Drop each comment's record as of its deletion's time (epoch ms): a later copy of its creation, older,
        stays shadowed."""
        await execute_grouped(self._session, [(self._delete, (at * 1000, comment))
                                              for comment, at in deleted_at.items()])
