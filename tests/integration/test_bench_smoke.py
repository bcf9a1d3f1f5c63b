"""CI runs the benchmark suite only as a seconds-long smoke (`python -m benchmarks --smoke`): the harness still
works end to end on the real stack, in its own namespace, and every figure it reports stands beside a same-run
baseline. The figures themselves are not judged (tiny volumes, shared cores): the full `make bench` is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from photostream.settings import PROJECT_ROOT

RATE = r"[\d,.]+/s"
RATIO = r"\d+\.\d\d×"


def _table(report: str, number: int) -> list[list[str]]:
    """The rows of section ``number``'s table (cells stripped), failing if the section failed or is absent."""
    match = re.search(rf"^## {number}\. .*?(?=^## |\Z)", report, re.M | re.S)
    assert match, f"section {number} missing from the report"
    section = match.group(0)
    assert "**Failed:**" not in section, section[:2000]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]  # header and rule left out
    assert rows, f"section {number} has no figures"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_smoke_run_reports_figures_beside_their_baselines(tmp_path: Path) -> None:
    out = tmp_path / "bench-smoke.md"
    env = {**os.environ, "PHOTOSTREAM_DEV_MODE": "true"}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke", "--report", str(out)], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = out.read_text()
    assert "**smoke run**" in report
    assert "isolation: keyspace `ps_bench_" in report  # its own keyspace; topics in the bench namespace
    assert "keyspace dropped, Redis DB flushed" in report  # and it cleaned up after itself

    publish = _table(report, 1)
    assert len(publish) == 6  # one row per event type
    for row in publish:  # SDK rate, the AvroSerializer baseline, their ratio
        assert re.fullmatch(RATE, row[1]) and re.fullmatch(RATE, row[2]) and re.fullmatch(RATIO, row[3]), row
    for row in _table(report, 2):  # encode + decode, beside the SDK's publish CPU per event measured in 1
        assert row[3].endswith("µs") and row[7].endswith("µs") and row[8].endswith("%"), row
    resize = {row[0]: row for row in _table(report, 9)}
    assert resize["vipsthumbnail (baseline)"][4] == "1.00×"
    assert re.fullmatch(RATIO, resize["API renderer (pyvips)"][4]), resize
