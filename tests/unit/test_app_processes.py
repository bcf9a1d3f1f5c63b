"""`make demo`'s own processes: what it starts, and that it never takes someone else's for its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from photostream.settings import Settings
from photostream.stack import manager
from photostream.stack.app_processes import LagExporterProcess
from photostream.stack.base import StackError


class Answering:
    """A process this stack did not start (no recorded pid) whose address answers anyway."""

    name, address = "api", "127.0.0.1:18000"

    def __init__(self) -> None:
        self.started = False

    def pid(self) -> None:
        return None

    def check_health(self) -> str:
        return "someone else's"

    def start(self) -> None:
        self.started = True


def test_an_address_answering_for_another_process_is_refused_not_reported_running(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's API died on "address already in use" while another API answered its health check: the demo
    said "api running"."""
    other = Answering()
    monkeypatch.setattr(manager, "app_processes", lambda settings: [other])
    reported: list[str] = []
    with pytest.raises(StackError, match=r"something else already answers at 127\.0\.0\.1:18000"):
        manager.start_app(Settings(), reported.append)
    assert not other.started and reported == []


def test_the_demo_starts_the_lag_exporter_prometheus_scrapes(tmp_path: Path) -> None:
    settings = Settings(stack_dir=tmp_path, lag_exporter_port=19308)
    names: list[Any] = [p.name for p in manager.app_processes(settings)]
    assert names == ["worker", "api", "lag-exporter"]
    exporter = LagExporterProcess(settings)
    assert list(exporter.command())[-2:] == ["lag", "--serve"]
    assert exporter.owns(b"python\x00-m\x00photostream.cli\x00lag\x00--serve\x00")
    assert not exporter.owns(b"python\x00-m\x00photostream.cli\x00lag\x00--watch\x00")
    assert exporter.health_url == "http://127.0.0.1:19308/metrics"
