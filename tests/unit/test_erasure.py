"""The erasure of deleted accounts' words on the way out of `photostream replay` and `tail`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import redis.exceptions
from fastavro.validation import validate

from photostream.contracts.schema_store import default_store
from photostream.erasure import PERSONAL, ClosedAccounts, Eraser, ErasureUnavailableError
from sinks import keys


@pytest.mark.parametrize("topic", sorted(PERSONAL))
def test_every_erased_field_is_in_the_current_schema_and_its_blank_fits_it(topic: str) -> None:
    schema = default_store().current(topic)
    person, blanks = PERSONAL[topic]
    types = {spec["name"]: spec["type"] for spec in schema.parsed["fields"]}
    assert person in types
    for field, blank in blanks.items():
        assert validate(blank, types[field], raise_errors=False), (topic, field, blank)


class FakeRedis:
    def __init__(self, closed: set[str], loaded: bool = True, down: bool = False) -> None:
        self.closed, self.loaded, self.down, self.asked = closed, loaded, down, 0

    def exists(self, key: str) -> int:
        if self.down:
            raise redis.exceptions.ConnectionError("refused")
        assert key == keys.revocations_loaded()
        return int(self.loaded)

    def mget(self, wanted: list[str]) -> list[Any]:
        self.asked += len(wanted)
        return ["1" if any(key == keys.closed_account(user) for user in self.closed) else None for key in wanted]

    def close(self) -> None:
        pass


class FakeSession:
    def __init__(self, closed: set[str], fails: bool = False) -> None:
        self.closed, self.fails = closed, fails

    def execute(self, _query: str, params: Any) -> list[Any]:
        if self.fails:
            raise RuntimeError("NoHostAvailable")
        return [SimpleNamespace(id=user) for user in params[0] if user in self.closed]


def connect_to(session: FakeSession) -> Any:
    return lambda: (SimpleNamespace(shutdown=lambda: None), session)


def test_only_deleted_authors_records_lose_their_words_and_are_counted() -> None:
    eraser = Eraser("post-created", ClosedAccounts(FakeRedis({"gone"}), connect_to(FakeSession(set()))))
    records = [{"author_id": "gone", "caption": "my words #tag", "location": {"name": "home"}},
               {"author_id": "here", "caption": "stays", "location": None}]
    assert eraser.erase(records) == 1
    assert records == [{"author_id": "gone", "caption": "", "location": None},
                       {"author_id": "here", "caption": "stays", "location": None}]


def test_a_topic_without_words_is_untouched() -> None:
    eraser = Eraser("like-changed", ClosedAccounts(FakeRedis({"gone"}), connect_to(FakeSession(set()))))
    record = {"user_id": "gone", "post_id": "p"}
    assert not eraser.needed and eraser.erase([record]) == 0 and record == {"user_id": "gone", "post_id": "p"}


def test_each_account_is_asked_about_once_per_reader() -> None:
    fake = FakeRedis({"gone"})
    closed = ClosedAccounts(fake, connect_to(FakeSession(set())))
    assert closed.among(["gone", "here"]) == {"gone"} and closed.among(["here", "gone"]) == {"gone"}
    assert fake.asked == 2


@pytest.mark.parametrize("fake", [FakeRedis(set(), loaded=False), FakeRedis(set(), down=True)])
def test_cassandra_answers_when_redis_cannot(fake: FakeRedis) -> None:
    closed = ClosedAccounts(fake, connect_to(FakeSession({"gone"})))
    assert closed.among(["gone", "here"]) == {"gone"}


def test_nothing_is_passed_unchecked_when_neither_store_answers() -> None:
    closed = ClosedAccounts(FakeRedis(set(), down=True), connect_to(FakeSession(set(), fails=True)))
    with pytest.raises(ErasureUnavailableError, match="nothing exported unchecked"):
        closed.among(["someone"])


def test_a_redis_without_the_revocations_gets_them_copied_once_then_answers() -> None:
    fake = FakeRedis({"gone"}, loaded=False)
    reloads: list[object] = []

    def reload(session: object) -> None:
        reloads.append(session)
        fake.loaded = True

    session = FakeSession(set(), fails=True)  # (Cassandra is not asked about anyone)
    closed = ClosedAccounts(fake, connect_to(session), reload)
    assert closed.among(["gone", "here"]) == {"gone"} and closed.among(["other"]) == set()
    assert reloads == [session] and fake.asked == 3


def test_a_failed_copy_leaves_the_answers_to_cassandra() -> None:
    def reload(_session: object) -> None:
        raise RuntimeError("Redis went away")

    closed = ClosedAccounts(FakeRedis(set(), loaded=False), connect_to(FakeSession({"gone"})), reload)
    assert closed.among(["gone", "here"]) == {"gone"}
