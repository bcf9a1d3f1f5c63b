"""photostream's own long-running processes (worker, API, consumer-lag exporter) started in the background for
`make demo`.

They reuse the stack's pid-file machinery, so `photostream stack down` stops them too (first, before the
services they depend on).
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Sequence

import httpx

from photostream import __version__
from photostream.stack.base import Service


class AppProcess(Service):
    """``python -m photostream.cli SUBCOMMAND`` as a managed background process."""

    subcommand: str = ""
    #: the path that answers once the process is ready, on :attr:`address`
    health_path: str = ""
    start_timeout_s = 120.0

    @property
    def health_url(self) -> str:
        return f"http://{self.address}{self.health_path}"

    def install(self) -> None:
        """Installed with the package itself."""

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "photostream.cli", self.subcommand]

    def owns(self, cmdline: bytes) -> bool:
        return b"photostream.cli\x00" + self.subcommand.encode() in cmdline

    def check_health(self) -> str:
        httpx.get(self.health_url, timeout=2).raise_for_status()
        return __version__


class WorkerProcess(AppProcess):
    name = "worker"
    subcommand = "worker"
    health_path = "/ready"

    def env(self) -> dict[str, str]:
        """The demo's worker is the one worker of its app id on this host: a static group member under
        ``<app id>.<host>`` (unless the environment names it), so a restart takes its partitions back at once."""
        name = f"{self.settings.app_id}.{socket.gethostname()}"
        return {"PHOTOSTREAM_WORKER_INSTANCE_ID": re.sub(r"[^A-Za-z0-9._-]", "-", name)[:200]} | super().env()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.settings.worker_web_port}"



class ApiProcess(AppProcess):
    name = "api"
    subcommand = "api"
    health_path = "/readyz"

    @property
    def address(self) -> str:
        return f"{self.settings.api_host}:{self.settings.api_port}"



class LagExporterProcess(AppProcess):
    """``photostream lag --serve``: the consumer-lag exporter Prometheus scrapes (the lag alerts read it; without
    it the local stack's Alertmanager showed ``ExporterDown`` and no lag alert could fire)."""

    name = "lag-exporter"
    subcommand = "lag"
    health_path = "/metrics"

    def command(self) -> Sequence[str]:
        return [*super().command(), "--serve"]

    def owns(self, cmdline: bytes) -> bool:
        return b"photostream.cli\x00lag\x00--serve" in cmdline

    @property
    def address(self) -> str:
        return f"{self.settings.lag_exporter_host}:{self.settings.lag_exporter_port}"
