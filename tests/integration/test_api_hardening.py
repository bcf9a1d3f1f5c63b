"""Errors and limits through real API processes: forged consistency tokens, body limits, canonical ids, store
outages (each given to an API process of its own — a dead Redis port, a Cassandra behind a proxy the test cuts —
never to the shared services) and the per-address read limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager

import httpx
import pytest

from api import ratelimit
from api.consistency import ConsistencyToken, token_key
from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys
from sinks.redis_client import async_client
from tests.integration.conftest import Process, auth, free_port
from tests.integration.tcp_proxy import TcpProxy

ERROR_KEYS = {"code", "message"}


def start_api(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, name: str, **overrides: str) -> Process:
    """An API process of this test's own (ready once it is alive: its stores may be meant to be down)."""
    port = str(free_port())
    env = env | {"PHOTOSTREAM_API_PORT": port} | {f"PHOTOSTREAM_{k.upper()}": v for k, v in overrides.items()}
    return Process(["api"], env, tmp_path_factory.mktemp("logs") / f"{name}.log", f"http://127.0.0.1:{port}/healthz")


def base_of(process: Process) -> str:
    return process.ready_url.removesuffix("/healthz")


@contextmanager
def ready_api(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, name: str,
              **overrides: str) -> Iterator[str]:
    """:func:`start_api`, its base URL once ``/readyz`` answers (every store up before a fault is staged)."""
    proc = start_api(env, tmp_path_factory, name, **overrides)
    try:
        proc.wait_http(base_of(proc) + "/readyz")
        yield base_of(proc)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def redis_down_api(test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API whose Redis is a port where nothing listens."""
    proc = start_api(test_env, tmp_path_factory, "api-redis-down", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    yield base_of(proc)
    proc.stop()


@pytest.fixture(scope="module")
def cassandra_proxy(settings: Settings) -> TcpProxy:
    return TcpProxy(("127.0.0.1", settings.cassandra_port))


@pytest.fixture(scope="module")
def limited_api(test_env: dict[str, str], cassandra_proxy: TcpProxy,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API with a tight per-address read limit whose Cassandra connection goes through a cuttable proxy."""
    with ready_api(test_env, tmp_path_factory, "api-limited", cassandra_port=str(cassandra_proxy.port),
                   rate_limit_reads_per_second="0.01", rate_limit_reads_burst="3",
                   trusted_proxies="127.0.0.1") as base:  # (the tests play a proxy naming clients)
        yield base


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert int(answer.headers["Retry-After"]) > 0
    assert set(answer.json()["error"]) == ERROR_KEYS
    assert answer.json()["error"]["code"] == "unavailable"


# --- consistency tokens -------------------------------------------------------------------------------------------
def test_a_forged_consistency_token_is_refused_at_once(api_url: str) -> None:
    forged = ConsistencyToken("post-created", 0, 10**15).encode(token_key(Settings(jwt_secret="f" * 40)))
    # a token the API would honour makes a read wait up to 5 s: this one must not wait at all
    answer = httpx.get(f"{api_url}/api/v1/users/{new_id()}", params={"after": forged}, timeout=2.5)
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "after"
    for name in ("%61fter", "aft%65r"):  # the name percent-encoded, as the routes read it: it passed, and waited 5 s
        answer = httpx.get(f"{api_url}/api/v1/users/{new_id()}?{name}={forged}", timeout=2.5)
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "after", answer.text


def test_a_token_from_the_api_is_accepted(client: httpx.Client, settings: Settings) -> None:
    me, other = new_id(), new_id()
    muted = client.post(f"/users/{other}/mute", headers=auth(settings, me))
    assert muted.status_code == 202, muted.text
    read = client.get(f"/users/{other}", params={"after": muted.json()["token"]})
    assert read.status_code == 404, read.text  # past the token check, into the route: nobody registered them
    assert read.json()["error"]["field"] == "user_id"


# --- body size ----------------------------------------------------------------------------------------------------
def test_a_body_over_a_mebibyte_is_a_413(client: httpx.Client, settings: Settings) -> None:
    answer = client.post("/posts", headers=auth(settings, new_id()) | {"Content-Type": "application/json"},
                         content=b'{"caption": "' + b"x" * (1024 * 1024) + b'"}')
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "too_large"


def test_a_chunked_body_over_the_limit_is_a_413(client: httpx.Client, settings: Settings) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"caption": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    answer = client.post("/posts", headers=auth(settings, new_id()) | {"Content-Type": "application/json"},
                         content=chunks())
    assert answer.status_code == 413


# --- ids ----------------------------------------------------------------------------------------------------------
def test_following_yourself_in_upper_case_is_a_422(client: httpx.Client, settings: Settings) -> None:
    me = new_id()
    answer = client.post(f"/users/{me.upper()}/follow", headers=auth(settings, me))
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "user_id"


def test_following_yourself_is_a_422(client: httpx.Client, settings: Settings) -> None:
    me = new_id()
    answer = client.post(f"/users/{me}/follow", headers=auth(settings, me))
    assert answer.status_code == 422


def test_an_upper_case_id_in_a_read_is_a_422(client: httpx.Client) -> None:
    answer = client.get(f"/users/{new_id().upper()}")
    assert answer.status_code == 422
    assert answer.json()["error"]["field"] == "user_id"


# --- outages ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def s3_proxy(settings: Settings) -> TcpProxy:
    return TcpProxy(("127.0.0.1", settings.s3_port))


@pytest.fixture(scope="module")
def s3_stall_api(test_env: dict[str, str], s3_proxy: TcpProxy,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An API whose S3 goes through a proxy that can hold every byte, with one S3 thread and a short queue wait."""
    with ready_api(test_env, tmp_path_factory, "api-s3-stall", s3_endpoint_url=f"http://127.0.0.1:{s3_proxy.port}",
                   s3_threads="1", s3_queue_wait_s="0.5") as base:
        yield base


def test_a_stalled_s3_is_a_prompt_503_and_starves_no_login(s3_stall_api: str, s3_proxy: TcpProxy,
                                                          settings: Settings) -> None:
    """S3 calls ran on the default thread pool (6 threads on two cores) that password checks share: an S3 that
    stopped answering held them all, image and upload requests queued for as long as it stayed silent, and a
    login queued behind them. Now S3 calls have threads of their own (``S3_THREADS``), a call that finds them busy
    for ``S3_QUEUE_WAIT_S`` is answered 503 at once, and the call S3 never answers ends as a 503 too (a read
    timeout answered 500)."""
    api = f"{s3_stall_api}/api/v1"
    user = new_id()
    tickets = [httpx.post(f"{api}/uploads", headers=auth(settings, user), json={}) for _ in range(8)]
    assert all(t.status_code == 201 for t in tickets), tickets[0].text

    def complete(ticket: httpx.Response) -> tuple[httpx.Response, float]:
        started = time.monotonic()
        answer = httpx.post(f"{api}/uploads/{ticket.json()['image_id']}/complete", headers=auth(settings, user),
                            timeout=90)
        return answer, time.monotonic() - started

    s3_proxy.pause()
    try:
        with ThreadPoolExecutor(len(tickets)) as pool:
            completions = [pool.submit(complete, t) for t in tickets]
            refused = []
            for finished in as_completed(completions, timeout=60):
                refused.append(finished.result())
                if len(refused) == len(tickets) - 1:
                    break
            assert sum(not f.done() for f in completions) == 1  # the call S3 holds is still waiting
            login_started = time.monotonic()
            login = httpx.post(f"{api}/auth/login", json={"login": f"nobody{user[:8]}", "password": "wrong-password"},
                               timeout=30)
            login_s = time.monotonic() - login_started
            answers = [f.result() for f in completions]
    finally:
        s3_proxy.resume()
    # one call held the only S3 thread until S3's read timeouts; the others were refused after the queue wait
    assert all(seconds < 5 for _, seconds in refused), [(a.status_code, round(s, 1)) for a, s in answers]
    for answer, _ in answers:
        assert_unavailable(answer)
    assert login.status_code == 401 and login_s < 5, (login.status_code, login_s)


def test_a_redis_outage_is_a_503_in_the_error_shape(redis_down_api: str) -> None:
    assert_unavailable(httpx.get(f"{redis_down_api}/api/v1/users/{new_id()}", timeout=10))
    assert_unavailable(httpx.get(f"{redis_down_api}/api/v1/hashtags/sunset", timeout=10))


def test_readiness_names_the_failed_dependency_without_details(redis_down_api: str) -> None:
    answer = httpx.get(f"{redis_down_api}/readyz", timeout=10)
    assert answer.status_code == 503
    assert answer.json() == {"ready": False, "checks": {"kafka": {"ok": True}, "cassandra": {"ok": True},
                                                        "redis": {"ok": False}, "s3": {"ok": True}}}


def test_reads_are_limited_per_client_address(limited_api: str) -> None:
    url = f"{limited_api}/api/v1/users/{new_id()}"
    busy, other = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "203.0.113.8"}
    assert [httpx.get(url, headers=busy).status_code for _ in range(3)] == [404, 404, 404]
    limited = httpx.get(url, headers=busy)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.json()["error"]["code"] == "rate_limited"
    assert httpx.get(url, headers=other).status_code == 404  # another address has its own bucket


def test_a_client_cannot_name_its_own_address_to_a_server_trusting_no_proxy(
        test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> None:
    """uvicorn believed ``X-Forwarded-For`` from 127.0.0.1 by default: a client on the API's host picked a new
    address per request and was never limited (registration, login and reads)."""
    proc = start_api(test_env, tmp_path_factory, "api-no-proxy", rate_limit_reads_per_second="0.01",
                     rate_limit_reads_burst="3")
    try:
        proc.wait_http(base_of(proc) + "/readyz")
        url = f"{base_of(proc)}/api/v1/users/{new_id()}"
        answers = [httpx.get(url, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(4)]
        assert answers == [404, 404, 404, 429]  # one bucket: the connection's address
    finally:
        proc.stop()


def test_a_cassandra_outage_is_a_503_in_the_error_shape(limited_api: str, cassandra_proxy: TcpProxy) -> None:
    cassandra_proxy.cut()
    # a user id nobody cached: the read goes past Redis to Cassandra, which is gone
    answer = httpx.get(f"{limited_api}/api/v1/users/{new_id()}", headers={"X-Forwarded-For": "203.0.113.9"},
                       timeout=30)
    assert_unavailable(answer)


async def test_read_leases_of_two_replicas_never_exceed_the_shared_bucket(settings: Settings) -> None:
    """Two API processes' lease holders (AddressLeases) drawing on one real Redis bucket: together they allow
    exactly the burst, then refuse with a retry hint — leasing saves round trips without loosening the limit."""
    redis = async_client(settings)
    limit = ratelimit.Limit(per_minute=0.6, burst=40)  # 0.01/s: no refill within the test
    replicas = [ratelimit.AddressLeases(limit), ratelimit.AddressLeases(limit)]
    address = f"198.51.100.{new_id()[-4:]}"  # a unique bucket for this run
    try:
        decisions = [await replicas[i % 2].take(redis, address) for i in range(100)]
    finally:
        await redis.aclose()
    assert sum(d.allowed for d in decisions) == limit.burst
    refused = [d for d in decisions if not d.allowed]
    assert refused and all(d.retry_after_s >= 1 for d in refused)
    assert replicas[0].lease_size == 5  # an eighth of the burst: 8 round trips for 40 reads, not 40


async def test_reads_arriving_together_from_one_address_share_one_lease(settings: Settings) -> None:
    """Twenty reads at once from one address (a page loading its images), well inside a burst of 200: every
    one is allowed, and they cost the shared bucket the tokens they used plus at most one lease's remainder
    (each read that found no lease used to fetch one of its own and keep only the last: the others' tokens
    were lost, and reads 14-20 were refused)."""
    redis = async_client(settings)
    limit = ratelimit.Limit(per_minute=0.6, burst=200)  # 0.01/s: no refill within the test
    leases = ratelimit.AddressLeases(limit)
    address = f"198.51.100.{new_id()[-4:]}"
    try:
        decisions = await asyncio.gather(*(leases.take(redis, address) for _ in range(20)))
        left = float(await redis.hget(keys.rate_bucket(address, "read"), "tokens"))
    finally:
        await redis.delete(keys.rate_bucket(address, "read"))
        await redis.aclose()
    assert all(d.allowed for d in decisions)
    assert limit.burst - 20 - leases.lease_size < left <= limit.burst - 20


def test_a_head_answer_keeps_the_connection_for_the_next_request(api_url: str) -> None:
    """Through the real server: uvicorn closed the connection after every HEAD (the middleware changed the
    server's own scope to GET, so uvicorn waited for the body the length announced). One socket, HEAD then
    GET: both answered, the HEAD without a body and with the GET's length."""
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(api_url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: photostream\r\n\r\n")
        head = _response_head(conn)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: photostream\r\n\r\n")
        get = _response_head(conn)
        length = int(get["content-length"])
        body = b""
        while len(body) < length:
            chunk = conn.recv(65536)
            assert chunk, "the connection closed before the GET's body"
            body += chunk
    assert head["status"] == get["status"] == "200"
    assert head["content-length"] == get["content-length"] and head.get("connection") != "close"
    assert body.startswith(b"{")


def _response_head(conn: object) -> dict[str, str]:
    """The status and headers of the next answer on ``conn`` (bytes read up to the blank line only)."""
    raw = b""
    while not raw.endswith(b"\r\n\r\n"):
        byte = conn.recv(1)  # type: ignore[attr-defined]
        assert byte, f"the connection closed after {raw!r}"
        raw += byte
    status_line, *lines = raw.decode().split("\r\n")
    head = {"status": status_line.split()[1]}
    head.update((k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines if line))
    return head


def test_registrations_from_one_address_are_limited(test_env: dict[str, str],
                                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each registration costs a password hash and says whether a name is taken: one address could run the
    machine's CPU down and list the taken names. Past the address's burst: 429 with Retry-After, before
    anything else is looked at."""
    proc = start_api(test_env, tmp_path_factory, "api-registration-limited",
                     register_per_address_per_minute="0.01", register_per_address_burst="2")
    try:
        with httpx.Client(base_url=base_of(proc) + "/api/v1", timeout=30) as api:
            answers = [api.post("/auth/register", json={"username": "!", "email": "x@example.com",
                                                        "password": "correct horse battery"}) for _ in range(3)]
    finally:
        proc.stop()
    assert [a.status_code for a in answers] == [422, 422, 429], [a.text for a in answers]
    assert int(answers[2].headers["Retry-After"]) >= 1 and answers[2].json()["error"]["code"] == "rate_limited"
