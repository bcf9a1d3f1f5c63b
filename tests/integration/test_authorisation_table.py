"""Authorisation, proven: every route of the API's OpenAPI document (and the status WebSocket, which OpenAPI does
not describe) asked by eight callers, each answer checked against one table.

The callers: no token, an expired token, a revoked token (a real session logged out), a token signed with another
key, the owner of what the route is about, another user, a user the owner blocked, and a non-follower of a private
account (for that caller the route's ids are the private account's: its id, its post, its photo). A route in the
document without an entry in :data:`TABLE` fails the test by its name, so a route added later cannot go unjudged;
an entry whose route is gone fails too, so the table never describes an API that no longer exists.

Besides the status, every successful answer to the blocked user and to the private account's non-follower is
checked for the post they may not see: a list that answers 200 but still carries the post is a leak too.

The world is this module's own (accounts registered through the API, photos uploaded to S3, posts published,
a block, a follow request, people tags and a notification, each awaited once), so the table's writes disturb
nobody else's data. Cells run in table order, the owner last in each row: the rows whose writes change what the
others see (a block, a logout) come last.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import jwt
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from api.auth import mint_access_token
from photostream.domain.identicon import email_hash
from photostream.settings import Settings
from producers.ids import new_id
from tests.integration.conftest import Process
from tests.integration.photos import jpeg, send
from tests.integration.test_accounts import PASSWORD, bearer, login, register
from tests.integration.waiting import wait_for

Caller = Literal["anonymous", "expired", "revoked", "foreign_key", "owner", "other", "blocked", "stranger"]
#: the owner last: a row's own write (a delete, a logout) must not change what the others are answered
CALLERS: tuple[Caller, ...] = ("anonymous", "expired", "revoked", "foreign_key", "other", "blocked", "stranger",
                               "owner")
BAD_TOKENS: tuple[Caller, ...] = ("expired", "revoked", "foreign_key")
#: callers who must never be shown the post of the target they may not see
SHUT_OUT: tuple[Caller, ...] = ("blocked", "stranger")


@dataclass(frozen=True)
class Target:
    """What a route's path ids point at for one caller: the owner's things, or the private account's."""

    user_id: str
    post_id: str
    image_id: str
    doomed_post_id: str  # DELETE /posts/{post_id}: the owner's delete must not take the post the others read


@dataclass
class World:
    """This module's accounts and content, created through the API and awaited once."""

    tokens: dict[Caller, str | None]
    ids: dict[str, str]  # user ids by role: owner, private, other, blocked, stranger, requester, third
    owner: Target
    private: Target
    tag: str
    owner_email: str
    notification_id: str
    login_name: str

    def target(self, caller: Caller) -> Target:
        return self.private if caller == "stranger" else self.owner


Fill = Callable[[World, Caller], dict[str, str]]
Body = Callable[[World, Caller], Any]


@dataclass(frozen=True)
class Entry:
    """One route's row: the status each caller gets, and what the request carries."""

    expect: dict[Caller, int]
    body: Body | None = None
    params: dict[str, str] = field(default_factory=dict)
    fill: Fill | None = None  # path values beyond the caller's target's (or instead of them)


def everyone(status: int) -> dict[Caller, int]:
    """A route without authentication: the Authorization header, good or bad, is never looked at."""
    return dict.fromkeys(CALLERS, status)


def optional(ok: int = 200, **answers: int) -> dict[Caller, int]:
    """A public read (``OptionalUser``): anonymous callers allowed, a bad token still a 401."""
    return {"anonymous": ok, **dict.fromkeys(BAD_TOKENS, 401),
            "owner": ok, "other": ok, "blocked": ok, "stranger": ok, **answers}  # type: ignore[dict-item]


def signed_in(ok: int, **answers: int) -> dict[Caller, int]:
    """A route that needs a valid token (``CurrentUser``): 401 without one."""
    return {"anonymous": 401, **dict.fromkeys(BAD_TOKENS, 401),
            "owner": ok, "other": ok, "blocked": ok, "stranger": ok, **answers}  # type: ignore[dict-item]


def ids(**chosen: str) -> Fill:
    """Path values from the world's user ids by role, the same for every caller."""
    return lambda world, _caller: {name: world.ids[role] for name, role in chosen.items()}


def unique() -> str:
    return uuid.uuid4().hex[:10]


API = "/api/v1"
TAGS = API + "/posts/{post_id}/photos/{image_id}/tags"
MUTED_TAG = "authzmuted"
#: a notification id that is well formed but names nothing
NO_NOTIFICATION = "1700000000000.like." + "0190a0a0-0000-7000-8000-000000000000"

TABLE: dict[str, Entry] = {
    # --- operations ---------------------------------------------------------------------------------------------
    "GET /healthz": Entry(everyone(200)),
    "GET /readyz": Entry(everyone(200)),
    "GET /metrics": Entry(everyone(200)),
    # --- accounts: the credential is the body, never the bearer header ------------------------------------------
    "POST /api/v1/auth/register": Entry(everyone(201), body=lambda w, c: {
        "username": f"r_{unique()}", "email": f"r_{unique()}@example.com", "password": PASSWORD}),
    "POST /api/v1/auth/login": Entry(everyone(200), body=lambda w, c: {"login": w.login_name, "password": PASSWORD}),
    "POST /api/v1/auth/refresh": Entry(everyone(401), body=lambda w, c: {"refresh_token": "not-a-refresh-token"}),
    # a new password too short: past the token, refused before anything changes
    "POST /api/v1/auth/password": Entry(signed_in(422), body=lambda w, c: {
        "current_password": PASSWORD, "new_password": "short"}),
    # a wrong password: past the token, and the account stays
    "DELETE /api/v1/users/me": Entry(signed_in(403), body=lambda w, c: {"password": "not the password!"}),
    "GET /api/v1/users/me/export": Entry(signed_in(200)),
    # --- profiles -------------------------------------------------------------------------------------------------
    "GET /api/v1/users/{user_id}": Entry(optional(blocked=404)),
    "GET /api/v1/search/users": Entry(optional(), params={"q": "authz"}),
    "GET /api/v1/search/hashtags": Entry(optional(), params={"q": "authz"}),
    "PATCH /api/v1/users/me": Entry(signed_in(202), body=lambda w, c: {"bio": f"bio of {c}"}),
    "GET /api/v1/users/me/follow-requests": Entry(signed_in(200)),
    # the requester's request is the private account's to decide: nobody else finds it
    "POST /api/v1/users/me/follow-requests/{user_id}/approve": Entry(signed_in(404), fill=ids(user_id="requester")),
    "POST /api/v1/users/me/follow-requests/{user_id}/deny": Entry(signed_in(404), fill=ids(user_id="requester")),
    "GET /api/v1/avatar/{email_hash}": Entry(everyone(200),
                                             fill=lambda w, c: {"email_hash": email_hash(w.owner_email)}),
    "GET /api/v1/users/me/profile-photos": Entry(signed_in(200)),
    "GET /api/v1/users/{user_id}/followers": Entry(optional(blocked=404, stranger=403)),
    "GET /api/v1/users/{user_id}/following": Entry(optional(blocked=404, stranger=403)),
    "GET /api/v1/users/{user_id}/status": Entry(signed_in(403, owner=200)),
    "GET /api/v1/users/{user_id}/tagged": Entry(optional(blocked=404, stranger=403)),
    "GET /api/v1/users/me/tag-settings": Entry(signed_in(200)),
    "GET /api/v1/users/me/tagged/pending": Entry(signed_in(200)),
    "GET /api/v1/users/me/blocked": Entry(signed_in(200)),
    "GET /api/v1/users/me/suggestions": Entry(signed_in(200)),
    "GET /api/v1/users/me/muted": Entry(signed_in(200)),
    "GET /api/v1/users/me/muted-tags": Entry(signed_in(200)),
    "POST /api/v1/users/me/muted-tags": Entry(signed_in(202), body=lambda w, c: {"tag": MUTED_TAG}),
    "DELETE /api/v1/users/me/muted-tags/{tag}": Entry(signed_in(202), fill=lambda w, c: {"tag": MUTED_TAG}),
    # --- posts and what hangs off them ------------------------------------------------------------------------------
    "GET /api/v1/posts/{post_id}": Entry(optional(blocked=404, stranger=404)),
    "GET /api/v1/posts/{post_id}/comments": Entry(optional(blocked=404, stranger=404)),
    # the owner's other users see the grid without the hidden post (the leak check); a private account's grid is
    # for its followers, and a block makes it the 404 of an absent account
    "GET /api/v1/users/{user_id}/posts": Entry(optional(blocked=404, stranger=403)),
    "GET /api/v1/feed": Entry(signed_in(200)),
    "POST /api/v1/posts": Entry(signed_in(403, owner=202), body=lambda w, c: {"image_ids": [w.target(c).image_id]}),
    "DELETE /api/v1/posts/{post_id}": Entry(signed_in(404, other=403, owner=202),
                                            fill=lambda w, c: {"post_id": w.target(c).doomed_post_id}),
    "POST /api/v1/posts/{post_id}/like": Entry(signed_in(202, blocked=404, stranger=404)),
    "DELETE /api/v1/posts/{post_id}/like": Entry(signed_in(202, blocked=404, stranger=404)),
    "POST /api/v1/posts/{post_id}/comments": Entry(signed_in(202, blocked=404, stranger=404),
                                                   body=lambda w, c: {"text": "a comment"}),
    "GET /api/v1/posts/{post_id}/likes": Entry(optional(blocked=404, stranger=404)),
    # a comment nobody wrote: the post's answer first (404 for who may not see it), then "no such comment"
    "DELETE /api/v1/posts/{post_id}/comments/{comment_id}": Entry(signed_in(404),
                                                                  fill=lambda w, c: {"comment_id": new_id()}),
    "POST /api/v1/posts/{post_id}/report": Entry(signed_in(202, blocked=404, stranger=404),
                                                 body=lambda w, c: {"reason": "spam"}),
    # --- photos -------------------------------------------------------------------------------------------------------
    # without ?w= a visible image is a redirect to its feed size; a public post's photo is public (CDN-cacheable)
    "GET /api/v1/images/{image_id}": Entry(optional(307, stranger=404)),
    "POST /api/v1/uploads": Entry(signed_in(201)),
    "POST /api/v1/uploads/{image_id}/complete": Entry(signed_in(403, owner=200)),
    # people tags: the owner tags the stranger; only the author may tag, only the tagged person approves
    "POST " + TAGS: Entry(
        signed_in(404, other=403, owner=202),
        body=lambda w, c: {"user_id": w.ids["stranger"], "x": 0.5, "y": 0.5}),
    "POST " + TAGS + "/{user_id}/approve": Entry(signed_in(404, other=409, owner=403), fill=ids(user_id="other")),
    # the author removes anyone's tag (the third's), the tagged person their own (other's), nobody else any
    "DELETE " + TAGS + "/{user_id}": Entry(
        signed_in(404, other=202, owner=202),
        fill=lambda w, c: {"user_id": w.ids["third" if c == "owner" else "other"]}),
    # --- hashtags -----------------------------------------------------------------------------------------------------
    "GET /api/v1/hashtags/{tag}": Entry(optional(), fill=lambda w, c: {"tag": w.tag}),
    "GET /api/v1/hashtags/{tag}/posts": Entry(optional(), fill=lambda w, c: {"tag": w.tag}),
    "GET /api/v1/trending": Entry(optional()),
    # --- notifications: only the caller's own ---------------------------------------------------------------------
    "GET /api/v1/notifications": Entry(signed_in(200)),
    "POST /api/v1/notifications/mark-read": Entry(signed_in(404, owner=200),
                                                  body=lambda w, c: {"up_to": w.notification_id}),
    # --- relations: last, they change what the callers are answered ---------------------------------------------------
    # (the owner blocked "blocked": to them the owner is as absent as the owner's profile)
    "POST /api/v1/users/{user_id}/report": Entry(signed_in(202, owner=422, blocked=404),
                                                 body=lambda w, c: {"reason": "spam"}),
    "POST /api/v1/users/{user_id}/follow": Entry(signed_in(202, blocked=404, owner=422)),
    "DELETE /api/v1/users/{user_id}/follow": Entry(signed_in(202, owner=422)),
    "POST /api/v1/users/{user_id}/mute": Entry(signed_in(202, owner=422)),
    "DELETE /api/v1/users/{user_id}/mute": Entry(signed_in(202, owner=422)),
    "POST /api/v1/users/{user_id}/block": Entry(signed_in(202, owner=422)),
    "DELETE /api/v1/users/{user_id}/block": Entry(signed_in(202, owner=422)),
    # the very last: each caller's token dies with it
    "POST /api/v1/auth/logout": Entry(signed_in(204)),
}
#: the status WebSocket (not in OpenAPI): a refused handshake answers the HTTP status it deserves; 101 = accepted
WEBSOCKET = signed_in(403, owner=101)


def route_names(document: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, operations in document["paths"].items() for method in operations
            if method in ("get", "put", "post", "patch", "delete", "head", "options")}


# --- the world ----------------------------------------------------------------------------------------------------

def _upload(client: httpx.Client, token: str) -> str:
    """A completed photo upload of the token's user (ticket, POST to S3, completion)."""
    ticket = client.post("/uploads", headers={"Authorization": f"Bearer {token}"}, json={})
    assert ticket.status_code == 201, ticket.text
    sent = send(ticket.json(), jpeg())
    assert sent.status_code in (200, 201, 204), sent.text
    done = client.post(f"/uploads/{ticket.json()['image_id']}/complete", headers={"Authorization": f"Bearer {token}"})
    assert done.status_code == 200, done.text
    return str(ticket.json()["image_id"])


def _accepted(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


def _post(client: httpx.Client, token: str, image_id: str, caption: str) -> str:
    """A post through the write gateway, once its author reads it back."""
    accepted = _accepted(client.post("/posts", headers={"Authorization": f"Bearer {token}"},
                                     json={"image_ids": [image_id], "caption": caption}))
    wait_for(lambda: client.get(f"/posts/{accepted['id']}", headers={"Authorization": f"Bearer {token}"},
                                params={"after": accepted["token"]}).status_code, lambda s: s == 200, 60,
             "the post to be projected")
    return str(accepted["id"])


def _foreign(settings: Settings, token: str) -> str:
    """The same claims as a real token, signed with a key that is not the API's."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, "another key entirely, long enough to be a key!", algorithm=settings.jwt_algorithm
                      if settings.jwt_algorithm == "HS256" else "HS256")


@pytest.fixture(scope="module")
def world(api_url: str, settings: Settings, worker: Process) -> Iterator[World]:
    with httpx.Client(base_url=api_url + API, timeout=60) as client:
        roles = ("owner", "private", "other", "blocked", "stranger", "requester", "third", "login")
        accounts = {role: register(client, name=f"az_{role[:5]}_{unique()}") for role in roles}
        user = {role: str(a["id"]) for role, a in accounts.items()}
        sessions = {role: login(client, accounts[role]["username"]) for role in roles if role != "login"}
        token = {role: str(s["access_token"]) for role, s in sessions.items()}

        def as_(role: str) -> dict[str, str]:
            return bearer(sessions[role])

        # the revoked caller: a second real session of the owner, logged out
        doomed_session = login(client, accounts["owner"]["username"])
        assert client.post("/auth/logout", headers=bearer(doomed_session), json={}).status_code == 204

        private = _accepted(client.patch("/users/me", headers=as_("private"), json={"is_private": True}))
        tag = f"authz{unique()}"
        owner_photo, doomed_photo, private_photo = (_upload(client, token[r]) for r in ("owner", "owner", "private"))
        owner_post = _post(client, token["owner"], owner_photo, f"the owner's #{tag}")
        doomed_post = _post(client, token["owner"], doomed_photo, "to be deleted")
        private_post = _post(client, token["private"], private_photo, "for followers of a private account")
        wait_for(lambda: client.get("/users/me", headers=as_("private"), params={"after": private["token"]}).json(),
                 lambda me: me["is_private"] is True, 60, "the private account to be private")

        # the owner blocks one user; a request waits at the private account; two people are tagged on the photo
        blocked = _accepted(client.post(f"/users/{user['blocked']}/block", headers=as_("owner")))
        client.get(f"/users/{user['owner']}", params={"after": blocked["token"]})
        requested = _accepted(client.post(f"/users/{user['private']}/follow", headers=as_("requester")))
        wait_for(lambda: client.get("/users/me/follow-requests", headers=as_("private"),
                                    params={"after": requested["token"]}).json()["items"],
                 lambda items: [p["id"] for p in items] == [user["requester"]], 60, "the follow request")
        for tagged in ("other", "third"):
            tagged_now = _accepted(client.post(f"/posts/{owner_post}/photos/{owner_photo}/tags", headers=as_("owner"),
                                               json={"user_id": user[tagged], "x": 0.5, "y": 0.5}))
            client.get(f"/posts/{owner_post}", params={"after": tagged_now["token"]})
        # the owner's notification: another user comments (a like would be retracted by the table's unlike)
        _accepted(client.post(f"/posts/{owner_post}/comments", headers=as_("other"), json={"text": "nice"}))
        notifications = wait_for(lambda: client.get("/notifications", headers=as_("owner")).json()["items"],
                                 bool, 60, "the owner's comment notification")
        wait_for(lambda: client.get(f"/posts/{owner_post}", headers=as_("blocked")).status_code, lambda s: s == 404,
                 60, "the block to hide the owner's post")
        wait_for(lambda: client.get(f"/hashtags/{tag}").status_code, lambda s: s == 200, 60,
                 "the owner's hashtag to be counted")
        wait_for(lambda: client.get(f"/posts/{owner_post}", headers=as_("owner")).json()["photo_tags"][0],
                 lambda tags: {t["user_id"] for t in tags} == {user["other"], user["third"]}, 60, "the people tags")

    expired = mint_access_token(settings, user["owner"], ttl_s=-120)
    yield World(
        tokens={"anonymous": None, "expired": expired, "revoked": str(doomed_session["access_token"]),
                "foreign_key": _foreign(settings, token["owner"]), "owner": token["owner"], "other": token["other"],
                "blocked": token["blocked"], "stranger": token["stranger"]},
        ids=user,
        owner=Target(user["owner"], owner_post, owner_photo, doomed_post),
        private=Target(user["private"], private_post, private_photo, private_post),
        tag=tag, owner_email=f"{accounts['owner']['username']}@example.com",
        notification_id=str(notifications[0]["id"]), login_name=accounts["login"]["username"])


@pytest.fixture(scope="module")
def openapi(api_url: str) -> dict[str, Any]:
    answer = httpx.get(api_url + "/openapi.json", timeout=30)
    assert answer.status_code == 200
    return dict(answer.json())


# --- the tests ----------------------------------------------------------------------------------------------------

def test_every_route_in_the_openapi_document_has_a_row_and_every_row_a_route(openapi: dict[str, Any]) -> None:
    routes = route_names(openapi)
    assert len(routes) >= 50, sorted(routes)  # the document really is the API's, not an empty stand-in
    missing = sorted(routes - TABLE.keys())
    assert not missing, f"routes without an authorisation row in TABLE: {missing}"
    stale = sorted(TABLE.keys() - routes)
    assert not stale, f"TABLE rows for routes the API no longer has: {stale}"
    for name, entry in TABLE.items():
        assert set(entry.expect) == set(CALLERS), f"{name}: a cell per caller"


def _request(client: httpx.Client, world: World, name: str, entry: Entry, caller: Caller) -> httpx.Response:
    method, template = name.split(" ", 1)
    target = world.target(caller)
    values = {"user_id": target.user_id, "post_id": target.post_id, "image_id": target.image_id}
    values |= entry.fill(world, caller) if entry.fill else {}
    token = world.tokens[caller]
    return client.request(method, template.format(**values), params=entry.params,
                          headers={"Authorization": f"Bearer {token}"} if token else {},
                          json=entry.body(world, caller) if entry.body else None)


def test_every_cell_answers_the_status_in_the_table(api_url: str, world: World, openapi: dict[str, Any]) -> None:
    wrong = _websocket_cells(api_url, world)  # first: the rows at the end log every caller out
    leaks: list[str] = []
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for name in [n for n in TABLE if n in route_names(openapi)]:
            entry = TABLE[name]
            for caller in CALLERS:
                answer = _request(client, world, name, entry, caller)
                if answer.status_code != entry.expect[caller]:
                    wrong.append(f"{name} as {caller}: {answer.status_code} (table: {entry.expect[caller]}) "
                                 f"{answer.text[:160]}")
                hidden = world.target(caller).post_id
                if caller in SHUT_OUT and answer.is_success and hidden in answer.text:
                    leaks.append(f"{name} as {caller}: the answer shows post {hidden}")
    assert not leaks, "\n".join(leaks)
    assert not wrong, f"{len(wrong)} cells differ from the table:\n" + "\n".join(wrong)


def _websocket_cells(api_url: str, world: World) -> list[str]:
    """The status stream, a cell per caller: the handshake's status (101 when accepted)."""
    wrong = []
    for caller in CALLERS:
        target = world.target(caller)
        token = world.tokens[caller]
        url = api_url.replace("http://", "ws://") + f"{API}/users/{target.user_id}/status/stream"
        try:
            with connect(url, additional_headers={"Authorization": f"Bearer {token}"} if token else {},
                         open_timeout=20):
                status = 101
        except InvalidStatus as refused:
            status = refused.response.status_code
        if status != WEBSOCKET[caller]:
            wrong.append(f"WEBSOCKET /api/v1/users/{{user_id}}/status/stream as {caller}: {status} "
                         f"(table: {WEBSOCKET[caller]})")
    return wrong
