"""The caller's notifications: `GET /notifications` (newest first) and `POST /notifications/mark-read`.

Only the caller's own: the user is the verified token's subject, never a parameter. Marking read is the one
write here that does not go through Kafka: a read mark is the reader's private position (nothing else consumes
it), so the API raises it durably (``notification_reads``, a max-wins timestamped upsert) and then in Redis,
which pings the status stream with the new unread count.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth import InvalidTokenError
from api.deps import CurrentUser, SignedClaims, unauthorized
from api.errors import ApiError
from api.notifications import NotificationReads
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_position, encode_cursor, list_of
from photostream.domain.notifications import ListPosition, parse_list_position, parse_notification_id

router = APIRouter(tags=["notifications"])


class MarkReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    up_to: str | None = Field(default=None, max_length=200,
                              description="a notification id: it and everything before it become read; "
                                          "omitted: every notification")


def reads_of(request: Request) -> NotificationReads:
    """The process's reader, prepared on first use."""
    state = request.app.state
    if getattr(state, "notification_reads", None) is None:
        state.notification_reads = NotificationReads(state.settings, state.resources)
    reads: NotificationReads = state.notification_reads
    return reads


def _checked(value: str, field: str) -> str:
    try:
        parse_notification_id(value)
    except ValueError:
        raise ApiError(422, "invalid", f"{field}: not a notification id", field) from None
    return value


def _position(cursor: str, user: str) -> ListPosition:
    """The position a cursor of the user's own list carries (another user's cursor is a 422, as for every list:
    a plain position was accepted from anyone, and carried a post id of theirs)."""
    try:
        return parse_list_position(decode_position(list_of("notifications", user), cursor) or "")
    except ValueError:
        raise ApiError(422, "invalid", "cursor: not a cursor of this list", "cursor") from None


@router.get("/notifications")
async def get_notifications(request: Request, claims: SignedClaims, limit: Limit = DEFAULT_LIMIT,
                            cursor: Cursor = None) -> dict[str, Any]:
    """``{items: [{id, kind, target {kind, id}, actors [{id, username}], actor_count, read, updated_at}],
    next_cursor}``, newest first by ``updated_at`` (an update moves a notification to the top); the cursor is the
    page's last position: an item updated meanwhile is not served twice, and one not yet served that an update
    moves above the cursor is left to the list's top (a refresh shows it, as a new one), as in every feed
    ordered by activity. The token's revocation is checked in the page's own Redis read."""
    mine = list_of("notifications", claims.user_id)
    position = _position(cursor, claims.user_id) if cursor is not None else None  # ("" is no cursor: a 422)
    try:
        page = await reads_of(request).page_checked(claims, position, limit)
    except InvalidTokenError as exc:
        raise unauthorized(exc) from None
    return {"items": page.items, "next_cursor": encode_cursor(mine, page.next_cursor) if page.next_cursor else None}


@router.post("/notifications/mark-read")
async def mark_read(request: Request, user: CurrentUser, body: MarkReadIn | None = None) -> dict[str, Any]:
    """``{read_at, unread_notifications}``; 404 if the caller has no notification with that id. No body (or
    ``{}``): everything is read."""
    reads = reads_of(request)
    up_to = body.up_to if body is not None else None
    read_at = await reads.mark_read(user, _checked(up_to, "up_to") if up_to is not None else None)
    if read_at is None:
        raise ApiError(404, "not_found", "no such notification", "up_to")
    return {"read_at": read_at, "unread_notifications": await reads.unread(user)}
