"""Outbound webhooks' storage and sending: endpoints, the outbox, the dispatcher.

``OutboundStore`` keeps each tenant's endpoints (URL, event types, signing secret)
and the deliveries queued for them (``webhook_deliveries``, the outbox, written by
the outbound follower in its own transaction). Endpoints are configuration, not
business facts, and their secrets must stay out of the immutable event log: they
live in a plain table.

``Dispatcher`` sends the outbox over HTTP, signed like the sandbox partner's
webhooks (``Ledger-Signature: t=…,v1=…`` with the endpoint's secret):

* **Per-endpoint order**: only the oldest pending delivery of an endpoint (by log
  position) is ever sent; the next one waits until it is delivered or given up.
* **Isolation**: each delivery has a short timeout and runs on a small thread pool,
  at most one at a time per endpoint, so a slow or dead endpoint ties up one
  thread and its own queue, never the ledger (which only queued rows) nor another
  endpoint.
* **Retries**: a non-2xx answer or none is retried with exponential backoff
  (capped), for ``give_up_seconds`` (24 hours by default) after the first attempt;
  then the delivery is ``failing``, kept in the list, and the endpoint's next
  delivery goes on.
* **Several dispatchers** (every ``ledger serve`` worker runs one) share the outbox:
  a delivery is leased (``next_attempt_at`` pushed past the timeout) before it is
  sent, and only a due head is leased, so no two send one endpoint's deliveries at
  once. A delivery is marked delivered right after its 2xx; only a crash in between
  sends it again (receivers deduplicate on the event ``id``).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import httpx
from psycopg import Cursor
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from adapters.sandbox import SIGNATURE_HEADER, sign
from application.outbound import DeliveryStatus, QueuedDelivery
from domain.errors import ConflictError

log = logging.getLogger(__name__)

MAX_ENDPOINTS_PER_TENANT = 20
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_ERROR_LENGTH = 500


class TooManyEndpointsError(ConflictError):
    """The tenant already has as many endpoints as allowed."""


@dataclass(frozen=True)
class Endpoint:
    """A tenant's endpoint (its secret is read only to sign)."""

    id: UUID
    reseller_id: UUID
    url: str
    events: list[str]
    created_at: datetime


class OutboundStore:
    """Endpoints and their outbox, in the service's database."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool

    def create_tables(self) -> None:
        """Create the tables if missing."""
        with self.pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS webhook_endpoints (id uuid PRIMARY KEY,"
                " reseller_id uuid NOT NULL, url text NOT NULL, events text[] NOT NULL,"
                " secret text NOT NULL, created_position bigint NOT NULL,"
                " created_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS webhook_endpoints_tenant"
                " ON webhook_endpoints (reseller_id, created_at)"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS webhook_deliveries ("
                " id bigserial PRIMARY KEY, endpoint_id uuid NOT NULL"
                " REFERENCES webhook_endpoints ON DELETE CASCADE,"
                " event_id uuid NOT NULL, position bigint NOT NULL,"
                " type text NOT NULL, body bytea NOT NULL,"
                " status text NOT NULL DEFAULT 'pending', attempts int NOT NULL"
                " DEFAULT 0, last_status_code int, last_error text,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " first_attempt_at timestamptz, delivered_at timestamptz,"
                " next_attempt_at timestamptz NOT NULL DEFAULT now(),"
                " UNIQUE (endpoint_id, event_id))"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS webhook_deliveries_pending"
                " ON webhook_deliveries (endpoint_id, position, id)"
                " WHERE status = 'pending'"
            )
            conn.execute(
                "CREATE INDEX IF NOT EXISTS webhook_deliveries_listed"
                " ON webhook_deliveries (endpoint_id, position DESC, id DESC)"
            )

    # -- endpoints ---------------------------------------------------------------

    def create_endpoint(
        self, reseller_id: UUID, url: str, events: Sequence[str], head: int
    ) -> tuple[Endpoint, str]:
        """A new endpoint hearing of events after position ``head``; and its secret."""
        secret = SECRET_PREFIX + secrets.token_hex(32)
        endpoint_id = uuid4()
        with self.pool.connection() as conn, conn.transaction():
            # One tenant's endpoints are counted and added one request at a time.
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints'),"
                " hashtext(%s))",
                (str(reseller_id),),
            )
            row = conn.execute(
                "SELECT count(*) FROM webhook_endpoints WHERE reseller_id = %s",
                (reseller_id,),
            ).fetchone()
            if row is not None and row[0] >= MAX_ENDPOINTS_PER_TENANT:
                msg = f"a reseller has at most {MAX_ENDPOINTS_PER_TENANT} endpoints"
                raise TooManyEndpointsError(msg)
            created = conn.execute(
                "INSERT INTO webhook_endpoints (id, reseller_id, url, events, secret,"
                " created_position) VALUES (%s, %s, %s, %s, %s, %s)"
                " RETURNING created_at",
                (endpoint_id, reseller_id, url, list(events), secret, head),
            ).fetchone()
        assert created is not None  # noqa: S101 - INSERT ... RETURNING returns it
        endpoint = Endpoint(endpoint_id, reseller_id, url, list(events), created[0])
        return endpoint, secret

    def endpoints(self, reseller_id: UUID) -> list[Endpoint]:
        """The tenant's endpoints, oldest first."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT id, reseller_id, url, events, created_at FROM webhook_endpoints"
                " WHERE reseller_id = %s ORDER BY created_at, id",
                (reseller_id,),
            ).fetchall()
        return [Endpoint(r[0], r[1], r[2], list(r[3]), r[4]) for r in rows]

    def endpoint(self, reseller_id: UUID, endpoint_id: UUID) -> Endpoint | None:
        """One of the tenant's endpoints (another tenant's is ``None``)."""
        found = [e for e in self.endpoints(reseller_id) if e.id == endpoint_id]
        return found[0] if found else None

    def delete_endpoint(self, reseller_id: UUID, endpoint_id: UUID) -> bool:
        """Delete the endpoint and its deliveries; whether it was the tenant's."""
        with self.pool.connection() as conn:
            deleted = conn.execute(
                "DELETE FROM webhook_endpoints WHERE id = %s AND reseller_id = %s",
                (endpoint_id, reseller_id),
            )
            count: int = deleted.rowcount
        return count > 0

    def deliveries(
        self, endpoint_id: UUID, limit: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The endpoint's deliveries, newest event first (``before`` a position)."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            rows: list[dict[str, Any]] = cur.execute(
                "SELECT event_id, type, status, attempts, last_status_code,"
                " CASE WHEN status = 'pending' THEN next_attempt_at END"
                " AS next_attempt_at, position FROM webhook_deliveries"
                " WHERE endpoint_id = %s AND position < %s"
                " ORDER BY position DESC, id DESC LIMIT %s",
                (endpoint_id, before if before is not None else 2**62, limit),
            ).fetchall()
        return rows

    # -- the outbox (``application.outbound.Outbox``) ------------------------------

    def any_endpoint(self, cursor: Cursor[Any]) -> bool:
        """Whether any tenant has an endpoint."""
        row = cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM webhook_endpoints)"
        ).fetchone()
        return row is not None and bool(row[0])

    def subscribers(
        self,
        cursor: Cursor[Any],
        reseller_id: UUID,
        event_types: Sequence[str],
        position: int,
    ) -> list[UUID]:
        """Endpoints of the tenant that existed at ``position`` and want a type."""
        rows = cursor.execute(
            "SELECT id FROM webhook_endpoints WHERE reseller_id = %s"
            " AND events && %s::text[] AND created_position < %s ORDER BY id",
            (reseller_id, list(event_types), position),
        ).fetchall()
        return [row[0] for row in rows]

    def queue(self, cursor: Cursor[Any], deliveries: Sequence[QueuedDelivery]) -> None:
        """Queue deliveries; one queued already (same endpoint and event) stays."""
        cursor.executemany(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, position, type,"
            " body) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (endpoint_id, event_id) DO NOTHING",
            [
                (d.endpoint_id, d.event_id, d.position, d.type, d.body)
                for d in deliveries
            ],
        )


@dataclass(frozen=True)
class Leased:
    """A delivery taken for one attempt."""

    id: int
    endpoint_id: UUID
    url: str
    secret: str
    body: bytes
    attempts: int
    first_attempt_at: datetime


@dataclass(frozen=True)
class DispatchSettings:
    """Timeouts, backoff and concurrency of the dispatcher."""

    timeout_seconds: float = 5.0
    base_backoff_seconds: float = 10.0
    max_backoff_seconds: float = 3600.0
    give_up_seconds: float = 86_400.0
    """Retried this long after the first attempt, then ``failing``."""
    concurrency: int = 8
    poll_seconds: float = 0.5

    @property
    def lease_seconds(self) -> float:
        """How long a delivery in flight stays invisible to other dispatchers."""
        return self.timeout_seconds * 3 + 5

    def backoff(self, attempts: int) -> float:
        """The pause after the ``attempts``-th failed attempt: doubling, capped."""
        doubled = self.base_backoff_seconds * 2.0 ** max(0, attempts - 1)
        return min(self.max_backoff_seconds, doubled)


_LEASE = (
    "WITH heads AS (SELECT DISTINCT ON (endpoint_id) id FROM webhook_deliveries"
    " WHERE status = 'pending' ORDER BY endpoint_id, position, id),"
    " due AS (SELECT d.id FROM webhook_deliveries d JOIN heads USING (id)"
    " WHERE d.next_attempt_at <= now() AND NOT (d.endpoint_id = ANY(%s))"
    " ORDER BY d.next_attempt_at LIMIT %s FOR UPDATE OF d SKIP LOCKED)"
    " UPDATE webhook_deliveries d"
    " SET next_attempt_at = now() + make_interval(secs => %s),"
    " first_attempt_at = coalesce(d.first_attempt_at, now())"
    " FROM due, webhook_endpoints e"
    " WHERE d.id = due.id AND e.id = d.endpoint_id AND d.status = 'pending'"
    " AND d.next_attempt_at <= now()"
    " RETURNING d.id, d.endpoint_id, e.url, e.secret, d.body, d.attempts,"
    " d.first_attempt_at"
)
"""Lease the due heads of the endpoints not in flight here: the oldest pending
delivery of each endpoint, if its time has come."""


class Dispatcher:
    """Sends the outbox: per endpoint in order, endpoints concurrently."""

    def __init__(
        self, pool: ConnectionPool[Any], settings: DispatchSettings | None = None
    ) -> None:
        self.pool = pool
        self.settings = settings or DispatchSettings()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy: set[UUID] = set()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None

    def wake(self) -> None:
        """Look at the outbox now (deliveries were just queued or one finished)."""
        self._wake.set()

    def start(self) -> None:
        """Dispatch in a background thread, sending on a small pool."""
        self._stopping.clear()
        self._client = httpx.Client(
            timeout=httpx.Timeout(self.settings.timeout_seconds),
            headers={"user-agent": "revenda-ledger-webhooks"},
        )
        self._executor = ThreadPoolExecutor(
            max_workers=self.settings.concurrency, thread_name_prefix="webhook-out"
        )
        self._thread = threading.Thread(
            target=self._run, name="webhook-dispatcher", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop leasing; let the deliveries in flight finish and be recorded."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout_seconds + 5)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        # Closed last: closing it under a delivery in flight would fail an
        # acknowledged delivery, which would then be sent again.
        if self._client is not None:
            self._client.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self.dispatch_due()
            except Exception:
                log.warning("outbound dispatch failed; retrying", exc_info=True)
            self._wake.wait(self.settings.poll_seconds)

    def dispatch_due(self) -> int:
        """Lease the due heads this dispatcher has room for and send them."""
        executor, client = self._executor, self._client
        if executor is None or client is None or self._stopping.is_set():
            return 0
        with self._lock:
            room = self.settings.concurrency - len(self._busy)
            busy = list(self._busy)
        if room <= 0:
            return 0
        for leased in self._lease(busy, room):
            with self._lock:
                self._busy.add(leased.endpoint_id)
            executor.submit(self._send_and_record, client, leased)
        return room

    def _lease(self, busy: list[UUID], room: int) -> list[Leased]:
        with self.pool.connection() as conn:
            rows = conn.execute(
                _LEASE, (busy, room, self.settings.lease_seconds)
            ).fetchall()
        return [Leased(*row) for row in rows]

    def _send_and_record(self, client: httpx.Client, leased: Leased) -> None:
        try:
            status_code, error = self._send(client, leased)
            self._record(leased, status_code, error)
        except Exception:
            log.warning("outbound delivery %s not recorded", leased.id, exc_info=True)
        finally:
            with self._lock:
                self._busy.discard(leased.endpoint_id)
            self.wake()  # the endpoint's next delivery may go now

    def _send(
        self, client: httpx.Client, leased: Leased
    ) -> tuple[int | None, str | None]:
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(leased.secret, int(time.time()), leased.body),
        }
        try:
            # Streamed and closed unread: a receiver's answer body is not our business.
            with client.stream(
                "POST", leased.url, content=leased.body, headers=headers
            ) as response:
                if response.is_success:
                    return response.status_code, None
                return response.status_code, f"HTTP {response.status_code}"
        except httpx.HTTPError as failure:
            return None, f"{type(failure).__name__}: {failure}"[:MAX_ERROR_LENGTH]

    def _record(
        self, leased: Leased, status_code: int | None, error: str | None
    ) -> None:
        attempts = leased.attempts + 1
        with self.pool.connection() as conn:
            if error is None:
                conn.execute(
                    "UPDATE webhook_deliveries SET status = %s, attempts = %s,"
                    " last_status_code = %s, last_error = NULL, delivered_at = now()"
                    " WHERE id = %s",
                    (DeliveryStatus.DELIVERED, attempts, status_code, leased.id),
                )
                return
            backoff = self.settings.backoff(attempts)
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = %s, last_status_code = %s,"
                " last_error = %s, status = CASE WHEN now() >= first_attempt_at"
                " + make_interval(secs => %s) THEN %s ELSE status END,"
                " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
                (
                    attempts,
                    status_code,
                    error.replace("\x00", "\\x00"),
                    self.settings.give_up_seconds,
                    DeliveryStatus.FAILING,
                    backoff,
                    leased.id,
                ),
            )
        log.info(
            "outbound delivery %s to %s failed (%s); retry in %.1fs",
            leased.id,
            leased.endpoint_id,
            error,
            backoff,
        )
