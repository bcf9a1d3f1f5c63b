"""Prometheus from Debian's ``prometheus`` package, scraping the photostream API and worker, the consumer-lag
exporter (`photostream lag --serve`) and the broker's JMX exporter, evaluating the alert rules in
``ops/prometheus/`` (:data:`RULE_FILES`) and sending what fires to the local Alertmanager."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import httpx

from photostream.settings import PROJECT_ROOT
from photostream.stack.apt import ensure_binary
from photostream.stack.base import Service, StackError, run_checked

#: short enough that a test sees a counter move within a few seconds
_SCRAPE_INTERVAL = "5s"
#: a dev stack only needs recent history; keeps .stack/ small
_RETENTION_TIME = "1d"
_RETENTION_SIZE = "256MB"
#: alerting rules shipped with the code (checked by promtool in tests/unit/test_alert_rules.py)
RULE_FILES = (PROJECT_ROOT / "ops" / "prometheus" / "alerts.yml",)


class PrometheusService(Service):
    """One Prometheus on 127.0.0.1 with its TSDB under ``.stack/data/prometheus``."""

    name = "prometheus"
    start_timeout_s = 60.0
    #: class attributes so a test can run its own Prometheus with a test rule and a faster clock
    rule_files: tuple[Path, ...] = RULE_FILES
    scrape_interval: str = _SCRAPE_INTERVAL

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.prometheus_port}"

    @property
    def config_file(self) -> Path:
        return self.conf_dir / "prometheus.yml"

    @property
    def targets_dir(self) -> Path:
        """Where processes on non-default ports register themselves (Prometheus file service discovery)."""
        return self.conf_dir / "targets"

    def static_port(self, job: str) -> int | None:
        """The port ``job`` is scraped on statically, as the written config says (the settings of whoever ran
        ``stack up``, which a process started with another port does not share); None without a config."""
        try:
            text = self.config_file.read_text()
        except OSError:
            return None
        found = re.search(rf"job_name: {re.escape(job)}\n(?:.*\n)*?\s*- targets: \['[^':]+:(\d+)'\]", text)
        return int(found.group(1)) if found else None

    def install(self) -> None:
        ensure_binary("prometheus", "prometheus")

    def prepare(self) -> None:
        """Write the scrape config every start (ports may have changed) and reject it early if invalid."""
        jobs = {
            "photostream-api": self.settings.api_port,
            "photostream-worker": self.settings.worker_web_port,
            "photostream-lag": self.settings.lag_exporter_port,
            "kafka": self.settings.kafka_jmx_exporter_port,
        }
        lines = [
            "global:",
            f"  scrape_interval: {self.scrape_interval}",
            f"  evaluation_interval: {self.scrape_interval}",
            "rule_files:",
            *(f"  - '{path}'" for path in self.rule_files),
            "alerting:",
            "  alertmanagers:",
            "    - static_configs:",
            f"        - targets: ['127.0.0.1:{self.settings.alertmanager_port}']",
            "scrape_configs:",
        ]
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        for job, port in jobs.items():
            # The default port is scraped statically; extra processes (a second worker, a test API on
            # another port) register by dropping a file into targets/<job>-*.json.
            lines += [
                f"  - job_name: {job}",
                "    metrics_path: /metrics",
                "    static_configs:",
                f"      - targets: ['127.0.0.1:{port}']",
                "    file_sd_configs:",
                f"      - files: ['{self.targets_dir}/{job}-*.json']",
                f"        refresh_interval: {self.scrape_interval}",
            ]
        self.config_file.write_text("\n".join(lines) + "\n")
        promtool = shutil.which("promtool")
        if promtool:
            run_checked([promtool, "check", "config", str(self.config_file)])

    def command(self) -> Sequence[str]:
        binary = shutil.which("prometheus")
        if binary is None:
            raise StackError("prometheus is not on PATH; install the service first")
        return [
            binary,
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={_RETENTION_TIME}",
            f"--storage.tsdb.retention.size={_RETENTION_SIZE}",
            f"--web.listen-address={self.address}",
        ]

    def check_health(self) -> str:
        base = f"http://{self.address}"
        with httpx.Client(timeout=2.0) as client:
            client.get(f"{base}/-/ready").raise_for_status()
            info = client.get(f"{base}/api/v1/status/buildinfo")
            info.raise_for_status()
            return str(info.json()["data"]["version"])
