"""librdkafka configuration shared by every producer, consumer and admin client."""

from __future__ import annotations

from typing import Any

from photostream.settings import Settings


def client_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Connection settings for any confluent-kafka client, plus ``overrides``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
    }
    config.update(overrides)
    return config
