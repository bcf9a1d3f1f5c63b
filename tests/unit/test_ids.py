"""``is_id``: exactly the canonical text ``uuid.UUID`` gives back, for any input, and ``is_recurring_id`` the same
answers however often it is asked; ``deterministic_id``: the standard library's UUIDv5 of the same name, for any
input."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from producers import ids
from producers.ids import deterministic_id, is_id, is_recurring_id, new_id


def canonical_by_parsing(value: object) -> bool:
    """The definition ``is_id`` replaced (a parse per call): the reference it must agree with."""
    try:
        return isinstance(value, str) and len(value) == 36 and str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def spellings(text: str) -> list[str]:
    """Ways to write a UUID that the parser accepts but are not its canonical text, and near misses."""
    return [text, text.upper(), text.replace("-", ""), "{" + text + "}", "urn:uuid:" + text, text + "\n",
            " " + text, text[:-1], text + "0", text.replace("-", "_"), text[:8] + text[9:] + "-",
            text.replace("a", "\uff41"), text.replace("1", "\u0661"), text[:14] + "g" + text[15:]]


@given(st.uuids(), st.sampled_from(range(14)))
def test_agrees_with_the_parse_on_uuid_spellings(value: uuid.UUID, which: int) -> None:
    candidate = spellings(str(value))[which]
    assert is_id(candidate) == canonical_by_parsing(candidate)


@given(st.text(alphabet="0123456789abcdefABCDEF-{}:\n ", min_size=30, max_size=40))
def test_agrees_with_the_parse_on_hex_noise(text: str) -> None:
    assert is_id(text) == canonical_by_parsing(text)


@given(st.uuids(), st.sampled_from(range(14)))
def test_a_remembered_id_answers_as_the_pattern_asked_again(value: uuid.UUID, which: int) -> None:
    candidate = spellings(str(value))[which]
    assert [is_recurring_id(candidate), is_recurring_id(candidate)] == [is_id(candidate)] * 2
    assert (candidate in ids._RECURRING) == is_id(candidate)  # only what passed is remembered


def test_the_remembered_ids_are_bounded_and_start_over_when_full(monkeypatch) -> None:
    monkeypatch.setattr(ids, "RECURRING_MAX", 3)
    monkeypatch.setattr(ids, "_RECURRING", set())
    fresh = [new_id() for _ in range(4)]
    assert all(is_recurring_id(v) for v in fresh)
    assert {fresh[3]} == ids._RECURRING
    assert not is_recurring_id(fresh[0].upper()) and not is_recurring_id(None)  # type: ignore[arg-type]


def test_a_str_subclass_passes_on_its_text_but_is_not_remembered(monkeypatch) -> None:
    class Spelled(str):
        pass

    monkeypatch.setattr(ids, "_RECURRING", set())
    value = Spelled(new_id())
    assert is_recurring_id(value) and not ids._RECURRING


def test_fresh_ids_pass_and_non_strings_do_not() -> None:
    assert is_id(new_id())
    assert not any(is_id(v) for v in (None, 42, b"0190a0b0-0000-7000-8000-000000000001", uuid.uuid4()))


@given(st.text(), st.lists(st.text(), max_size=4))
def test_deterministic_ids_are_the_standard_uuid5_of_their_name(namespace: str, parts: list[str]) -> None:
    name = "photostream:" + namespace + ":" + "\x1f".join(parts)
    assert deterministic_id(namespace, *parts) == str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def time_of_a_v7_by_parsing(value: object) -> int | None:
    """What :func:`producers.ids.message_id_time_ms` replaced: a canonical id, version 7, then its 48-bit time."""
    if not canonical_by_parsing(value):
        return None
    parsed = uuid.UUID(str(value))
    return parsed.int >> 80 if parsed.version == 7 else None


@given(st.uuids(version=4) | st.uuids(version=1) | st.builds(lambda: uuid.UUID(new_id())),
       st.sampled_from(range(14)))
def test_a_message_ids_time_agrees_with_the_parse_on_versions_and_spellings(value: uuid.UUID, which: int) -> None:
    candidate = spellings(str(value))[which]
    assert ids.message_id_time_ms(candidate) == time_of_a_v7_by_parsing(candidate)
    assert (ids.message_id_time_ms(candidate) is not None) == (time_of_a_v7_by_parsing(candidate) is not None)


def test_a_fresh_message_ids_time_is_now() -> None:
    before = ids.now_ms()
    made = ids.message_id_time_ms(new_id())
    assert made is not None and before <= made <= ids.now_ms()
    assert ids.message_id_time_ms(None) is None  # type: ignore[arg-type]
