"""A namespace: one stack shared by several independent runs (the demo, a benchmark, a test run) without any of
them consuming another's events.

``PHOTOSTREAM_NAMESPACE=bench`` puts everything that run touches under its own names: Kafka topics
(``bench.like-changed``, with their DLQs), consumer groups and the Cassandra keyspace (derived from the app id
and keyspace unless those are set explicitly) and Redis keys (``bench:feed:{…}``). The empty namespace is
the plain names of the contract, so a deployment that sets nothing sees exactly the catalog's topics.

Code everywhere speaks the catalog's (logical) topic names; only the Kafka edges translate — the publisher on
the way out, the consumers on the way in, the admin, ``tail``, ``replay`` and ``lag`` — through
:class:`TopicNames`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

#: lower-case letters, digits and dashes, starting with a letter: valid in topic, group, keyspace (dashes
#: become underscores) and Redis key names alike
NAMESPACE_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,23}$")


@dataclass(frozen=True)
class TopicNames:
    """Translates between the catalog's topic names and the topics this namespace uses on the broker."""

    namespace: str = ""

    @cached_property
    def prefix(self) -> str:
        """Computed once: every produced and consumed record is translated through it."""
        return f"{self.namespace}." if self.namespace else ""

    def physical(self, topic: str) -> str:
        """The broker's topic for a catalog topic (a DLQ name too)."""
        return self.prefix + topic

    def physicals(self, topics: tuple[str, ...] | list[str]) -> list[str]:
        return [self.prefix + t for t in topics]

    def logical(self, topic: str) -> str:
        """The catalog topic of a broker topic of this namespace."""
        return topic[len(self.prefix):] if self.prefix and topic.startswith(self.prefix) else topic

    def owns(self, topic: str) -> bool:
        """Whether a broker topic belongs to this namespace (the empty one owns the un-prefixed names)."""
        return topic.startswith(self.prefix) if self.prefix else "." not in topic.removesuffix(".dlq")


def keyspace_for(namespace: str, base: str) -> str:
    """The Cassandra keyspace of a namespace (keyspace names allow no dashes)."""
    return f"{base}_{namespace.replace('-', '_')}" if namespace else base


def app_id_for(namespace: str, base: str) -> str:
    """The app id (consumer-group prefix) of a namespace."""
    return f"{base}-{namespace}" if namespace else base
