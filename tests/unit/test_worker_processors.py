"""``WORKER_PROCESSORS``: which processors a worker runs (pools of workers for what clients wait on, and the
rest), read from the environment as a comma list, refused by name when a name is unknown."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from photostream.settings import Settings
from streams.app import chosen_processors
from streams.batch_tasks import BATCH_PROCESSORS, BatchLoops


def test_every_processor_runs_unless_some_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOSTREAM_WORKER_PROCESSORS", raising=False)
    assert chosen_processors(Settings(dev_mode=True)) == set(BATCH_PROCESSORS)
    assert {"posts", "profiles"} <= set(BATCH_PROCESSORS)  # the projectors are batch processors too
    monkeypatch.setenv("PHOTOSTREAM_WORKER_PROCESSORS", " posts, profiles ,feeds")
    assert chosen_processors(Settings(dev_mode=True)) == {"posts", "profiles", "feeds"}


def test_an_unknown_name_is_refused_naming_it_and_the_known_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSTREAM_WORKER_PROCESSORS", "posts,popularty")
    with pytest.raises(ValueError, match=r"no processor named popularty .*known: .*popularity"):
        chosen_processors(Settings(dev_mode=True))


def test_a_worker_is_ready_once_its_loops_are_built_and_joined() -> None:
    running = BatchLoops()
    assert not running.ready  # not built yet
    running.built = True
    assert running.ready
    running.loops = [SimpleNamespace(joined=False)]  # type: ignore[list-item]
    assert not running.ready
