"""Builds the hashtag counter and the popularity updater over their shared stores (one place, used by the
worker and the benchmarks)."""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from photostream.domain.scoring import score_weights
from photostream.settings import Settings
from producers.publisher import Publisher
from sinks.engagement import EngagementStore
from sinks.hashtag_search import HashtagSearch
from sinks.hashtags.derived import TagDeriver
from sinks.hashtags.settle import RankSettler
from sinks.hashtags.state import HashtagStateStore
from sinks.hashtags.views import HashtagViews
from sinks.partition_cache import LIKES, PartitionCache
from sinks.safety import SafetyReader
from streams.hashtags.counter import HashtagCounter
from streams.hashtags.popularity import PopularityUpdater
from streams.posts_projected import PostsProjected


def counter_and_popularity(settings: Settings, session: Session, redis: Any, publisher: Publisher | None = None,
                           projected: PostsProjected | None = None) -> tuple[HashtagCounter, PopularityUpdater]:
    state, engagement = HashtagStateStore(session), EngagementStore(session)
    views = HashtagViews(redis, settings.hashtag_top_n, settings.trending_min_authors)
    weights = score_weights(settings)
    settler = RankSettler(engagement, views, TagDeriver(state, engagement, weights, settings.hashtag_top_n), weights)
    return (HashtagCounter(settings, state, engagement, views, settler, redis, HashtagSearch(session)),
            PopularityUpdater(settings, engagement, state, views, settler, PartitionCache(redis, LIKES),
                              redis, SafetyReader(session), publisher, projected))
