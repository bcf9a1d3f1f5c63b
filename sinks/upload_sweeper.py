"""Uploads never completed: ``photostream sweep-uploads`` deletes their originals from S3.

A client may take a ticket (``POST /uploads``), send the bytes, and never report completion (the app was
closed, the network dropped). Nothing may be shown from such an object (only completed uploads are attached or
rendered), but it costs storage. A refused completion deletes its object at once (``api.routes.uploads``);
this sweeper is for the ones nobody ever reported.

Why a sweeper and not an S3 lifecycle rule: originals live at ``photos/{user}/{image}`` whether or not they
completed, so an expiration rule on ``photos/`` would also delete every completed photo; a rule can only tell
objects apart by prefix (or by tags, and S3 matches *present* tags, not the absence of a "completed" tag). The
only owner of "completed" is ``image_files``, so the sweeper asks it: it lists the objects under a prefix (one
request per 1,000 keys), checks the ones older than the cut-off against ``image_files`` (one query per
100 ids), and deletes the objects without a completion row. The cut-off (a day by default) is far beyond a
ticket's validity (``s3_presign_expiry_s``), so an upload whose client is about to report it is not taken;
one reported after its object was swept gets 409 ``not_uploaded`` and uploads again.

Only objects whose ticket was issued in this keyspace (an ``image_uploads`` claim) are judged: deployments and
namespaces share the bucket, and a sweep judging every object by this keyspace's completions took every other
namespace's photos for never-completed uploads (a dry run in the demo's namespace would have deleted 2,587 of
2,802 originals, all completed elsewhere). The others are counted as ``not_ours`` and left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from photostream.settings import Settings
from sinks import s3
from sinks.images import ImageIndex

logger = logging.getLogger(__name__)

#: image ids checked per ``image_files`` query
CHECK_BATCH = 100
PHOTOS_PREFIX = "photos/"


def image_id_of(key: str) -> str | None:
    """The image id an original's key names (``photos/{user}/{image}``), or None for any other key."""
    parts = key.split("/")
    return parts[2] if len(parts) == 3 and parts[0] == "photos" and parts[1] and parts[2] else None


def candidates(objects: Iterable[s3.StoredObject], cutoff_ms: int) -> Iterator[tuple[str, s3.StoredObject]]:
    """(image id, object) of originals last written before ``cutoff_ms``: the ones old enough to judge."""
    for stored in objects:
        image_id = image_id_of(stored.key)
        if image_id is not None and stored.modified_ms < cutoff_ms:
            yield image_id, stored


@dataclass
class SweepReport:
    examined: int = 0
    #: old objects whose ticket another keyspace issued (another namespace's or deployment's): never touched
    not_ours: int = 0
    deleted: list[str] = field(default_factory=list)
    deleted_bytes: int = 0


async def sweep(s3_client: Any, settings: Settings, index: ImageIndex, cutoff_ms: int,
                prefix: str = PHOTOS_PREFIX, dry_run: bool = False) -> SweepReport:
    """Delete (unless ``dry_run``) every original under ``prefix`` written before ``cutoff_ms`` that never
    completed. Idempotent: a second run finds nothing more to delete."""
    report = SweepReport()
    pages = s3.object_pages(s3_client, settings, prefix)
    while (page := await asyncio.to_thread(next, pages, None)) is not None:
        old = list(candidates(page, cutoff_ms))
        for start in range(0, len(old), CHECK_BATCH):
            await _sweep_batch(s3_client, settings, index, old[start:start + CHECK_BATCH], dry_run, report)
    return report


async def _sweep_batch(s3_client: Any, settings: Settings, index: ImageIndex,
                       batch: list[tuple[str, s3.StoredObject]], dry_run: bool, report: SweepReport) -> None:
    ids = [image_id for image_id, _ in batch]
    completed, claimed = await asyncio.gather(index.files(ids), index.claimed(ids))
    report.examined += len(batch)
    for image_id, stored in batch:
        if image_id not in claimed:
            report.not_ours += 1
            continue
        if image_id in completed:
            continue
        if not dry_run:
            await asyncio.to_thread(s3.delete, s3_client, settings, stored.key)
        logger.info("%s never-completed upload %s (%d bytes)", "would delete" if dry_run else "deleted",
                    stored.key, stored.size_bytes)
        report.deleted.append(stored.key)
        report.deleted_bytes += stored.size_bytes


def run(settings: Settings, older_than_s: int, prefix: str = PHOTOS_PREFIX, dry_run: bool = False,
        now_ms: int | None = None) -> SweepReport:
    """The command's edge: connect to S3 and Cassandra, sweep, disconnect."""
    from producers.ids import now_ms as clock
    from sinks.cassandra import connect

    cutoff = (clock() if now_ms is None else now_ms) - older_than_s * 1000
    cluster, session = connect(settings)
    try:
        return asyncio.run(sweep(s3.client(settings), settings, ImageIndex(session), cutoff, prefix, dry_run))
    finally:
        cluster.shutdown()
