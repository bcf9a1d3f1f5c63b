"""The alert rules Prometheus loads: valid for promtool, and each alert fires on what it is for (the cases are
in ops/prometheus/alerts_test.yml); the generated scrape config loads them and scrapes both exporters."""

import shutil
import subprocess
from pathlib import Path

import pytest

from photostream.settings import PROJECT_ROOT, Settings
from photostream.stack.prometheus import RULE_FILES, PrometheusService

RULES_DIR = PROJECT_ROOT / "ops" / "prometheus"


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not on PATH (Debian's prometheus package brings it; `make up` installs it)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], capture_output=True, text=True, cwd=RULES_DIR, check=False)


def test_the_rules_pass_promtool_check() -> None:
    result = _run("check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


def test_each_alert_fires_on_its_series_and_not_on_others() -> None:
    result = _run("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_scrape_config_loads_the_rules_and_scrapes_the_exporters(settings: Settings, tmp_path: Path) -> None:
    service = PrometheusService(settings.model_copy(update={"stack_dir": tmp_path, "lag_exporter_port": 29308,
                                                            "kafka_jmx_exporter_port": 29071}))
    service.conf_dir.mkdir(parents=True)
    service.prepare()  # runs `promtool check config`, which also checks the rule files
    config = service.config_file.read_text()
    assert f"- '{RULE_FILES[0]}'" in config
    assert "job_name: photostream-lag" in config and "'127.0.0.1:29308'" in config
    assert "job_name: kafka" in config and "'127.0.0.1:29071'" in config
