"""The configs the local stack writes for alerting: Alertmanager's routing (valid for amtool, with and without
a webhook) and Prometheus sending its alerts to that Alertmanager (valid for promtool)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from photostream.settings import Settings
from photostream.stack import manager
from photostream.stack.alertmanager import RECEIVER, AlertmanagerService
from photostream.stack.prometheus import PrometheusService


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not on PATH (Debian's prometheus / prometheus-alertmanager packages bring it)")
    return found


def _check(*argv: str) -> str:
    result = subprocess.run([_tool(argv[0]), *argv[1:]], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _alertmanager(settings: Settings, tmp_path: Path, webhook: str | None) -> AlertmanagerService:
    service = AlertmanagerService(settings.model_copy(update={"stack_dir": tmp_path, "alertmanager_port": 29193,
                                                              "alert_webhook_url": webhook}))
    service.conf_dir.mkdir(parents=True)
    service.prepare()
    return service


def test_without_a_webhook_every_alert_goes_to_a_receiver_without_integrations(settings: Settings,
                                                                               tmp_path: Path) -> None:
    service = _alertmanager(settings, tmp_path, None)
    config = yaml.safe_load(service.config_file.read_text())
    assert config["route"]["receiver"] == RECEIVER
    assert config["receivers"] == [{"name": RECEIVER}]
    assert "1 receivers" in _check("amtool", "check-config", str(service.config_file))


def test_with_a_webhook_alerts_and_resolutions_are_posted_to_it(settings: Settings, tmp_path: Path) -> None:
    url = "http://127.0.0.1:5001/hook?team=feed&x='y'"  # quoting survives
    service = _alertmanager(settings, tmp_path, url)
    config = yaml.safe_load(service.config_file.read_text())
    (receiver,) = config["receivers"]
    assert receiver["webhook_configs"] == [{"url": url, "send_resolved": True}]
    _check("amtool", "check-config", str(service.config_file))


def test_alertmanager_listens_on_its_port_only_without_cluster_gossip(settings: Settings, tmp_path: Path) -> None:
    service = _alertmanager(settings, tmp_path, None)
    command = list(service.command())
    assert "--web.listen-address=127.0.0.1:29193" in command
    assert "--cluster.listen-address=" in command  # empty: clustering off, no second port
    assert f"--storage.path={tmp_path / 'data' / 'alertmanager'}" in command


def test_prometheus_sends_alerts_to_the_alertmanager_and_its_config_passes_promtool(settings: Settings,
                                                                                     tmp_path: Path) -> None:
    service = PrometheusService(settings.model_copy(update={"stack_dir": tmp_path, "alertmanager_port": 29193}))
    service.conf_dir.mkdir(parents=True)
    service.prepare()
    config = yaml.safe_load(service.config_file.read_text())
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["127.0.0.1:29193"]}]
    _check("promtool", "check", "config", str(service.config_file))


def test_the_stack_starts_alertmanager_before_prometheus(settings: Settings) -> None:
    names = [s.name for s in manager.services(settings)]
    assert names.index("alertmanager") < names.index("prometheus")
