"""Liveness, readiness (each dependency checked for real) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from confluent_kafka.admin import AdminClient
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ResourcesDep, SettingsDep
from photostream.kafka_config import client_config
from photostream.settings import Settings
from sinks.cassandra import execute

router = APIRouter(tags=["health"])
logger = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency checks: restarting us would not fix them)."""
    return {"status": "ok"}


def _kafka_ok(settings: Settings) -> None:
    AdminClient(client_config(settings)).list_topics(timeout=3)


async def _check(name: str, probe: Any) -> tuple[str, dict[str, bool]]:
    """Only the dependency's name and ok/failed go to the (anonymous) caller; why it failed goes to the log."""
    try:
        await asyncio.wait_for(probe, timeout=4)
        return name, {"ok": True}
    except Exception as exc:
        logger.warning("readiness: %s failed: %s: %s", name, type(exc).__name__, exc)
        return name, {"ok": False}


@router.get("/readyz")
async def readyz(settings: SettingsDep, resources: ResourcesDep) -> JSONResponse:
    """Ready only when Kafka, Cassandra, Redis and S3 all answer; each is reported as ``{"ok": bool}`` (no
    versions, addresses or exception text: anyone may call this)."""

    async def cassandra() -> None:
        await execute(resources.session, "SELECT release_version FROM system.local")

    async def s3() -> None:
        await asyncio.to_thread(resources.s3.head_bucket, Bucket=settings.s3_bucket)

    results = dict(await asyncio.gather(
        _check("kafka", asyncio.to_thread(_kafka_ok, settings)),
        _check("cassandra", cassandra()),
        _check("redis", resources.redis.ping()),
        _check("s3", s3()),
    ))
    ready = all(r["ok"] for r in results.values())
    return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)


@router.get("/metrics", response_class=PlainTextResponse)  # documented as the text it is
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
