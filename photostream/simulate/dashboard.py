"""The live terminal summary (and the final one): a pure rendering of what was read and measured.

Event age is measured by the simulator's own read-your-writes probes — the time from the API accepting a post
(the event is on Kafka then) until ``GET /posts/{id}?after=TOKEN`` answers 200 — because the worker exports no
event-age histogram to read instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from photostream.simulate.observe import Reading, is_dlq, rates
from photostream.simulate.stats import Stats


@dataclass
class View:
    """Everything one frame shows."""

    stats: Stats
    target_rate: float
    started_actions: int
    app_id: str
    first: Reading | None = None
    previous: Reading | None = None
    latest: Reading | None = None
    lag_rate: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # one-line problems (a service down, the worker behind)
    extra: list[RenderableType] = field(default_factory=list)  # e.g. a progress bar while waiting


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def topics_table(view: View) -> Table:
    table = Table(title="events per topic", expand=False)
    for name, justify in (("topic", "left"), ("events/s", "right"), ("since start", "right"),
                          ("DLQ total", "right"), ("DLQ since start", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if view.latest is None:
        return table
    per_s = rates(view.previous, view.latest) if view.previous else {}
    totals = view.latest.topic_totals()
    base = view.first.topic_totals() if view.first else totals
    for topic in sorted(t for t in totals if not is_dlq(t)):
        grown = totals[topic] - base.get(topic, 0)
        dlq_total = totals.get(topic + ".dlq", 0)
        dlq_new = dlq_total - base.get(topic + ".dlq", 0)
        if not grown and not dlq_total:
            continue
        table.add_row(topic, f"{per_s.get(topic, 0.0):.1f}", str(grown), str(dlq_total),
                      f"[red]{dlq_new}[/]" if dlq_new else "0")
    return table


def lag_table(view: View) -> Table:
    table = Table(title=f"consumer lag ({view.app_id})")
    for name, justify in (("group", "left"), ("lag", "right"), ("lag/s", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if view.latest is None:
        return table
    for group, lag in sorted(view.latest.group_lag().items()):
        rate = view.lag_rate.get(group)
        shown = "" if rate is None else f"{rate:+.1f}"
        table.add_row(group.removeprefix(view.app_id).lstrip("."), str(lag),
                      f"[red]{shown}[/]" if rate and rate > 0 else shown)
    return table


def latency_table(stats: Stats, whole_run: bool) -> Table:
    since = stats.recent_since(whole_run)
    scope = "whole run" if whole_run else f"last {stats.window_s:.0f} s"
    table = Table(title=f"API latency as the simulator saw it ({scope})")
    for name, justify in (("route", "left"), ("requests", "right"), ("p50", "right"), ("p99", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for kind, series in sorted(stats.latency.items()):
        table.add_row(kind, str(series.count(since)), _seconds(series.p(50, since)), _seconds(series.p(99, since)))
    return table


def outcomes_table(stats: Stats) -> Table:
    table = Table(title="actions")
    table.add_column("action")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for (kind, result), count in sorted(stats.outcomes.items()):
        table.add_row(kind, result, str(count))
    return table


def headline(view: View, whole_run: bool) -> Text:
    stats = view.stats
    elapsed = max(stats.clock() - stats.started, 1e-9)
    since = stats.recent_since(whole_run)
    age = stats.age.p(99, since)
    return Text.from_markup(
        f"[bold]{view.started_actions}[/] actions in {elapsed:.0f} s "
        f"({view.started_actions / elapsed:.1f}/s, target {view.target_rate:g}/s) · "
        f"event age p99 [bold]{_seconds(age)}[/] ({stats.age.count(since)} posts, read-your-writes probes: "
        f"accepted → readable)")


def status_line(view: View) -> str:
    """The frame's headline, the consumer lag and the dead letters since start, and its notes, as one line of
    plain text: what the simulator prints every few seconds when its output is not a terminal (``make demo >
    demo.log``, a CI job, a service's journal), where the live frame is never drawn and a run said nothing
    until it ended."""
    parts = [headline(view, whole_run=False).plain]
    if view.latest is not None:
        totals = view.latest.topic_totals()
        base = view.first.topic_totals() if view.first else totals
        dead = sum(total - base.get(topic, 0) for topic, total in totals.items() if is_dlq(topic))
        parts.append(f"consumer lag {sum(view.latest.group_lag().values())} records")
        parts.append(f"dead letters since start {dead}")
    return " · ".join(parts + view.notes)


def render(view: View, whole_run: bool = False) -> Group:
    parts: list[RenderableType] = [headline(view, whole_run)]
    parts += [Text(note, style="yellow") for note in view.notes]
    parts += view.extra
    top = Table.grid(padding=(0, 2))
    top.add_row(topics_table(view), lag_table(view))
    bottom = Table.grid(padding=(0, 2))
    bottom.add_row(latency_table(view.stats, whole_run), outcomes_table(view.stats))
    parts += [top, bottom]
    if not whole_run:
        parts.append(Text("Ctrl-C to stop", style="dim"))
    return Group(*parts)


def links_table(links: list[tuple[str, str]]) -> Group:
    """What to look at: each name, then its command or address on a line of its own that is never broken (a
    table folded a token's command over three lines, which no longer ran when pasted; a long line the terminal
    wraps is still one line when copied)."""
    lines: list[RenderableType] = [Text("look at", style="bold underline")]
    for name, value in links:
        lines += [Text(name, style="bold"), Text("  " + value, no_wrap=True, overflow="ignore")]
    return Group(*lines)
