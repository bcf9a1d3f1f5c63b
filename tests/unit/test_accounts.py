"""Account rules, access-token revocation, private accounts in the visibility rule, follow-request events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from api.auth import (
    MAX_ACCESS_LIFETIME_S,
    InvalidTokenError,
    decode_access_token,
    end_sessions,
    mint_access_token,
    revoke_access,
    verify_access,
)
from api.visibility import visible_posts
from photostream.domain.accounts import (
    AccountRuleError,
    RefreshToken,
    check_password,
    new_username,
    normalize_email,
    normalize_username,
)
from photostream.domain.visibility import may_see, needs_follow_check
from photostream.settings import Settings
from producers.ids import new_id
from streams.follow_requests import closed_by_block, request_change

SETTINGS = Settings(dev_mode=True)


@pytest.mark.parametrize(("raw", "canonical"), [
    ("alice", "alice"), ("Alice", "alice"), (" BOB_99.x ", "bob_99.x"), ("abc", "abc"), ("a" * 30, "a" * 30),
])
def test_usernames_are_compared_in_lower_case(raw: str, canonical: str) -> None:
    assert normalize_username(raw) == canonical


@pytest.mark.parametrize("raw", ["ab", "a" * 31, "al ice", "al-ice", "élise", "al@ce", ""])
def test_a_username_outside_the_rule_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(AccountRuleError) as refused:
        normalize_username(raw)
    assert refused.value.field == "username"


@pytest.mark.parametrize("raw", ["bob.", ".bob", "bo..b", "...xy.."])
def test_a_new_username_has_no_dot_at_an_end_or_two_in_a_row(raw: str) -> None:
    """``@bob.`` ends a sentence: ``bob.`` could never be mentioned, and its mention notified ``bob``."""
    with pytest.raises(AccountRuleError) as refused:
        new_username(raw)
    assert refused.value.field == "username"
    assert new_username("Bob.Smith") == "bob.smith"
    assert normalize_username("bob.") == "bob."  # names registered before the rule still log in


@pytest.mark.parametrize(("raw", "ok"), [
    ("A@Example.COM", "a@example.com"), ("x.y+z@mail.example.org", "x.y+z@mail.example.org"),
    ("no-at.example.com", None), ("a@nodot", None), ("a b@example.com", None), ("a@@example.com", None),
])
def test_emails_are_lower_cased_and_shape_checked(raw: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(AccountRuleError):
            normalize_email(raw)
    else:
        assert normalize_email(raw) == ok


def test_passwords_need_ten_characters_and_name_the_field() -> None:
    assert check_password("0123456789") == "0123456789"
    with pytest.raises(AccountRuleError) as refused:
        check_password("012345678", "new_password")
    assert refused.value.field == "new_password"


def test_a_refresh_token_round_trips_and_garbage_does_not_parse() -> None:
    token = RefreshToken.new(new_id())
    assert RefreshToken.parse(token.encode()) == token
    for garbage in ("", "rt1..x", "rt2.id." + "s" * 43, "rt1.id.short", token.encode() + ".extra"):
        assert RefreshToken.parse(garbage) is None


class FakeLedger:
    """:class:`sinks.revocations.RevocationLedger`'s contract (the real one: tests/integration/test_accounts.py)."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], int] = {}
        self.revoked_at: dict[tuple[str, str], int] = {}

    async def refused(self, claims: Any) -> bool:
        ended = self.revoked_at.get(("before", claims.user_id))
        return (("token", claims.jti) in self.values or ("account", claims.user_id) in self.values
                or (ended is not None and claims.issued_ms <= ended))

    async def revoke(self, kind: str, revoked_id: str, ttl_s: int) -> int:
        self.values[(kind, revoked_id)] = ttl_s
        self.revoked_at[(kind, revoked_id)] = at = int(time.time() * 1000)
        return at


def test_a_logged_out_access_token_is_refused_until_it_would_have_expired() -> None:
    redis, other = FakeLedger(), mint_access_token(SETTINGS, new_id())
    token = mint_access_token(SETTINGS, new_id(), ttl_s=600)
    claims = asyncio.run(verify_access(SETTINGS, redis, token))
    asyncio.run(revoke_access(redis, claims, now_s=time.time()))
    with pytest.raises(InvalidTokenError):
        asyncio.run(verify_access(SETTINGS, redis, token))
    assert asyncio.run(verify_access(SETTINGS, redis, other)).jti != claims.jti  # others are untouched
    (ttl,) = redis.values.values()
    assert 595 <= ttl <= 601  # kept exactly as long as the token could still be used


def test_ending_a_users_sessions_refuses_their_tokens_issued_until_then_and_no_later_one() -> None:
    ledger, user = FakeLedger(), new_id()
    before, someone_else = mint_access_token(SETTINGS, user), mint_access_token(SETTINGS, new_id())
    ended = asyncio.run(end_sessions(ledger, SETTINGS, user))  # (whatever the clock: the same millisecond too)
    after = mint_access_token(SETTINGS, user, after_ms=ended)  # the new session's
    with pytest.raises(InvalidTokenError):
        asyncio.run(verify_access(SETTINGS, ledger, before))
    assert asyncio.run(verify_access(SETTINGS, ledger, after)).user_id == user
    assert asyncio.run(verify_access(SETTINGS, ledger, someone_else)).user_id != user
    assert ledger.values == {("before", user): MAX_ACCESS_LIFETIME_S + 1}  # as long as any token could live


def test_an_expired_token_needs_no_revocation_entry() -> None:
    redis = FakeLedger()
    claims = decode_access_token(SETTINGS, mint_access_token(SETTINGS, new_id(), ttl_s=60))
    asyncio.run(revoke_access(redis, claims, now_s=claims.expires_at + 1))
    assert redis.values == {}


AUTHOR, FAN, STRANGER = "author", "fan", "stranger"


@pytest.mark.parametrize(("viewer", "follows", "public", "followers", "private"), [
    (AUTHOR, False, True, True, True),
    (FAN, True, True, True, False),
    (STRANGER, False, False, False, False),
    (None, False, False, False, False),
])
def test_a_private_accounts_posts_are_for_its_followers_only(viewer: str | None, follows: bool, public: bool,
                                                              followers: bool, private: bool) -> None:
    assert may_see(viewer, AUTHOR, "public", follows, author_is_private=True) is public
    assert may_see(viewer, AUTHOR, "followers", follows, author_is_private=True) is followers
    assert may_see(viewer, AUTHOR, "private", follows, author_is_private=True) is private


def test_a_public_post_needs_a_follow_check_only_when_its_author_is_private() -> None:
    assert needs_follow_check(STRANGER, AUTHOR, "public", author_is_private=True)
    assert not needs_follow_check(STRANGER, AUTHOR, "public", author_is_private=False)
    assert not needs_follow_check(AUTHOR, AUTHOR, "public", author_is_private=True)


class FakeAudience:
    def __init__(self, private: set[str], follows: set[tuple[str, str]]) -> None:
        self.private, self.follows, self.reads = private, follows, 0

    async def private_among(self, user_ids: Any) -> set[str]:
        self.reads += 1
        return self.private & set(user_ids)

    async def followed_among(self, follower: str, candidates: Any) -> set[str]:
        self.reads += 1
        return {c for c in candidates if (follower, c) in self.follows}

    async def blocked_among(self, user_id: str, others: Any) -> set[str]:
        return set()  # blocks: tests/unit/test_safety.py


def test_a_page_hides_private_accounts_posts_from_non_followers_with_two_bulk_reads() -> None:
    posts = [{"author_id": "locked", "visibility": "public"}, {"author_id": "open", "visibility": "public"},
             {"author_id": "friend", "visibility": "public"}, {"author_id": "locked", "visibility": "followers"}]
    audience = FakeAudience({"locked", "friend"}, {(FAN, "friend")})
    shown = asyncio.run(visible_posts(audience, FAN, posts))
    assert shown == [None, posts[1], posts[2], None]
    assert audience.reads == 2  # private accounts and follows, together (the page has a followers-only post)
    public_page = posts[:3]
    audience = FakeAudience({"locked", "friend"}, {(FAN, "friend")})
    assert asyncio.run(visible_posts(audience, FAN, public_page)) == [None, posts[1], posts[2]]
    assert audience.reads == 2  # private accounts, then follows of those alone
    audience = FakeAudience(set(), set())
    assert asyncio.run(visible_posts(audience, FAN, posts[1:3])) == posts[1:3]
    assert audience.reads == 1  # public posts by public accounts: no follow query at all
    anonymous = asyncio.run(visible_posts(FakeAudience({"locked", "friend"}, set()), None, posts))
    assert anonymous == [None, posts[1], None, None]


def test_follow_request_events_open_and_close_a_pending_request() -> None:
    a, b = new_id(), new_id()
    base = {"follower_id": a, "followee_id": b, "occurred_at": 1000}
    assert request_change(base | {"action": "request"}).pending
    assert not request_change(base | {"action": "approve"}).pending
    assert not request_change(base | {"action": "deny"}).pending
    with pytest.raises(ValueError):
        request_change(base | {"followee_id": a, "action": "request"})
    with pytest.raises(ValueError):
        request_change(base | {"follower_id": "x", "action": "request"})


def test_a_block_closes_the_pairs_follow_requests_both_ways_and_an_unblock_reopens_none() -> None:
    actor, target = new_id(), new_id()
    block = {"actor_id": actor, "target_id": target, "action": "on", "occurred_at": 1_000}
    assert {(c.follower_id, c.followee_id, c.pending, c.occurred_at) for c in closed_by_block(block)} == {
        (actor, target, False, 1_000), (target, actor, False, 1_000)}
    assert closed_by_block(block | {"action": "off"}) == []
    with pytest.raises(ValueError):
        closed_by_block(block | {"target_id": "nobody"})
