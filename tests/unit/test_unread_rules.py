"""The badge rules: per-(user, sender) high-water marks, order- and replay-independent; bad input refused."""

from __future__ import annotations

import itertools
import random

import pytest

from photostream.domain import unread
from photostream.domain.presence import Presence, apply_presence
from photostream.domain.unread import Mark, PairMarks, apply_all, unread_senders
from producers.ids import last_id_at, message_id_time_ms, new_id, now_ms

ME, A, C, D = (new_id() for _ in range(4))


def unsent_mark(src: str, dest: str, msg_id: str) -> Mark:
    """An ``ON_MSG_UNSENT`` event of now (its messages were made a moment before)."""
    return unread.unsent_mark(src, dest, msg_id, now_ms())


def read_mark(user_id: str, sender_id: str, read_up_to: str) -> Mark:
    return unread.read_mark(user_id, sender_id, read_up_to, now_ms())


def badge(marks: list[Mark]) -> list[str]:
    pairs = apply_all({}, marks)
    return unread_senders((sender, state) for (user, sender), state in pairs.items() if user == ME)


def messages(n: int) -> list[str]:
    return sorted(new_id() for _ in range(n))


def test_the_badge_counts_distinct_senders_not_messages() -> None:
    marks = [unsent_mark(s, ME, m) for s, n in ((A, 45), (C, 30), (D, 25)) for m in messages(n)]
    assert len(badge(marks)) == 3
    last_of_a = max(m.msg_id for m in marks if m.sender_id == A)
    assert badge([*marks, read_mark(ME, A, last_of_a)]) == sorted([C, D])


def test_a_read_mark_covers_only_messages_up_to_it() -> None:
    first, second = messages(2)
    assert badge([unsent_mark(A, ME, first), unsent_mark(A, ME, second), read_mark(ME, A, first)]) == [A]
    assert badge([unsent_mark(A, ME, first), read_mark(ME, A, first)]) == []


def test_an_unsent_message_older_than_the_read_mark_never_re_adds_the_sender_in_any_order() -> None:
    old, read_up_to = messages(2)
    marks = [unsent_mark(A, ME, old), read_mark(ME, A, read_up_to)]
    for order in itertools.permutations(marks):
        assert badge(list(order)) == []


def test_any_order_and_duplicates_give_the_same_pairs() -> None:
    ids = messages(12)
    marks = [unsent_mark(random.choice((A, C)), ME, m) for m in ids[::2]]
    marks += [read_mark(ME, random.choice((A, C)), m) for m in ids[1::2]]
    expected = apply_all({}, marks)
    for _ in range(50):
        shuffled = random.sample(marks + marks[:5], len(marks) + 5)
        assert apply_all({}, shuffled) == expected


def test_applying_on_top_of_stored_state_equals_applying_everything() -> None:
    ids = messages(6)
    earlier = [unsent_mark(A, ME, ids[0]), read_mark(ME, A, ids[3])]
    later = [unsent_mark(A, ME, ids[2]), unsent_mark(A, ME, ids[5])]
    stored = apply_all({}, earlier)
    assert apply_all(stored, later) == apply_all({}, earlier + later)
    assert apply_all(stored, later)[(ME, A)] == PairMarks(ids[5], ids[3])


def test_a_read_mark_for_a_sender_who_never_wrote_is_kept_but_counts_nothing() -> None:
    read_up_to = messages(1)[0]
    pairs = apply_all({}, [read_mark(ME, A, read_up_to)])
    assert pairs[(ME, A)] == PairMarks(None, read_up_to) and not pairs[(ME, A)].unread


@pytest.mark.parametrize("make", [
    lambda m: unsent_mark(ME, ME, m),  # a message to oneself
    lambda m: read_mark(ME, ME, m),
    lambda m: unsent_mark("not-an-id", ME, m),
    lambda m: unsent_mark(A, ME.upper(), m),  # not the one canonical spelling
    lambda m: read_mark(ME, A, "42"),
    lambda m: unsent_mark(A, ME, "00000000-0000-4000-8000-000000000000"),  # a UUID, but v4: no time order
    lambda m: unsent_mark(A, ME, "ffffffff-ffff-7fff-bfff-ffffffffffff"),  # made in the year 10889
    lambda m: read_mark(ME, A, "ffffffff-ffff-7fff-bfff-ffffffffffff"),  # it would silence A for good
])
def test_bad_input_is_refused(make: object) -> None:
    with pytest.raises(ValueError):
        make(new_id())  # type: ignore[operator]


def test_message_ids_are_uuidv7() -> None:
    assert message_id_time_ms(new_id()) is not None
    assert message_id_time_ms("0190aaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee") is None


def test_presence_is_last_writer_wins_with_offline_winning_ties() -> None:
    state = apply_presence(None, "online", 10)
    assert apply_presence(state, "offline", 5) == Presence("online", 10, 10)  # older: only last_seen may move
    assert apply_presence(state, "offline", 10) == Presence("offline", 10, 10)
    assert apply_presence(apply_presence(state, "offline", 10), "online", 10) == Presence("offline", 10, 10)
    assert apply_presence(state, "offline", 20) == Presence("offline", 20, 20)


def test_a_message_id_may_be_a_little_later_than_its_event_and_no_more() -> None:
    """Clocks differ a little between services; a message made far after its own event is a broken clock."""
    event_at = 1_790_000_000_000
    near, far = (f"{event_at + ahead:012x}"[:8] + "-" + f"{event_at + ahead:012x}"[8:] + "-7000-8000-000000000000"
                 for ahead in (unread.MESSAGE_ID_SKEW_MS, unread.MESSAGE_ID_SKEW_MS + 1))
    assert unread.unsent_mark(A, ME, near, event_at).msg_id == near
    with pytest.raises(ValueError, match="after its event"):
        unread.unsent_mark(A, ME, far, event_at)


def message_at(ms: int) -> str:
    """A UUIDv7 made at ``ms`` (the 48-bit prefix), random after it."""
    tail = new_id().replace("-", "")[12:]
    hexed = f"{ms:012x}" + tail
    return f"{hexed[:8]}-{hexed[8:12]}-{hexed[12:16]}-{hexed[16:20]}-{hexed[20:]}"


def block(on: bool, at: int) -> Mark:
    return unread.block_mark(ME, A, on, last_id_at(at), at)


def test_a_blocked_sender_never_counts_and_what_they_sent_during_the_block_stays_unseen() -> None:
    """A message the blocked person sent after the block raised the blocker's badge, naming them."""
    t = now_ms() - 60_000
    before, during, after = message_at(t - 10), message_at(t + 10), message_at(t + 30)
    assert badge([unsent_mark(A, ME, before), block(True, t)]) == []  # read by the block
    assert badge([block(True, t), unsent_mark(A, ME, during)]) == []  # blocked
    assert badge([block(True, t), unsent_mark(A, ME, during), block(False, t + 20)]) == []  # never delivered
    assert badge([block(True, t), unsent_mark(A, ME, during), block(False, t + 20),
                  unsent_mark(A, ME, after)]) == [A]  # a new message after the unblock
    assert badge([block(False, t + 20), unsent_mark(A, ME, during)]) == [A]  # an unblock of no block hides nothing


def test_blocks_apply_in_any_order_with_the_same_badge() -> None:
    t = now_ms() - 60_000
    marks = [block(True, t), unsent_mark(A, ME, message_at(t + 10)), block(False, t + 20), block(True, t + 40),
             unsent_mark(A, ME, message_at(t + 50)), block(False, t + 60), unsent_mark(C, ME, message_at(t + 5))]
    expected = badge(marks)
    assert expected == [C]
    for order in itertools.permutations(marks, len(marks)):
        assert badge(list(order)) == expected
