"""The CQL store base (ScyllaDB in production, Apache Cassandra 5.0 in tests): what every service's cql.py uses.

One keyspace per service (`<SHUTTER_CQL_KEYSPACE>_<service>`, e.g. `shutter_photo`), not one shared
keyspace with prefixed tables: a service owns its data, so its tables (every emitting service has an
`outbox`) never clash, its replication and backups can be changed alone, and a deployment can grant
each service's role its own keyspace only. Schema statements use unqualified table names; the
session is bound to the service's keyspace.

Statements are declared up front as `Query` constants (CQL text + the consistency level chosen for
that query, with the reason next to it in the service's schema file) and always run prepared: the
first use prepares, later uses hit the cache. The driver's `execute_async` futures complete on the
driver's I/O thread; `_bridge` hands the result to the asyncio loop, so nothing blocks the loop.

Consistency levels by purpose (a service may choose another per query, and must say why):
- WRITE_DURABLE = LOCAL_QUORUM: acknowledged by a majority of the local DC's replicas, so it survives
  the loss of any one replica (RF=3). Photos, their metadata and every write carrying an event use it.
- READ_STRONG = LOCAL_QUORUM: with WRITE_DURABLE, R + W > RF, so a read sees every acknowledged write
  (e.g. checking a photo exists before liking it, reading your own profile after an edit).
- READ_FAST = LOCAL_ONE: one replica answers; feeds, counts and lists prefer availability and
  latency, and a moment of staleness is acceptable by design.
- WRITE_FAST = LOCAL_ONE: derived data that can be rebuilt (feed entries fanned out, search terms).
- SERIAL = LOCAL_SERIAL: lightweight transactions (`IF NOT EXISTS`, e.g. claiming a username) agree
  within the local DC, which keeps them available when another DC is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import cassandra
from cassandra import ConsistencyLevel, InvalidRequest
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.protocol import ErrorMessage
from cassandra.query import BatchStatement, BatchType, PreparedStatement, SimpleStatement

from services.runtime import errors
from services.runtime.config import Settings
from services.runtime.metrics import observe_store

log = logging.getLogger("shutter.cql")

# The cluster down, overloaded or slow: retryable, registered with the runtime's error table when this
# backend is loaded.
for _outage in (cassandra.Unavailable, cassandra.Timeout, cassandra.OperationTimedOut, NoHostAvailable):
    errors.register(_outage, lambda exc, where: errors.outage("the database", exc))

# Cassandra's CAS_WRITE_UNKNOWN (0x1700): a lightweight transaction's Paxos round timed out after some replicas
# accepted it (contention, a slow or lost replica). Whether it applied is unknown, like a write timeout: the
# caller retries an idempotent call. The driver knows no exception class for it (ScyllaDB never sends it).
CAS_WRITE_UNKNOWN = 0x1700
errors.register(
    ErrorMessage,
    lambda exc, where: errors.outage("the database", exc) if getattr(exc, "code", None) == CAS_WRITE_UNKNOWN else None,
)

WRITE_DURABLE = ConsistencyLevel.LOCAL_QUORUM
READ_STRONG = ConsistencyLevel.LOCAL_QUORUM
READ_FAST = ConsistencyLevel.LOCAL_ONE
WRITE_FAST = ConsistencyLevel.LOCAL_ONE
SERIAL = ConsistencyLevel.LOCAL_SERIAL

_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,47}")
_ALREADY_APPLIED = ("already exist", "conflicts with an existing column")


@dataclass(frozen=True)
class Query:
    """One CQL statement and how it runs. `idempotent=False` (counter updates, appends) is never
    retried or speculatively executed by the driver, so a timeout cannot apply it twice."""

    cql: str
    consistency: int
    idempotent: bool = True
    serial_consistency: int | None = None


# A schema step: one CQL statement, or a function run with the keyspace's session (moving data).
CqlStep = str | Callable[[Session], None]


@dataclass(frozen=True)
class CqlSchema:
    """A service's keyspace as numbered steps, applied once each, in order, under a lock, and recorded
    in its `schema_version` table (see `migrate_keyspace`). Add a step to change the schema; never
    edit one that has shipped, and keep steps additive (old replicas run beside new ones mid-upgrade).

    `runtime_tables`: the runtime's tables in this keyspace (outbox, tombstones), created if missing
    before the steps; services.runtime.stores adds them from the service's Storage.
    """

    steps: tuple[CqlStep, ...]
    runtime_tables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """One page of rows and the opaque state that fetches the next (None on the last page)."""

    rows: list[Any]
    paging_state: bytes | None


def keyspace_for(settings: Settings, service: str) -> str:
    keyspace = f"{settings.cql_keyspace}_{service}".lower()
    if not _IDENTIFIER.fullmatch(keyspace):
        raise SystemExit(f"SHUTTER_CQL_KEYSPACE gives an invalid keyspace name for {service}: {keyspace!r}")
    return keyspace


def connect_cluster(settings: Settings) -> Cluster:
    """A driver cluster object: token-aware routing to the local DC's replicas."""
    local_dc = settings.cql_local_dc or None
    profile = ExecutionProfile(load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy(local_dc=local_dc)))
    return Cluster(
        list(settings.cql_contact_points),
        port=settings.cql_port,
        execution_profiles={EXEC_PROFILE_DEFAULT: profile},
        connect_timeout=10,
    )


class CqlDatabase:
    """A service's keyspace: created (with the configured replication) and migrated on start."""

    def __init__(self, settings: Settings, service: str, schema: CqlSchema) -> None:
        self.settings = settings
        self.keyspace = keyspace_for(settings, service)
        self._schema = schema
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, asyncio.Future[PreparedStatement]] = {}
        # Connecting, DDL and PREPARE are blocking driver calls; they run here, never on the loop.
        self._blocking = ThreadPoolExecutor(1, thread_name_prefix=f"cql-{service}")
        self._commit_listeners: list[Callable[[], None]] = []

    async def start(self) -> None:
        """Connect and migrate, waiting for the cluster: health stays NOT_SERVING until it is
        reachable, so start-up order does not matter (NATS, by contrast, is not needed to serve)."""
        delay = 0.5
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(self._blocking, self._connect_and_migrate)
                return
            except NoHostAvailable as exc:
                if self._cluster is not None:
                    self._cluster.shutdown()
                    self._cluster = None
                log.warning(
                    "waiting for CQL",
                    extra={"contact_points": self.settings.cql_contact_points, "error": str(exc)[:200]},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        if self._cluster is not None:
            await asyncio.get_running_loop().run_in_executor(self._blocking, self._cluster.shutdown)
        self._blocking.shutdown()

    def _connect_and_migrate(self) -> None:
        self._cluster = connect_cluster(self.settings)
        session = self._cluster.connect()
        create_keyspace(session, self.keyspace, self.settings.cql_replication)
        session.set_keyspace(self.keyspace)
        version = migrate_keyspace(session, self.keyspace, self._schema)
        self._session = session
        log.info("cql ready", extra={"keyspace": self.keyspace, "schema_version": version})

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Called on the event loop after every successful batch (the outbox relay wakes on it)."""
        self._commit_listeners.append(listener)

    async def prepare(self, query: Query) -> PreparedStatement:
        """The prepared statement for `query`, prepared once per process."""
        future = self._prepared.get(query.cql)
        if future is None:
            future = asyncio.get_running_loop().run_in_executor(
                self._blocking, self._session_or_fail().prepare, query.cql
            )
            self._prepared[query.cql] = future
        try:
            return await asyncio.shield(future)
        except Exception:
            self._prepared.pop(query.cql, None)  # a failed prepare (e.g. node down) is retried next time
            raise

    async def _bind(self, query: Query, params: Sequence[Any]) -> Any:
        prepared = await self.prepare(query)
        bound = prepared.bind(params)
        bound.consistency_level = query.consistency
        bound.is_idempotent = query.idempotent
        if query.serial_consistency is not None:
            bound.serial_consistency_level = query.serial_consistency
        return bound

    async def execute(self, query: Query, params: Sequence[Any] = ()) -> list[Any]:
        """All rows of a query that is bounded by design (a LIMIT or a single row); see `page` otherwise."""
        started = time.perf_counter()
        try:
            bound = await self._bind(query, params)
            bound.fetch_size = None
            page = await _bridge(self._session_or_fail().execute_async(bound))
            return page.rows
        finally:
            observe_store("cql", operation(query.cql), time.perf_counter() - started)

    async def page(
        self, query: Query, params: Sequence[Any], page_size: int, paging_state: bytes | None = None
    ) -> Page:
        """One page of a query whose result can be large (followers of a popular user, comments)."""
        started = time.perf_counter()
        try:
            bound = await self._bind(query, params)
            bound.fetch_size = page_size
            return await _bridge(self._session_or_fail().execute_async(bound, paging_state=paging_state))
        finally:
            observe_store("cql", operation(query.cql), time.perf_counter() - started)

    async def batch(self, writes: Iterable[tuple[Query, Sequence[Any]]], consistency: int = WRITE_DURABLE) -> None:
        """One LOGGED batch: every statement is applied eventually, or none is (see outbox_cql for why)."""
        started = time.perf_counter()
        batch = BatchStatement(batch_type=BatchType.LOGGED, consistency_level=consistency)
        try:
            for query, params in writes:
                batch.add(await self._bind(query, params))
            await _bridge(self._session_or_fail().execute_async(batch))
        finally:
            observe_store("cql", "BATCH", time.perf_counter() - started)
        for listener in self._commit_listeners:
            listener()

    def _session_or_fail(self) -> Session:
        assert self._session is not None, "cql database not started"
        return self._session


_STATEMENT = re.compile(r"\s*(SELECT\b.*?\bFROM|INSERT\s+INTO|UPDATE|DELETE\b.*?\bFROM)\s+(\w+)", re.I | re.S)
_operations: dict[str, str] = {}


def operation(cql: str) -> str:
    """A statement's verb and table (`SELECT likes_by_photo`): its label in the store-latency metric."""
    found = _operations.get(cql)
    if found is None:
        match = _STATEMENT.match(cql)
        verb = (match.group(1) if match else cql.strip() or "?").split(None, 1)[0].upper()
        found = _operations[cql] = f"{verb} {match.group(2)}" if match else verb
    return found


def applied(rows: list[Any]) -> bool:
    """Whether a lightweight transaction (`… IF NOT EXISTS`, `… IF col = ?`) took effect."""
    return bool(rows) and bool(getattr(rows[0], "applied", rows[0][0]))


def create_keyspace(session: Session, keyspace: str, replication: str) -> None:
    replication = replication.strip()
    if not (replication.startswith("{") and replication.endswith("}")):
        raise SystemExit(f"SHUTTER_CQL_REPLICATION must be a CQL map, got {replication!r}")
    # DDL takes no bind markers; both values are checked configuration, never request data.
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}")


_VERSION_TABLES = {
    "schema_version": "CREATE TABLE IF NOT EXISTS schema_version (name text PRIMARY KEY, version int)",
    "schema_lock": "CREATE TABLE IF NOT EXISTS schema_lock (name text PRIMARY KEY, owner text)",
}
_TABLE_NAME = re.compile(r"\s*CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)", re.IGNORECASE)
_ADDED_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+(\w+)", re.IGNORECASE)
# Changing a schema takes the whole cluster (global QUORUM and SERIAL: a schema is not one DC's);
# seeing that nothing needs changing takes only the local DC, so a start never waits for another DC.
_VERSION = "SELECT version FROM schema_version WHERE name = 'schema'"
_READ_VERSION_LOCAL = SimpleStatement(_VERSION, consistency_level=ConsistencyLevel.LOCAL_QUORUM)
_READ_VERSION = SimpleStatement(_VERSION, consistency_level=ConsistencyLevel.QUORUM)
_WRITE_VERSION = SimpleStatement(
    "INSERT INTO schema_version (name, version) VALUES ('schema', %s)", consistency_level=ConsistencyLevel.QUORUM
)
_TAKE_LOCK = SimpleStatement(
    "INSERT INTO schema_lock (name, owner) VALUES ('schema', %s) IF NOT EXISTS USING TTL %s",
    consistency_level=ConsistencyLevel.QUORUM,
    serial_consistency_level=ConsistencyLevel.SERIAL,
)
_RENEW_LOCK = SimpleStatement(
    "UPDATE schema_lock USING TTL %s SET owner = %s WHERE name = 'schema' IF owner = %s",
    consistency_level=ConsistencyLevel.QUORUM,
    serial_consistency_level=ConsistencyLevel.SERIAL,
)
_DROP_LOCK = SimpleStatement(
    "DELETE FROM schema_lock WHERE name = 'schema' IF owner = %s",
    consistency_level=ConsistencyLevel.QUORUM,
    serial_consistency_level=ConsistencyLevel.SERIAL,
)
# How long a migrator holds the lock without renewing it (it renews before every step): a migrator that
# dies frees the keyspace after this long.
LOCK_LEASE_SECONDS = 300


def migrate_keyspace(
    session: Session,
    keyspace: str,
    schema: CqlSchema,
    *,
    poll_seconds: float = 1.0,
    lease_seconds: int = LOCK_LEASE_SECONDS,
) -> int:
    """Bring the session's keyspace to the schema's last step; returns the version it is at.

    Fast path, no lock: the version is current and the runtime tables exist. Otherwise take the
    keyspace's lock (an LWT lease), so replicas starting together never run DDL at once (concurrent
    CREATEs of one table can leave the nodes disagreeing on it), and whoever holds it applies what is
    missing. A keyspace made before versioning starts at step 1; steps are idempotent (CREATE … IF NOT
    EXISTS, an ALTER … ADD whose column exists counts as applied), so that is harmless. A keyspace
    newer than the code is fine: steps are additive, and an old replica runs during an upgrade.
    """
    existing = _tables(session, keyspace)
    for table, statement in _VERSION_TABLES.items():
        if table not in existing:
            session.execute(statement)
    target = len(schema.steps)
    owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    while True:
        try:
            version = _version(session, _READ_VERSION_LOCAL)
            if version >= target and _missing_runtime_tables(session, keyspace, schema) == []:
                if version > target:
                    log.warning("keyspace is newer than this code", extra={"keyspace": keyspace, "version": version})
                return version
            if applied(list(session.execute(_TAKE_LOCK, (owner, lease_seconds)))):
                break
        except InvalidRequest as exc:
            # Replicas starting together each created the version tables; until the node settles on one of
            # those CREATEs, a table can read as missing (seen once in CI: "table schema_lock does not exist").
            if "does not exist" not in str(exc):
                raise
            log.info("the version tables are still being created", extra={"keyspace": keyspace})
        else:
            log.info("waiting for the schema lock", extra={"keyspace": keyspace})
        time.sleep(poll_seconds)
    try:
        for statement in schema.runtime_tables:
            _apply_step(session, statement)
        version = _version(session, _READ_VERSION)
        for number in range(version + 1, target + 1):
            if not applied(list(session.execute(_RENEW_LOCK, (lease_seconds, owner, owner)))):
                raise RuntimeError(f"lost the schema lock of {keyspace} before step {number}")
            _apply_step(session, schema.steps[number - 1])
            session.execute(_WRITE_VERSION, (number,))
            log.info("schema step applied", extra={"keyspace": keyspace, "version": number})
        return max(version, target)
    finally:
        try:
            session.execute(_DROP_LOCK, (owner,))
        except Exception as exc:  # the lease ends by itself; the error that matters is the step's
            log.warning("schema lock not released", extra={"keyspace": keyspace, "error": repr(exc)[:200]})


def _tables(session: Session, keyspace: str) -> set[str]:
    rows = session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
    return {row.table_name for row in rows}


def _missing_runtime_tables(session: Session, keyspace: str, schema: CqlSchema) -> list[str]:
    """Runtime tables, and columns added to them later (`ALTER TABLE t ADD c`), that the keyspace lacks."""
    statements = [step for step in schema.runtime_tables if isinstance(step, str)]
    wanted = [match.group(1) for match in map(_TABLE_NAME.match, statements) if match]
    existing = _tables(session, keyspace) if wanted else set()
    missing = [table for table in wanted if table not in existing]
    added = [match.groups() for match in map(_ADDED_COLUMN.match, statements) if match]
    if added:
        rows = session.execute(
            "SELECT table_name, column_name FROM system_schema.columns WHERE keyspace_name = %s", (keyspace,)
        )
        columns = {(row.table_name, row.column_name) for row in rows}
        missing += [f"{table}.{column}" for table, column in added if (table, column.lower()) not in columns]
    return missing


def _version(session: Session, read: SimpleStatement) -> int:
    row = session.execute(read).one()
    return row.version if row is not None else 0


def _apply_step(session: Session, step: CqlStep) -> None:
    """One step. `ALTER TABLE … ADD` has no IF NOT EXISTS in every CQL dialect, so an "already exists"
    answer to an ALTER counts as applied; any other error stops start-up."""
    if callable(step):
        step(session)
        return
    try:
        session.execute(step)
    except InvalidRequest as exc:
        if not (step.lstrip().upper().startswith("ALTER") and any(s in str(exc) for s in _ALREADY_APPLIED)):
            raise


def _bridge(response: ResponseFuture) -> asyncio.Future[Page]:
    """An asyncio future completed (on the loop's thread) when the driver's response arrives."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Page] = loop.create_future()

    def resolve() -> None:
        if not future.done():
            result = response.result()  # already complete: returns at once
            future.set_result(Page(list(result.current_rows), result.paging_state))

    def fail(exc: BaseException) -> None:
        if not future.done():
            future.set_exception(exc)

    response.add_callbacks(
        lambda _rows: loop.call_soon_threadsafe(resolve), lambda exc: loop.call_soon_threadsafe(fail, exc)
    )
    return future
