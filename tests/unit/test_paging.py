"""Cursors are opaque, bound to their list, and refused with a 422 naming the field; grid pages built from
thinned-out index slices neither skip nor repeat a post."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.paging import decode_cursor, encode_cursor, list_of
from api.routes.posts_read import GRID_MAX_SCANS, fill_page
from producers.ids import new_id


def test_a_cursor_round_trips_and_reveals_no_plain_id() -> None:
    position = new_id()
    cursor = encode_cursor("grid", position)
    assert position not in cursor and "=" not in cursor
    assert decode_cursor("grid", cursor) == position
    assert decode_cursor("grid", None) is None


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90LWEtY3Vyc29y", encode_cursor("comments", new_id()),
                                    encode_cursor("grid", "not-an-id")],
                         ids=["empty", "not-base64", "no-list-named", "another-lists", "no-id"])
def test_a_foreign_or_broken_cursor_is_422_naming_the_field(cursor: str) -> None:
    with pytest.raises(ApiError) as refused:
        decode_cursor("grid", cursor)
    assert (refused.value.status, refused.value.field) == (422, "cursor")


def grid(total: int, hidden: set[int]) -> tuple[list[str], object, object]:
    """An author's post ids newest first, and scan/hydrate functions in which ``hidden`` posts vanish."""
    ids = [f"{i:04d}" for i in range(total, 0, -1)]
    scans: list[int] = []

    async def scan(limit: int, before: str | None) -> list[str]:
        scans.append(limit)
        return [i for i in ids if before is None or i < before][:limit]

    async def hydrate(page: list[str]) -> list[dict[str, str]]:
        return [{"post_id": i} for i in page if int(i) not in hidden]

    return ids, scan, hydrate


async def walk(scan: object, hydrate: object, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        items, cursor = await fill_page(scan, hydrate, limit, cursor)  # type: ignore[arg-type]
        pages.append([i["post_id"] for i in items])
        if cursor is None:
            return pages


@pytest.mark.parametrize("hidden", [set(), {3, 4, 5, 6, 7}, set(range(1, 50, 2)), set(range(10, 40))])
async def test_grid_pages_cover_every_visible_post_exactly_once(hidden: set[int]) -> None:
    ids, scan, hydrate = grid(50, hidden)
    pages = await walk(scan, hydrate, 7)
    seen = [p for page in pages for p in page]
    assert seen == [i for i in ids if int(i) not in hidden]
    assert all(len(page) <= 7 for page in pages)


async def test_a_page_of_hidden_posts_stops_after_a_bounded_number_of_scans() -> None:
    ids, scan, hydrate = grid(100, set(range(1, 101)) - {1})
    items, cursor = await fill_page(scan, hydrate, 5, None)  # type: ignore[arg-type]
    assert items == [] and cursor == ids[5 * GRID_MAX_SCANS - 1]


def test_a_cursor_is_its_owners_list_only() -> None:
    mine, theirs, position = new_id(), new_id(), new_id()
    cursor = encode_cursor(list_of("comments", mine), position)
    assert decode_cursor(list_of("comments", mine), cursor) == position
    with pytest.raises(ApiError):
        decode_cursor(list_of("comments", theirs), cursor)
