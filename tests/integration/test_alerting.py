"""Alerting end to end through real processes: a Prometheus and an Alertmanager of this test (the stack's own
service classes, their generated configs and command lines, on free ports in a temporary stack folder), an
always-firing test rule, and a webhook receiver the test runs. The alert must reach Alertmanager's API and then
the webhook — the path an alert from ops/prometheus/alerts.yml takes on the local stack."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from photostream.settings import Settings
from photostream.stack.alertmanager import RECEIVER, AlertmanagerService
from photostream.stack.base import Service
from photostream.stack.prometheus import PrometheusService
from tests.integration.conftest import _die_with_pytest, free_port
from tests.integration.waiting import wait_for

ALERT = "PhotostreamTestAlwaysFiring"
RULE = f"""groups:
  - name: photostream-test
    rules:
      - alert: {ALERT}
        expr: vector(1) > 0
        for: 0s
        labels: {{severity: test}}
        annotations: {{summary: fires from the first evaluation}}
"""


class _Webhook:
    """A tiny HTTP server collecting the JSON bodies Alertmanager posts."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _launch(service: Service, *extra: str) -> None:
    """Start a service of this test as ``Service.start`` would (plus ``extra`` flags), but tied to the test run:
    it gets SIGTERM if pytest dies, so an interrupted run leaves no Prometheus behind."""
    for folder in (service.data_dir, service.conf_dir, service.log_file.parent, service.pid_file.parent):
        folder.mkdir(parents=True, exist_ok=True)
    service.prepare()
    with open(service.log_file, "ab") as log:
        proc = subprocess.Popen([*service.command(), *extra], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=service.data_dir, start_new_session=True,
                                preexec_fn=_die_with_pytest)
    service.pid_file.write_text(str(proc.pid))
    service.wait_healthy(30)


@pytest.fixture()
def webhook() -> Iterator[_Webhook]:
    hook = _Webhook()
    yield hook
    hook.close()


@pytest.fixture()
def alerting(settings: Settings, tmp_path: Path, webhook: _Webhook) -> Iterator[AlertmanagerService]:
    rule = tmp_path / "test-rule.yml"
    rule.write_text(RULE)
    ours = settings.model_copy(update={"stack_dir": tmp_path / "stack", "prometheus_port": free_port(),
                                       "alertmanager_port": free_port(), "alert_webhook_url": webhook.url})
    alertmanager = AlertmanagerService(ours)
    prometheus = PrometheusService(ours)
    prometheus.rule_files = (rule,)  # only the test rule: the real ones would fire on the shared stack's state
    prometheus.scrape_interval = "1s"
    try:
        _launch(alertmanager)
        # Prometheus discovers its Alertmanager a few seconds after start; an alert that fired before that is
        # only re-sent after the resend delay (1 min by default)
        _launch(prometheus, "--rules.alert.resend-delay=1s")
        yield alertmanager
    finally:
        for service in (prometheus, alertmanager):
            service.stop()


def test_a_firing_alert_reaches_alertmanager_and_its_webhook(alerting: AlertmanagerService,
                                                            webhook: _Webhook) -> None:
    def alerts() -> list[dict[str, Any]]:
        answer = httpx.get(f"http://{alerting.address}/api/v2/alerts", params={"filter": f'alertname="{ALERT}"'})
        answer.raise_for_status()
        return list(answer.json())

    (alert,) = wait_for(alerts, bool, 20, f"{ALERT} at Alertmanager")
    assert alert["labels"]["severity"] == "test"
    assert alert["status"]["state"] == "active"
    assert [r["name"] for r in alert["receivers"]] == [RECEIVER]

    def posted() -> list[dict[str, Any]]:
        return [a for body in webhook.bodies for a in body["alerts"] if a["labels"]["alertname"] == ALERT]

    # Alertmanager waits group_wait (5 s) before the first notification of a group
    (notified, *_) = wait_for(posted, bool, 20, f"{ALERT} posted to the webhook")
    assert notified["status"] == "firing"
    assert notified["annotations"]["summary"] == "fires from the first evaluation"
    body = next(b for b in webhook.bodies if b["groupLabels"] == {"alertname": ALERT})
    assert body["receiver"] == RECEIVER and body["status"] == "firing"
