"""The worker process: its logging, and where its web server listens."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from photostream.settings import Settings
from streams.app import create_app, worker_for


def test_a_worker_at_warning_leaves_its_root_logger_at_warning() -> None:
    """faust's spinner set the root logger to DEBUG at WARNING and above, so every debug call of aiokafka and
    mode built a record that was then dropped."""
    worker = worker_for(create_app(Settings(dev_mode=True)), "warning")
    root = logging.Logger("a-root-of-its-own")
    root.addHandler(logging.NullHandler())
    root.setLevel(logging.WARNING)
    worker.on_setup_root_logger(root, logging.WARNING)
    assert root.level == logging.WARNING and len(root.handlers) == 1


def test_the_workers_web_server_binds_the_configured_host_only() -> None:
    """faust binds ``web_bind`` (0.0.0.0 unless told): the worker's /metrics answered on the machine's external
    address while ``WORKER_WEB_HOST`` said 127.0.0.1."""
    app = create_app(Settings(dev_mode=True, worker_web_host="127.0.0.1"))
    assert app.conf.web_bind == "127.0.0.1"


def test_every_worker_process_past_the_first_is_registered_for_prometheus_to_scrape(tmp_path: Path) -> None:
    """Only process 0's port was scraped: the alerts on the worker's metrics saw half the partitions."""
    import json

    from photostream.stack.prometheus import PrometheusService
    from streams.workers import scrape_targets

    settings = Settings(stack_dir=tmp_path, worker_web_port=18001)
    assert scrape_targets(settings, 3) == []  # no local Prometheus configured: nothing to register with
    prometheus = PrometheusService(settings)
    prometheus.prepare()  # the stack's config: port 18001 scraped statically
    assert prometheus.static_port("photostream-worker") == 18001
    written = scrape_targets(settings, 3)
    assert [json.loads(p.read_text())[0]["targets"] for p in written] == [["127.0.0.1:18002"], ["127.0.0.1:18003"]]
    assert all(p.match("photostream-worker-*.json") for p in written)  # the glob prometheus.yml watches
    # a worker on another port than the stack's: process 0 too (it was never scraped)
    elsewhere = scrape_targets(settings.model_copy(update={"worker_web_port": 18101}), 2)
    assert [json.loads(p.read_text())[0]["targets"] for p in elsewhere] == [["127.0.0.1:18101"], ["127.0.0.1:18102"]]


def test_a_worker_alone_registers_itself_and_a_supervised_one_leaves_it_to_its_supervisor(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`worker --processes 1` on another port than the stack's was never scraped; a supervised process must not
    register a second time (its supervisor did)."""
    from photostream.stack.prometheus import PrometheusService
    from streams.workers import SUPERVISOR_ENV, scraped

    settings = Settings(stack_dir=tmp_path, worker_web_port=18001)
    prometheus = PrometheusService(settings)
    prometheus.prepare()
    alone = settings.model_copy(update={"worker_web_port": 18201})
    monkeypatch.delenv(SUPERVISOR_ENV, raising=False)
    with scraped(alone, 1):
        assert [p.name for p in prometheus.targets_dir.iterdir()] == [f"photostream-worker-{alone.app_id}-0-18201.json"]
        with scraped(settings.model_copy(update={"worker_web_port": 18301}), 1):  # another lone one, beside it
            assert len(list(prometheus.targets_dir.iterdir())) == 2
        assert len(list(prometheus.targets_dir.iterdir())) == 1  # its own file gone, not the first one's
    assert list(prometheus.targets_dir.iterdir()) == []  # gone with the worker
    monkeypatch.setenv(SUPERVISOR_ENV, "1")
    with scraped(alone, 1):
        assert list(prometheus.targets_dir.iterdir()) == []


def test_each_worker_process_is_a_static_member_under_a_name_of_its_own_when_the_worker_has_one(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """``WORKER_INSTANCE_ID``: process *i* of ``--processes N`` is ``<id>.p<i>`` (two processes under one name fence
    each other), in every one of its consumers; unset, membership stays dynamic."""
    from streams.engine.consumer import consumer_config
    from streams.workers import child_env

    monkeypatch.delenv("PHOTOSTREAM_WORKER_INSTANCE_ID", raising=False)
    named = Settings(dev_mode=True, worker_instance_id="pod-3")
    assert [child_env(named, i).get("PHOTOSTREAM_WORKER_INSTANCE_ID") for i in range(3)] == [
        "pod-3", "pod-3.p1", "pod-3.p2"]
    assert "PHOTOSTREAM_WORKER_INSTANCE_ID" not in child_env(Settings(dev_mode=True), 1)
    assert consumer_config(named, "g", named.worker_instance_id)["group.instance.id"] == "pod-3"
    assert "group.instance.id" not in consumer_config(named, "g")  # tools (tail, lag, benchmarks) stay dynamic
    with pytest.raises(ValueError, match="PHOTOSTREAM_WORKER_INSTANCE_ID: letters, digits"):
        Settings(dev_mode=True, worker_instance_id="pod 3")


def test_a_supervisor_stops_rather_than_restart_a_process_that_cannot_run_as_configured() -> None:
    """A fenced process (another worker has its instance id) exits 78: restarted, it fenced that worker back, and
    the two took turns until a crash-loop guard stopped one of them."""
    import signal
    import subprocess
    import sys
    import time
    from types import SimpleNamespace

    from streams.workers import EXIT_MISCONFIGURED, Share, _supervise

    spawned: list[int] = []

    def spawn(settings: Settings, index: int, loglevel: str, share: Share) -> SimpleNamespace:
        spawned.append(index)
        code = f"import sys, time; time.sleep(0.3); sys.exit({EXIT_MISCONFIGURED})" if index == 1 else \
            "import time; time.sleep(60)"
        return SimpleNamespace(index=index, started=time.monotonic(), quick_exits=0,
                               proc=subprocess.Popen([sys.executable, "-c", code]))

    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        worst = _supervise(Settings(dev_mode=True), [Share(), Share()], "warning", spawn)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert worst == EXIT_MISCONFIGURED
    assert spawned == [0, 1]  # neither restarted: process 0 was stopped with it
