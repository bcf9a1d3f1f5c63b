"""Access tokens: HS256 and RS256, and what is refused."""

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
