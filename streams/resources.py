"""Connections a processor needs, opened when the worker starts (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Cluster, Session

from photostream.contracts.codec import EventCodec
from photostream.settings import Settings
from producers.publisher import Publisher
from sinks.cassandra import cap_in_flight, connect
from sinks.redis_client import async_client
from streams.posts_projected import PostsProjected


@dataclass
class Resources:
    settings: Settings
    codec: EventCodec
    publisher: Publisher
    cluster: Cluster
    session: Session
    redis: Any
    #: the posts projector's progress (its Kafka client made on first use)
    posts_projected: PostsProjected

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        cluster, session = connect(settings)
        cap_in_flight(session, settings.cassandra_worker_in_flight)
        publisher = Publisher(settings)
        publisher.open_raw_lane()  # processors park poison records: connected before the first one comes
        return cls(settings, EventCodec(), publisher, cluster, session, async_client(settings),
                   PostsProjected.of_app(settings, settings.posts_projected_wait_s))

    async def close(self) -> None:
        self.publisher.close()
        self.posts_projected.close()
        await self.redis.aclose()
        self.cluster.shutdown()
