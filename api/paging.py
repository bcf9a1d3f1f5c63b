"""Opaque keyset cursors and page limits shared by the list endpoints.

A cursor is the position of the last item handed out (an id in the list's clustering order), tagged with the
list's kind (and owner: :func:`list_of`) and base64url-encoded: opaque to clients, and stable while new items
arrive, because the next page is "strictly after this id", never "skip N". A cursor from another list (or
another owner's list of the same kind), or one that does not decode, is a 422 naming the field.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import Query

from api.errors import ApiError
from producers.ids import is_id

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
#: the longest cursor a list takes (a 422 beyond)
CURSOR_MAX = 200
Cursor = Annotated[str | None, Query(max_length=CURSOR_MAX, description="next_cursor of the previous page")]


def list_of(kind: str, owner: str) -> str:
    """The kind of one owner's list (a post's comments, a user's grid or followers, a tag's posts): its cursor
    is refused on any other (another post's comments answered a page of this one's, "older than" an unrelated
    id)."""
    return f"{kind}-{owner}"


def encode_cursor(kind: str, position: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str | None) -> str | None:
    """The id a page continues after, or None for the first page."""
    position = decode_position(kind, cursor)
    if position is not None and not is_id(position):
        raise ApiError(422, "invalid", "cursor: not a cursor from this list", "cursor")
    return position


def decode_position(kind: str, cursor: str | None) -> str | None:
    """The position text a cursor of ``kind`` carries (unchecked: for lists whose positions are not ids), or
    None for the first page; 422 for a cursor of another list or owner."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error):
        text = ""
    found_kind, _, position = text.partition(":")
    if found_kind != kind:
        raise ApiError(422, "invalid", "cursor: not a cursor from this list", "cursor")
    return position
