"""librdkafka configuration shared by every producer, consumer and admin client."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from photostream.settings import Settings

#: set while a command reports the broker's failures itself (:func:`quiet_clients`)
_QUIET: ContextVar[bool] = ContextVar("photostream_quiet_kafka_clients", default=False)


@contextlib.contextmanager
def quiet_clients() -> Iterator[None]:
    """Clients made inside log nothing of their own: the command says in one line that the broker did not
    answer (a tool run with the broker down printed ~190 librdkafka connection lines before that line)."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def client_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Connection settings for any confluent-kafka client, plus ``overrides``."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol,
    }
    if _QUIET.get():
        config["log_level"] = 0  # (syslog's emergencies only)
    config.update(overrides)
    return config
