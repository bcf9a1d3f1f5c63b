"""The simulated people: their ids, registration and follow graph, published through the SDK.

Users are registered with ``user-registered`` events (``Publisher.submit_many``), not ``POST /auth/register``:
every API registration hashes a password with argon2id (19 MiB, on purpose slow), which for 10,000 users would
cost minutes of the machine's two cores and measure nothing the simulation is about. Acting users then use
development tokens (``api.auth.mint_access_token``), as ``photostream token`` does.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from photostream.simulate.content import username
from photostream.simulate.graph import FollowGraph, power_law_graph
from producers import events
from producers.events import Event
from producers.ids import new_id
from producers.publisher import Publisher

BATCH = 5_000


@dataclass(frozen=True)
class Population:
    ids: tuple[str, ...]
    graph: FollowGraph
    run_tag: str
    threshold: int

    @property
    def size(self) -> int:
        return len(self.ids)

    def celebrities(self) -> list[str]:
        """Users above the celebrity threshold, most followed first."""
        return [self.ids[u] for u in self.graph.above(self.threshold)]

    def follower_counts(self) -> dict[str, int]:
        return {self.ids[u]: n for u, n in enumerate(self.graph.follower_counts())}

    def celebrity_follower(self) -> str:
        """A user who follows the most celebrities (their feed merges pulled posts with pushed ones)."""
        famous = set(self.graph.above(self.threshold)) or {0}
        counts = Counter(follower for follower, followee in self.graph.edges if followee in famous)
        return self.ids[counts.most_common(1)[0][0]] if counts else self.ids[-1]

    def follows(self, follower: str) -> list[str]:
        index = self.ids.index(follower)
        return [self.ids[b] for a, b in self.graph.edges if a == index]

    def event_count(self) -> int:
        return self.size + len(self.graph.edges)


def create(n_users: int, threshold: int, *, seed: int, mean_follows: float, celebrities: int) -> Population:
    graph = power_law_graph(n_users, threshold=threshold, celebrities=celebrities, mean_follows=mean_follows,
                            seed=seed)
    return Population(tuple(new_id() for _ in range(n_users)), graph, secrets.token_hex(3), threshold)


def _events(population: Population) -> Iterator[Event]:
    for index, user in enumerate(population.ids):
        yield events.user_registered(user_id=user, username=username(index, population.run_tag),
                                     display_name=f"Sim {index}")
    for follower, followee in population.graph.edges:
        yield events.follow_changed(follower_id=population.ids[follower], followee_id=population.ids[followee],
                                    action="follow")


def publish(population: Population, publisher: Publisher, progress: Callable[[int], None],
            stopped: Callable[[], bool], timeout_s: float = 60.0) -> int:
    """Publish registrations then follows in batches; ``progress(n)`` after each acknowledged batch. Returns how
    many were published (fewer if ``stopped()`` turned true between batches)."""
    done = 0
    batch: list[Event] = []
    for event in _events(population):
        batch.append(event)
        if len(batch) == BATCH:
            done += _send(publisher, batch, timeout_s)
            progress(done)
            batch = []
            if stopped():
                return done
    done += _send(publisher, batch, timeout_s)
    progress(done)
    return done


def _send(publisher: Publisher, batch: Sequence[Event], timeout_s: float) -> int:
    return publisher.submit_many(batch).result(timeout=timeout_s)
