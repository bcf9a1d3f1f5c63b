"""The write gateway: authenticated, validated, rate-limited writes that become events."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.consistency import ConsistencyToken
from photostream.settings import Settings
from producers.ids import new_id
from tests.integration.conftest import auth
from tests.integration.kafka_read import read_event
from tests.integration.photos import upload_photo
from tests.integration.test_accounts import register


def event_of(settings: Settings, token: str) -> dict:
    t = ConsistencyToken.decode(token)
    return read_event(settings, t.topic, t.partition, t.offset)


def new_post(client: httpx.Client, settings: Settings, user: str, **body) -> httpx.Response:
    """A post showing a photo the user uploaded and completed (the only kind a post may show)."""
    return client.post("/posts", headers=auth(settings, user),
                       json={"caption": "hello #World", "image_ids": [upload_photo(client, settings, user)]} | body)


def test_a_post_is_published_with_the_token_subject_as_author(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    answer = new_post(client, settings, user)
    assert answer.status_code == 202, answer.text
    body = answer.json()
    event = event_of(settings, body["token"])
    assert event["event_id"] == body["event_id"] and event["post_id"] == body["id"]
    assert event["author_id"] == user and event["caption"] == "hello #World"


def test_the_author_cannot_be_chosen_in_the_body(client: httpx.Client, settings: Settings) -> None:
    answer = new_post(client, settings, new_id(), author_id=new_id())
    assert answer.status_code == 422
    assert answer.json()["error"] == {"code": "unknown_field", "field": "author_id",
                                      "message": answer.json()["error"]["message"]}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic eDp5"}])
def test_missing_or_invalid_token_is_401(client: httpx.Client, headers: dict) -> None:
    answer = client.post("/posts", headers=headers, json={"caption": "x", "image_ids": [new_id()]})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"


def test_a_token_signed_with_another_secret_is_401(client: httpx.Client, settings: Settings) -> None:
    other = Settings(jwt_secret="another-secret-entirely-0123456789-abcdefgh")
    answer = client.post("/posts", headers=auth(other, new_id()), json={"caption": "x", "image_ids": [new_id()]})
    assert answer.status_code == 401


@pytest.mark.parametrize(("body", "field"), [
    ({"caption": "x" * 2201, "image_ids": ["IMG"]}, "caption"),
    ({"caption": " ".join(f"#t{i}" for i in range(31)), "image_ids": ["IMG"]}, "caption"),
    ({"caption": "x", "image_ids": ["IMG"] * 11}, "image_ids"),
    ({"caption": "x", "image_ids": []}, "image_ids"),
    ({"caption": "x", "image_ids": ["not-a-uuid"]}, "image_ids"),
    ({"caption": "x", "image_ids": ["IMG", "IMG"]}, "image_ids"),  # a photo shown twice
    ({"caption": "x"}, "image_ids"),
    ({"caption": "x", "image_ids": ["IMG"], "visibility": "world"}, "visibility"),
])
def test_bad_posts_are_422_naming_the_field(client: httpx.Client, settings: Settings, body: dict,
                                            field: str) -> None:
    image = new_id()
    body = {k: ([image if i == "IMG" else i for i in v] if k == "image_ids" else v) for k, v in body.items()}
    answer = client.post("/posts", headers=auth(settings, new_id()), json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field


def test_an_empty_body_is_422(client: httpx.Client, settings: Settings) -> None:
    answer = client.post("/posts", headers=auth(settings, new_id()))
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "body"


def test_ids_that_do_not_parse_are_422(client: httpx.Client, settings: Settings) -> None:
    answer = client.post("/users/42/follow", headers=auth(settings, new_id()))
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "user_id"
    answer = client.post("/posts/xyz/like", headers=auth(settings, new_id()))
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "post_id"


def test_following_yourself_is_422_naming_the_paths_field(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    for method in ("POST", "DELETE"):
        answer = client.request(method, f"/users/{user}/follow", headers=auth(settings, user))
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "user_id"


def test_credentials_that_are_no_bearer_token_are_a_401_never_an_anonymous_read(client: httpx.Client) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Token abc"}):
        assert client.get("/users/me", headers=headers).status_code == 401, headers
    assert client.get(f"/users/{new_id()}", headers={"Authorization": "Basic dXNlcjpwYXNz"}).status_code == 401
    assert client.get(f"/users/{new_id()}").status_code == 404  # anonymous, no credentials: a public read


def test_follow_like_comment_become_events(client: httpx.Client, settings: Settings) -> None:
    user, other = new_id(), str(register(client)["id"])  # (a follow needs a real account)
    created = new_post(client, settings, other).json()  # likes and comments need a post the liker may see
    post = created["id"]
    assert client.get(f"/posts/{post}", params={"after": created["token"]}).status_code == 200
    follow = client.post(f"/users/{other}/follow", headers=auth(settings, user)).json()
    ev = event_of(settings, follow["token"])
    assert (ev["follower_id"], ev["followee_id"], ev["action"]) == (user, other, "follow")
    ev = event_of(settings, client.delete(f"/users/{other}/follow", headers=auth(settings, user)).json()["token"])
    assert ev["action"] == "unfollow"
    ev = event_of(settings, client.post(f"/posts/{post}/like", headers=auth(settings, user)).json()["token"])
    assert (ev["post_id"], ev["user_id"], ev["action"]) == (post, user, "like")
    ev = event_of(settings, client.delete(f"/posts/{post}/like", headers=auth(settings, user)).json()["token"])
    assert ev["action"] == "unlike"
    answer = client.post(f"/posts/{post}/comments", headers=auth(settings, user), json={"text": "nice"})
    assert answer.status_code == 202
    ev = event_of(settings, answer.json()["token"])
    assert (ev["post_id"], ev["user_id"], ev["text"], ev["comment_id"]) == (post, user, "nice", answer.json()["id"])


def test_only_the_author_may_delete_a_post(client: httpx.Client, settings: Settings) -> None:
    author, stranger = new_id(), new_id()
    created = new_post(client, settings, author).json()
    seen = client.get(f"/posts/{created['id']}", params={"after": created["token"]})
    assert seen.status_code == 200 and seen.json()["author"]["id"] == author
    assert client.delete(f"/posts/{created['id']}", headers=auth(settings, stranger)).status_code == 403
    deleted = client.delete(f"/posts/{created['id']}", headers=auth(settings, author))
    assert deleted.status_code == 202
    gone = client.get(f"/posts/{created['id']}", params={"after": deleted.json()["token"]})
    assert gone.status_code == 404


def test_deleting_an_unknown_post_is_404(client: httpx.Client, settings: Settings) -> None:
    assert client.delete(f"/posts/{new_id()}", headers=auth(settings, new_id())).status_code == 404


def test_posting_too_fast_is_429_with_retry_after(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    statuses = [new_post(client, settings, user).status_code for _ in range(settings.rate_limit_posts_burst)]
    assert statuses == [202] * settings.rate_limit_posts_burst
    limited = new_post(client, settings, user)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert new_post(client, settings, new_id()).status_code == 202  # other users are unaffected


def test_a_broker_that_does_not_acknowledge_is_503_never_202(client: httpx.Client, settings: Settings) -> None:
    user = new_id()
    photo = upload_photo(client, settings, user)
    dead = settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1", "publish_timeout_s": 1.5})
    with TestClient(create_app(dead)) as app_client:
        answer = app_client.post("/api/v1/posts", headers=auth(settings, user),
                                 json={"caption": "x", "image_ids": [photo]})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["error"]["code"] == "unavailable"
