"""The newly-unread badge: which distinct people sent a user messages the user has not read yet.

Each (user, sender) pair is two high-water marks, both message ids: ``unsent_up_to``, the newest message of the
sender that reached the user undelivered (``ON_MSG_UNSENT``), and ``read_up_to``, the newest message of that
conversation the user has read (``MESSAGES_READ``). The sender counts towards the badge exactly when
``unsent_up_to > read_up_to``. Message ids are UUIDv7 in canonical lower-case text, so comparing the strings
compares creation times (the 48-bit millisecond prefix first): a read mark *covers* every message whose id is
less than or equal to it.

A block (of the sender, by the badge owner) is two more high-water marks, times this time: ``blocked_at`` and
``unblocked_at``. While the newest block is newer than the newest unblock the sender never counts (a message the
blocked person sent after the block raised the blocker's badge, naming someone whose profile was a 404 to
them). A block also reads the conversation up to its millisecond, and after an unblock the sender counts only
for a message newer than the unblock: one sent during the block is never delivered (as on Instagram), so the
newest message's time (a UUIDv7's prefix) inside the last block means nothing new.

Every mark only ever moves up (``max``), so applying events is commutative, associative and idempotent: any
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

from producers.ids import MESSAGE_ID_SKEW_MS, id_time_ms, is_recurring_id, message_id_time_ms

Pair = tuple[str, str]  # (user_id: the badge owner, sender_id)


@dataclass(frozen=True)
class PairMarks:
    """The two high-water marks of one pair (``None``: no such event seen)."""

    unsent_up_to: str | None = None
    read_up_to: str | None = None
    #: epoch ms of the newest block and unblock of the sender by the badge owner (0: none)
    blocked_at: int = 0
    unblocked_at: int = 0

    @property
    def blocked(self) -> bool:
        return self.blocked_at > self.unblocked_at

    @property
    def unread(self) -> bool:
        if self.unsent_up_to is None or (self.read_up_to is not None and self.unsent_up_to <= self.read_up_to):
            return False
        if self.blocked_at == 0:
            return True
        return not self.blocked and not self.blocked_at <= id_time_ms(self.unsent_up_to) <= self.unblocked_at


@dataclass(frozen=True)
class Mark:
    """One event as a mark on a pair: ``read`` False is an unsent message, True a read mark; ``block`` True or
    False (with its time ``at``) is the badge owner blocking (which reads up to ``msg_id`` too) or unblocking
    the sender."""

    user_id: str
    sender_id: str
    msg_id: str
    read: bool
    block: bool | None = None
    at: int = 0

    @property
    def pair(self) -> Pair:
        return (self.user_id, self.sender_id)


def _check(user_id: str, sender_id: str, msg_id: str, occurred_at: int, what: str) -> None:
    if not is_recurring_id(user_id) or not is_recurring_id(sender_id):
        raise ValueError(f"{what}: user/sender is not an id")
    made = message_id_time_ms(msg_id)
    if made is None:
        raise ValueError(f"{what}: message id is not a UUIDv7")
    if made > occurred_at + MESSAGE_ID_SKEW_MS:
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


def block_mark(user_id: str, sender_id: str, on: bool, read_up_to: str, occurred_at: int) -> Mark:
    """``user_id`` blocked (``on``: reading their conversation up to ``read_up_to``, the last message id of
    that millisecond) or unblocked ``sender_id`` at ``occurred_at``."""
    _check(user_id, sender_id, read_up_to, occurred_at, "block-changed")
    return Mark(user_id, sender_id, read_up_to, read=True, block=on, at=occurred_at)


def _max(a: str | None, b: str) -> str:
    return b if a is None or b > a else a


def apply(state: PairMarks | None, mark: Mark) -> PairMarks:
    """The pair after one more event (older marks than the state's change nothing)."""
    state = state or PairMarks()
    unsent, read, blocked_at, unblocked_at = state.unsent_up_to, state.read_up_to, state.blocked_at, state.unblocked_at
    if mark.block is True:
        return PairMarks(unsent, _max(read, mark.msg_id), max(blocked_at, mark.at), unblocked_at)
    if mark.block is False:
        return PairMarks(unsent, read, blocked_at, max(unblocked_at, mark.at))
    if mark.read:
        return PairMarks(unsent, _max(read, mark.msg_id), blocked_at, unblocked_at)
    return PairMarks(_max(unsent, mark.msg_id), read, blocked_at, unblocked_at)


def apply_all(states: dict[Pair, PairMarks], marks: Iterable[Mark]) -> dict[Pair, PairMarks]:
    """Every pair ``marks`` touch, after them, starting from ``states`` (pairs not in it start empty)."""
    after: dict[Pair, PairMarks] = {}
    for mark in marks:
        after[mark.pair] = apply(after.get(mark.pair, states.get(mark.pair)), mark)
    return after


def unread_senders(pairs: Iterable[tuple[str, PairMarks]]) -> list[str]:
    """The senders who count towards the badge, sorted (``pairs``: (sender_id, marks) of one user)."""
    return sorted(sender for sender, marks in pairs if marks.unread)
