"""Hosts the batch processors inside the faust worker, one consume loop (and consumer group) each."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import faust

from photostream.gc_tuning import settle_after_startup
from photostream.settings import Settings
from sinks import s3
from sinks.account_purge import AccountPurge
from sinks.accounts_requests import FollowRequests
from sinks.avatars import AvatarDirectory
from sinks.block_effects import BlockFootprint
from sinks.cdn_purge import AvatarPurge, CdnPurger
from sinks.comments import CommentWriter
from sinks.feeds import FeedCache, FeedPosts
from sinks.graph import GraphReader, GraphWriter
from sinks.images import ImageIndex
from sinks.photo_derivatives import PhotoDerivatives
from sinks.photo_tags import PhotoTagWriter
from sinks.presence import PresenceHashes, PresenceRows
from sinks.safety import SafetyReader, SafetyWriter
from sinks.unread import UnreadPairs, UnreadSets
from streams.account_purge import AccountPurgeProcessor
from streams.avatars import AvatarsProcessor
from streams.comments import CommentsProjector
from streams.engine.loop import BatchLoop
from streams.engine.records import BatchProcessor
from streams.feeds import FeedProcessor
from streams.follow_requests import FollowRequestsProjector
from streams.hashtags.counter import HashtagCounter
from streams.hashtags.extractor import HashtagExtractor
from streams.hashtags.popularity import PopularityUpdater
from streams.hashtags.wiring import counter_and_popularity
from streams.notifications import NotificationsProcessor
from streams.photo_tags import PhotoTagsProcessor
from streams.photos import PhotoDerivativesProcessor
from streams.presence import PresenceProcessor
from streams.projector import PostsProjector, ProfilesProjector
from streams.resources import Resources
from streams.safety import MuteFeedEffects, SafetyProcessor
from streams.unread import UnreadProcessor

log = logging.getLogger(__name__)


def build_processors(settings: Settings, resources: Resources) -> list[BatchProcessor]:
    counter, popularity = counter_and_popularity(settings, resources.session, resources.redis)
    # the feed stores are shared by the two processors that edit feeds (statements prepared once)
    graph, safety = GraphReader(resources.session), SafetyReader(resources.session)
    feed_posts, feed_cache = FeedPosts(resources.session), FeedCache.for_settings(resources.redis, settings)
    cdn = CdnPurger(settings.avatar_purge_url, settings.avatar_purge_method, settings.avatar_purge_timeout_s)
    return [
        ProfilesProjector.on(resources.session, resources.redis),
        PostsProjector.on(resources.session, resources.redis),
        HashtagExtractor(resources.session, resources.publisher, resources.redis, settings.publish_timeout_s),
        counter,
        popularity,
        FeedProcessor(settings, GraphWriter(resources.session), graph, feed_posts, feed_cache, resources.redis,
                      safety=safety),
        CommentsProjector(CommentWriter(resources.session), resources.redis, safety),
        PhotoTagsProcessor(PhotoTagWriter(resources.session), resources.redis),
        FollowRequestsProjector(FollowRequests(resources.session), resources.redis),
        UnreadProcessor(UnreadPairs(resources.session), UnreadSets(resources.redis, settings.app_id), resources.redis,
                        resources.session),
        PresenceProcessor(PresenceRows(resources.session), PresenceHashes(resources.redis, settings.app_id),
                          resources.redis),
        PhotoDerivativesProcessor(settings, s3.client(settings), PhotoDerivatives(resources.session),
                                  ImageIndex(resources.session), resources.redis),
        AvatarsProcessor(AvatarDirectory(resources.session), cdn, resources.redis),
        SafetyProcessor(SafetyWriter(resources.session), resources.publisher, resources.redis,
                        settings.publish_timeout_s,
                        MuteFeedEffects(safety, graph, feed_posts, feed_cache, settings.feed_cap),
                        BlockFootprint(resources.session), safety),
        NotificationsProcessor.on(resources),
        AccountPurgeProcessor(AccountPurge(settings, resources.session, resources.redis, s3.client(settings),
                                           AvatarPurge(cdn)),
                              resources.publisher, resources.redis, settings.publish_timeout_s),
    ]


#: every batch processor's name, in the order :func:`build_processors` builds them
BATCH_PROCESSORS = (ProfilesProjector.name, PostsProjector.name,
                    HashtagExtractor.name, HashtagCounter.name, PopularityUpdater.name, FeedProcessor.name,
                    CommentsProjector.name, PhotoTagsProcessor.name, FollowRequestsProjector.name,
                    UnreadProcessor.name, PresenceProcessor.name, PhotoDerivativesProcessor.name,
                    AvatarsProcessor.name, SafetyProcessor.name, NotificationsProcessor.name,
                    AccountPurgeProcessor.name)


class BatchLoops:
    """The running loops, for the worker's readiness page."""

    def __init__(self) -> None:
        self.loops: list[BatchLoop] = []
        #: set once the loops this worker runs are built
        self.built = False

    @property
    def ready(self) -> bool:
        return self.built and all(loop.joined for loop in self.loops)


def register_batch_processors(app: faust.App, settings: Settings,
                              chosen: Collection[str] = BATCH_PROCESSORS) -> BatchLoops:
    """Run the ``chosen`` batch processors (every one by default) as a task of ``app`` for the worker's
    lifetime."""
    running = BatchLoops()

    @app.task
    async def run_batch_processors() -> None:
        resources = Resources.open(settings)
        loops = [BatchLoop(settings, p, resources.publisher, resources.codec)
                 for p in build_processors(settings, resources) if p.name in chosen]
        running.loops, running.built = loops, True
        settle_after_startup()  # everything built so far lives as long as the worker
        try:
            await asyncio.gather(*(loop.run(batch_max=settings.batch_max_events) for loop in loops))
        finally:
            for loop in loops:
                loop.stop()
            await resources.close()

    return running
