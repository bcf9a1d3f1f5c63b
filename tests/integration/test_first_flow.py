"""The first flow through every layer: SDK → Kafka → worker → Cassandra + Redis → API."""

from __future__ import annotations

import httpx

from api.consistency import ConsistencyToken, token_key
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishResult
from sinks import keys
from sinks.cassandra import connect
from sinks.redis_client import sync_client


def token_of(result: PublishResult, settings: Settings) -> str:
    return ConsistencyToken(result.topic, result.partition, result.offset).encode(token_key(settings))


def test_a_registered_user_is_readable_through_the_api(
    publisher: Publisher, client: httpx.Client, settings: Settings
) -> None:
    user = new_id()
    result = publisher.publish(events.user_registered(user_id=user, username=f"u{user[-8:]}",
                                                      display_name="Ada", bio="hello"))
    answer = client.get(f"/users/{user}", params={"after": token_of(result, settings)})
    assert answer.status_code == 200, answer.text
    assert "X-Photostream-Consistency" not in answer.headers
    assert answer.json()["display_name"] == "Ada" and answer.json()["bio"] == "hello"

    cluster, session = connect(settings)
    try:
        row = session.execute("SELECT display_name FROM users WHERE user_id = %s", (user,)).one()
        assert row.display_name == "Ada"
    finally:
        cluster.shutdown()
    assert sync_client(settings).hget(keys.user_profile(user), "display_name") == "Ada"


def test_a_replayed_older_profile_does_not_overwrite_a_newer_one(
    publisher: Publisher, client: httpx.Client, settings: Settings
) -> None:
    user = new_id()
    newer = events.profile_updated(user_id=user, username="new", display_name="Newer", is_private=False,
                                   tags_followed_only=False, tags_manual_approval=False)
    older = events.build("profile-updated", {"user_id": user, "username": "old", "display_name": "Older",
                                             "is_private": False, "tags_followed_only": False,
                                             "tags_manual_approval": False,
                                             "occurred_at": newer.value["occurred_at"] - 60_000})
    publisher.publish(newer)
    result = publisher.publish(older)  # arrives later, happened earlier
    answer = client.get(f"/users/{user}", params={"after": token_of(result, settings)})
    assert answer.json()["display_name"] == "Newer"


def test_an_unknown_user_is_404_with_the_error_shape(client: httpx.Client) -> None:
    answer = client.get(f"/users/{new_id()}")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
