"""Clients the API holds for its lifetime, opened at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Cluster, Session

from photostream.settings import Settings
from producers.publisher import Publisher
from sinks import s3
from sinks.cassandra import connect
from sinks.redis_client import async_client


@dataclass
class ApiResources:
    publisher: Publisher
    redis: Any
    cluster: Cluster
    session: Session
    s3: Any

    @classmethod
    def open(cls, settings: Settings) -> ApiResources:
        cluster, session = connect(settings)
        return cls(Publisher(settings), async_client(settings), cluster, session, s3.client(settings))

    async def close(self) -> None:
        self.publisher.close()
        await self.redis.aclose()
        self.cluster.shutdown()
