import pytest

from api.consistency import ConsistencyToken, InvalidConsistencyTokenError


def test_token_round_trip():
    token = ConsistencyToken("post-created", 3, 12345)
    assert ConsistencyToken.decode(token.encode()) == token


@pytest.mark.parametrize("bad", ["", "x", "eyJ0IjoxfQ", "!!!"])
def test_bad_tokens_are_refused(bad):
    with pytest.raises(InvalidConsistencyTokenError):
        ConsistencyToken.decode(bad)
