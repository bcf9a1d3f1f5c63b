"""The lean lane of the three most-read routes (api.lean) through the real stack: the lane serves the plain
requests, and its answer is byte for byte the one the FastAPI route gives the same request (sent again with a
parameter the lane does not read and the route ignores); what it leaves to the route is answered as documented.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.lean import LeanRoute
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks.redis_client import sync_client
from tests.integration.conftest import Process, auth
from tests.integration.waiting import applied

APPLIERS = {"follow-changed": ("feeds", "notifications"), "post-created": ("feeds", "posts")}


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the lean lane served, in order."""
    paths: list[str] = []
    handle = LeanRoute.handle

    async def counted(self: LeanRoute, scope: Any, receive: Any, send: Any) -> None:
        paths.append(scope["path"])
        await handle(self, scope, receive, send)

    monkeypatch.setattr(LeanRoute, "handle", counted)
    return paths


@pytest.fixture()
def app(settings: Settings, worker: Process) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def test_the_lane_answers_the_plain_reads_as_their_routes_do(
        app: TestClient, served: list[str], settings: Settings, publisher: Publisher) -> None:
    reader, author = new_id(), new_id()
    post = events.post_created(author_id=author, caption="through the lane", image_ids=[new_id()])
    for event in (events.follow_changed(follower_id=reader, followee_id=author, action="follow"), post):
        sent = publisher.publish(event)  # (in turn: the post then reaches the feed by fan-out, as "followed")
        applied(sync_client(settings), [(sent.topic, sent.partition, sent.offset)], APPLIERS.__getitem__)
    first_page: dict[str, Any] = {}
    for path, user in [("/api/v1/feed", reader), ("/api/v1/feed?limit=1", reader),
                       ("/api/v1/users/me/status", reader), (f"/api/v1/users/{reader}/status", reader),
                       ("/api/v1/notifications", author), ("/api/v1/notifications?limit=1", author)]:
        routed_path = path + ("&" if "?" in path else "?") + "via=route"
        app.get(routed_path, headers=auth(settings, user))  # (a first read may build what later ones read)
        served.clear()
        lean = app.get(path, headers=auth(settings, user))
        assert served == [path.partition("?")[0]], path
        routed = app.get(routed_path, headers=auth(settings, user))
        assert served == [path.partition("?")[0]], f"{path}: the route, not the lane, serves an unknown parameter"
        assert lean.status_code == routed.status_code == 200, (path, lean.text, routed.text)
        assert lean.content == routed.content, path
        assert lean.headers["content-type"] == routed.headers["content-type"] == "application/json"
        first_page.setdefault(path.partition("?")[0], lean.json())
    # (what was compared held the test's data)
    assert [item["post_id"] for item in first_page["/api/v1/feed"]["items"]] == [post.value["post_id"]]
    assert [item["kind"] for item in first_page["/api/v1/notifications"]["items"]] == ["follow"]


def test_what_the_lane_leaves_to_the_route_is_answered_as_documented(
        app: TestClient, served: list[str], settings: Settings) -> None:
    user = new_id()
    assert app.get("/api/v1/feed").status_code == 401
    assert app.get("/api/v1/notifications", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    refused = app.get("/api/v1/feed?limit=0", headers=auth(settings, user))
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "limit", refused.text
    assert app.get("/api/v1/users/me/status?detail=1", headers=auth(settings, user)).json()["sender_ids"] == []
    assert served == []
    # the endpoint's own refusals come through the lane unchanged
    someone = new_id()
    assert app.get(f"/api/v1/users/{someone}/status", headers=auth(settings, user)).status_code == 403
    assert served == [f"/api/v1/users/{someone}/status"]
    served.clear()
    foreign = app.get("/api/v1/feed?cursor=not-a-cursor", headers=auth(settings, user))
    assert served == ["/api/v1/feed"]
    assert foreign.status_code == 422 and foreign.json()["error"]["field"] == "cursor", foreign.text
