"""Benchmark 10: a cached photo, ``GET /api/v1/images/{id}?w=1080``, at half its saturation rate, vs ``/healthz``.

What a CDN miss or a client without a CDN costs once the size is rendered: the audience check (the posts showing
the image, from Cassandra and the Redis post cache), the completed-upload row, and the stored copy read from S3.
Public photos of public posts, each rendered once before the measurement (the warm-up asserts a public,
immutable answer), so every measured request is a stored-copy hit. The API runs as one process per core on one
port (:mod:`benchmarks.feeds_serve`); the load comes from :mod:`benchmarks.feeds_load` in its own process:
closed loop (64 connections back to back) for the saturation rate, then open loop at half that rate for the
latency (measured from each request's scheduled instant). The baseline is ``GET /healthz`` (the framework's
floor: no I/O) on the same processes, driven the same way, in the same run.

No Kafka traffic: the photos, their completion rows and their posts are written straight to S3 and Cassandra
with the sinks the API and the posts projector use.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pyvips

from benchmarks import feeds_api
from benchmarks.env import BenchEnv, BenchError
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_ms, fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from photostream.domain.images import FEED_WIDTH, object_key
from photostream.settings import Settings
from producers import events
from producers.ids import new_id, now_ms
from sinks import s3
from sinks.cassandra import connect
from sinks.images import ImageFile, ImageIndex
from sinks.posts import PostSink
from sinks.redis_client import async_client

NUMBER = 10
TITLE = f"{NUMBER}. Cached GET /api/v1/images/{{id}}?w={FEED_WIDTH} at half its saturation rate"
GOAL_P99_MS = 10.0
#: distinct photos the requests rotate over (a 12 MP original each; the measured copies are 1080 px)
PHOTOS = 8


def _photo(seed: int) -> bytes:
    """A 4000x3000 JPEG with some structure (a gradient per photo), as a phone would upload."""
    x = pyvips.Image.xyz(4000, 3000)
    image: Any = (x[0] * (seed + 1) % 256).bandjoin([x[1] % 256, (x[0] + x[1]) % 256]).cast("uchar")
    return bytes(image.jpegsave_buffer(Q=85))


async def _seed(settings: Settings) -> list[str]:
    cluster, session = connect(settings)
    redis = async_client(settings)
    client = s3.client(settings)
    try:
        index, posts = ImageIndex(session), PostSink(session, redis)
        image_ids = []
        for i in range(PHOTOS):
            user, image_id = new_id(), new_id()
            data = _photo(i)
            key = object_key(user, image_id)
            await asyncio.to_thread(s3.write, client, settings, key, data, "image/jpeg")
            await index.record_upload(image_id, user, "image/jpeg", now_ms())
            await index.record_completion(ImageFile(image_id, user, key, "image/jpeg", len(data), 4000, 3000,
                                                    now_ms()))
            await posts.apply("post-created", events.post_created(author_id=user, caption="bench",
                                                                  image_ids=[image_id]).value)
            image_ids.append(image_id)
        return image_ids
    finally:
        await redis.aclose()
        cluster.shutdown()


def _targets(bench: BenchEnv, name: str, paths: list[str]) -> Path:
    out = bench.tmp / f"images-targets-{name}.json"
    out.write_text(json.dumps([[p, ""] for p in paths]))  # anonymous: public photos need no token
    return out


def _warm(port: int, paths: list[str]) -> int:
    """One request per photo: renders and stores each copy; returns its size. Refuses a non-public answer."""
    size = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for path in paths:
            answer = client.get(path)
            if answer.status_code != 200 or not answer.headers.get("Cache-Control", "").startswith("public"):
                raise BenchError(f"warm-up {path}: {answer.status_code} {answer.headers} {answer.text[:200]}")
            size = len(answer.content)
    return size


def run(bench: BenchEnv, quick: bool = False) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["measure", f"GET /images/{{id}}?w={FEED_WIDTH} (stored copy)", "GET /healthz (baseline)",
                       "ratio"])
    duration = 3.0 if quick else 10.0
    image_ids = asyncio.run(_seed(bench.settings))
    env = feeds_api.api_env(bench, bench.settings, bench.subprocess_env(bench.settings))
    paths = [f"/api/v1/images/{i}?w={FEED_WIDTH}" for i in image_ids]
    processes = os.cpu_count() or 1
    api = feeds_api.Servers(bench, "api", processes, env, "/readyz")
    try:
        copy_bytes = _warm(api.port, paths)
        images, health = _targets(bench, "images", paths), _targets(bench, "healthz", ["/healthz"])
        saturated = api.drive(images, "closed", duration)
        health_saturated = api.drive(health, "closed", duration)
        half = saturated.rate / 2
        at_half = api.drive(images, "open", duration, rate=half)
        health_at_half = api.drive(health, "open", duration, rate=half)
    finally:
        api.stop()

    section.rows.append([f"saturation rate ({processes} API processes, 64 connections)",
                         fmt_rate(saturated.rate), fmt_rate(health_saturated.rate),
                         fmt_ratio(ratio(saturated.rate, health_saturated.rate))])
    for label in ("p50", "p90", "p99", "max"):
        mine, floor = getattr(at_half.latency, label), getattr(health_at_half.latency, label)
        section.rows.append([f"latency {label} at {fmt_rate(half)} (half the photo's saturation)", fmt_ms(mine),
                             fmt_ms(floor), fmt_ratio(ratio(mine, floor))])
    section.rows.append(["API CPU per request (at saturation)", fmt_us(saturated.cpu_us),
                         fmt_us(health_saturated.cpu_us), fmt_ratio(ratio(saturated.cpu_us,
                                                                            health_saturated.cpu_us))])
    section.rows.append([f"goal p99 < {GOAL_P99_MS:g} ms", verdict(at_half.latency.p99 < GOAL_P99_MS), "", ""])
    for name, load in (("images saturation", saturated), ("healthz saturation", health_saturated),
                       ("images at half", at_half), ("healthz at half", health_at_half)):
        section.notes.append(f"{name}: {load.latency.count:,} answers {load.statuses}, errors "
                             f"{load.errors or 'none'}; generator CPU {load.generator_cpu_s:.1f} s.")
    section.notes.append(f"{PHOTOS} public photos (4000x3000 JPEG originals), requests rotate over them; each "
                         f"stored copy is {copy_bytes / 1024:.0f} KiB (JPEG, the answer to `Accept: */*`); "
                         f"{duration:g} s per load after 1 s of warm-up; the stack shares the same cores.")
    section.summary.append(f"p99 {fmt_ms(at_half.latency.p99)} at {fmt_rate(half)} (goal < {GOAL_P99_MS:g} ms; "
                           f"/healthz p99 {fmt_ms(health_at_half.latency.p99)} at the same rate); saturation "
                           f"{fmt_rate(saturated.rate)} = {fmt_ratio(ratio(saturated.rate, health_saturated.rate))}"
                           f" of /healthz's")
    return section
