"""Benchmark 9: photo resizes per CPU-second, 12 MP JPEG → 1080 px, against the ``vipsthumbnail`` tool.

A synthetic 4000x3000 JPEG (noise, blurred: photo-like entropy) is resized to 1080 px wide and encoded as JPEG
(Q 82, metadata stripped) repeatedly by (a) the API's renderer (``sinks.photos_codec.render``: header probe,
libvips thumbnail with EXIF orientation and sRGB, JPEG encode) in a child Python process, and (b) the
baseline, Debian's ``vipsthumbnail`` (``libvips-tools``) given the file N times in one invocation, so its
start-up is paid once. Both run with ``VIPS_CONCURRENCY=1`` and are charged CPU time (user + system), so the
figure is per core and other load on the machine does not inflate it: ``vipsthumbnail`` its whole process
(``getrusage``), a Python child the CPU of its resize loop after one warm-up (interpreter start-up and imports
are not resizing). Pillow (draft mode + LANCZOS, single-threaded) is measured the same way, for reference.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_ratio, ratio, verdict
from photostream.stack.apt import ensure_binary
from photostream.stack.base import StackError

NUMBER = 9
TITLE = "9. Photo resizes per CPU-second (12 MP JPEG → 1080 px) vs vipsthumbnail"
GOAL_RATIO = 0.5
WIDTH = 1080


def make_photo(path: Path) -> None:
    import pyvips

    noise = pyvips.Image.gaussnoise(4000, 3000, mean=128, sigma=60)
    image = noise.bandjoin([noise.flip("horizontal"), noise.flip("vertical")]).gaussblur(1.2).cast("uchar")
    image.jpegsave(str(path), Q=90)


def _child_cpu_s(argv: list[str]) -> float:
    """CPU seconds (user + system) the child process ``argv`` used; a Python child reports the CPU of its loop
    alone on stdout (interpreter start-up and imports are not resizing)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = os.environ | {"VIPS_CONCURRENCY": "1"}
    done = subprocess.run(argv, check=True, env=env, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reported = done.stdout.strip().splitlines()
    if argv[0] == sys.executable and reported:
        return float(reported[-1])
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _loop_cpu_s(resize: Callable[[bytes], None], data: bytes, n: int) -> float:
    resize(data)  # warm: first-use initialisation is not resizing either
    started = time.process_time()
    for _ in range(n):
        resize(data)
    return time.process_time() - started


def _ours(path: Path, n: int) -> float:
    from sinks.photos_codec import render

    def resize(data: bytes) -> None:
        render(data, WIDTH, "jpeg", 50_000_000)

    return _loop_cpu_s(resize, path.read_bytes(), n)


def _pillow(path: Path, n: int) -> float:
    import io

    from PIL import Image, ImageOps

    def resize(data: bytes) -> None:
        opened = Image.open(io.BytesIO(data))
        opened.draft("RGB", (WIDTH, WIDTH))
        image = ImageOps.exif_transpose(opened)
        height = round(image.height * WIDTH / image.width)
        image.resize((WIDTH, height), Image.Resampling.LANCZOS).save(io.BytesIO(), "JPEG", quality=82)

    return _loop_cpu_s(resize, path.read_bytes(), n)


def run(iterations: int = 20) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["resizer", "resizes", "CPU s", "resizes / CPU-second", "vs vipsthumbnail",
                       f"goal ≥ {GOAL_RATIO}"])
    try:  # the baseline comes from Debian, installed on first use like the stack's Redis and Prometheus
        tool: str | None = str(ensure_binary("vipsthumbnail", "libvips-tools"))
    except StackError as exc:
        tool, missing = None, str(exc)
    with tempfile.TemporaryDirectory(prefix="resize-bench-") as tmp:
        photo = Path(tmp) / "photo.jpg"
        make_photo(photo)
        figures: dict[str, float] = {}
        me = [sys.executable, "-m", "benchmarks.resize"]
        for name in ("ours", "pillow"):
            started = time.monotonic()
            cpu = _child_cpu_s([*me, name, str(photo), str(iterations)])
            figures[name] = iterations / cpu
            section.notes.append(f"{name}: {time.monotonic() - started:.1f} s wall")
        if tool is None:
            section.error = f"no baseline: {missing}"
        else:
            out = Path(tmp) / "out_%s.jpg[Q=82,strip]"
            cpu = _child_cpu_s([tool, "--size", f"{WIDTH}x", "-o", str(out), *[str(photo)] * iterations])
            figures["vipsthumbnail"] = iterations / cpu
        base = figures.get("vipsthumbnail")
        for name, label in (("vipsthumbnail", "vipsthumbnail (baseline)"), ("ours", "API renderer (pyvips)"),
                            ("pillow", "Pillow (reference)")):
            if name not in figures:
                continue
            share = ratio(figures[name], base) if base else None
            ok = None if share is None or name != "ours" else share >= GOAL_RATIO
            section.rows.append([label, str(iterations), f"{iterations / figures[name]:.2f}",
                                 f"{figures[name]:.2f}", fmt_ratio(share) if share is not None else "–",
                                 verdict(ok) if name == "ours" else ""])
        if base:
            section.summary.append(f"resizes/CPU-s: ours {figures['ours']:.2f}, vipsthumbnail {base:.2f} "
                                   f"(ratio {ratio(figures['ours'], base):.2f}), Pillow {figures['pillow']:.2f}")
    return section


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("ours", "pillow"):
        print((_ours if sys.argv[1] == "ours" else _pillow)(Path(sys.argv[2]), int(sys.argv[3])))
    else:
        result = run()
        print(result.render())
