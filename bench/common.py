"""Shared pieces of the benchmarks: a scratch database, generated history, tables."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import psutil
import psycopg
from rich.console import Console
from rich.table import Table

from api.database import eventsourcing_env, temporary_database
from application.ledger import SAO_PAULO, Ledger
from application.passwords import Passwords
from domain.clients import Client, ContactDetails
from domain.contracts import Contract
from domain.documents import Document
from domain.invoices import Charge, Invoice, PaymentMethod
from domain.notifications import NotificationKind, Outcome, ProviderNotification
from domain.periods import ReferencePeriod
from domain.resellers import Reseller
from domain.users import Role, User

console = Console()
RESULTS = Path(__file__).with_name("results.json")


@contextmanager
def scratch_database() -> Iterator[str]:
    """A fresh database on ``DATABASE_URL`` (or an embedded server), dropped after."""
    with temporary_database(
        "ledger_bench", os.environ.get("DATABASE_URL"), Path(".ledger-bench")
    ) as url:
        yield url


def due_soon() -> date:
    """A due date ten days after today in São Paulo: valid whenever the bench runs."""
    return datetime.now(SAO_PAULO).date() + timedelta(days=10)


def ledger_on(url: str) -> Ledger:
    """The application on ``url`` (tables created), with cheap password hashing."""
    return Ledger(
        eventsourcing_env(url, pool_size=8, max_overflow=32),
        passwords=Passwords.fast_for_tests(),
    )


def _cpf(number: int) -> str:
    from stdnum.br import cpf  # noqa: PLC0415

    base = f"{(number * 7919 + 13) % 10**9:09d}"
    if len(set(base)) == 1:
        base = "123456789"
    return base + str(cpf._calc_check_digits(base))  # noqa: SLF001


def generate_history(ledger: Ledger, events: int, tenants: int = 20) -> int:
    """Write about ``events`` realistic events with COPY; return how many.

    Each invoice goes through issue (with its code), registration, payment with its
    provider notification; some are cancelled or refunded, like a real ledger.
    """
    stored = []
    paid_at = datetime(2026, 11, 20, tzinfo=UTC)
    charge = Charge("ch", "001", "00000000001", "0" * 44, "0" * 47, "000201")
    per_tenant = max(1, events // tenants)
    for tenant in range(tenants):
        reseller_id = uuid4()
        reseller = Reseller.register(
            reseller_id, f"Revenda {tenant}", "16727230000197", f"r{tenant}@x.com"
        )
        owner = User.add(reseller_id, f"owner{tenant}@x.com", Role.OWNER, "hash")
        aggregates: list[Any] = [reseller, owner]
        clients = []
        for number in range(20):
            client = Client.register(
                reseller_id,
                Document.parse(_cpf(tenant * 100 + number)),
                ContactDetails.parse(f"Cliente {number}", "c@x.com", city="Recife"),
            )
            contract = Contract.open(reseller_id, client.id, 1)
            contract.activate(paid_at)
            clients.append((client, contract))
            aggregates += [client, contract]
        count = sum(len(a.pending_events) for a in aggregates)
        number = 0
        while count < per_tenant:
            client, contract = clients[number % len(clients)]
            invoice_id = uuid4()
            code = reseller.assign_invoice_code(invoice_id)
            invoice = Invoice.issue(
                invoice_id=invoice_id,
                reseller_id=reseller_id,
                client_id=client.id,
                contract_id=contract.id,
                code=code,
                description="Mensalidade",
                amount_cents=1000 + number,
                issue_date=date(2026, 11, 1),
                due_date=date(2026, 11, 1) + timedelta(days=number % 60),
                period=ReferencePeriod.parse("11", "2026"),
            )
            invoice.register(charge)
            if number % 10 == 0:
                invoice.cancel("desistiu", paid_at)
            else:
                invoice.pay(1000 + number, paid_at, PaymentMethod.PIX)
                notification = ProviderNotification.process(
                    reseller_id=reseller_id,
                    provider="sandbox",
                    provider_event_id=f"evt-{invoice_id}",
                    invoice_id=invoice_id,
                    kind=NotificationKind.PAYMENT_RECEIVED,
                    outcome=Outcome.APPLIED,
                )
                aggregates.append(notification)
                count += 1
                if number % 10 == 1:
                    invoice.refund(1000 + number, paid_at)
            aggregates.append(invoice)
            count += len(invoice.pending_events) + 1
            number += 1
        for aggregate in aggregates:
            stored += [
                ledger.mapper.to_stored_event(e) for e in aggregate.collect_events()
            ]
    url = _url_of(ledger)
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY ledger_events (originator_id, originator_version, topic, state)"
            " FROM STDIN"
        ) as copy,
    ):
        for event in stored:
            copy.write_row(
                (
                    event.originator_id,
                    event.originator_version,
                    event.topic,
                    event.state,
                )
            )
    return len(stored)


def _url_of(ledger: Ledger) -> str:
    env = ledger.env
    return (
        f"host={env.get('POSTGRES_HOST')} port={env.get('POSTGRES_PORT')} "
        f"dbname={env.get('POSTGRES_DBNAME')} user={env.get('POSTGRES_USER')} "
        f"password={env.get('POSTGRES_PASSWORD') or ''}"
    )


def raw_read_rate(url: str, batch: int = 2000) -> float:
    """Baseline: raw SELECT of the log in pages plus ``json.loads`` of each event."""
    started = time.perf_counter()
    count = 0
    after = 0
    with psycopg.connect(url) as conn:
        while True:
            rows = conn.execute(
                "SELECT notification_id, state FROM ledger_events "
                "WHERE notification_id > %s ORDER BY notification_id LIMIT %s",
                (after, batch),
            ).fetchall()
            if not rows:
                break
            for _, state in rows:
                json.loads(state)
            count += len(rows)
            after = rows[-1][0]
    return count / (time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile (0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def machine() -> str:
    """A one-line description of this machine."""
    python = platform.python_version()
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {python}"


def record(key: str, figures: dict[str, Any], *, merge: bool = False) -> None:
    """Put ``figures`` under ``key`` in ``bench/results.json`` (or merge them in)."""
    results: dict[str, Any] = {}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text())
    results[key] = ({**results.get(key, {}), **figures}) if merge else figures
    results["machine"] = machine()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def show(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    """Print a table of (measure, value, baseline, ratio)."""
    table = Table("measure", "value", "raw baseline", "ratio", title=title)
    for row in rows:
        table.add_row(*row)
    console.print(table)


Members = Callable[[], list[psutil.Process]]
"""The processes of one part of a benchmark, looked up when CPU time is sampled."""


def alone(process: psutil.Process) -> Members:
    """The process itself."""
    return lambda: [process]


def children_of(process: psutil.Process) -> Members:
    """The process's children (and theirs), not itself."""
    return lambda: process.children(recursive=True)


def postgres_server() -> list[psutil.Process]:
    """Every PostgreSQL server process on the machine (or the embedded one's)."""
    return [
        process
        for process in psutil.process_iter(["name"])
        if process.info["name"] in {"postgres", "postmaster"}
    ]


class CpuMeter:
    """CPU time (user + system) spent by each part of a benchmark while it runs.

    ``start`` and ``stop`` bracket the measured stretch; ``stop`` gives the seconds
    each part spent in it. A process that ends inside the stretch is not counted,
    one that starts inside it is counted from its start.
    """

    def __init__(self, parts: dict[str, Members]) -> None:
        self.parts = parts
        self.before: dict[str, dict[int, float]] = {}

    def _sample(self) -> dict[str, dict[int, float]]:
        sample: dict[str, dict[int, float]] = {}
        for name, members in self.parts.items():
            seconds: dict[int, float] = {}
            with contextlib.suppress(psutil.Error):
                for process in members():
                    with contextlib.suppress(psutil.Error):
                        times = process.cpu_times()
                        seconds[process.pid] = times.user + times.system
            sample[name] = seconds
        return sample

    def start(self) -> None:
        """Note every part's CPU time so far."""
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        """CPU seconds each part spent since ``start``."""
        after = self._sample()
        return {
            name: sum(
                seconds - self.before[name].get(pid, 0.0)
                for pid, seconds in after[name].items()
            )
            for name in self.parts
        }
