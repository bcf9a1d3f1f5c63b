"""`photostream rebuild unread`: every user's unread-sender set derived from ``unread_pairs``, compared with
Redis and (unless ``--check``) rewritten where it differs.

Compared are the users with durable pairs (a missing Redis set counts as empty: the badge is 0 and must be)
and every Redis set no durable row explains (an orphan, which should not exist). Users whose derived set is
empty and whose Redis set is absent agree. Compare while the stream is quiet: a batch landing mid-comparison
shows up as a difference.
"""

from __future__ import annotations

from photostream.rebuild import RebuildReport, stores
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
                derived = await pairs.unread_of(user_id)
                live = await sets.senders(user_id)
                report.keys_compared += 1
                if set(derived) != live:
                    report.differences.append(f"unread of {user_id}: live {sorted(live)}, durable {derived}")
                    if repair:
                        await sets.replace(user_id, derived)
                        report.repaired += 1
        async for user_id in sets.owners():
            if user_id in seen:
                continue
            report.keys_compared += 1
            report.differences.append(f"unread of {user_id}: live {sorted(await sets.senders(user_id))}, "
                                      "no durable pair")
            if repair:
                await sets.replace(user_id, [])
                report.repaired += 1
    return report
