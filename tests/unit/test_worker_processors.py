"""``WORKER_PROCESSORS``: which processors a worker runs (pools of workers for what clients wait on, and the
rest), read from the environment as a comma list, refused by name when a name is unknown."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from photostream.settings import Settings
from streams.app import chosen_processors, known_processors
from streams.batch_tasks import BATCH_PROCESSORS, BatchLoops
from streams.workers import Share, child_env, child_setup, process_plan, ready_urls_started, web_ports_started


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


def test_a_worker_of_several_processes_puts_what_clients_wait_on_in_a_process_of_its_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The default layout on a multi-core machine: N processes for the bulk processors, at a lower priority, and
    one more, last, for the live ones; each process is told its share through its own ``WORKER_PROCESSORS``."""
    for variable in ("PHOTOSTREAM_WORKER_PROCESSORS", "PHOTOSTREAM_WORKER_LIVE_PROCESSORS",
                     "PHOTOSTREAM_WORKER_BULK_NICENESS"):
        monkeypatch.delenv(variable, raising=False)
    settings = Settings(dev_mode=True)
    plan = process_plan(settings, 2, known_processors())
    assert len(plan) == 3 and plan[0] == plan[1] and plan[2] == Share("posts,profiles,feeds", 0)
    bulk = set((plan[0].processors or "").split(","))
    assert bulk | {"posts", "profiles", "feeds"} == set(BATCH_PROCESSORS)  # every processor runs somewhere
    assert bulk.isdisjoint({"posts", "profiles", "feeds"})  # and in one lane only
    assert plan[0].niceness == settings.worker_bulk_niceness > 0
    assert child_env(settings, 2, plan[2].processors)["PHOTOSTREAM_WORKER_PROCESSORS"] == "posts,profiles,feeds"
    assert child_env(settings, 0, plan[0].processors)["PHOTOSTREAM_WORKER_PROCESSORS"] == plan[0].processors
    assert "PHOTOSTREAM_WORKER_PROCESSORS" not in child_env(settings, 0, None)  # (no plan: the worker's own)


def test_a_bulk_process_starts_at_the_lower_priority() -> None:
    """The niceness is set between fork and exec, so the worker process itself runs at it (and every thread it
    starts: librdkafka's, the Cassandra driver's)."""
    import os
    import subprocess
    import sys

    own = os.getpriority(os.PRIO_PROCESS, 0)
    ask = [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"]
    lowered = subprocess.run(ask, preexec_fn=child_setup(3), capture_output=True, text=True, check=True)
    same = subprocess.run(ask, preexec_fn=child_setup(0), capture_output=True, text=True, check=True)
    assert int(lowered.stdout) == min(19, own + 3) and int(same.stdout) == own


@pytest.mark.parametrize("environment, processes", [
    ({}, 1),  # one process: everything in it
    ({"PHOTOSTREAM_WORKER_PROCESSORS": "posts,feeds"}, 2),  # a pool chosen by hand is left as it is
    ({"PHOTOSTREAM_WORKER_LIVE_PROCESSORS": ""}, 2),  # no lane: every process runs every processor
    ({"PHOTOSTREAM_WORKER_LIVE_PROCESSORS": ",".join(BATCH_PROCESSORS)}, 2),  # (nothing would be left for the rest)
])
def test_no_lane_where_the_worker_was_told_what_to_run_or_runs_alone(
        monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], processes: int) -> None:
    for variable in ("PHOTOSTREAM_WORKER_PROCESSORS", "PHOTOSTREAM_WORKER_LIVE_PROCESSORS"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    assert process_plan(Settings(dev_mode=True), processes, known_processors()) == [Share()] * processes


def test_an_unknown_live_processor_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHOTOSTREAM_WORKER_PROCESSORS", raising=False)
    monkeypatch.setenv("PHOTOSTREAM_WORKER_LIVE_PROCESSORS", "posts,feedz")
    with pytest.raises(ValueError, match=r"WORKER_LIVE_PROCESSORS: no processor named feedz"):
        chosen_processors(Settings(dev_mode=True))


def test_a_worker_is_ready_once_its_loops_are_built_and_joined() -> None:
    running = BatchLoops()
    assert not running.ready  # not built yet
    running.built = True
    assert running.ready
    running.loops = [SimpleNamespace(joined=False)]  # type: ignore[list-item]
    assert not running.ready


def test_the_ports_a_started_worker_serves_include_the_live_lane_s(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the harness and the benchmarks wait on: every process's web port, from the environment they start
    the worker with (not the caller's own)."""
    for variable in ("PHOTOSTREAM_WORKER_PROCESSORS", "PHOTOSTREAM_WORKER_LIVE_PROCESSORS"):
        monkeypatch.delenv(variable, raising=False)
    started = {"PHOTOSTREAM_WORKER_WEB_PORT": "23000"}
    assert web_ports_started(started, 2) == [23000, 23001, 23002]
    assert web_ports_started(started | {"PHOTOSTREAM_WORKER_LIVE_PROCESSORS": ""}, 2) == [23000, 23001]
    assert web_ports_started(started | {"PHOTOSTREAM_WORKER_PROCESSORS": "posts"}, 2) == [23000, 23001]
    assert web_ports_started(started, 1) == [23000]


def test_the_ready_urls_of_a_started_worker_are_its_ports_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("PHOTOSTREAM_WORKER_PROCESSORS", "PHOTOSTREAM_WORKER_LIVE_PROCESSORS"):
        monkeypatch.delenv(variable, raising=False)
    assert ready_urls_started({"PHOTOSTREAM_WORKER_WEB_PORT": "23000"}, 1) == ["http://127.0.0.1:23000/ready"]
    assert ready_urls_started({"PHOTOSTREAM_WORKER_WEB_PORT": "23000"}, 2)[-1] == "http://127.0.0.1:23002/ready"
