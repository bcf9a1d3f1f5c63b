"""Hosts the batch processors inside the faust worker, one consume loop (and consumer group) each."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Collection

import faust

from photostream import loop_lag
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


class _SharedStores:
    """Stores more than one processor uses, built on first use (statements prepared once, and only for a worker
    that runs a processor needing them)."""

    def __init__(self, settings: Settings, resources: Resources) -> None:
        self.settings, self.resources = settings, resources

    @functools.cached_property
    def counting(self) -> tuple[HashtagCounter, PopularityUpdater]:
        return counter_and_popularity(self.settings, self.resources.session, self.resources.redis,
                                      self.resources.publisher, self.resources.posts_projected)

    @functools.cached_property
    def graph(self) -> GraphReader:
        return GraphReader(self.resources.session)

    @functools.cached_property
    def safety(self) -> SafetyReader:
        return SafetyReader(self.resources.session)

    @functools.cached_property
    def feed_posts(self) -> FeedPosts:
        return FeedPosts(self.resources.session)

    @functools.cached_property
    def feed_cache(self) -> FeedCache:
        return FeedCache.for_settings(self.resources.redis, self.settings)

    @functools.cached_property
    def cdn(self) -> CdnPurger:
        s = self.settings
        return CdnPurger(s.avatar_purge_url, s.avatar_purge_method, s.avatar_purge_timeout_s)


def build_processors(settings: Settings, resources: Resources,
                     names: Collection[str] = ()) -> list[BatchProcessor]:
    """The processors named (every one if ``names`` is empty), in :data:`BATCH_PROCESSORS`' order; only those are
    built (a worker running some of them, or its live loops' thread, prepares nothing for the others)."""
    shared, session, redis, publisher = _SharedStores(settings, resources), resources.session, resources.redis, \
        resources.publisher
    factories: dict[str, Callable[[], BatchProcessor]] = {
        ProfilesProjector.name: lambda: ProfilesProjector.on(session, redis),
        PostsProjector.name: lambda: PostsProjector.publishing(session, redis, publisher, settings.publish_timeout_s),
        HashtagExtractor.name: lambda: HashtagExtractor(session, publisher, redis, settings.publish_timeout_s),
        HashtagCounter.name: lambda: shared.counting[0],
        PopularityUpdater.name: lambda: shared.counting[1],
        FeedProcessor.name: lambda: FeedProcessor(settings, GraphWriter(session), shared.graph, shared.feed_posts,
                                                  shared.feed_cache, redis, safety=shared.safety,
                                                  publisher=publisher),
        CommentsProjector.name: lambda: CommentsProjector(CommentWriter(session), redis, shared.safety, publisher,
                                                          settings.publish_timeout_s, resources.posts_projected),
        PhotoTagsProcessor.name: lambda: PhotoTagsProcessor(PhotoTagWriter(session), redis, shared.safety, publisher,
                                                            settings.publish_timeout_s),
        FollowRequestsProjector.name: lambda: FollowRequestsProjector(FollowRequests(session), redis, publisher,
                                                                      settings.publish_timeout_s),
        UnreadProcessor.name: lambda: UnreadProcessor(UnreadPairs(session), UnreadSets(redis, settings.app_id), redis,
                                                      session),
        PresenceProcessor.name: lambda: PresenceProcessor(PresenceRows(session),
                                                          PresenceHashes(redis, settings.app_id), redis),
        PhotoDerivativesProcessor.name: lambda: PhotoDerivativesProcessor(
            settings, s3.client(settings), PhotoDerivatives(session), ImageIndex(session), redis),
        AvatarsProcessor.name: lambda: AvatarsProcessor(AvatarDirectory(session), shared.cdn, redis),
        SafetyProcessor.name: lambda: SafetyProcessor(
            SafetyWriter(session), publisher, redis, settings.publish_timeout_s,
            MuteFeedEffects(shared.safety, shared.graph, shared.feed_posts, shared.feed_cache, settings.feed_cap),
            BlockFootprint(session), shared.safety),
        NotificationsProcessor.name: lambda: NotificationsProcessor.on(resources),
        AccountPurgeProcessor.name: lambda: AccountPurgeProcessor(
            AccountPurge(settings, session, redis, s3.client(settings), AvatarPurge(shared.cdn)),
            publisher, redis, settings.publish_timeout_s),
    }
    wanted = frozenset(names) or frozenset(factories)
    return [make() for name, make in factories.items() if name in wanted]


#: every batch processor's name, in the order :func:`build_processors` builds them
BATCH_PROCESSORS = (ProfilesProjector.name, PostsProjector.name,
                    HashtagExtractor.name, HashtagCounter.name, PopularityUpdater.name, FeedProcessor.name,
                    CommentsProjector.name, PhotoTagsProcessor.name, FollowRequestsProjector.name,
                    UnreadProcessor.name, PresenceProcessor.name, PhotoDerivativesProcessor.name,
                    AvatarsProcessor.name, SafetyProcessor.name, NotificationsProcessor.name,
                    AccountPurgeProcessor.name)


#: what a client waits on right after a write (its post's page, its profile, its home feed). In a worker that also
#: runs the other processors, these loops get an event loop of their own, in a thread (:class:`LiveLoops`)
LIVE_PROCESSORS = frozenset({"posts", "profiles", "feeds"})


class BatchLoops:
    """The running loops, for the worker's readiness page."""

    def __init__(self) -> None:
        self.loops: list[BatchLoop] = []
        #: set once the loops this worker runs are built
        self.built = False

    @property
    def ready(self) -> bool:
        return self.built and all(loop.joined for loop in self.loops)


class LiveLoops:
    """The live processors' loops on an event loop of their own, in a thread, with connections of their own.

    Why: loops sharing an event loop take turns only at their awaits, and under a backlog the bulk processors'
    turns are long (decoding a chunk, tallying a batch: tens to hundreds of milliseconds of Python each), so every
    await of the posts projector waited behind them: a client's new post took seconds to open (benchmark 15, one
    pool: the posts projector's p99 2.1-3.5 s). Threads take turns at the interpreter's switch interval (5 ms),
    whatever the other thread is doing. One thread, not one per processor: fourteen busy threads handing the GIL
    around cost more than they saved (stop 46)."""

    def __init__(self, settings: Settings, names: Collection[str]) -> None:
        self._settings = settings
        self._names = frozenset(names)
        self.loops: list[BatchLoop] = []
        #: set once :attr:`loops` is built (or building failed)
        self.built = threading.Event()
        self._event_loop: asyncio.AbstractEventLoop | None = None

    def run(self) -> None:
        """The thread's body: build the loops and run them until :meth:`stop` (raises what they raise)."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._event_loop = asyncio.get_running_loop()
        try:
            resources = Resources.open(self._settings)
            self.loops = [BatchLoop(self._settings, p, resources.publisher, resources.codec)
                          for p in build_processors(self._settings, resources, self._names)]
        finally:
            self.built.set()
        lag_probe = loop_lag.start("worker-live")
        try:
            await asyncio.gather(*(loop.run(batch_max=self._settings.batch_max_events) for loop in self.loops))
        finally:
            lag_probe.cancel()
            await resources.close()

    def stop(self) -> None:
        """Stop the loops, from any thread (each ends its consume and closes its consumer)."""
        if self._event_loop is not None and not self._event_loop.is_closed():
            for loop in self.loops:
                self._event_loop.call_soon_threadsafe(loop.stop)


def register_batch_processors(app: faust.App, settings: Settings,
                              chosen: Collection[str] = BATCH_PROCESSORS) -> BatchLoops:
    """Run the ``chosen`` batch processors (every one by default) as a task of ``app`` for the worker's
    lifetime; the live ones (:data:`LIVE_PROCESSORS`) apart, if there are others beside them."""
    running = BatchLoops()
    live = frozenset(chosen) & LIVE_PROCESSORS
    apart = LiveLoops(settings, live) if live and frozenset(chosen) - live else None
    here = frozenset(chosen) - live if apart else frozenset(chosen)

    @app.task
    async def run_batch_processors() -> None:
        resources = Resources.open(settings)
        loops = [BatchLoop(settings, p, resources.publisher, resources.codec)
                 for p in build_processors(settings, resources, here)]
        threaded = []
        if apart is not None:  # (a task at once: its thread builds the live loops, which are waited for)
            threaded.append(asyncio.ensure_future(asyncio.to_thread(apart.run)))
            await asyncio.to_thread(apart.built.wait)
        running.loops, running.built = loops + (apart.loops if apart else []), True
        settle_after_startup()  # everything built so far lives as long as the worker
        try:
            await asyncio.gather(*(loop.run(batch_max=settings.batch_max_events) for loop in loops), *threaded)
        finally:
            for loop in loops:
                loop.stop()
            if apart is not None:
                apart.stop()
            await resources.close()

    return running
