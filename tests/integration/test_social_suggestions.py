"""``GET /users/me/suggestions`` through the real stack: a graph built by events the worker applies, then the
caller's suggestions ranked from it."""

from __future__ import annotations

import httpx
import pytest

from photostream.settings import Settings
from producers import events
from producers.publisher import Publisher
from tests.integration.conftest import Process, auth
from tests.integration.test_safety import Log


@pytest.fixture()
def log(publisher: Publisher, settings: Settings, worker: Process) -> Log:
    return Log(publisher, settings)


def test_suggestions_rank_friends_of_friends_and_followers_and_leave_out_followed_requested_and_blocked(
        client: httpx.Client, settings: Settings, log: Log) -> None:
    me, a, b, x, y, z, w, p = (log.user(name) for name in ("me", "a", "b", "x", "y", "z", "w", "p"))
    for follower, followee in ((me, a), (me, b), (a, x), (a, y), (b, x), (b, z), (a, p), (b, p), (w, me), (x, me)):
        log.follow(follower, followee)
    log.publish(events.follow_requested(follower_id=me, followee_id=p, action="request"))  # asked already
    log.publish(events.block_changed(actor_id=me, target_id=z, action="on"))
    log.settle()
    answer = client.get("/users/me/suggestions", headers=auth(settings, me))
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["id"], i["mutual_count"], [m["id"] for m in i["followed_by"]], i["follows_you"]) for i in items] == [
        (x, 2, [a, b], True),  # two of the caller's followees follow x, and x follows the caller
        (y, 1, [a], False),
        (w, 0, [], True),  # follows the caller, unanswered
    ]
    assert items[0]["username"].startswith("x_") and items[0]["display_name"] == "x"
    assert [i["id"] for i in client.get("/users/me/suggestions", headers=auth(settings, me),
                                        params={"limit": 1}).json()["items"]] == [x]
    assert client.get("/users/me/suggestions").status_code == 401
