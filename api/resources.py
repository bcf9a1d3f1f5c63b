"""Clients the API holds for its lifetime, opened at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Cluster, Session

from api.images_links import ImageLinks
from api.images_service import Renderer
from api.s3_lane import S3Lane
from api.shared_answers import SharedAnswers
from photostream.settings import Settings
from producers.publisher import Publisher
from sinks import s3
from sinks.avatars import AvatarDirectory
from sinks.cassandra import connect
from sinks.comments import CommentReads
from sinks.engagement_reads import EngagementReads
from sinks.feed_reads import FeedReader
from sinks.feeds import FeedCache, FeedPosts
from sinks.follow_lists import FollowLists
from sinks.hashtags.reads import HashtagReads
from sinks.images import ImageIndex
from sinks.photo_derivatives import PhotoDerivatives
from sinks.photo_tags import PhotoTagReads
from sinks.post_lists import AuthorPosts
from sinks.redis_batching import BatchingRedis, reads_client
from sinks.redis_client import async_client
from sinks.revocations import RevocationLedger
from sinks.safety import SafeAudience, SafetyReader
from sinks.tag_settings import TagSettingsStore
from sinks.tagged_posts import TaggedPosts

#: how much of their ttl shared answers may go stale early, so answers first read together are not refreshed
#: together ever after (:class:`api.shared_answers.SharedAnswers`)
REFRESH_JITTER = 0.5


@dataclass
class ApiResources:
    publisher: Publisher
    redis: Any
    cluster: Cluster
    session: Session
    s3: Any
    hashtags: HashtagReads
    #: the follow graph plus which accounts are private and blocks: everything a visibility check reads
    graph: SafeAudience
    images: ImageIndex
    #: hashtag summaries as an anonymous reader sees them, shared for ``hashtag_response_cache_s`` in this process
    #: (then stale for as long again while one refresh runs: :mod:`api.shared_answers`)
    hashtag_responses: SharedAnswers[dict[str, Any]]
    engagement: EngagementReads
    comments: CommentReads
    feeds: FeedReader
    author_posts: AuthorPosts
    follow_lists: FollowLists
    #: sizes on demand (api.routes.images) and the signed links of non-public photos
    renderer: Renderer
    image_links: ImageLinks
    #: whether a public post shows an image, as read within the last ``image_public_ttl_s`` (skips the audience
    #: reads), refreshed behind its readers (api.routes.images)
    public_images: SharedAnswers[bool]
    #: blurhash placeholders of photos (api.hydrate); avatars by e-mail hash (api.routes.avatars)
    derivatives: PhotoDerivatives
    avatars: AvatarDirectory
    #: blocks, mutes, muted hashtags (the same reader the visibility check uses)
    safety: SafetyReader
    #: people tags on posts' photos (api.hydrate) and the tagged users' lists (api.routes.photo_tags)
    photo_tags: PhotoTagReads
    #: who may tag whom (read on a tag write and a profile edit)
    tag_settings: TagSettingsStore
    #: logged-out tokens and deleted accounts (durable, checked in Redis on every request)
    revocations: RevocationLedger
    #: the threads S3 calls run on, a wait for one bounded (api.s3_lane): a slow S3 starves nothing else
    s3_lane: S3Lane
    #: the client a hydrated page's concurrent reads go through, one pipeline per turn (sinks.redis_batching)
    redis_reads: Any = None

    @classmethod
    def open(cls, settings: Settings) -> ApiResources:
        """Connect once; prepared statements are prepared here, not per request."""
        cluster, session = connect(settings)
        redis = async_client(settings)
        reads = reads_client(redis)  # a page's concurrent reads share one pipeline
        audience = SafeAudience(session, redis, reads)
        lane = S3Lane.of(settings)
        return cls(Publisher(settings), redis, cluster, session, s3.client(settings), HashtagReads(session, redis),
                   audience, ImageIndex(session),
                   SharedAnswers(settings.hashtag_response_cache_s, jitter=REFRESH_JITTER),
                   engagement=EngagementReads(session, redis, reads), comments=CommentReads(session),
                   author_posts=AuthorPosts(session), follow_lists=FollowLists(session),
                   feeds=FeedReader(audience, FeedPosts(session),
                                    FeedCache.for_settings(redis, settings, reads), settings.feed_cap, audience.safety),
                   renderer=Renderer(s3.client(settings), settings, ImageIndex(session), lane),
                   image_links=ImageLinks.of(settings),
                   public_images=SharedAnswers(settings.image_public_ttl_s / 2, maxsize=100_000, jitter=REFRESH_JITTER),
                   derivatives=PhotoDerivatives(session), avatars=AvatarDirectory(session), safety=audience.safety,
                   photo_tags=PhotoTagReads(session, TaggedPosts(redis, reads)), tag_settings=TagSettingsStore(session),
                   revocations=RevocationLedger(session, redis, reads), s3_lane=lane, redis_reads=reads)

    async def close(self) -> None:
        self.publisher.close()
        self.renderer.close()
        self.s3_lane.close()
        if isinstance(self.redis_reads, BatchingRedis):
            self.redis_reads.close()
        await self.redis.aclose()
        self.cluster.shutdown()
