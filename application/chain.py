"""Tamper evidence: each tenant's events form a SHA-256 hash chain.

For every event, ``hash = SHA-256(previous hash ‖ stored bytes)``, where the previous
hash is that of the tenant's event before it in log order (32 zero bytes for the
tenant's first event) and the *stored bytes* are, exactly::

    originator_id   16 bytes, the UUID's bytes
    version          8 bytes, signed big-endian (the event's originator_version)
    len(topic)       4 bytes, signed big-endian, the length of the UTF-8 topic
    topic            the topic in UTF-8
    state            the ``state`` column as stored (what the mapper wrote)

Positions are not hashed: a chain row is keyed by the position of its event, so an
event moved to another position no longer matches the row there, and the chain is
walked in position order, so an event swapped with another no longer follows its
predecessor.

Hashes live in ``ledger_chain`` (position, tenant, hash), written by
``ChainedRecorder`` in the transaction that inserts the events, after the library's
``LOCK TABLE ledger_events IN EXCLUSIVE MODE``: writers are serialised there, so the
head each insert reads is the tenant's true head, whatever the number of writers
and processes. The lock, the insert and the hashes are one function call,
``ledger_events_append`` (``APPEND_FUNCTION``), sent with its BEGIN and COMMIT as
one string: one round trip per save.

``verify_tenant`` recomputes the chain in Python (an independent implementation of
the same definition) and names the first position whose stored bytes or order no
longer match: an event edited, deleted, moved, or inserted behind the ledger's back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    InterfaceError,
    Mapper,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection
from psycopg.pq import TransactionStatus
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from application.actors import NO_TENANT, ActorMapper

GENESIS = bytes(32)
"""The "previous hash" of a tenant's first event."""

APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION {schema}.{append}(
    new_events {schema}.{event_type}[],
    tenants uuid[],
    read_ids uuid[],
    read_versions bigint[]
) RETURNS bigint[] LANGUAGE plpgsql AS $append$
DECLARE
    positions bigint[];
    event {schema}.{event_type};
    head bytea;
    hashes bytea[] := '{{}}';
    seen uuid[] := '{{}}';  -- the tenants met so far, and their heads
    heads bytea[] := '{{}}';
    k integer;
BEGIN
    PERFORM set_config('lock_timeout', '{lock_timeout}s', true);
    -- Writers one at a time, so positions are committed in order and every
    -- insert below reads its tenant's true head.
    LOCK TABLE {schema}.{events} IN EXCLUSIVE MODE;
    -- Each read aggregate's latest version, one index probe each. (Not a join:
    -- the cached generic plan of ``EXISTS (… JOIN events …)`` hash-joins a
    -- sequential scan of the whole log, under the lock, on every append.)
    IF EXISTS (
        SELECT 1 FROM unnest(read_ids, read_versions) AS r(id, version)
        WHERE (
            SELECT max(e.originator_version) FROM {schema}.{events} e
            WHERE e.originator_id = r.id
        ) > r.version
    ) THEN
        RETURN '{{}}';  -- an aggregate the command read moved on: store nothing
    END IF;
    WITH inserted AS (
        INSERT INTO {schema}.{events} (originator_id, originator_version, topic, state)
        SELECT originator_id, originator_version, topic, state FROM unnest(new_events)
        RETURNING notification_id
    )
    SELECT array_agg(notification_id ORDER BY notification_id) INTO positions
    FROM inserted;
    -- Positions follow the events' order (one sequence, one insert): chain
    -- each event on its tenant's head, stored_bytes() in SQL. A tenant's head
    -- is read once, for its first event here; its later events here chain on
    -- the hash just computed.
    FOR i IN 1 .. cardinality(new_events) LOOP
        event := new_events[i];
        k := array_position(seen, tenants[i]);
        IF k IS NULL THEN
            SELECT c.hash INTO head FROM {schema}.{chain} c
            WHERE c.tenant_id = tenants[i] ORDER BY c.position DESC LIMIT 1;
            head := coalesce(head, '\\x{genesis}'::bytea);
            seen := seen || tenants[i];
            k := cardinality(seen);
        ELSE
            head := heads[k];
        END IF;
        head := sha256(
            head
            || uuid_send(event.originator_id)
            || int8send(event.originator_version)
            || int4send(octet_length(convert_to(event.topic, 'UTF8')))
            || convert_to(event.topic, 'UTF8') || event.state);
        heads[k] := head;
        hashes[i] := head;
    END LOOP;
    INSERT INTO {schema}.{chain} (position, tenant_id, hash)
    SELECT * FROM unnest(positions, tenants, hashes);
    RETURN positions;
END
$append$
"""
"""One append: the table lock, the version check, the events and their chain rows.

A NULL state would make the hash NULL, which the NOT NULL column refuses: the
whole append fails rather than chain a gap."""
VERIFY_PAGE = 2000


def stored_bytes(
    originator_id: UUID, originator_version: int, topic: str, state: bytes
) -> bytes:
    """The bytes of one stored event that its hash covers (see the module doc)."""
    topic_bytes = topic.encode()
    return b"".join(
        (
            originator_id.bytes,
            originator_version.to_bytes(8, "big", signed=True),
            len(topic_bytes).to_bytes(4, "big", signed=True),
            topic_bytes,
            state,
        )
    )


def chain_hash(previous: bytes, stored: bytes) -> bytes:
    """The hash of an event whose predecessor's hash is ``previous``."""
    return hashlib.sha256(previous + stored).digest()


@dataclass(frozen=True)
class Verification:
    """The result of checking one tenant's chain."""

    ok: bool
    events: int
    """How many of the tenant's events the chain holds."""
    head: str | None
    """The hex hash of the tenant's last event (``None``: no events)."""
    first_bad_position: int | None
    problem: str | None = None
    """Why the first bad position is bad, in words."""


class ChainedRecorder(PostgresApplicationRecorder):
    """The library's recorder, plus the tenant's hash chain in the same transaction."""

    reads_like_the_library = True
    """The events table and its rows are the library's own: a fast reader may read
    them with plain SQL (``projections.reader.RawLog``)."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.chain_table_name = events_table_name.removesuffix("_events") + "_chain"
        self.check_identifier_length(self.chain_table_name)
        names = {
            "schema": Identifier(datastore.schema),
            "chain": Identifier(self.chain_table_name),
            "events": Identifier(events_table_name),
            "index": Identifier(f"{self.chain_table_name}_tenant_idx"),
        }
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{chain} ("
                "position bigint PRIMARY KEY, tenant_id uuid NOT NULL, "
                "hash bytea NOT NULL)"
            ).format(**names),
            SQL(
                "CREATE INDEX IF NOT EXISTS {index} "
                "ON {schema}.{chain} (tenant_id, position)"
            ).format(**names),
        ]
        self._names = names
        # The append, as one function call: lock, check, insert, chain. Ours, not
        # the library's (whose function skips the table lock, see the ledger).
        self.append_function_name = f"{events_table_name}_append"
        self.check_identifier_length(self.append_function_name)
        names["append"] = Identifier(self.append_function_name)
        names["event_type"] = Identifier(self.stored_event_type_name)
        # Processes starting together replace the functions one at a time
        # (concurrent CREATE OR REPLACE FUNCTION fails "tuple concurrently
        # updated"): the tables' transaction begins with this lock.
        self.sql_create_statements.insert(
            0,
            SQL("SELECT pg_advisory_xact_lock(hashtext({0}))").format(
                f"create {events_table_name}"
            ),
        )
        self.sql_create_statements.append(
            SQL(APPEND_FUNCTION).format(
                lock_timeout=datastore.lock_timeout, genesis=SQL(GENESIS.hex()), **names
            )
        )
        # BEGIN … COMMIT and the NOTIFY after it, one string: one round trip. The
        # arguments are written into it as literals (``_append_query``).
        self._append_parts = (
            SQL("BEGIN; SELECT {schema}.{append}(ARRAY[").format(**names),
            SQL("]::{schema}.{event_type}[], ").format(**names),
            SQL(") AS positions; COMMIT; NOTIFY {channel}").format(
                channel=Identifier(self.channel_name)
            ),
            SQL("::{schema}.{event_type}").format(**names),
        )
        self._append_text: tuple[str, str, str, str] | None = None

    def _append_query(
        self,
        conn: Connection[Any],
        stored_events: Sequence[StoredEvent],
        expected: Mapping[UUID, int],
    ) -> str:
        """The append's string, its arguments written in as SQL literals.

        Written here rather than bound by ``ClientCursor``, whose adapters cost
        about 0.1 ms of Python per save: every value is a UUID, an integer, bytes
        (as hex) or a topic (escaped in an ``E''`` string), so the literals are
        exact whatever the server's settings.
        """
        if self._append_text is None:
            self._append_text = cast(
                "tuple[str, str, str, str]",
                tuple(part.as_string(conn) for part in self._append_parts),
            )
        begin, events_end, end, row_type = self._append_text
        rows = ",".join(
            f"ROW({_uuid(e.originator_id)},{int(e.originator_version)},"
            f"{_text(e.topic)},{_bytea(e.state)}){row_type}"
            for e in stored_events
        )
        tenants = _uuids([getattr(e, "tenant_id", NO_TENANT) for e in stored_events])
        versions = ",".join(str(int(v)) for v in expected.values())
        return (
            f"{begin}{rows}{events_end}{tenants}, {_uuids(expected)}, "
            f"'{{{versions}}}'::bigint[]{end}"
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        expected_versions: Mapping[UUID, int] | None = None,
        **kwargs: Any,  # noqa: ANN401 - the library's signature
    ) -> Sequence[int] | None:
        """Store and chain ``stored_events`` in one transaction and one round trip.

        BEGIN, the append function (the table lock, the version check, the
        events' insert, their chain rows) and COMMIT go to the server as one
        string, so the lock is held for server time only, never across a round
        trip to this process (the library's own ``save()`` makes two with the
        lock held). The NOTIFY that wakes the followers follows the COMMIT in the
        same string, in a transaction of its own: it no longer takes
        PostgreSQL's notification lock while the table lock is held, and a
        follower it wakes finds the events committed.

        ``expected_versions`` (aggregate id → version) are aggregates the command
        read but does not write: the insert stores nothing if any of them moved
        past its version, checked under the table lock, and ``IntegrityError`` is
        raised as for any conflicting save, so the command runs again on fresh
        state.
        """
        del kwargs  # the library passes its own (none are used here)
        if not stored_events:
            return None
        expected = dict(expected_versions or {})
        with self.datastore.get_connection() as conn:
            # No parameters: the string goes as one simple query, whose second
            # result is the append's.
            cursor = conn.cursor()
            try:
                cursor.execute(
                    self._append_query(conn, stored_events, expected), prepare=False
                )
                cursor.nextset()
                row = cursor.fetchone()
            finally:
                if conn.info.transaction_status != TransactionStatus.IDLE:
                    conn.rollback()
                cursor.close()
        positions = list(row["positions"] or ()) if row else []
        if len(positions) != len(stored_events):
            # The version check refused: an aggregate the command read moved on.
            msg = "an aggregate the command read was changed meanwhile"
            raise IntegrityError(msg)
        return positions

    # -- reading the chain -----------------------------------------------------

    def _fetch(self, statement: SQL, params: Sequence[object]) -> list[DictRow]:
        with self.datastore.transaction(commit=False) as cursor:
            return cursor.execute(statement.format(**self._names), params).fetchall()

    def chain_is_empty(self) -> bool:
        """Whether no event was chained yet."""
        return not self._fetch(SQL("SELECT 1 FROM {schema}.{chain} LIMIT 1"), ())

    def tenants(self) -> list[UUID]:
        """Every tenant with a chain, in id order."""
        rows = self._fetch(
            SQL("SELECT DISTINCT tenant_id FROM {schema}.{chain} ORDER BY 1"), ()
        )
        return [row["tenant_id"] for row in rows]

    def chained_rows(self, tenant: UUID) -> Iterator[DictRow]:
        """The tenant's chain rows in position order, each with its event (if any)."""
        after = 0
        while True:
            rows = self._fetch(
                SQL(
                    "SELECT c.position, c.hash, e.notification_id, e.originator_id, "
                    "e.originator_version, e.topic, e.state "
                    "FROM {schema}.{chain} c LEFT JOIN {schema}.{events} e "
                    "ON e.notification_id = c.position "
                    "WHERE c.tenant_id = %s AND c.position > %s "
                    "ORDER BY c.position LIMIT %s"
                ),
                (tenant, after, VERIFY_PAGE),
            )
            yield from rows
            if len(rows) < VERIFY_PAGE:
                return
            after = rows[-1]["position"]

    def unchained_events(self) -> list[tuple[int, StoredEvent]]:
        """Events with no chain row (stored behind the ledger's back), by position."""
        return [
            (row["notification_id"], _stored(row))
            for row in self._fetch(
                SQL(
                    "SELECT e.* FROM {schema}.{events} e "
                    "WHERE NOT EXISTS (SELECT 1 FROM {schema}.{chain} c "
                    "WHERE c.position = e.notification_id) "
                    "ORDER BY e.notification_id"
                ),
                (),
            )
        ]

    def start_chain(self, tenant_of: Callable[[StoredEvent], UUID]) -> int:
        """Chain the events recorded before the chain existed, once; how many.

        Only while the chain is empty: once it has begun, an event without a chain
        row was stored behind the ledger's back, and chaining it would hide that.
        """
        if not self.chain_is_empty() or not self._fetch(
            SQL("SELECT 1 FROM {schema}.{events} LIMIT 1"), ()
        ):
            return 0  # the usual start: nothing to do, and no lock taken
        with self.datastore.transaction(commit=True) as cursor:
            self._lock_table(cursor)
            names = self._names
            started = cursor.execute(
                SQL("SELECT 1 FROM {schema}.{chain} LIMIT 1").format(**names)
            ).fetchone()
            if started is not None:
                return 0
            heads: dict[UUID, bytes] = {}
            chained: list[tuple[int, UUID, bytes]] = []
            rows = cursor.execute(
                SQL("SELECT * FROM {schema}.{events} ORDER BY notification_id").format(
                    **names
                )
            ).fetchall()
            for row in rows:
                event = _stored(row)
                tenant = tenant_of(event)
                digest = chain_hash(
                    heads.get(tenant, GENESIS),
                    stored_bytes(
                        row["originator_id"],
                        row["originator_version"],
                        row["topic"],
                        bytes(row["state"]),
                    ),
                )
                heads[tenant] = digest
                chained.append((row["notification_id"], tenant, digest))
            cursor.executemany(
                SQL(
                    "INSERT INTO {schema}.{chain} (position, tenant_id, hash) "
                    "VALUES (%s, %s, %s)"
                ).format(**names),
                chained,
            )
            return len(chained)


def _uuid(value: UUID | str) -> str:
    """A UUID as a SQL literal (a string is parsed first: only a UUID goes in)."""
    return f"'{value if type(value) is UUID else UUID(str(value))}'::uuid"


def _uuids(values: Iterable[UUID]) -> str:
    """UUIDs as a ``uuid[]`` literal."""
    text = ",".join(str(v if type(v) is UUID else UUID(str(v))) for v in values)
    return f"'{{{text}}}'::uuid[]"


def _text(value: str) -> str:
    """Text as an ``E''`` literal: backslashes and quotes doubled, nothing else."""
    if "\x00" in value:
        msg = "text with a NUL character cannot be stored"
        raise ValueError(msg)
    escaped = value.replace("\\", "\\\\").replace("'", "''")
    return f"E'{escaped}'"


def _bytea(value: bytes) -> str:
    """Bytes as a ``bytea`` literal, in hex."""
    return f"E'\\\\x{bytes(value).hex()}'::bytea"


def _stored(row: DictRow) -> StoredEvent:
    return StoredEvent(
        originator_id=row["originator_id"],
        originator_version=row["originator_version"],
        topic=row["topic"],
        state=bytes(row["state"]),
    )


def verify_tenant(
    recorder: ChainedRecorder,
    tenant: UUID,
    unchained: Sequence[tuple[int, UUID]] = (),
) -> Verification:
    """Recompute the tenant's chain; the first position that no longer matches.

    ``unchained`` are the events without a chain row, with their tenants (from
    ``unchained_tenants``); one of this tenant's is bad too.
    """
    previous = GENESIS
    events = 0
    head: bytes | None = None
    first_bad: tuple[int, str] | None = None
    for row in recorder.chained_rows(tenant):
        events += 1
        position = row["position"]
        head = bytes(row["hash"])
        if first_bad is None:
            if row["notification_id"] is None:
                first_bad = (position, f"the event at position {position} is gone")
            else:
                expected = chain_hash(
                    previous,
                    stored_bytes(
                        row["originator_id"],
                        row["originator_version"],
                        row["topic"],
                        bytes(row["state"]),
                    ),
                )
                if expected != head:
                    problem = (
                        f"the event at position {position} no longer matches its"
                        " hash: its stored bytes or its place in the chain changed"
                    )
                    first_bad = (position, problem)
        previous = head
    strays = [position for position, owner in unchained if owner == tenant]
    if strays and (first_bad is None or strays[0] < first_bad[0]):
        problem = (
            f"the event at position {strays[0]} is not in the chain: it was stored"
            " behind the ledger's back"
        )
        first_bad = (strays[0], problem)
    return Verification(
        ok=first_bad is None,
        events=events,
        head=head.hex() if head is not None else None,
        first_bad_position=first_bad[0] if first_bad else None,
        problem=first_bad[1] if first_bad else None,
    )


def unchained_tenants(
    recorder: ChainedRecorder, tenant_of: Callable[[StoredEvent], UUID]
) -> list[tuple[int, UUID]]:
    """The events without a chain row, by position, each with its tenant.

    An event that cannot be decoded is placed in ``NO_TENANT``'s chain: reported by
    the full check, without failing every tenant's own.
    """
    placed: list[tuple[int, UUID]] = []
    for position, event in recorder.unchained_events():
        try:
            owner = tenant_of(event)
        except Exception:  # noqa: BLE001 - whatever it is, it is reported
            owner = NO_TENANT
        placed.append((position, owner))
    return placed


def verify_all(
    recorder: ChainedRecorder, tenant_of: Callable[[StoredEvent], UUID]
) -> dict[UUID, Verification]:
    """Every tenant's chain (and the tenants of events stored without one)."""
    unchained = unchained_tenants(recorder, tenant_of)
    tenants = set(recorder.tenants()) | {owner for _, owner in unchained}
    return {
        tenant: verify_tenant(recorder, tenant, unchained) for tenant in sorted(tenants)
    }


def _chained(
    recorder: ApplicationRecorder, mapper: Mapper[UUID]
) -> tuple[ChainedRecorder, ActorMapper]:
    if not isinstance(recorder, ChainedRecorder) or not isinstance(mapper, ActorMapper):
        msg = "the hash chain is kept by the ledger on PostgreSQL only"
        raise TypeError(msg)
    return recorder, mapper


def audit_tenant(
    recorder: ApplicationRecorder, mapper: Mapper[UUID], tenant: UUID
) -> Verification:
    """Verify one tenant's chain, events stored without the ledger included."""
    chained, actors = _chained(recorder, mapper)
    return verify_tenant(chained, tenant, unchained_tenants(chained, actors.tenant_of))


def audit_all(
    recorder: ApplicationRecorder, mapper: Mapper[UUID]
) -> dict[UUID, Verification]:
    """Verify every tenant's chain."""
    chained, actors = _chained(recorder, mapper)
    return verify_all(chained, actors.tenant_of)
