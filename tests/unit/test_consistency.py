"""Consistency tokens: signed, short, and refused when forged or tampered with."""

import base64
import hmac

import pytest

from api.consistency import ConsistencyToken, InvalidConsistencyTokenError, token_key
from photostream.settings import Settings

KEY = token_key(Settings())


def test_token_round_trip():
    token = ConsistencyToken("post-created", 3, 12345)
    assert ConsistencyToken.verify(token.encode(KEY), KEY) == token


def test_a_token_names_its_writer_and_one_without_still_reads():
    """The writer's other writes of the moment are waited for too (an account turning public approves every
    pending request in the same request); a token made before writers were named reads as it did."""
    writer = "01a23df0-a221-7369-9f52-19fa33949ebf"
    token = ConsistencyToken("profile-updated", 2, 77, writer)
    assert ConsistencyToken.verify(token.encode(KEY), KEY) == token
    assert ConsistencyToken.verify(ConsistencyToken("profile-updated", 2, 77).encode(KEY), KEY).writer == ""
    assert len(token.encode(KEY)) <= 128


def test_tokens_stay_short():
    assert len(ConsistencyToken("profile-updated", 11, 2**40).encode(KEY)) <= 64


@pytest.mark.parametrize("bad", ["", "x", "eyJ0IjoxfQ", "!!!", ".", "a.b", "cG9zdC1jcmVhdGVkOjM6MTI.é"])
def test_bad_tokens_are_refused(bad):
    with pytest.raises(InvalidConsistencyTokenError):
        ConsistencyToken.verify(bad, KEY)


def test_a_token_signed_with_another_key_is_refused():
    other = token_key(Settings(jwt_secret="another-secret-entirely-0123456789-abcdefgh"))
    with pytest.raises(InvalidConsistencyTokenError):
        ConsistencyToken.verify(ConsistencyToken("post-created", 0, 1).encode(other), KEY)


def test_a_tampered_payload_is_refused():
    _, mac = ConsistencyToken("post-created", 0, 1).encode(KEY).split(".")
    forged = base64.urlsafe_b64encode(b"post-created:0:999999999").decode().rstrip("=")
    with pytest.raises(InvalidConsistencyTokenError):
        ConsistencyToken.verify(f"{forged}.{mac}", KEY)


def test_an_unsigned_token_in_the_old_format_is_refused():
    old = base64.urlsafe_b64encode(b'{"t":"post-created","p":0,"o":99999999}').decode().rstrip("=")
    with pytest.raises(InvalidConsistencyTokenError):
        ConsistencyToken.verify(old, KEY)


@pytest.mark.parametrize("fields", [b"post-created:-1:5", b"post-created:0:-5", b":0:5", b"post-created:x:5"])
def test_a_signed_token_with_impossible_fields_is_refused(fields):
    mac = base64.urlsafe_b64encode(hmac.new(KEY, fields, "sha256").digest()[:12]).decode()
    token = base64.urlsafe_b64encode(fields).decode().rstrip("=") + "." + mac.rstrip("=")
    with pytest.raises(InvalidConsistencyTokenError):
        ConsistencyToken.verify(token, KEY)


def test_a_dedicated_secret_changes_the_key():
    assert token_key(Settings(consistency_secret="c" * 32)) != KEY
