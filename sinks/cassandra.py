"""Cassandra sessions and asyncio glue.

Connections honour the settings' contact points, port, datacenter (DC-aware, token-aware routing) and
credentials, so the same code runs against a multi-node cluster.
"""

from __future__ import annotations

import asyncio
import socket
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cassandra import ProtocolVersion
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, named_tuple_factory
from prometheus_client import Counter

from photostream.settings import Settings
from sinks.cassandra_binding import add_bound

#: a Row class per column list: the queries are fixed, so this stays as small as the code's SELECTs
_ROW_TYPES: dict[tuple[str, ...], Any] = {}
_ROW_TYPES_MAX = 4_096


def cached_named_tuple_factory(colnames: list[str], rows: list[Any]) -> list[Any]:
    """The driver's default rows (named tuples, same names and fallbacks), without building the class anew.

    Why: ``named_tuple_factory`` calls ``collections.namedtuple`` for every result set, ~70 µs of CPU on this
    machine (it compiles a class), more than decoding a small result; a page of the feed makes several reads.
    """
    if not rows:
        return []
    key = tuple(colnames)
    row_type = _ROW_TYPES.get(key)
    if row_type is None:
        if len(_ROW_TYPES) >= _ROW_TYPES_MAX:  # ad-hoc statements (a shell, a migration) must not grow it forever
            _ROW_TYPES.clear()
        row_type = _ROW_TYPES[key] = type(named_tuple_factory(colnames, rows[:1])[0])
    return [row_type(*row) for row in rows]


def applied(result: Any) -> bool:
    """Whether a conditional (``IF``) statement applied: its one row's first column, ``[applied]``. The driver's
    ``ResultSet.was_applied`` refuses every row factory but its own, :func:`cached_named_tuple_factory`
    included."""
    row = result.one()
    if row is None:
        raise RuntimeError("a conditional statement answers one row")
    return bool(row[0])


#: the driver leaves Nagle's algorithm on. A request that spans more than one write (a grouped batch of ~40+
#: statements, ~4 KiB) then waits for the server's delayed ACK: measured on this stack, an UNLOGGED batch of
#: 40–50 inserts took 43 ms without this and 1–2 ms with it (16 or fewer: ~1 ms either way)
NO_DELAY = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]

#: native protocol v4, which Cassandra 5 serves in full. Why not v5: the driver's v5 framing (CRC-checked
#: segments, decoded in Python) now and then misreads a connection's first bytes and drops it with
#: "CRC mismatch on header" (a known driver fault, seen here as a one-off `rebuild --check` failure in CI);
#: nothing in the schema needs v5 (no `duration` columns, no per-statement keyspace)
PROTOCOL_VERSION = ProtocolVersion.V4


#: the control connection's queries, reading every keyspace's schema among them: the driver's 2 s default timed
#: out (NoHostAvailable on connect) on a busy 2-core machine with the test run's keyspaces, in a CI run
CONTROL_TIMEOUT_S = 10.0


def connect(settings: Settings, keyspace: str | None = "", metadata: bool = True) -> tuple[Cluster, Session]:
    """A connected cluster and session; ``keyspace=""`` means the settings' keyspace, None means none.
    ``metadata=False``: no schema or token metadata (a one-query check: reading every keyspace's schema took
    1.5 s of the 1.6 s)."""
    profile = ExecutionProfile(
        row_factory=cached_named_tuple_factory,
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=settings.cassandra_datacenter)),
        request_timeout=15,
    )
    auth = None
    if settings.cassandra_username and settings.cassandra_password:
        auth = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password.get_secret_value())
    cluster = Cluster(
        settings.cassandra_contact_points,
        port=settings.cassandra_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        auth_provider=auth,
        protocol_version=PROTOCOL_VERSION,
        connect_timeout=5,
        control_connection_timeout=CONTROL_TIMEOUT_S,
        sockopts=NO_DELAY,
        schema_metadata_enabled=metadata,
        token_metadata_enabled=metadata,
    )
    session = cluster.connect(settings.cassandra_keyspace if keyspace == "" else keyspace)
    return cluster, session


#: requests that found every in-flight slot of their connection taken, and how long they waited for one: a rate
#: that stays up says Cassandra (or the cap, on a cluster bigger than this one) is what the worker waits on
SLOT_WAITS = Counter("photostream_cassandra_slot_waits_total",
                     "Cassandra requests that waited for one of their connection's in-flight slots")
SLOT_WAIT_SECONDS = Counter("photostream_cassandra_slot_wait_seconds_total",
                            "Time Cassandra requests waited for an in-flight slot of their connection")


class _InFlightCap:
    """At most ``limit`` of one session's requests in flight, per event loop (an asyncio semaphore belongs to
    the loop it first waited on; a test suite runs one session under many loops)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    def gate(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        found = self.gates.get(loop)
        if found is None:
            found = self.gates[loop] = asyncio.Semaphore(self.limit)
        return found


_CAPS: weakref.WeakKeyDictionary[Session, _InFlightCap] = weakref.WeakKeyDictionary()


def cap_in_flight(session: Session, limit: int) -> None:
    """Let ``session`` keep at most ``limit`` requests in flight (0: no cap), whatever its callers ask for.

    Why: each store of a worker bounds its own requests (:class:`Gated`), but a worker holds a dozen stores,
    each free to fan a batch out 64 wide. Draining a backlog, two such workers kept hundreds of requests
    queued in a Cassandra that has two cores: every request (the posts projector's, which a client's
    read-your-writes waits on, included) waited behind them, and the server spent its time collecting the
    garbage of the queue. Measured (benchmark 15, the same 450,000-record backlog, same run length): with 8
    per session, post → read-your-writes p99 1,545 → 611 ms in one pool (1,369 → 367 ms in two), and the drain
    itself took 36 s instead of 51 s."""
    if limit:
        _CAPS[session] = _InFlightCap(limit)
    else:
        _CAPS.pop(session, None)


async def execute(session: Session, statement: Any, params: Any = None, paging_state: bytes | None = None) -> Any:
    """Run a statement without blocking the event loop; returns the result rows (iterate ``current_rows``
    only: iterating further would fetch the next page synchronously — use :func:`pages` for that). Waits
    for a free slot first if the session's requests are capped (:func:`cap_in_flight`)."""
    cap = _CAPS.get(session)
    if cap is None:
        return await _execute(session, statement, params, paging_state)
    gate = cap.gate(asyncio.get_running_loop())
    waiting_since = time.perf_counter() if gate.locked() else None  # (timed only when it must wait)
    async with gate:
        if waiting_since is not None:
            SLOT_WAITS.inc()
            SLOT_WAIT_SECONDS.inc(time.perf_counter() - waiting_since)
        return await _execute(session, statement, params, paging_state)


async def _execute(session: Session, statement: Any, params: Any, paging_state: bytes | None) -> Any:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    response: ResponseFuture = session.execute_async(statement, params, paging_state=paging_state)

    def settle(result: Any = None, error: BaseException | None = None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def ok(rows: Any) -> None:
        # the callback sees only the first page; the ResultSet pages on demand
        loop.call_soon_threadsafe(settle, response.result())
        _unlink(response)

    def failed(exc: BaseException) -> None:
        loop.call_soon_threadsafe(settle, None, exc)
        _unlink(response)

    response.add_callbacks(ok, failed)
    return await future


def _unlink(response: ResponseFuture) -> None:
    """Drop the two references that make a finished request a reference cycle, so reference counting frees
    it (and its statement, message, rows, lock, event and timer) at once: its callbacks (these closures hold
    the request) and its cancelled timer (which holds the request's timeout handler).

    Why: each request otherwise left ~45 objects for the cyclic collector (28k per batch of 2,000 likes in the
    notifications processor), whose full passes then stood the worker's event loop still for 100-300 ms.
    ``_timer`` is the driver's own attribute (it never resets it); ``tests/integration/test_cassandra_cycles.py``
    fails if a driver upgrade brings the cycles back."""
    response.clear_callbacks()
    response._timer = None


#: keys per IN list: big enough to share a request's cost, small enough for the coordinator's fan-out
IN_CHUNK = 100


def key_chunks(keys: Iterable[str], size: int = IN_CHUNK) -> list[list[str]]:
    """Distinct keys, sorted once (the same keys give the same requests), as IN lists of at most ``size``."""
    ordered = sorted(set(keys))
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


#: the most rows :func:`rows_if_few` reads: below the driver's page size, so one page holds the whole answer
FEW_ROWS = 2000


async def rows_if_few(session: Session, statement: Any, params: tuple[Any, ...], most: int = FEW_ROWS
                      ) -> list[Any] | None:
    """A partition's rows read whole when it holds at most ``most`` of them; None when it holds more.

    Why: asking whether a user relates to *many* others is many IN queries (one per chunk of keys), while
    most users' partitions (their blocks, the accounts they follow) hold a handful of rows: reading the
    partition whole is then one cheap query. ``statement`` ends in ``LIMIT ?``, bound here to ``most + 1``.
    """
    result = await execute(session, statement, (*params, most + 1))
    rows = list(result.current_rows)
    return rows if len(rows) <= most and not result.has_more_pages else None


#: requests one store keeps in flight at once (see :class:`Gated`)
MAX_IN_FLIGHT = 64


class Gated:
    """A session whose requests run with at most ``limit`` in flight.

    Why: a store fans a batch out into one request per row with ``asyncio.gather``; unbounded, a large batch
    would hand the driver thousands of requests at once (past its per-connection limit, and a burst the
    coordinator sheds). One gate per store bounds that and keeps the requests concurrent. ``gate`` is there for
    the few callers that hold it around more than one request (a paged read).
    """

    def __init__(self, session: Session, limit: int = MAX_IN_FLIGHT) -> None:
        self.session = session
        self.gate = asyncio.Semaphore(limit)

    async def run(self, statement: Any, params: Any = None) -> Any:
        """:func:`execute`, waiting for a free slot first."""
        async with self.gate:
            return await execute(self.session, statement, params)


#: statements per UNLOGGED batch in :func:`execute_grouped`: big enough that the driver's per-request cost is
#: shared, small enough to stay far below ``batch_size_warn_threshold`` and not to load one coordinator
GROUP_SIZE = 50


async def execute_grouped(session: Session, statements: list[tuple[Any, Any]], group_size: int = GROUP_SIZE) -> None:
    """Run many independent idempotent writes as a few UNLOGGED batches, concurrently, the rows of one partition
    side by side.

    Why batches: in the Python driver each request costs far more CPU (query plan, timers, futures, a thread hop)
    than the mutation itself, and so does each request on the server; a batch of 50 pays that once. UNLOGGED
    gives no atomicity across partitions and none is relied on: every statement is an idempotent upsert, so a
    batch re-applied after a crash changes nothing.

    Why side by side (:func:`by_partition`): Cassandra turns a batch's rows of one partition into one mutation,
    and it is the mutation that costs (commit log entry, memtable partition, a message to the replica), far
    more than a row. Measured on this stack, 40,000 rows in batches of 50 over 500 partitions: 25–33 µs of
    Cassandra CPU per row when each batch's rows were 50 partitions, 6–7 µs when they shared one or two;
    38–40k → 91k rows/s.
    """
    await execute_partitions(lambda batch: execute(session, batch), by_partition(statements, group_size),
                             group_size)


def by_partition(statements: list[tuple[Any, Any]], most: int) -> list[list[tuple[Any, Any]]]:
    """``statements`` grouped by partition key (partitions in order of first appearance, each one's statements in
    their own order), in chunks of at most ``most``. The key is read from the parameters at the positions the
    prepared statement names (``routing_key_indexes``): no binding or serialising here, so grouping costs a dict
    lookup per statement. A statement without them (not prepared, named parameters) is grouped with the other
    such ones, as before grouping existed."""
    groups: dict[Any, list[tuple[Any, Any]]] = {}
    for write in statements:
        statement, params = write
        indexes = getattr(statement, "routing_key_indexes", None)
        if not indexes or type(params) not in _POSITIONAL:
            key: Any = None
        elif len(indexes) == 1:
            key = params[indexes[0]]
        else:
            key = tuple([params[i] for i in indexes])
        group = groups.get(key)
        if group is None:
            groups[key] = [write]
        else:
            group.append(write)
    return [chunk for writes in groups.values()
            for chunk in ((writes,) if len(writes) <= most else
                          (writes[i:i + most] for i in range(0, len(writes), most)))]


_POSITIONAL = frozenset({tuple, list})


async def execute_partitions(run: Callable[[Any], Awaitable[Any]], partitions: list[list[tuple[Any, Any]]],
                             group_size: int = GROUP_SIZE) -> None:
    """Run each partition's writes atomically, many small partitions per request: UNLOGGED batches that keep
    every inner list (one partition's writes) whole, filled up to ``group_size`` statements (a larger
    partition goes alone), sent concurrently through ``run`` (a :meth:`Gated.run`).

    Why atomic: Cassandra applies all of a batch's writes to one partition as a single mutation, atomic and
    isolated, whatever other partitions the batch holds; a partition split across two batches would lose
    that. Why grouped: most partitions of a batch (a hashtag's long tail) change a row or three, and a request
    each cost more than their rows."""
    batches: list[BatchStatement] = []
    batch, filled = BatchStatement(batch_type=BatchType.UNLOGGED), 0
    for writes in partitions:
        if filled and filled + len(writes) > group_size:
            batches.append(batch)
            batch, filled = BatchStatement(batch_type=BatchType.UNLOGGED), 0
        for statement, params in writes:
            add_bound(batch, statement, params)
        filled += len(writes)
    if filled:
        batches.append(batch)
    await asyncio.gather(*(run(b) for b in batches))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_of(value: datetime) -> int:
    """Epoch milliseconds of a Cassandra ``timestamp``.

    The driver returns naive datetimes that mean UTC; ``naive.timestamp()`` would read them as local time
    (wrong by the machine's UTC offset). Every read of a timestamp column goes through here.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(milliseconds=1)  # integer arithmetic: no float rounding


async def pages(session: Session, prepared: Any, params: Any, page_size: int) -> AsyncIterator[list[Any]]:
    """The rows of a (large) partition read, one page at a time, never blocking the event loop."""
    statement = prepared.bind(params)
    statement.fetch_size = page_size
    state: bytes | None = None
    while True:
        result = await execute(session, statement, None, paging_state=state)
        yield list(result.current_rows)
        state = result.paging_state
        if state is None:
            return
