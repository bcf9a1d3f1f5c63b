"""The faust application: built from settings at start-up, with every processor registered."""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from photostream import loop_lag
from photostream.settings import Settings
from sinks import keys
from streams.batch_tasks import BATCH_PROCESSORS, register_batch_processors
from streams.engine.loop import FatalConsumerError
from streams.workers import EXIT_MISCONFIGURED


def known_processors() -> frozenset[str]:
    return frozenset(BATCH_PROCESSORS)


def chosen_processors(settings: Settings) -> frozenset[str]:
    """The processors ``WORKER_PROCESSORS`` names (all if it names none); an unknown name, there or in
    ``WORKER_LIVE_PROCESSORS``, is refused before the worker joins any group, naming the known ones."""
    known = known_processors()
    for setting, names in (("WORKER_PROCESSORS", settings.worker_processors),
                           ("WORKER_LIVE_PROCESSORS", settings.worker_live_processors)):
        unknown = sorted(frozenset(names) - known)
        if unknown:
            raise ValueError(f"PHOTOSTREAM_{setting}: no processor named {', '.join(unknown)} (known: "
                             f"{', '.join(sorted(known))})")
    return frozenset(settings.worker_processors) or known


def create_app(settings: Settings) -> faust.App:
    """The faust app that hosts the worker: its processors' batch loops (one consumer group each,
    ``{APP_ID}.{name}``; several workers split their partitions) run as an ``app.task``, and faust serves
    ``/metrics`` and ``/ready``. faust's own Kafka clients are not started: no agent consumes through them
    (the projectors moved onto the batch loop in stop 48, see ``streams.projector``)."""
    keys.use_namespace(settings.namespace)
    app = faust.App(
        settings.app_id,
        datadir=str(settings.worker_data_dir),
        # faust binds ``web_bind`` (default 0.0.0.0: /metrics and /ready on every interface); ``web_host`` is only
        # the name it advertises
        web_bind=settings.worker_web_host,
        web_host=settings.worker_web_host,
        web_port=settings.worker_web_port,
        topic_disable_leader=True,
        table_standby_replicas=0,
    )
    app.boot_strategy = app.BootStrategy(app, enable_kafka=False)
    chosen = chosen_processors(settings)
    batch_loops = register_batch_processors(app, settings, chosen)

    @app.task
    async def event_loop_lag() -> None:
        """How late the worker's event loop runs what is due (:mod:`photostream.loop_lag`)."""
        await loop_lag.probe(loop_lag.LOOP_LAG.labels("worker").observe)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        """200 once every batch processor has joined its consumer group (a readiness probe)."""
        status = 200 if batch_loops.ready else 503
        return web.json({"ready": status == 200, "batch_processors": len(batch_loops.loops)}, status=status)

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run one worker process until interrupted. A consumer that cannot run as configured (fenced: another
    process has this worker's instance id) ends it with :data:`~streams.workers.EXIT_MISCONFIGURED`, which its
    supervisor does not restart."""
    worker = worker_for(create_app(settings), loglevel)
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if isinstance(worker.crash_reason, FatalConsumerError):
            raise SystemExit(EXIT_MISCONFIGURED) from None
        raise


def worker_for(app: faust.App, loglevel: str) -> faust.Worker:
    """faust's worker, without its terminal spinner. At a level of WARNING or above, faust keeps a spinner that
    turns on every log record, so it sets the root logger to DEBUG for the process's whole life: every debug
    call of aiokafka and mode (several per fetch, heartbeat and timer tick) then built a record that the
    handlers dropped, ~2% of a loaded worker's CPU (py-spy, the feed benchmark's worker at ``--loglevel
    warning``). A worker's output goes to a log, not a terminal."""
    worker = faust.Worker(app, loglevel=loglevel)
    worker.spinner = None
    return worker
