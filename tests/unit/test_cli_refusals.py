"""The CLI refuses what it cannot do in one line on stderr with exit status 2, never a traceback."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from photostream.cli import app
from producers.ids import new_id


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_settings_that_do_not_validate_name_what_to_set(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside development mode the local stack's placeholder secrets are refused: a pasted demo command (run
    in a new shell without PHOTOSTREAM_DEV_MODE) ended in a 54-line traceback."""
    from photostream.settings import get_settings

    monkeypatch.delenv("PHOTOSTREAM_DEV_MODE", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["token", new_id()])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "PHOTOSTREAM_DEV_MODE=true" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("ttl", ["0", "-5", str(30 * 24 * 3600 + 1)])
def test_a_token_lives_a_positive_number_of_seconds(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                    ttl: str) -> None:
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    result = runner.invoke(app, ["token", new_id(), "--ttl", ttl])
    assert result.exit_code == 2 and "--ttl" in result.output


def test_the_log_of_a_service_the_stack_does_not_run_is_refused(runner: CliRunner,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    result = runner.invoke(app, ["stack", "logs", "zookeeper"])
    assert result.exit_code == 2 and "unknown service 'zookeeper'" in result.output
    assert "worker" in result.output  # the processes `make demo` starts are known too (`stack logs worker`)


def invoke_with(runner: CliRunner, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], args: list[str]) -> Any:
    """``args`` run in development mode with ``env`` (nothing listens on port 1), the settings read afresh."""
    from photostream.settings import get_settings

    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        return runner.invoke(app, args)
    finally:
        get_settings.cache_clear()


def test_a_rebuild_that_cannot_reach_a_store_says_so_in_one_line_and_exits_3(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 1 means "the views differ"; a Redis out of reach was a 270-line traceback with exit 1."""
    result = invoke_with(runner, monkeypatch, {"PHOTOSTREAM_REDIS_URL": "redis://127.0.0.1:1/0",
                                               "PHOTOSTREAM_CASSANDRA_PORT": "1"}, ["rebuild", "unread", "--check"])
    assert result.exit_code == 3, result.output
    assert "could not reach a store" in result.output and "Traceback" not in result.output


def test_a_backfill_names_what_it_knows_and_says_in_one_line_that_cassandra_is_out_of_reach(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    unknown = invoke_with(runner, monkeypatch, {}, ["backfill", "likes"])
    assert unknown.exit_code == 2 and "known: comment-mentions" in unknown.output, unknown.output
    unreachable = invoke_with(runner, monkeypatch, {"PHOTOSTREAM_CASSANDRA_PORT": "1"},
                              ["backfill", "comment-mentions", "--dry-run"])
    assert unreachable.exit_code == 3, unreachable.output
    assert "could not reach Cassandra" in unreachable.output and "Traceback" not in unreachable.output


def test_a_worker_whose_web_port_is_taken_is_refused_naming_the_port_and_the_setting(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """faust found the port taken only after joining its groups, and said so in a 40-line traceback; with
    ``--processes 2`` the second process's port (the base port + 1) counts too."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", _port_after_a_free_one()))
        listener.listen()
        taken = listener.getsockname()[1]
        result = invoke_with(runner, monkeypatch, {"PHOTOSTREAM_WORKER_WEB_PORT": str(taken - 1)},
                             ["worker", "--processes", "2"])
    assert result.exit_code == 2, result.output
    assert f"127.0.0.1:{taken} already in use" in result.output and "PHOTOSTREAM_WORKER_WEB_PORT" in result.output
    assert "Traceback" not in result.output


def _port_after_a_free_one() -> int:
    """A free port whose predecessor is free too (the base port must not be someone else's listener: the
    refusal would then name it as well)."""
    import socket

    for _ in range(100):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as before:
            try:
                before.bind(("127.0.0.1", port - 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two free ports in a row")


def test_free_web_ports_are_not_reported_taken() -> None:
    """Only a listener counts: the probe binds as the web server does (a stopped worker's connections in
    TIME_WAIT must not keep its restart out)."""
    import socket

    from photostream.settings import Settings
    from streams.workers import taken_web_ports

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert taken_web_ports(Settings(dev_mode=True, worker_web_port=free), 1) == []


def test_a_setting_out_of_its_bounds_is_named(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """"settings: Input should be less than or equal to 2592000" named nothing an operator could find."""
    from photostream.settings import get_settings

    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    monkeypatch.setenv("PHOTOSTREAM_JWT_ACCESS_TTL_S", "99999999")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["token", new_id()])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "PHOTOSTREAM_JWT_ACCESS_TTL_S" in result.output, result.output


@pytest.mark.parametrize(("value", "hosts"), [("a,b,c", ["a", "b", "c"]), ('["x", "y"]', ["x", "y"])])
def test_contact_points_come_as_a_comma_list_or_json(monkeypatch: pytest.MonkeyPatch, value: str,
                                                    hosts: list[str]) -> None:
    """``a,b,c`` (as the README documents) was JSON-decoded before the validator saw it: a traceback."""
    from photostream.settings import Settings

    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    monkeypatch.setenv("PHOTOSTREAM_CASSANDRA_CONTACT_POINTS", value)
    assert Settings().cassandra_contact_points == hosts


@pytest.mark.parametrize("command", [["lag"], ["lag", "--group", "g"], ["dlq", "summary", "like-changed"]])
def test_a_broker_out_of_reach_is_one_line_and_exit_3(command: list[str]) -> None:
    """`lag` printed an empty table ("no lag") and exit 0; the others a 200-line traceback; then `lag` a dozen
    librdkafka lines before its own. (A process of its own: a client left behind in this one would go on logging
    its failed connections into every later test.)"""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PHOTOSTREAM_DEV_MODE": "true",
           "PHOTOSTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens on port 1
           "PHOTOSTREAM_KAFKA_ADMIN_TIMEOUT_S": "2"}
    result = subprocess.run([str(Path(sys.executable).parent / "photostream"), *command], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the broker did not answer" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_topic_is_also_known_by_its_namespaced_broker_name() -> None:
    """The lag exporter labels topics by their broker names, and the alerts' runbooks print them: `photostream
    tail demo.like-changed.dlq` was an unknown topic (exit 2). Here it gets as far as the broker (exit 3)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PHOTOSTREAM_DEV_MODE": "true", "PHOTOSTREAM_NAMESPACE": "demo",
           "PHOTOSTREAM_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",  # nothing listens on port 1
           "PHOTOSTREAM_KAFKA_ADMIN_TIMEOUT_S": "2"}
    for command in (["tail", "demo.like-changed.dlq"], ["dlq", "summary", "demo.like-changed"]):
        result = subprocess.run([str(Path(sys.executable).parent / "photostream"), *command], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 3, result.stdout + result.stderr
    unknown = subprocess.run([str(Path(sys.executable).parent / "photostream"), "tail", "other.like-changed"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2 and "unknown topic" in unknown.stderr  # another namespace's: not this one's


@pytest.mark.parametrize("option", ["--users", "--rate", "--concurrency"])
def test_a_simulation_of_nothing_is_refused_naming_the_option(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                              option: str) -> None:
    """``--users 0`` was taken for "not given": the default ran instead."""
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    result = runner.invoke(app, ["simulate", option, "0"])
    assert result.exit_code == 2 and result.output.strip() == f"{option}: must be above 0"


def test_a_simulation_too_small_for_a_celebrity_is_one_line_on_stderr() -> None:
    """It was printed on stdout, wrapped over two lines, with stderr empty."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PHOTOSTREAM_DEV_MODE": "true", "PHOTOSTREAM_CELEBRITY_THRESHOLD": "10000"}
    result = subprocess.run([str(Path(sys.executable).parent / "photostream"), "simulate", "--users", "2000"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("cannot simulate:")
    assert "cannot simulate" not in result.stdout


@pytest.mark.parametrize(("args", "named"), [
    (["worker", "--loglevel", "bogus"], "--loglevel"),  # a 46-line logging traceback from faust
    (["token", new_id().upper()], "lower case"),  # "must be a UUID": it is one
    (["sweep-uploads", "--older-than", "10"], "--older-than"),  # would delete uploads still being completed
    (["simulate", "--report", "/nonexistent/folder/r.json"], "--report"),  # failed after the whole workload
    (["stack", "logs", "kafka", "-n", "0"], "-n"),  # printed the whole log
    (["lag", "--serve", "--port", "99999"], "--port"),  # an OverflowError traceback
])
def test_a_bad_argument_is_refused_naming_it_before_anything_runs(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                                  args: list[str], named: str) -> None:
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and named in result.output, result.output
    assert "Traceback" not in result.output


def test_a_migration_that_cannot_reach_cassandra_is_one_line_and_exit_3(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    result = invoke_with(runner, monkeypatch, {"PHOTOSTREAM_CASSANDRA_PORT": "1"}, ["stack", "migrate"])
    assert result.exit_code == 3 and "could not reach a store" in result.output, result.output


@pytest.mark.parametrize("args", [["lag", "--serve", "--watch"], ["lag", "--serve", "--group", "g"],
                                  ["lag", "--port", "19999"]])
def test_lag_options_that_would_be_dropped_are_refused(runner: CliRunner, monkeypatch: pytest.MonkeyPatch,
                                                       args: list[str]) -> None:
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and ("--serve" in result.output or "--port" in result.output), result.output


def test_a_replay_to_a_file_that_cannot_be_written_is_refused_before_reading(runner: CliRunner,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """os.access says yes to root for /proc: the replay read its whole range, then failed (exit 1)."""
    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    result = runner.invoke(app, ["replay", "like-changed", "-o", "/proc/no-such-file.jsonl"])
    assert result.exit_code == 2 and "cannot be written" in result.output, result.output


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "4000"])
def test_a_broker_wait_a_command_cannot_honour_is_refused_naming_the_setting(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """``KAFKA_ADMIN_TIMEOUT_S`` went to librdkafka as given: 0 or nan said the broker did not answer, -1 waited
    for ever with the broker out of reach, and 4000 (past librdkafka's 3,600 s) was a traceback from `lag`."""
    from photostream.settings import get_settings

    monkeypatch.setenv("PHOTOSTREAM_DEV_MODE", "true")
    monkeypatch.setenv("PHOTOSTREAM_KAFKA_ADMIN_TIMEOUT_S", value)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["lag"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "PHOTOSTREAM_KAFKA_ADMIN_TIMEOUT_S" in result.output, result.output
    assert "Traceback" not in result.output


def test_a_worker_told_to_run_a_processor_that_does_not_exist_is_refused_naming_the_known_ones(
        runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before anything joins a group (a misspelt pool would have run nothing, silently)."""
    result = invoke_with(runner, monkeypatch, {"PHOTOSTREAM_WORKER_PROCESSORS": "posts,popularty"}, ["worker"])
    assert result.exit_code == 2, result.output
    assert "no processor named popularty" in result.output and "popularity" in result.output
    assert "Traceback" not in result.output
