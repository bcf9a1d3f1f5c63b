"""``ensure_topics`` returns only once the broker's metadata shows every created topic with a leader. A KRaft
CreateTopics answer means the controller has the topic; the broker applies it later (seconds on a loaded 2-core
machine), and a fresh namespace's first ``dlq`` run was told its DLQ did not exist. A fake admin client whose
metadata lags the creation by a few looks stands in for the broker."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from photostream import topics_admin
from photostream.settings import Settings


class LaggingAdmin:
    """Creates topics at once; its metadata shows them after ``lag`` looks, first leaderless, then led."""

    def __init__(self, lag: int) -> None:
        self.lag, self.looks, self.created_at_look = lag, 0, -1
        self.created: list[str] = []

    def list_topics(self, timeout: float) -> Any:
        self.looks += 1
        behind = self.looks - self.created_at_look
        if self.created_at_look < 0 or behind < self.lag:
            return SimpleNamespace(topics={})
        leader = 1 if behind > self.lag else -1  # one look with the partitions known and no leader yet
        partition = SimpleNamespace(leader=leader)
        return SimpleNamespace(topics={name: SimpleNamespace(error=None, partitions={0: partition})
                                       for name in self.created})

    def create_topics(self, topics: list[Any], **_: Any) -> dict[str, Future[None]]:
        self.created, self.created_at_look = [t.topic for t in topics], self.looks
        futures = {}
        for name in self.created:
            futures[name] = Future()
            futures[name].set_result(None)
        return futures


def _settings() -> Settings:
    return Settings(dev_mode=True, stack_dir=Path("/tmp/ps-unit-stack"), namespace="unit-lag")  # type: ignore[call-arg]


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(topics_admin, "_LOOK_AGAIN_S", 0)
    monkeypatch.setattr(topics_admin, "align_managed_configs", lambda *_: None)


@pytest.mark.usefixtures("no_waiting")
def test_creation_returns_only_when_the_metadata_shows_every_topic_led(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = LaggingAdmin(lag=4)
    monkeypatch.setattr(topics_admin, "AdminClient", lambda _: admin)
    created = topics_admin.ensure_topics(_settings())
    assert created and set(created) == set(admin.created)
    shown = admin.list_topics(timeout=1).topics
    assert all(p.leader >= 0 for name in created for p in shown[name].partitions.values())
    assert admin.looks - 1 - admin.created_at_look > admin.lag  # it looked past the leaderless answer


@pytest.mark.usefixtures("no_waiting")
def test_metadata_that_never_shows_the_topics_is_an_error_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = LaggingAdmin(lag=10**9)
    monkeypatch.setattr(topics_admin, "AdminClient", lambda _: admin)
    with pytest.raises(TimeoutError, match="no leader after"):
        topics_admin.ensure_topics(_settings(), timeout_s=0.05)
