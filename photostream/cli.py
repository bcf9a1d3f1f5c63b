"""The `photostream` command line."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from photostream.settings import get_settings
from sinks import keys

app = typer.Typer(help="photostream: events, stream processors, views and API of a photo-sharing service.",
                  no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="The local stack (Kafka, Cassandra, Redis, S3, Prometheus) on 127.0.0.1.",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")


@app.callback()
def _every_command() -> None:
    """Every command works inside the settings' namespace (its Redis keys; topics are named at the Kafka
    edges from the same settings). Settings that do not validate (the development secrets outside
    ``PHOTOSTREAM_DEV_MODE``, say) are one line naming what to set, not a traceback."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    try:
        settings = get_settings()
    except ValidationError as exc:
        _refuse("settings: " + "; ".join(_setting_error(e) for e in exc.errors()))
    except SettingsError as exc:  # a value the environment source cannot parse at all
        _refuse(f"settings: {exc}")
    keys.use_namespace(settings.namespace)


def _setting_error(error: Any) -> str:
    """One validation error, naming the environment variable when it is one setting's (a bound: "Input should be
    less than or equal to 2592000" alone named nothing)."""
    message = str(error.get("msg", error)).removeprefix("Value error, ")
    field = ".".join(str(part) for part in error.get("loc", ()))
    return f"PHOTOSTREAM_{field.upper()}: {message}" if field else message


#: what ``worker --loglevel`` takes
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


@contextlib.contextmanager
def _stores_answer(what: str) -> Iterator[None]:
    """Cassandra, Redis or S3 out of reach is one line and exit 3 (as for a broker, :func:`_kafka_answers`):
    `sweep-uploads` from cron and `stack migrate` printed 60–400-line tracebacks."""
    from botocore.exceptions import BotoCoreError, ClientError
    from cassandra import OperationTimedOut
    from cassandra.cluster import NoHostAvailable

    from sinks.cache_aside import REDIS_DOWN

    try:
        yield
    except (*REDIS_DOWN, NoHostAvailable, OperationTimedOut, BotoCoreError, ClientError) as exc:
        typer.echo(f"{what}: could not reach a store ({type(exc).__name__}: {str(exc)[:200]})", err=True)
        raise typer.Exit(3) from None


def _refuse(message: str) -> NoReturn:
    """A command refused before doing anything: one line on stderr, exit status 2."""
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _catalog_name(topic: str) -> str:
    """The catalog's name of ``topic``, which may also be given as this namespace's broker name (as the lag
    exporter labels topics, and so the alerts' runbooks print them: `tail demo.like-changed.dlq` was unknown)."""
    return get_settings().topic_names.logical(topic)


def _needs_current_schema(command: str) -> None:
    """The worker and the API refuse a keyspace that lacks a migration of this release, naming the command that
    applies it (their first query of a new column failed, mid-batch, in a traceback)."""
    from photostream.stack.migrate import unapplied_migrations

    settings = get_settings()
    behind = unapplied_migrations(settings)
    if behind:
        shown = ", ".join(behind[:3]) + (f" and {len(behind) - 3} more" if len(behind) > 3 else "")
        _refuse(f"{command}: keyspace {settings.cassandra_keyspace} lacks {len(behind)} migration(s) of this "
                f"release ({shown}): run `photostream stack migrate` first")


def _needs_secrets(command: str) -> None:
    """The commands that verify tokens or sign them, or hold the S3 secret, refuse a publisher-only process."""
    if get_settings().publisher_only:
        _refuse(f"{command}: PHOTOSTREAM_PUBLISHER_ONLY is for processes that only publish events; this one needs "
                "the deployment's secrets")


@contextlib.contextmanager
def _kafka_answers(command: str) -> Iterator[None]:
    """A broker out of reach (or refusing) is one line and exit 3, as for `rebuild`'s stores: the tools
    printed 200-line tracebacks, and `lag` an empty table ("no lag") with exit 0."""
    from confluent_kafka import KafkaException

    from photostream.kafka_config import quiet_clients
    from photostream.topic_ranges import TopicAbsentError

    try:
        with quiet_clients():
            yield
    except KafkaException as exc:
        reason = exc.args[0] if exc.args else exc
        typer.echo(f"{command}: the broker did not answer ({getattr(reason, 'str', lambda: reason)()})", err=True)
        raise typer.Exit(3) from None
    except TopicAbsentError as exc:
        _refuse(f"{command}: {exc}")


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


@stack_app.command("up")
def stack_up(
    kafka_brokers: Annotated[int | None, typer.Option(
        help="Kafka nodes: 1, or N combined KRaft nodes with replication 3 (default: KAFKA_BROKERS)")] = None,
    only: Annotated[str, typer.Option(help="start only this service: 'kafka' (then no migrations)")] = "",
) -> None:
    """Install what is missing, start every service, wait for health, migrate, create topics."""
    from photostream.settings import Settings
    from photostream.stack import kafka, manager
    from photostream.stack.base import StackError

    _logging()
    if only not in ("", "kafka"):
        _refuse(f"--only supports 'kafka', not {only!r}")
    settings = get_settings() if kafka_brokers is None else Settings(kafka_brokers=kafka_brokers)

    def report(line: str) -> None:
        typer.echo(line, err=True)

    try:
        rows = [node.status() for node in kafka.up(settings, report)] if only else manager.up(settings, report)
    except StackError as exc:
        typer.echo(f"stack up failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(manager.format_table(rows))
    if kafka_brokers is not None and kafka_brokers != get_settings().kafka_brokers:
        typer.echo(f"other commands reach this Kafka with PHOTOSTREAM_KAFKA_BROKERS={kafka_brokers} "
                   f"(bootstrap {settings.kafka_bootstrap_servers})", err=True)


@stack_app.command("down")
def stack_down(
    only: Annotated[str, typer.Option(help="stop only this service: 'kafka' (its node or nodes)")] = "",
) -> None:
    """Stop only the processes `up` started."""
    from photostream.stack import kafka, manager

    if only not in ("", "kafka"):
        _refuse(f"--only supports 'kafka', not {only!r}")
    settings = get_settings()
    stopped = [n.name for n in kafka.kafka_services(settings) if n.stop()] if only else manager.down(settings)
    typer.echo("stopped: " + (", ".join(stopped) or "nothing was running"))


@stack_app.command("status")
def stack_status() -> None:
    """One table: service, address, version, state, data dir. Exit 1 unless all are healthy."""
    from photostream.stack import manager

    rows = manager.status(get_settings())
    typer.echo(manager.format_table(rows))
    if not all(r.state.startswith("healthy") for r in rows):
        raise typer.Exit(1)


@stack_app.command("logs")
def stack_logs(service: str, lines: Annotated[int, typer.Option("-n", min=1)] = 100) -> None:
    """The last lines of a service's log."""
    from photostream.stack import manager
    from photostream.stack.base import StackError

    try:
        typer.echo(manager.service(get_settings(), service).tail_log(lines))
    except StackError as exc:  # an unknown service: the known ones are named
        _refuse(str(exc))


@stack_app.command("migrate")
def stack_migrate() -> None:
    """Apply pending CQL migrations (idempotent)."""
    from photostream.stack.migrate import migrate

    with _stores_answer("migrate"):
        applied = migrate(get_settings())
    typer.echo("applied: " + (", ".join(applied) or "nothing pending"))


@app.command()
def demo() -> None:
    """Start the worker and API in the background (the stack must be up) and run the simplest flow."""
    from photostream import demo as flow
    from photostream.stack import manager

    _logging()
    settings = get_settings()
    seeded = flow.start_fresh_groups_at_log_end(settings)
    if seeded:
        typer.echo(f"new consumer groups start at the log's end: {', '.join(seeded)}", err=True)
    manager.start_app(settings, report=lambda line: typer.echo(line, err=True))
    try:
        flow.run(settings, typer.echo)
    except flow.WorkerBehindError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@app.command()
def simulate(
    users: Annotated[int | None, typer.Option(help="simulated users (default: SIMULATE_USERS)")] = None,
    rate: Annotated[float | None, typer.Option(help="actions per second (default: SIMULATE_RATE_PER_S)")] = None,
    duration: Annotated[float, typer.Option(help="seconds of steady workload (0: until Ctrl-C)")] = 0.0,
    concurrency: Annotated[int | None, typer.Option(help="actions in flight (default: SIMULATE_CONCURRENCY)")]
        = None,
    seed: Annotated[int, typer.Option(help="seeds the follow graph and the action draws")] = 0,
    mean_follows: Annotated[float, typer.Option(help="accounts each user follows, on average")] = 10.0,
    celebrities: Annotated[int, typer.Option(help="accounts made to cross CELEBRITY_THRESHOLD at least")] = 3,
    mix: Annotated[str, typer.Option(help="action weights, e.g. post=0.1,like=0.5 (default: a built-in mix)")]
        = "",
    report: Annotated[str, typer.Option(help="also write what happened (ids, counts, p99s) to this JSON file")]
        = "",
) -> None:
    """A synthetic workload through the SDK and the API (worker and API must run): users, a power-law follow
    graph, then posts with real photos, likes, comments, follows, feed reads and direct messages at a steady rate,
    with a live summary. Ctrl-C ends it cleanly."""

    from photostream.simulate.mix import parse_mix
    from photostream.simulate.runner import Options
    from photostream.simulate.runner import run as run_simulation

    settings = get_settings()
    try:
        weights = parse_mix(mix)
    except ValueError as exc:
        _refuse(f"--mix: {exc}")
    for name, value in (("--users", users), ("--rate", rate), ("--concurrency", concurrency)):
        if value is not None and value <= 0:  # (0 was taken for "not given", and the default ran instead)
            _refuse(f"{name}: must be above 0")
    if duration < 0:
        _refuse("--duration: must be 0 (until Ctrl-C) or more")
    if report and not Path(report).parent.is_dir():  # (was found out only after the whole workload had run)
        _refuse(f"--report: {Path(report).parent} is not a folder")
    if report and Path(report).is_dir():
        _refuse(f"--report: {report} is a folder; name a file in it")
    options = Options(users=settings.simulate_users if users is None else users,
                      rate=settings.simulate_rate_per_s if rate is None else rate,
                      concurrency=settings.simulate_concurrency if concurrency is None else concurrency,
                      duration_s=duration, seed=seed,
                      mean_follows=mean_follows, celebrities=celebrities, mix=weights,
                      report=Path(report) if report else None)
    raise typer.Exit(run_simulation(settings, options))


@app.command()
def worker(
    loglevel: str = "info",
    processes: Annotated[int | None, typer.Option(
        min=1, help="worker processes on this machine (default: one per core); process i serves its web "
                    "page on WORKER_WEB_PORT + i")] = None,
) -> None:
    """Run the stream processors (faust workers); several, here and elsewhere, share the consumer groups."""
    if loglevel.lower() not in LOG_LEVELS:  # (faust's own refusal was a 46-line logging traceback)
        _refuse(f"--loglevel: {loglevel!r} is not one of {', '.join(LOG_LEVELS)}")
    _needs_secrets("worker")
    from streams.app import chosen_processors, known_processors
    from streams.workers import process_plan, taken_web_ports

    try:
        chosen_processors(get_settings())
    except ValueError as exc:
        _refuse(str(exc))
    plan = process_plan(get_settings(), processes or os.cpu_count() or 1, known_processors())
    count = len(plan)
    if taken := taken_web_ports(get_settings(), count):
        _refuse(f"worker: {get_settings().worker_web_host}:{', '.join(map(str, taken))} already in use (each worker "
                f"process serves its web page on PHOTOSTREAM_WORKER_WEB_PORT + its index): stop what listens "
                f"there, or set another PHOTOSTREAM_WORKER_WEB_PORT")
    _needs_current_schema("worker")
    _adopt_faust_projector_positions()
    if count > 1:
        from streams.workers import supervise

        _logging()
        raise typer.Exit(supervise(get_settings(), plan, loglevel))
    from streams.app import run_worker
    from streams.workers import scraped

    sys.argv = [sys.argv[0], "worker"]  # faust's Worker parses argv
    with scraped(get_settings(), 1):
        run_worker(get_settings(), loglevel)


def _adopt_faust_projector_positions() -> None:
    """Before any process joins a group (see :func:`streams.consumer_groups.adopt_faust_projector_positions`). A
    broker out of reach is not fatal here: the worker waits for it as it always did, and the next start adopts."""
    from confluent_kafka import KafkaException

    from streams.consumer_groups import adopt_faust_projector_positions

    try:
        done = adopt_faust_projector_positions(get_settings())
    except KafkaException as exc:
        typer.echo(f"worker: could not check for faust's old projector group ({exc}); going on", err=True)
        return
    for line in done:
        typer.echo(f"worker: {line}", err=True)


@app.command()
def api() -> None:
    """Run the HTTP API."""
    from api.app import run_api

    _needs_secrets("api")
    _needs_current_schema("api")
    run_api(get_settings())


@app.command()
def token(user_id: str, ttl: int = 3600) -> None:
    """Mint a development access token for USER_ID, valid for --ttl seconds."""
    _needs_secrets("token")
    from api.auth import MAX_ACCESS_LIFETIME_S, mint_access_token
    from producers.ids import is_id

    if not 0 < ttl <= MAX_ACCESS_LIFETIME_S:
        _refuse(f"--ttl must be a positive number of seconds, at most {MAX_ACCESS_LIFETIME_S} (30 days)")
    if not is_id(user_id):
        if is_id(user_id.lower()):
            _refuse("user_id must be written in lower case (an id has one spelling)")
        _refuse("user_id must be a UUID (e.g. from `python -c 'import uuid_utils; print(uuid_utils.uuid7())'`)")
    typer.echo(mint_access_token(get_settings(), user_id, ttl))


def _writable(path: Path) -> str | None:
    """Why ``path`` cannot be written, or None: tried, not guessed from permissions (root may write anything
    ``os.access`` allows, and still not a file under /proc). Leaves no file behind that was not there."""
    existed = path.exists()
    try:
        with path.open("a"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    if not existed:
        path.unlink(missing_ok=True)
    return None


@app.command()
def publish(topic: str) -> None:
    """JSON lines on stdin -> validated Avro events; one line of output per input line."""
    from photostream.cli_io import publish_lines
    from photostream.contracts.catalog import UnknownTopicError
    from photostream.kafka_config import quiet_clients

    topic = _catalog_name(topic)
    try:
        with quiet_clients():  # a broker out of reach: the per-line errors, not ~55 librdkafka lines first
            failures = publish_lines(get_settings(), topic, sys.stdin, typer.echo)
    except UnknownTopicError as exc:
        _refuse(str(exc).strip("'\""))
    raise typer.Exit(1 if failures else 0)


@app.command()
def tail(
    topic: str,
    from_beginning: Annotated[bool, typer.Option("--from-beginning")] = False,
    max_records: Annotated[int, typer.Option("--max", min=0, help="stop after this many records (0: never)")] = 0,
    idle_timeout: Annotated[float, typer.Option(min=0, help="stop after this many idle seconds (0: never)")] = 0.0,
) -> None:
    """Decode a topic to JSON lines on stdout (DLQ records show their headers and raw bytes)."""
    from photostream.cli_io import tail_topic
    from photostream.contracts.catalog import UnknownTopicError
    from photostream.erasure import ErasureUnavailableError

    topic = _catalog_name(topic)
    try:
        with _kafka_answers("tail"):
            for line in tail_topic(get_settings(), topic, from_beginning, max_records, idle_timeout):
                typer.echo(json.dumps(line, ensure_ascii=False))
    except UnknownTopicError as exc:
        _refuse(str(exc).strip("'\""))
    except ErasureUnavailableError as exc:
        typer.echo(f"tail stopped: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def replay(
    topic: str,
    from_: Annotated[str, typer.Option("--from", help="earliest | OFFSET | ISO-8601 time (UTC unless zoned)")]
        = "earliest",
    to: Annotated[str, typer.Option("--to", help="latest | OFFSET | ISO-8601 time; exclusive")] = "latest",
    fmt: Annotated[str, typer.Option("--format", help="jsonl | csv | parquet")] = "jsonl",
    output: Annotated[str, typer.Option("-o", "--output", help="the file to write")] = "",
    batch: Annotated[int, typer.Option(min=1, help="records per write (bounds memory)")] = 5000,
) -> None:
    """Export TOPIC's records in [--from, --to) of every partition, decoded into the current schema.
    Progress and a per-partition summary go to stderr; undecodable records go to FILE.undecodable.jsonl."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from photostream.contracts.catalog import DLQ_SUFFIX, UnknownTopicError
    from photostream.contracts.catalog import topic as catalog_topic
    from photostream.replay import ReplayError
    from photostream.replay import replay as run
    from photostream.replay_range import RangeError, parse_point, reversed_range
    from photostream.replay_writers import FORMATS
    from photostream.topic_ranges import MAX_BATCH

    topic = _catalog_name(topic)
    try:
        catalog_topic(topic)
    except UnknownTopicError as exc:
        _refuse(str(exc).strip("'\""))
    if topic.endswith(DLQ_SUFFIX):
        _refuse(f"{topic} holds raw records, not events: `photostream tail {topic}` shows them with their headers")
    if fmt not in FORMATS:
        _refuse(f"--format must be one of {', '.join(FORMATS)}")
    if not output:
        _refuse("-o FILE is required")
    if Path(output).is_dir():
        _refuse(f"-o {output}: is a directory; name the file to write")
    if batch > MAX_BATCH:
        _refuse(f"--batch {batch}: at most {MAX_BATCH:,} records per write")
    try:
        start, stop = parse_point(from_), parse_point(to)
    except RangeError as exc:
        _refuse(str(exc))
    if reversed_range(start, stop):
        _refuse(f"--from {from_} is after --to {to}: the range is empty (--to is exclusive)")
    if not Path(output).parent.is_dir():
        _refuse(f"-o {output}: no such directory {str(Path(output).parent)!r}")
    writable = _writable(Path(output))  # (found out after the range was read, with a progress bar)
    if writable is not None:
        _refuse(f"-o {output}: cannot be written: {writable}")
    console = Console(stderr=True)
    with Progress(TextColumn(f"replay {topic}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("replay", total=None)
        try:
            with _kafka_answers("replay"):
                report = run(get_settings(), topic, start, stop, fmt, Path(output), batch_size=batch,
                             on_ranges=lambda ranges: progress.update(task, total=sum(r.size for r in ranges)),
                             on_progress=lambda done: progress.update(task, completed=done))
        except (ReplayError, OSError) as exc:  # (OSError: -o not writable, the disk full)
            console.print(f"replay failed: {exc}")
            raise typer.Exit(1) from None
        progress.update(task, completed=report.total_written + report.total_undecodable)
    for r in report.ranges:
        console.print(f"partition {r.partition}: offsets [{r.start}, {r.stop}) → {report.written[r.partition]} "
                      f"written, {report.undecodable[r.partition]} undecodable")
    if outside := sum(report.outside.values()):
        console.print(f"{outside} records between those offsets stamped outside [--from, --to) left out")
    if deleted := sum(report.deleted.values()):
        console.print(f"{deleted} deletions (tombstones of deleted accounts) left out")
    if report.erased:
        console.print(f"{report.erased} records of deleted accounts written with their words erased")
    console.print(f"{report.total_written} records → {output} in {report.seconds:.1f}s"
                  + (f"; {report.total_undecodable} undecodable → {report.side_file}" if report.side_file else ""))


@app.command()
def lag(
    group: Annotated[str | None, typer.Option(help="only this consumer group")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="a live table refreshed every second")] = False,
    serve: Annotated[bool, typer.Option("--serve", help="a Prometheus exporter on LAG_EXPORTER_PORT")] = False,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="exporter port (default: settings)")] = None,
    all_groups: Annotated[bool, typer.Option("--all-groups", help="the table shows every group on the broker, "
                                             "not only this deployment's (APP_ID)")] = False,
) -> None:
    """Consumer lag per group/topic/partition: a table, a live table (--watch) or a Prometheus exporter (--serve).
    The tables show this deployment's groups (its APP_ID's) unless --all-groups; the exporter exports every
    group on the broker (the cluster's monitoring labels them by group)."""
    from photostream.lag import LagReader, format_table

    settings = get_settings()
    if serve and (watch or group is not None or all_groups):  # (they were dropped without a word)
        _refuse("--serve exports every group on the broker; --watch, --group and --all-groups are for the tables")
    if port is not None and not serve:
        _refuse("--port is the exporter's: use it with --serve")
    if serve:
        import threading

        from photostream.lag_exporter import serve as start_exporter

        _logging()
        try:
            server = start_exporter(settings, port, settings.lag_exporter_host)
        except OSError as exc:  # the port is taken (another exporter, say): one line, not a traceback
            _refuse(f"cannot serve on {settings.lag_exporter_host}:{port or settings.lag_exporter_port}: "
                    f"{exc.strerror or exc}")
        typer.echo(f"lag exporter on http://{settings.lag_exporter_host}:{server.server_port}/metrics (Ctrl-C to stop)",
                   err=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            server.shutdown()
        return
    with _kafka_answers("lag"):  # the reader's clients made inside it: quiet, as every tool's
        reader = LagReader(settings, app_id=None if all_groups else settings.app_id)
        if group is not None and group not in reader.groups_on_broker():  # (the live table too: not an empty one)
            _refuse(f"no consumer group {group!r} on the broker")
        if watch:
            from photostream.lag_watch import watch as live

            live(reader, group)
            return
        snapshot = reader.read(group)
    for line in format_table(snapshot.rows):
        typer.echo(line)


@app.command()
def rebuild(
    view: Annotated[str, typer.Argument(
        help="the view to rebuild: hashtags, feeds, unread, notifications, photo-tags")],
    check: Annotated[bool, typer.Option(
        "--check", help="only compare; exit 1 on any difference (3: a store could not be reached)")] = False,
) -> None:
    """Re-derive VIEW from durable state, compare it key by key with live Redis, and (unless --check) rewrite
    what differs. Prints the number of keys compared and every difference."""
    from cassandra import OperationTimedOut
    from cassandra.cluster import NoHostAvailable

    from photostream.rebuild import REBUILDERS
    from photostream.rebuild import rebuild as run
    from sinks.cache_aside import REDIS_DOWN

    if view not in REBUILDERS:
        _refuse(f"unknown view {view!r}; known: {', '.join(sorted(REBUILDERS))}")
    _needs_current_schema("rebuild")  # (a missing column was an 89-line traceback and exit 1, "differs")
    try:
        report = run(get_settings(), view, repair=not check)
    except (*REDIS_DOWN, NoHostAvailable, OperationTimedOut) as exc:
        # exit 1 means "the views differ": a store out of reach is another answer (a cron job must tell them apart)
        typer.echo(f"{view}: could not reach a store ({type(exc).__name__}: {str(exc)[:200]}); nothing compared",
                   err=True)
        raise typer.Exit(3) from None
    for line in report.differences:
        typer.echo(f"differs: {line}")
    typer.echo(f"{view}: {report.keys_compared} keys compared, {len(report.differences)} differences"
               + ("" if check else f", {report.repaired} rewritten"))
    if check and report.differences:
        raise typer.Exit(1)


@app.command()
def backfill(
    what: Annotated[str, typer.Argument(
        help="what to backfill: comment-mentions, likes-by-user, user-search or hashtag-search")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what would be written; write nothing")] = False,
) -> None:
    """Write durable records that data from before their migration lacks. comment-mentions: whom each comment
    made before migration 0032 mentions, so its deletion withdraws those mentions
    (photostream/backfill_mentions.py). likes-by-user: the index of each like given before migration 0014, so an
    account deletion retracts it and its giver sees it as liked (photostream/backfill_likes.py). user-search,
    hashtag-search: the search row of each profile last written before migration 0035, of each tag counted before
    migration 0036, so they can be found (photostream/backfill_search.py). Safe to run again."""
    from cassandra import OperationTimedOut
    from cassandra.cluster import NoHostAvailable

    from photostream import backfill_likes, backfill_mentions, backfill_search

    if what not in ("comment-mentions", "likes-by-user", "user-search", "hashtag-search"):
        _refuse(f"unknown backfill {what!r}; known: comment-mentions, likes-by-user, user-search, hashtag-search")
    _needs_current_schema("backfill")
    try:
        if what == "comment-mentions":
            mentions = backfill_mentions.backfill(get_settings(), dry_run)
            done = (f"{mentions.comments_read} comments read, {mentions.mentioning} mention someone, "
                    f"{mentions.recorded_already} recorded already, {mentions.written} ")
        elif what in ("user-search", "hashtag-search"):
            listed = backfill_search.backfill(what, get_settings(), dry_run)
            done = f"{listed.read} {'profiles' if what == 'user-search' else 'tags'} read, {listed.written} "
        else:
            likes = backfill_likes.backfill(get_settings(), dry_run)
            done = (f"{likes.rows_read} engagement rows read, {likes.standing_likes} standing likes, "
                    f"{likes.indexed_already} indexed already, {likes.written} ")
    except (NoHostAvailable, OperationTimedOut) as exc:
        typer.echo(f"{what}: could not reach Cassandra ({type(exc).__name__}: {str(exc)[:200]})", err=True)
        raise typer.Exit(3) from None
    typer.echo(f"{what}: {done}" + ("to write (dry run)" if dry_run else "written"))


dlq_app = typer.Typer(help="What a topic's DLQ holds, and sending its records back (photostream/dlq_redrive.py).")
app.add_typer(dlq_app, name="dlq")


@dlq_app.command("summary")
def dlq_summary(topic: Annotated[str, typer.Argument(help="the source topic, e.g. like-changed")]) -> None:
    """Count TOPIC's DLQ records by processor and error class."""
    from photostream.contracts.catalog import UnknownTopicError
    from photostream.dlq_redrive import summarise

    topic = _catalog_name(topic)
    try:
        with _kafka_answers("dlq summary"):
            tally = summarise(get_settings(), topic)
    except UnknownTopicError as exc:
        _refuse(str(exc))
    for (processor, error), count in tally.parked.most_common():
        typer.echo(f"{count}\t{processor}\t{error}")
    typer.echo(f"{topic.removesuffix('.dlq')}.dlq: {sum(tally.parked.values())} records")


@dlq_app.command("redrive")
def dlq_redrive(
    topic: Annotated[str, typer.Argument(help="the source topic, e.g. like-changed")],
    processor: Annotated[str | None, typer.Option(help="only records this processor parked")] = None,
    error_class: Annotated[str | None, typer.Option(help="only records parked with this error class")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only count what would be sent")] = False,
    from_beginning: Annotated[bool, typer.Option("--from-beginning",
                                                 help="ignore the last run's mark: consider every record")] = False,
) -> None:
    """Send TOPIC's parked records (those since the last redrive) back to TOPIC, unchanged, once the cause is
    fixed; a record that fails again is parked again."""
    from photostream.contracts.catalog import UnknownTopicError
    from photostream.dlq_redrive import redrive, summarise

    _logging()
    settings = get_settings()
    topic = _catalog_name(topic)
    try:
        if processor is not None or error_class is not None:
            # a filter nothing was ever parked under (a typo) would send nothing and still move the mark past
            # every record read: refused, naming what the DLQ holds
            with _kafka_answers("dlq redrive"):
                parked = summarise(settings, topic).parked
            for name, wanted, seen in (("--processor", processor, {p for p, _ in parked}),
                                       ("--error-class", error_class, {e for _, e in parked})):
                if wanted is not None and wanted not in seen:
                    _refuse(f"{name} {wanted}: no record of {topic.removesuffix('.dlq')}.dlq has it "
                            f"(it holds: {', '.join(sorted(seen)) or 'nothing'})")
        with _kafka_answers("dlq redrive"):
            tally = redrive(settings, topic, processor, error_class, dry_run, from_beginning)
    except UnknownTopicError as exc:
        _refuse(str(exc))
    topic = topic.removesuffix(".dlq")
    typer.echo(f"{topic}.dlq: {sum(tally.parked.values())} records read, {tally.sent} "
               f"{'would be ' if dry_run else ''}sent to {topic}, {tally.skipped} not matching the filters, "
               f"{tally.repeated} parked by more than one processor (sent once)"
               + (f", {tally.left_out} parked without their value (too large for the DLQ: not sent; read each "
                  f"at its dlq.source.partition/offset)" if tally.left_out else ""))


@app.command("sweep-uploads")
def sweep_uploads(
    older_than: Annotated[int | None, typer.Option(help="seconds; default: UPLOAD_SWEEP_AFTER_S")] = None,
    prefix: Annotated[str, typer.Option(help="only keys under this prefix (photos/ or photos/USER/)")] = "photos/",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only list what would be deleted")] = False,
) -> None:
    """Delete originals whose upload was never completed (older than --older-than); see sinks/upload_sweeper.py."""
    from sinks.upload_sweeper import run

    _logging()
    settings = get_settings()
    if older_than is not None and older_than <= settings.s3_presign_expiry_s:
        _refuse(f"--older-than: must be more than an upload ticket's lifetime ({settings.s3_presign_expiry_s} s): "
                "younger originals may still be completed")
    with _stores_answer("sweep-uploads"):
        report = run(settings, settings.upload_sweep_after_s if older_than is None else older_than, prefix,
                     dry_run)
    typer.echo(f"{report.examined} old originals examined, {len(report.deleted)} never completed "
               f"({report.deleted_bytes} bytes) {'would be ' if dry_run else ''}deleted, {report.not_ours} "
               "uploaded through another keyspace left alone")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
