"""Alertmanager from Debian's ``prometheus-alertmanager`` package: receives the alerts the local Prometheus
fires (ops/prometheus/alerts.yml) and forwards them to ``ALERT_WEBHOOK_URL`` when that is set; without it the
alerts are only kept, visible in its UI and at ``/api/v2/alerts``."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import httpx

from photostream.stack.apt import ensure_binary
from photostream.stack.base import Service, StackError, run_checked

#: the package's binary name (upstream calls it ``alertmanager``)
BINARY = "prometheus-alertmanager"
#: a dev stack wants to see an alert seconds after it fires, not after upstream's 30 s default
_GROUP_WAIT = "5s"
_GROUP_INTERVAL = "1m"
_REPEAT_INTERVAL = "4h"
#: the one receiver every alert goes to
RECEIVER = "default"


class AlertmanagerService(Service):
    """One Alertmanager on 127.0.0.1 with its silences and notification log under ``.stack/data/alertmanager``.

    Clustering is switched off (an empty ``--cluster.listen-address``): a single dev instance has no peers, and
    the gossip port would be one more port to collide with.
    """

    name = "alertmanager"
    start_timeout_s = 30.0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.alertmanager_port}"

    @property
    def config_file(self) -> Path:
        return self.conf_dir / "alertmanager.yml"

    def install(self) -> None:
        ensure_binary(BINARY, "prometheus-alertmanager")

    def prepare(self) -> None:
        """Write the routing config every start (the webhook may have changed) and reject it early if invalid."""
        lines = [
            "route:",
            f"  receiver: {RECEIVER}",
            "  group_by: ['alertname']",
            f"  group_wait: {_GROUP_WAIT}",
            f"  group_interval: {_GROUP_INTERVAL}",
            f"  repeat_interval: {_REPEAT_INTERVAL}",
            "receivers:",
            f"  - name: {RECEIVER}",
        ]
        if self.settings.alert_webhook_url:
            lines += [
                "    webhook_configs:",
                f"      - url: {json.dumps(self.settings.alert_webhook_url)}",  # a JSON string is valid YAML
                "        send_resolved: true",
            ]
        self.config_file.write_text("\n".join(lines) + "\n")
        amtool = shutil.which("amtool")
        if amtool:
            run_checked([amtool, "check-config", str(self.config_file)])

    def command(self) -> Sequence[str]:
        binary = shutil.which(BINARY)
        if binary is None:
            raise StackError(f"{BINARY} is not on PATH; install the service first")
        return [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address={self.address}",
            "--cluster.listen-address=",
        ]

    def check_health(self) -> str:
        base = f"http://{self.address}"
        with httpx.Client(timeout=2.0) as client:
            client.get(f"{base}/-/ready").raise_for_status()
            info = client.get(f"{base}/api/v2/status")
            info.raise_for_status()
            return str(info.json()["versionInfo"]["version"])
