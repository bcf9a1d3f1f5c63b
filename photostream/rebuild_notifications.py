"""`photostream rebuild notifications`: every user's Redis list re-derived from Cassandra (``notifications``,
``notification_reads``), compared with live Redis and (unless ``--check``) rewritten where it differs.

The derived list is what :mod:`sinks.notification_lists` promises: the Cassandra rows above the live floor
(every row when there is none), at most ``NOTIFICATIONS_CAP`` of them, each with its payload, listing score
(bucket) and unread score (updated_at), plus the read mark. A repair rewrites what the projection keeps of the
rows (:func:`sinks.notification_lists.trimmed`: whole buckets, at most ``NOTIFICATIONS_CAP`` rows unless the
newest bucket alone holds more) and the floor below them. Users with a Redis list but no durable row are
differences too. The stream may go on meanwhile: a list that differs is compared again (up to
:data:`photostream.rebuild.CONFIRMING_READS` times) before it is reported, so a batch landing between the reads
is not taken for a stale list, nor a list whose first row landed after the scan for an orphan. A repair is fenced
like the API's copy of a lost list (:meth:`NotificationLists.fill`: the list's version, the read mark never lowered):
an unfenced rewrite erased a mark-read or a notification that landed between its Cassandra read and its write, and
still marked the list whole. A list that changed meanwhile is read again (up to
:data:`photostream.rebuild.REPAIR_ATTEMPTS` times: :func:`photostream.rebuild.fenced_repair`).
"""

from __future__ import annotations

from photostream.domain.notifications import parse_notification_id
from photostream.rebuild import RebuildReport, fenced_repair, last_comparison, stores
from photostream.settings import Settings
from sinks.notification_lists import NotificationLists, Snapshot, payload_of, trimmed
from sinks.notifications import NotificationStore, StoredNotification

#: one user's comparison: the live list, the durable rows, the durable read mark, and how they differ
Compared = tuple[Snapshot, list[StoredNotification], int, list[str]]


def _differences(user: str, live: Snapshot, rows: list[StoredNotification], read_at: int) -> list[str]:
    derived = {n.id: n for n in rows if not live.floor or n.id > live.floor}
    found: list[str] = []
    if set(live.items) != set(derived):
        found.append(f"notifications of {user}: live ids {sorted(live.items)}, durable {sorted(derived)}")
    for nid, item in derived.items():
        if nid in live.items and live.items[nid] != payload_of(item):
            found.append(f"notification {nid} of {user}: live {live.items[nid]}, durable {payload_of(item)}")
        if live.buckets.get(nid) != parse_notification_id(nid)[0] or live.updated.get(nid) != item.updated_at:
            found.append(f"notification {nid} of {user}: scores {live.buckets.get(nid)}/{live.updated.get(nid)}")
    if set(live.buckets) != set(live.items) or set(live.updated) != set(live.items):
        found.append(f"notifications of {user}: listing/unread/item keys disagree")
    if live.read_at != read_at:
        found.append(f"read mark of {user}: live {live.read_at}, durable {read_at}")
    return found


def _agrees(found: Compared) -> bool:
    return not found[3]


async def rebuild_notifications(settings: Settings, repair: bool) -> RebuildReport:
    report = RebuildReport("notifications")
    cap = settings.notifications_cap
    async with stores(settings) as (session, redis):
        store, lists = NotificationStore(session), NotificationLists(redis, settings.app_id, cap)
        seen: set[str] = set()
        async for users in store.recipients():
            for user in users:
                seen.add(user)
                report.keys_compared += 1

                async def compared(user: str = user) -> Compared:
                    live = await lists.snapshot(user)
                    rows = await store.newest_rows(user, max(cap, len(live.items)) + 1)
                    read_at = await store.read_at(user)
                    differences = _differences(user, live, rows, read_at)
                    if not live.floor and trimmed(rows, cap)[1]:
                        differences.append(f"notifications of {user}: more than {cap} rows but no floor")
                    return live, rows, read_at, differences

                async def fill(found: Compared, user: str = user) -> bool:
                    live, rows, read_at, _ = found
                    return bool(await lists.fill(user, live.version, rows, read_at))

                differing = await last_comparison(compared, _agrees)
                if _agrees(differing):
                    continue
                report.differences += differing[3]
                if not repair:
                    continue
                await fenced_repair(report, f"notifications of {user}", differing, compared, _agrees, fill)
        async for user in lists.owners():
            if user in seen:
                continue
            report.keys_compared += 1
            if await store.newest_rows(user, 1):  # its first row landed after the scan passed: compared next run
                continue
            report.differences.append(f"notifications of {user}: a live list, no durable row")
            if repair:
                await lists.purge(user)
                report.repaired += 1
    return report
