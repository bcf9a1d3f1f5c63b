"""`photostream lag --watch`: a live table of committed, end, lag and lag rate, refreshed every second."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live
from rich.table import Table

from photostream.lag import LagReader, LagRow, lag_rates


def render(rows: list[LagRow], rates: dict[tuple[str, str, int], float], took_s: float) -> Table:
    """One frame: lag rate is the lag's change per second since the previous frame (red: falling behind)."""
    table = Table(title=f"consumer lag · {len(rows)} partitions · read in {took_s * 1000:.0f} ms",
                  caption="Ctrl-C to quit")
    for name, justify in (("group", "left"), ("topic", "left"), ("part", "right"), ("committed", "right"),
                          ("end", "right"), ("lag", "right"), ("lag/s", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        rate = rates.get((row.group, row.topic, row.partition))
        shown = "" if rate is None else f"{rate:+.1f}"
        style = "red" if rate and rate > 0 else ("green" if rate and rate < 0 else "")
        table.add_row(row.group, row.topic, str(row.partition), row.shown_committed, str(row.end), str(row.lag),
                      f"[{style}]{shown}[/]" if style else shown)
    return table


def watch(reader: LagReader, only_group: str | None = None, interval_s: float = 1.0,
          console: Console | None = None, frames: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
    """Refresh until Ctrl-C (or ``frames`` frames, for tests)."""
    previous: list[LagRow] = []
    previous_at = clock()
    shown = 0
    with Live(console=console, auto_refresh=False, screen=False) as live:
        try:
            while frames == 0 or shown < frames:
                began = clock()
                rows = reader.read(only_group).rows
                now = clock()
                live.update(render(rows, lag_rates(previous, rows, now - previous_at), now - began), refresh=True)
                previous, previous_at, shown = rows, now, shown + 1
                if frames == 0 or shown < frames:
                    time.sleep(max(0.0, interval_s - (clock() - began)))
        except KeyboardInterrupt:
            return
