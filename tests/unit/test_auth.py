"""Access tokens: HS256 and RS256, and what is refused."""

import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import InvalidTokenError, mint_access_token, verify_access_token
from photostream.settings import Settings
from producers.ids import new_id


def rsa_settings() -> Settings:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return Settings(jwt_algorithm="RS256", jwt_private_key=private, jwt_public_key=public)


@pytest.mark.parametrize("settings", [Settings(), rsa_settings()], ids=["HS256", "RS256"])
def test_round_trip(settings: Settings) -> None:
    user = new_id()
    assert verify_access_token(settings, mint_access_token(settings, user)) == user


def test_expired_tokens_are_refused() -> None:
    settings = Settings()
    with pytest.raises(InvalidTokenError):
        verify_access_token(settings, mint_access_token(settings, new_id(), ttl_s=-10))


def test_an_hs256_token_is_refused_by_an_rs256_verifier() -> None:
    with pytest.raises(InvalidTokenError):
        verify_access_token(rsa_settings(), mint_access_token(Settings(), new_id()))


def test_a_subject_that_is_not_a_user_id_is_refused() -> None:
    settings = Settings()
    with pytest.raises(InvalidTokenError):
        verify_access_token(settings, mint_access_token(settings, "admin"))


def test_a_verified_token_is_remembered_but_still_expires_and_is_bound_to_its_key() -> None:
    from api import auth as auth_module
    from photostream.settings import Settings
    from producers.ids import new_id

    ours = Settings(dev_mode=True, jwt_secret="s" * 40)
    theirs = Settings(dev_mode=True, jwt_secret="t" * 40)
    user = new_id()
    token = auth_module.mint_access_token(ours, user, ttl_s=60)
    assert auth_module.decode_access_token(ours, token).user_id == user
    assert token in auth_module._verified  # the second use skips the signature check...
    assert auth_module.decode_access_token(ours, token).user_id == user
    with pytest.raises(auth_module.InvalidTokenError):  # ...but never under another key
        auth_module.decode_access_token(theirs, token)
    claims = auth_module._verified[token][1]
    auth_module._verified[token] = (auth_module._verified[token][0],
                                    auth_module.AccessClaims(claims.user_id, claims.jti, 0, claims.issued_ms))
    with pytest.raises(auth_module.InvalidTokenError, match="expired"):  # expiry is checked on every use
        auth_module.decode_access_token(ours, token)
    assert token not in auth_module._verified


def test_a_token_living_longer_than_any_minted_is_refused_and_refusals_outlive_every_token() -> None:
    """A password change or an account deletion refused every token for ``JWT_ACCESS_TTL_S`` only, so a token
    minted to live longer came back once the refusal expired; and a logout of one living over 20 years was a
    500 (Cassandra's TTL bound)."""
    import jwt

    from api import auth as auth_module
    from photostream.settings import Settings
    from producers.ids import new_id

    settings = Settings(dev_mode=True, jwt_secret="s" * 40)
    longest = auth_module.mint_access_token(settings, new_id(), ttl_s=auth_module.MAX_ACCESS_LIFETIME_S)
    assert auth_module.decode_access_token(settings, longest).user_id
    now = int(time.time())
    too_long = jwt.encode({"sub": new_id(), "iss": settings.jwt_issuer, "iat": now, "typ": "access",
                           "exp": now + auth_module.MAX_ACCESS_LIFETIME_S + 1, "jti": new_id()},
                          settings.jwt_secret.get_secret_value(), algorithm="HS256")
    with pytest.raises(auth_module.InvalidTokenError):
        auth_module.decode_access_token(settings, too_long)

    kept: list[int | None] = []

    class Ledger:
        async def revoke(self, kind: str, subject: str, ttl_s: int | None) -> int:
            kept.append(ttl_s)
            return 0

    import asyncio
    asyncio.run(auth_module.end_sessions(Ledger(), settings, new_id()))
    asyncio.run(auth_module.close_account(Ledger(), new_id()))
    asyncio.run(auth_module.revoke_access(Ledger(), auth_module.decode_access_token(settings, longest)))
    ended, closed, logged_out = kept
    assert ended is not None and ended > auth_module.MAX_ACCESS_LIFETIME_S
    assert closed is None  # a closed account's marker is its tombstone: kept for good
    assert logged_out is not None and logged_out <= auth_module.MAX_ACCESS_LIFETIME_S + 1
