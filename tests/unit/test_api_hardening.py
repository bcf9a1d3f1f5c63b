"""The API's errors and limits, through the real app with fake stores: outages are 503, surprises 500 without
internals, big bodies 413, forged consistency tokens 422, non-canonical ids 422, busy addresses 429."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis.exceptions
from cassandra import ReadTimeout
from cassandra.cluster import NoHostAvailable
from fastapi import Request
from fastapi.testclient import TestClient

from api.app import PREFIX, create_app
from api.consistency import ConsistencyToken, token_key
from photostream.settings import Settings
from producers.ids import is_id, new_id
from tests.integration.conftest import auth

SETTINGS = Settings(max_request_body_bytes=1000, rate_limit_reads_burst=3)


class FakeRedis:
    """Answers the rate-limit script with a fixed decision, misses every cache, or fails like a dead server."""

    def __init__(self, decision: tuple[int, int] = (1, 0), down: bool = False) -> None:
        self.decision, self.down, self.script_calls = decision, down, 0

    async def evalsha(self, *_: Any) -> list[int]:
        self.script_calls += 1
        if self.down:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
        return list(self.decision)

    async def hgetall(self, _: str) -> dict[str, str]:
        if self.down:  # the read limit fails open (api.degraded): the route's own read meets the dead server
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
        return {}

    async def refused(self, *_: Any) -> bool:
        """No access token is revoked (the revocation ledger of api.auth.verify_access)."""
        if self.down:
            raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6399. Connection refused.")
        return False


class FailingSession:
    """A Cassandra session whose every statement fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def execute_async(self, *_: Any, **__: Any) -> Any:
        raise self.error


def client_with(redis: FakeRedis, session: Any = None, settings: Settings = SETTINGS) -> TestClient:
    """The app with fake resources (no lifespan: nothing connects anywhere)."""
    app = create_app(settings)
    app.state.resources = SimpleNamespace(redis=redis, session=session, publisher=None, revocations=redis)

    @app.get(PREFIX + "/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.post(PREFIX + "/test/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture()
def api() -> Iterator[TestClient]:
    yield client_with(FakeRedis())


# --- store outages and unexpected errors ---------------------------------------------------------------------
def test_a_redis_outage_is_a_503_with_retry_after_and_no_internals() -> None:
    answer = client_with(FakeRedis(down=True)).get(f"{PREFIX}/users/{new_id()}")
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"
    assert answer.json() == {"error": {"code": "unavailable", "message": "a data store is unavailable; retry later"}}


@pytest.mark.parametrize("error", [NoHostAvailable("no hosts", {"127.0.0.1:9042": OSError("refused")}),
                                   ReadTimeout("timed out", consistency=1, required_responses=1,
                                               received_responses=0)], ids=["no-host", "read-timeout"])
def test_a_cassandra_outage_in_a_route_is_a_503(error: Exception) -> None:
    answer = client_with(FakeRedis(), FailingSession(error)).get(f"{PREFIX}/users/{new_id()}")
    assert answer.status_code == 503, answer.text
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["error"]["code"] == "unavailable"
    assert "127.0.0.1" not in answer.text


def test_an_unexpected_error_is_a_500_in_the_error_shape_without_internals(api: TestClient,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    answer = api.get(f"{PREFIX}/test/boom")
    assert answer.status_code == 500
    assert answer.json() == {"error": {"code": "internal", "message": "internal error"}}
    assert "hunter2" not in answer.text
    assert any("hunter2" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)  # but logged


# --- body size -----------------------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_a_413_from_its_content_length(api: TestClient) -> None:
    answer = api.post(f"{PREFIX}/test/echo", content=b"x" * 1001)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_a_body_at_the_limit_is_read(api: TestClient) -> None:
    assert api.post(f"{PREFIX}/test/echo", content=b"x" * 1000).json() == {"bytes": 1000}


def test_a_chunked_body_is_cut_off_as_it_streams_past_the_limit(api: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"x" * 300  # no Content-Length: only the streamed total can tell

    answer = api.post(f"{PREFIX}/test/echo", content=chunks())
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_a_real_route_refuses_an_oversized_json_body(api: TestClient) -> None:
    answer = api.post(f"{PREFIX}/posts", json={"caption": "x" * 2000, "image_ids": [new_id()]},
                      headers=auth(SETTINGS, new_id()))
    assert answer.status_code == 413


# --- consistency tokens --------------------------------------------------------------------------------------
def test_a_forged_consistency_token_is_refused_naming_after(api: TestClient) -> None:
    forged = ConsistencyToken("post-created", 0, 10**12).encode(token_key(Settings(jwt_secret="y" * 40)))
    answer = api.get(f"{PREFIX}/users/{new_id()}", params={"after": forged})
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "after"


def test_a_genuine_consistency_token_passes_the_guard() -> None:
    redis = FakeRedis()
    answer = client_with(redis, FailingSession(NoHostAvailable("down", {}))).get(
        f"{PREFIX}/users/{new_id()}", params={"after": ConsistencyToken("nowhere", 0, 1).encode(token_key(SETTINGS))})
    assert answer.status_code == 503  # it got past the guard and the limiter, into the route
    assert redis.script_calls == 1


# --- ids -----------------------------------------------------------------------------------------------------
def test_only_canonical_lower_case_ids_are_ids() -> None:
    user = new_id()
    assert is_id(user)
    assert not is_id(user.upper())
    assert not is_id(user.replace("-", ""))
    assert not is_id("{" + user + "}")


def test_an_upper_case_id_is_a_422_naming_the_field(api: TestClient) -> None:
    me = new_id()
    answer = api.post(f"{PREFIX}/users/{me.upper()}/follow", headers=auth(SETTINGS, me))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "user_id"


def test_following_yourself_is_a_422(api: TestClient) -> None:
    me = new_id()
    answer = api.post(f"{PREFIX}/users/{me}/follow", headers=auth(SETTINGS, me))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "user_id"  # the path's field, the one the client sent


# --- read rate limit -----------------------------------------------------------------------------------------
def test_a_read_over_the_address_limit_is_a_429_with_retry_after() -> None:
    answer = client_with(FakeRedis(decision=(0, 2500))).get(f"{PREFIX}/users/{new_id()}")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "3"
    assert answer.json()["error"]["code"] == "rate_limited"


def test_health_and_writes_do_not_spend_read_tokens() -> None:
    redis = FakeRedis(decision=(0, 1000))
    api = client_with(redis)
    assert api.get("/healthz").status_code == 200
    assert api.post(f"{PREFIX}/test/echo", content=b"{}").status_code == 200
    assert redis.script_calls == 0


def test_a_read_rate_of_zero_leaves_the_limit_out() -> None:
    redis = FakeRedis(decision=(0, 1000))
    api = client_with(redis, FailingSession(NoHostAvailable("down", {})),
                      Settings(rate_limit_reads_per_second=0))
    assert api.get(f"{PREFIX}/users/{new_id()}").status_code == 503  # past the (absent) limiter, into the route
    assert redis.script_calls == 0


@pytest.mark.parametrize("content", [
    b'{"caption": "hi", ',  # cut short
    b'{"caption": "\xff"}',  # not UTF-8 (it was FastAPI's own 400, code "error", no field; so was JSON nested
])                              # past the parser's depth, which needs a body over this test app's size limit
def test_a_body_that_is_not_json_is_a_422_naming_the_body(api: TestClient, content: bytes) -> None:
    me = new_id()
    answer = api.post(f"{PREFIX}/posts", headers=auth(SETTINGS, me) | {"Content-Type": "application/json"},
                      content=content)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == "body" and answer.json()["error"]["message"].startswith("body: ")


@pytest.mark.parametrize(("body", "field"), [
    ({"is_private": "yes"}, "is_private"),
    ({"is_private": 1}, "is_private"),
    ({"tags_manual_approval": "true"}, "tags_manual_approval"),
    ({"display_name": "a\x00b"}, "display_name"),
    ({"display_name": "two\nlines"}, "display_name"),
    ({"bio": "bell\x07"}, "bio"),
])
def test_a_profile_edit_is_strict_about_flags_and_control_characters(api: TestClient, body: dict[str, object],
                                                                     field: str) -> None:
    answer = api.patch(f"{PREFIX}/users/me", headers=auth(SETTINGS, new_id()), json=body)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == field, answer.text


def test_a_trailing_slash_is_the_404_of_an_unknown_path_not_a_redirect(api: TestClient) -> None:
    """It was a 307 with an empty body (a client re-sending a POST's body to the new address, or not)."""
    answer = api.post(f"{PREFIX}/posts/", headers=auth(SETTINGS, new_id()), json={}, follow_redirects=False)
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found", answer.text


def test_head_is_the_get_of_the_path_without_its_body(api: TestClient) -> None:
    """It was a 405 on every route (FastAPI routes list GET only): proxies, CDNs and link checkers use HEAD."""
    user = new_id()
    got = api.get(f"{PREFIX}/users/{user}/status", headers=auth(SETTINGS, new_id()))
    head = api.head(f"{PREFIX}/users/{user}/status", headers=auth(SETTINGS, new_id()))
    assert head.status_code == got.status_code == 403 and head.content == b"", head.text
    assert head.headers["content-length"] == got.headers["content-length"]
    assert api.head("/healthz").status_code == api.get("/healthz").status_code


def test_head_of_a_write_only_path_is_still_a_405(api: TestClient) -> None:
    assert api.head(f"{PREFIX}/test/echo").status_code == 405


def test_a_head_is_counted_under_its_route(api: TestClient) -> None:
    """The router records the matched route in the request's scope: HEAD ran the app on a copy, and every HEAD
    was counted under route "unmatched"."""
    from prometheus_client import REGISTRY

    def heads(route: str) -> float:
        return REGISTRY.get_sample_value("photostream_http_requests_total",
                                         {"method": "HEAD", "route": route, "status": "403"}) or 0.0

    route = "/users/{user_id}/status"  # (the template under the API prefix)
    before = heads(route)
    assert api.head(f"{PREFIX}/users/{new_id()}/status", headers=auth(SETTINGS, new_id())).status_code == 403
    assert heads(route) == before + 1


def test_a_configured_web_origin_gets_its_preflight_and_reads_the_headers_it_acts_on() -> None:
    """A browser app on another origin could not call the API at all (OPTIONS was a 405, no CORS headers)."""
    origin = "https://app.example"
    api = client_with(FakeRedis(), settings=SETTINGS.model_copy(update={"cors_allow_origins": [origin]}))
    preflight = api.options(f"{PREFIX}/posts", headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers":
                                                            "authorization,content-type,idempotency-key"})
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "POST" in preflight.headers["access-control-allow-methods"]
    answer = api.get("/healthz", headers={"Origin": origin})
    assert answer.headers["access-control-allow-origin"] == origin
    assert "Retry-After" in answer.headers["access-control-expose-headers"]
    # another origin, or none configured: no CORS headers (the browser refuses the page's call)
    assert "access-control-allow-origin" not in api.get("/healthz", headers={"Origin": "https://evil.example"}).headers
    plain = client_with(FakeRedis())
    assert "access-control-allow-origin" not in plain.get("/healthz", headers={"Origin": origin}).headers


def test_the_openapi_document_says_how_every_operation_refuses_and_where_a_token_is_optional(api: TestClient) -> None:
    """Generated clients read no error body but 422's, and sent a token to the public reads (every route was
    listed as requiring one)."""
    document = api.get("/openapi.json").json()
    assert set(document["components"]["securitySchemes"]) == {"HTTPBearer"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("4XX", "503"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert document["paths"][f"{PREFIX}/posts/{{post_id}}"]["get"]["security"] == [{}, {"HTTPBearer": []}]
    assert document["paths"][f"{PREFIX}/feed"]["get"]["security"] == [{"HTTPBearer": []}]


def test_a_body_of_a_type_the_api_cannot_read_is_a_415_naming_the_type_to_send(api: TestClient) -> None:
    """It was a 422 "Input should be a valid dictionary" for a body the client believed valid."""
    for sent in ("text/plain", "application/x-www-form-urlencoded"):
        answer = api.post(f"{PREFIX}/test/echo", content=b'{"caption": "x"}', headers={"Content-Type": sent})
        assert answer.status_code == 415, answer.text
        assert answer.json()["error"]["code"] == "unsupported_media_type" and "application/json" in answer.text
    for fine in ("application/json", "application/json; charset=utf-8", "application/merge-patch+json"):
        assert api.post(f"{PREFIX}/test/echo", content=b"{}", headers={"Content-Type": fine}).status_code == 200
    assert api.post(f"{PREFIX}/test/echo", content=b"{}").status_code == 200  # no type: read as JSON


def test_a_405_names_every_method_of_the_path(api: TestClient) -> None:
    """Starlette's Allow named the first route matching the path only: a client PATCHing a block was told to use
    the one method of whichever route was declared first."""
    answer = api.patch(f"{PREFIX}/users/{new_id()}/block", headers=auth(SETTINGS, new_id()))
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed", answer.text
    assert set(answer.headers["allow"].split(", ")) == {"POST", "DELETE"}, answer.headers


def test_a_405_of_a_read_path_allows_head(api: TestClient) -> None:
    answer = api.delete("/healthz")
    assert answer.status_code == 405 and set(answer.headers["allow"].split(", ")) == {"GET", "HEAD"}, answer.headers
