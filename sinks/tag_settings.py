"""Who may tag a user in photos (``tag_settings``, sinks/migrations/0011): written by the profiles projector from
profile-updated v3, read by the API when someone tags the user and when the user edits their profile.

Kept out of the ``users`` row and the Redis profile hash on purpose: they are the user's private preferences,
not part of the public profile every read hydrates, and they are read only on the rare tag write (one
single-partition read). A user without a row has the defaults (everyone may tag, no approval).
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from photostream.domain.photo_tags import TagSettings
from sinks.cassandra import execute


class TagSettingsStore:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._upsert = session.prepare(
            "INSERT INTO tag_settings (user_id, followed_only, manual_approval) VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._read = session.prepare("SELECT followed_only, manual_approval FROM tag_settings WHERE user_id = ?")

    async def write(self, user_id: str, settings: TagSettings, occurred_at_ms: int) -> None:
        """Absolute, timestamped with the event time: replays and duplicates change nothing."""
        await execute(self._session, *self.upsert(user_id, settings, occurred_at_ms))

    def upsert(self, user_id: str, settings: TagSettings, occurred_at_ms: int) -> tuple[Any, tuple[Any, ...]]:
        """:meth:`write` as a statement, for a caller that groups it with others."""
        return self._upsert, (user_id, settings.followed_only, settings.manual_approval, occurred_at_ms * 1000)

    async def of(self, user_id: str) -> TagSettings:
        row = (await execute(self._session, self._read, (user_id,))).one()
        return TagSettings(bool(row.followed_only), bool(row.manual_approval)) if row is not None else TagSettings()


def settings_of(event: dict[str, Any]) -> TagSettings | None:
    """The tag settings a profile-updated event carries; None for a v1/v2 event, which leaves them as they were
    (its fields decode as None: :attr:`photostream.contracts.catalog.TopicSpec.unchanged_unless_written`)."""
    followed_only, manual = event.get("tags_followed_only"), event.get("tags_manual_approval")
    if followed_only is None or manual is None:
        return None
    return TagSettings(bool(followed_only), bool(manual))
