"""What a search query may be: the start of a username, the start of a hashtag (api/routes/search.py)."""

from __future__ import annotations

import pytest

from api.errors import ApiError
from api.routes.search import tag_query


@pytest.mark.parametrize(("typed", "query"), [("#SunSet", "sunset"), ("  ＃ＳＵＮ ", "sun"), ("12", "12"),
                                              ("日本", "日本"), ("Straße", "strasse")])
def test_a_tag_query_is_the_start_of_a_canonical_tag(typed: str, query: str) -> None:
    assert tag_query(typed) == query


@pytest.mark.parametrize("typed", ["s", "#s", "#", "$$", "a b", "-x"])
def test_what_cannot_start_a_tag_is_refused_naming_q(typed: str) -> None:
    with pytest.raises(ApiError) as refused:
        tag_query(typed)
    assert refused.value.status == 422 and refused.value.field == "q"
