"""`photostream rebuild unread`: every user's unread-sender set derived from ``unread_pairs``, compared with
Redis and (unless ``--check``) rewritten where it differs.

Compared are the users with durable pairs (a missing Redis set counts as empty: the badge is 0 and must be)
and every Redis set no durable row explains (an orphan, which should not exist). Users whose derived set is
empty and whose Redis set is absent agree. The stream may go on meanwhile: a set that differs is compared again
(up to :data:`photostream.rebuild.CONFIRMING_READS` times) before it is reported, so a batch landing between
the two reads is not taken for a stale set. A repair is fenced like the API's copy (:meth:`UnreadSets.fill`: the
set's version, read before Cassandra), so it cannot erase a projection that lands meanwhile; a set that changed
is read again, up to :data:`photostream.rebuild.REPAIR_ATTEMPTS` times (:func:`photostream.rebuild.fenced_repair`).
"""

from __future__ import annotations

from typing import Any

from photostream.rebuild import RebuildReport, fenced_repair, last_comparison, stores
from photostream.settings import Settings
from sinks.unread import UnreadPairs, UnreadSets


async def rebuild_unread(settings: Settings, repair: bool) -> RebuildReport:
    report = RebuildReport("unread")
    async with stores(settings) as (session, redis):
        pairs, sets = UnreadPairs(session), UnreadSets(redis, settings.app_id)
        seen: set[str] = set()
        async for users in pairs.users():
            for user_id in users:
                seen.add(user_id)
                report.keys_compared += 1
                await _compare(report, pairs, sets, user_id, repair)
        async for user_id in sets.owners():
            if user_id in seen:
                continue
            report.keys_compared += 1
            await _compare(report, pairs, sets, user_id, repair, orphan=True)
    return report


async def _compare(report: RebuildReport, pairs: UnreadPairs, sets: UnreadSets, user_id: str, repair: bool,
                   orphan: bool = False) -> None:
    async def compared() -> tuple[set[str], Any, list[str]]:
        live, version = await sets.live(user_id)
        return live, version, await pairs.unread_of(user_id)

    def agrees(found: tuple[set[str], Any, list[str]]) -> bool:
        return set(found[2]) == found[0]

    async def fill(found: tuple[set[str], Any, list[str]]) -> bool:
        return bool(await sets.fill(user_id, found[1], found[2]))

    differing = await last_comparison(compared, agrees)
    if agrees(differing):
        return
    live, _, derived = differing
    report.differences.append(f"unread of {user_id}: live {sorted(live)}, "
                              + ("no durable pair" if orphan else f"durable {derived}"))
    if not repair:
        return
    await fenced_repair(report, f"unread of {user_id}", differing, compared, agrees, fill)
