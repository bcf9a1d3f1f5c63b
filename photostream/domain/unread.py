"""The newly-unread badge: which distinct people sent a user messages the user has not read yet.

Each (user, sender) pair is two high-water marks, both message ids: ``unsent_up_to``, the newest message of the
sender that reached the user undelivered (``ON_MSG_UNSENT``), and ``read_up_to``, the newest message of that
conversation the user has read (``MESSAGES_READ``). The sender counts towards the badge exactly when
``unsent_up_to > read_up_to``. Message ids are UUIDv7 in canonical lower-case text, so comparing the strings
compares creation times (the 48-bit millisecond prefix first): a read mark *covers* every message whose id is
less than or equal to it.

Both marks only ever move up (``max``), so applying events is commutative, associative and idempotent: any
arrival order, duplicates and a replay of the topics from offset 0 give the same pairs, hence the same badge.
In particular an ``ON_MSG_UNSENT`` that arrives after a ``MESSAGES_READ`` covering it never re-adds the sender,
and a read mark for a sender who has not written (yet) is kept (it is how that reordering is recognised) but
changes no badge.

Bad input, decided here (``ValueError`` → the batch loop dead-letters the record): a user or sender id that is
not a canonical id, a message id that is not a canonical UUIDv7 (ordering would be meaningless) or that was made
more than :data:`MESSAGE_ID_SKEW_MS` after the event itself (a producer's clock gone wrong: a far-future read
mark silenced a sender for good, a far-future message stuck in the badge for good, and both are durable), and
a message to oneself or a read mark about oneself (no client can produce either: a producer bug worth
inspecting). The time bound is against the event's own ``occurred_at``, not the clock, so a replay decides
exactly as the first pass did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from producers.ids import MESSAGE_ID_SKEW_MS, is_id, is_message_id, message_from_the_future

Pair = tuple[str, str]  # (user_id: the badge owner, sender_id)


@dataclass(frozen=True)
class PairMarks:
    """The two high-water marks of one pair (``None``: no such event seen)."""

    unsent_up_to: str | None = None
    read_up_to: str | None = None

    @property
    def unread(self) -> bool:
        return self.unsent_up_to is not None and (self.read_up_to is None or self.unsent_up_to > self.read_up_to)


@dataclass(frozen=True)
class Mark:
    """One event as a mark on a pair: ``read`` False is an unsent message, True a read mark."""

    user_id: str
    sender_id: str
    msg_id: str
    read: bool

    @property
    def pair(self) -> Pair:
        return (self.user_id, self.sender_id)


def _check(user_id: str, sender_id: str, msg_id: str, occurred_at: int, what: str) -> None:
    if not is_id(user_id) or not is_id(sender_id):
        raise ValueError(f"{what}: user/sender is not an id")
    if not is_message_id(msg_id):
        raise ValueError(f"{what}: message id is not a UUIDv7")
    if message_from_the_future(msg_id, occurred_at):
        raise ValueError(f"{what}: message id made after its event (more than {MESSAGE_ID_SKEW_MS // 1000} s)")
    if user_id == sender_id:
        raise ValueError(f"{what}: a user cannot have unread messages from themself")


def unsent_mark(src: str, dest: str, msg_id: str, occurred_at: int) -> Mark:
    """``ON_MSG_UNSENT``: ``src`` wrote ``msg_id`` to ``dest`` (the badge owner)."""
    _check(dest, src, msg_id, occurred_at, "ON_MSG_UNSENT")
    return Mark(dest, src, msg_id, read=False)


def read_mark(user_id: str, sender_id: str, read_up_to: str, occurred_at: int) -> Mark:
    """``MESSAGES_READ``: ``user_id`` read ``sender_id``'s messages up to ``read_up_to``."""
    _check(user_id, sender_id, read_up_to, occurred_at, "MESSAGES_READ")
    return Mark(user_id, sender_id, read_up_to, read=True)


def _max(a: str | None, b: str) -> str:
    return b if a is None or b > a else a


def apply(state: PairMarks | None, mark: Mark) -> PairMarks:
    """The pair after one more event (older marks than the state's change nothing)."""
    state = state or PairMarks()
    if mark.read:
        return PairMarks(state.unsent_up_to, _max(state.read_up_to, mark.msg_id))
    return PairMarks(_max(state.unsent_up_to, mark.msg_id), state.read_up_to)


def apply_all(states: dict[Pair, PairMarks], marks: Iterable[Mark]) -> dict[Pair, PairMarks]:
    """Every pair ``marks`` touch, after them, starting from ``states`` (pairs not in it start empty)."""
    after: dict[Pair, PairMarks] = {}
    for mark in marks:
        after[mark.pair] = apply(after.get(mark.pair, states.get(mark.pair)), mark)
    return after


def unread_senders(pairs: Iterable[tuple[str, PairMarks]]) -> list[str]:
    """The senders who count towards the badge, sorted (``pairs``: (sender_id, marks) of one user)."""
    return sorted(sender for sender, marks in pairs if marks.unread)
