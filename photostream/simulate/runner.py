"""`photostream simulate` from start to end: population → graph applied → steady workload → summary.

Ctrl-C (or SIGTERM, or ``--duration``) sets one stop event: actions in flight get a few seconds, the rest are
cancelled, the publisher is flushed, the final summary is printed, and the exit code is 0. Problems are said in
one line and retried — a service down, a worker behind — never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from photostream.settings import Settings
from photostream.simulate import content, population
from photostream.simulate.actions import World
from photostream.simulate.api_client import TOKEN_TTL_S, ApiClient
from photostream.simulate.budgets import ReadPacer, UserBudgets, write_limits
from photostream.simulate.dashboard import View, links_table, render, status_line
from photostream.simulate.graph import GraphError
from photostream.simulate.mix import ActionMix
from photostream.simulate.observe import KafkaObserver, Reading, remaining
from photostream.simulate.population import Population
from photostream.simulate.stats import Stats
from photostream.simulate.workload import Workload, sleep_or_stop
from producers.publisher import Publisher, PublishError

#: the topics the graph phase publishes (the workload waits until the worker applied them)
GRAPH_TOPICS = ("user-registered", "follow-changed")
#: how often a line of progress is printed when the output is not a terminal (see dashboard.status_line)
PLAIN_STATUS_EVERY_S = 10.0


@dataclass(frozen=True)
class Options:
    users: int
    rate: float
    concurrency: int
    duration_s: float = 0.0  # 0: until Ctrl-C
    seed: int = 0
    mean_follows: float = 10.0
    celebrities: int = 3
    mix: ActionMix = field(default_factory=ActionMix)
    report: Path | None = None


def run(settings: Settings, options: Options, console: Console | None = None) -> int:
    """The exit code: 0 for a run ended by its duration or Ctrl-C, 2 for impossible options."""
    return asyncio.run(Simulation(settings, options, console or Console()).main())


class Simulation:
    def __init__(self, settings: Settings, options: Options, console: Console) -> None:
        self.settings, self.options, self.console = settings, options, console
        self.stop = asyncio.Event()
        self.stats = Stats()
        #: the final flush left records unacknowledged: closing the publisher waits for them no more
        self.broker_gone = False

    @functools.cached_property
    def observer(self) -> KafkaObserver:
        """Made on first use: impossible options are refused before anything connects to Kafka (its client
        logged a connection failure on stderr before the refusal when the broker was down)."""
        return KafkaObserver(self.settings)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            people = await asyncio.to_thread(
                population.create, self.options.users, self.settings.celebrity_threshold, seed=self.options.seed,
                mean_follows=self.options.mean_follows, celebrities=self.options.celebrities)
        except GraphError as exc:  # a refusal: one line on stderr, as every command's
            print(f"cannot simulate: {exc}", file=sys.stderr)
            return 2
        publisher = Publisher(self.settings)
        try:
            if await self._publish_population(people, publisher) and await self._await_graph(people):
                await self._steady(people, publisher)
            else:
                self.console.print("stopped before the workload started")
        finally:  # (close flushes; not again once a flush found the broker gone: Ctrl-C waited 20 s for it)
            await asyncio.to_thread(publisher.close, 0.0 if self.broker_gone else None)
        return 0

    # --- phase 1: users and follows through the SDK ----------------------------------------------------------
    async def _publish_population(self, people: Population, publisher: Publisher) -> bool:
        total = people.event_count()
        celebrities = people.celebrities()
        self.console.print(
            f"{people.size} users, {len(people.graph.edges)} follows (power law; {len(celebrities)} accounts above "
            f"the celebrity threshold of {people.threshold} followers, the biggest with "
            f"{max(people.graph.follower_counts())}); publishing through the SDK")
        with Progress(TextColumn("registering users and follows"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=self.console, transient=True) as progress:
            task = progress.add_task("publish", total=total)
            while not self.stop.is_set():
                try:
                    await asyncio.to_thread(population.publish, people, publisher,
                                            lambda n: progress.update(task, completed=n), self.stop.is_set)
                    return not self.stop.is_set()
                except (PublishError, KafkaException, TimeoutError) as exc:
                    self.console.print(f"[yellow]Kafka did not take the events ({exc}); retrying in 5 s[/]")
                    await self._pause(5.0)
        return False

    # --- phase 2: wait for the worker ------------------------------------------------------------------------
    async def _await_graph(self, people: Population) -> bool:
        """Wait until every group reading the graph's topics committed past what was published."""
        first = await self._read_until_ok()
        if first is None:
            return False
        targets = {pos: end for pos, end in first.ends.items() if pos[0] in GRAPH_TOPICS}
        groups = {g: t for g, t in self.observer.groups.items() if set(t) & set(GRAPH_TOPICS)}
        left = remaining(first, targets, groups)
        if not left:
            return True
        self.console.print(f"waiting for the worker to apply the users and follows ({left} records still to apply "
                           f"across its consumer groups) before the workload starts; Ctrl-C to stop")
        with Progress(TextColumn("worker applying users and follows"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=self.console, transient=True) as progress:
            total = left
            task = progress.add_task("apply", total=total)
            while left and not self.stop.is_set():
                await self._pause(1.0)
                reading = await self._read_until_ok()
                if reading is None:
                    break
                left = remaining(reading, targets, groups)
                progress.update(task, completed=max(0, total - left))
        return not self.stop.is_set()

    async def _read_until_ok(self) -> Reading | None:
        while not self.stop.is_set():
            try:
                return await asyncio.to_thread(self.observer.read)
            except KafkaException as exc:
                self.console.print(f"[yellow]Kafka unreachable ({exc}); retrying in 5 s[/]")
                await self._pause(5.0)
        return None

    # --- phase 3: the steady workload ------------------------------------------------------------------------
    async def _steady(self, people: Population, publisher: Publisher) -> None:
        settings, options = self.settings, self.options
        client = ApiClient(settings, self.stats, options.concurrency)
        rng = random.Random(options.seed)
        badge_user = people.ids[-1]
        world = World(people, client, publisher, self.stats, UserBudgets(write_limits(settings)),
                      ReadPacer(settings), rng, badge_user)
        workload = Workload(world, options.mix, options.rate, options.concurrency)
        view = View(self.stats, options.rate, 0, settings.app_id)
        links = self._links(people, client, badge_user)
        with contextlib.suppress(KafkaException):  # the baseline before any action: "since start" counts them all
            view.first = await asyncio.to_thread(self.observer.read)
        self.stats.started = time.monotonic()
        tasks = [asyncio.create_task(workload.run(self.stop)), asyncio.create_task(workload.read_messages(self.stop))]
        if options.duration_s > 0:
            asyncio.get_running_loop().call_later(options.duration_s, self.stop.set)
        self.console.print(links_table(links), soft_wrap=True)  # (lines never broken: see links_table)
        with Live(render(view), console=self.console, auto_refresh=False, transient=True) as live:
            await self._watch(view, workload, live)
        self.console.print("stopping: letting actions in flight finish, flushing the publisher")
        await workload.drain()
        await asyncio.gather(*tasks, return_exceptions=True)
        await client.close()
        await self._final_reading(view, publisher)
        view.started_actions, view.notes, view.extra = workload.started, [], []
        self.console.rule("final summary")
        self.console.print(render(view, whole_run=True))
        self.console.print(links_table(links), soft_wrap=True)  # (lines never broken: see links_table)
        if options.report:
            options.report.write_text(json.dumps(self._report(people, world, badge_user), indent=2))

    async def _final_reading(self, view: View, publisher: Publisher) -> None:
        """Kafka as it stands once everything sent is acknowledged: the summary showed the last tick's reading,
        before the drain (a few posts, likes and messages short of what the run published)."""
        if await asyncio.to_thread(publisher.flush, 10.0):
            self.broker_gone = True  # (and a reading would wait out its timeout too)
            return
        try:
            reading = await asyncio.to_thread(self.observer.read)
        except KafkaException:
            return  # (the last tick's reading stands; the live view already said Kafka was unreachable)
        view.previous, view.latest = view.latest, reading

    async def _watch(self, view: View, workload: Workload, live: Live) -> None:
        """Once a second: read Kafka, update the frame, pause the workload while the worker is behind."""
        behind = Behind(self.options.rate)
        progress = Progress(TextColumn("worker behind, applying"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn())
        bar = progress.add_task("behind", total=None)
        next_line = time.monotonic()  # (the first at the first reading: a log says at once that the run began)
        while not self.stop.is_set():
            view.notes = []
            try:
                reading = await asyncio.to_thread(self.observer.read)
            except KafkaException as exc:
                reading = None
                view.notes.append(f"Kafka unreachable ({exc}); retrying")
            if reading is not None:
                view.first = view.first or reading
                view.previous, view.latest = view.latest, reading
                if view.previous:
                    seconds = reading.at - view.previous.at
                    old = view.previous.group_lag()
                    view.lag_rate = {g: (lag - old.get(g, lag)) / seconds
                                     for g, lag in reading.group_lag().items()} if seconds > 0 else {}
                total = sum(reading.group_lag().values())
                was_behind = behind.behind
                if behind.update(total):
                    if not was_behind:  # the bar's clock starts when the worker fell behind, not with the run
                        progress.reset(bar)
                    workload.paused.set()
                    view.notes.append(f"the worker is behind ({total} records to apply): new actions wait until "
                                      f"it caught up")
                    progress.update(bar, total=behind.peak, completed=behind.peak - total)
                    view.extra = [progress]
                else:
                    workload.paused.clear()
                    view.extra = []
            if workload.health.problem:
                view.notes.append(f"{workload.health.problem}; retrying in {workload.health.wait_s():.0f} s")
            view.started_actions = workload.started
            live.update(render(view), refresh=True)
            if not self.console.is_terminal and time.monotonic() >= next_line:  # (no frame is drawn there)
                self.console.print(status_line(view), soft_wrap=True, markup=False, highlight=False)
                next_line = time.monotonic() + PLAIN_STATUS_EVERY_S
            await self._pause(1.0)

    def _links(self, people: Population, client: ApiClient, badge_user: str) -> list[tuple[str, str]]:
        api = client.base + "/api/v1"
        follower = people.celebrity_follower()
        celebrity = (people.celebrities() or [people.ids[0]])[0]
        # what a pasted command needs in a new shell: the namespace, and development mode (the local stack's
        # placeholder secrets are refused without it)
        env = (f"PHOTOSTREAM_NAMESPACE={self.settings.namespace} " if self.settings.namespace else "") \
            + ("PHOTOSTREAM_DEV_MODE=true " if self.settings.dev_mode else "")
        lag = env + ".venv/bin/photostream lag --watch"
        prometheus = f"http://127.0.0.1:{self.settings.prometheus_port}"
        return [
            ("a celebrity follower's feed", f"curl -H 'Authorization: Bearer {client.token(follower)}' {api}/feed"),
            ("a celebrity's posts", f"{api}/users/{celebrity}/posts"),
            ("a hot hashtag", f"{api}/hashtags/{content.HOT_TAGS[0]}"),
            ("trending", f"{api}/trending?window=1h"),
            ("search", f"{api}/search/users?q={content.username(1, people.run_tag)} · "
                       f"{api}/search/hashtags?q={content.HOT_TAGS[0][:3]}"),
            ("suggested for a follower", f"curl -H 'Authorization: Bearer {client.token(follower)}' "
                                         f"{api}/users/me/suggestions"),
            ("an unread badge", f"curl -H 'Authorization: Bearer {client.token(badge_user)}' "
                                f"{api}/users/{badge_user}/status"),
            ("tokens", f"valid {TOKEN_TTL_S // 3600} h; mint more with `{env}.venv/bin/photostream token USER_ID`"),
            ("Prometheus", f"{prometheus}/graph?g0.expr=rate(photostream_events_processed_total[1m])"),
            ("worker metrics", f"http://127.0.0.1:{self.settings.worker_web_port}/metrics"),
            ("consumer lag", lag),
        ]

    def _report(self, people: Population, world: World, badge_user: str) -> dict[str, Any]:
        facts, stats = world.facts, self.stats
        counts = people.follower_counts()
        return {
            "users": people.size, "follows": len(people.graph.edges),
            "celebrities": {u: counts[u] for u in people.celebrities()[:10]},
            "celebrity_follower": people.celebrity_follower(),
            "celebrity_follower_follows": people.follows(people.celebrity_follower()), "badge_user": badge_user,
            "hot_tag": content.HOT_TAGS[0], "posts": facts.posts, "images": facts.images,
            "post_authors": facts.post_authors, "likes": dict(facts.likes), "comments": dict(facts.comments),
            "messages_to": dict(facts.messages_to), "messages_read": facts.messages_read,
            "unapplied_posts": facts.unapplied,
            "unconfirmed_posts": facts.unconfirmed,
            "outcomes": {f"{kind}: {result}": n for (kind, result), n in stats.outcomes.items()},
            "event_age_p99_s": stats.age.p(99),
            "api_p99_s": {kind: series.p(99) for kind, series in stats.latency.items()},
        }

    async def _pause(self, seconds: float) -> None:
        await sleep_or_stop(self.stop, seconds)


class Behind:
    """Whether the worker is behind: total lag over ``high`` and grown over the last 5 readings; it counts as
    caught up again once under ``low``. Pure (fed one total per reading)."""

    def __init__(self, rate: float, window: int = 5) -> None:
        self.high, self.low = max(500.0, rate * 15), max(100.0, rate * 3)
        self.window = window
        self.history: list[int] = []
        self.behind = False
        self.peak = 0

    def update(self, total: int) -> bool:
        self.history = [*self.history, total][-self.window:]
        if self.behind:
            self.behind = total > self.low
        else:
            self.behind = total > self.high and len(self.history) == self.window and total > self.history[0]
        self.peak = max(self.peak, total) if self.behind else 0
        return self.behind
