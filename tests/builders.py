"""Example builders: valid documents, ready-made tenants, clients and contracts, and
the dates tests use (always relative to the São Paulo today, never fixed)."""

from __future__ import annotations

import contextlib
import os
import random
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from stdnum.br import cnpj, cpf

from application.ledger import Ledger, RegisteredReseller
from domain.clients import Client
from domain.contracts import Contract
from domain.invoices import Invoice

_random = random.Random(20261128)
PASSWORD = "s3nha-forte!"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
CLOCK_OFFSET = "LEDGER_CLOCK_OFFSET_DAYS"


def clock_offset_days() -> int:
    """How far this test run moves the service's calendar (``make test-future``)."""
    return int(os.environ.get(CLOCK_OFFSET, "0") or "0")


def today() -> date:
    """The São Paulo today of the service under test, moved like its clock."""
    now = datetime.now(UTC) + timedelta(days=clock_offset_days())
    return now.astimezone(SAO_PAULO).date()


def days_from_today(days: int) -> str:
    """The ISO date ``days`` from ``today()`` (negative: in the past)."""
    return (today() + timedelta(days=days)).isoformat()


def reference_of(day: date | str) -> dict[str, str]:
    """The reference month and year of an invoice due on ``day``."""
    due = date.fromisoformat(day) if isinstance(day, str) else day
    return {"reference_month": f"{due.month:02d}", "reference_year": str(due.year)}


def a_cpf() -> str:
    """A valid CPF, compact, never all one digit."""
    while True:
        base = f"{_random.randrange(10**9):09d}"
        if len(set(base)) > 1:
            return base + str(cpf._calc_check_digits(base))


def a_cnpj() -> str:
    """A valid numeric CNPJ, compact."""
    base = f"{_random.randrange(10**8):08d}0001"
    return base + str(cnpj.calc_check_digits(base))


def an_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid4().hex[:12]}@example.com.br"


def a_reseller(
    ledger: Ledger, name: str = "Revenda Exemplo Ltda"
) -> RegisteredReseller:
    return ledger.register_reseller(
        name=name, document=a_cnpj(), email=an_email("owner"), password=PASSWORD
    )


def a_client(ledger: Ledger, reseller_id: UUID, document: str | None = None) -> Client:
    return ledger.register_client(
        reseller_id,
        name="Cliente Exemplo",
        document=document or a_cpf(),
        email=an_email("client"),
        city="São Paulo",
        state="SP",
    ).aggregate


def an_active_contract(ledger: Ledger, reseller_id: UUID, client_id: UUID) -> Contract:
    contract = ledger.open_contract(reseller_id, client_id).aggregate
    return ledger.activate_contract(reseller_id, contract.id).aggregate


def a_billable_client(ledger: Ledger, reseller_id: UUID) -> Client:
    client = a_client(ledger, reseller_id)
    an_active_contract(ledger, reseller_id, client.id)
    return client


def an_invoice(
    ledger: Ledger,
    reseller_id: UUID,
    client_id: UUID,
    amount_cents: int = 15000,
    due_in_days: int = 10,
) -> Invoice:
    today = ledger.today()
    return ledger.issue_invoice(
        reseller_id,
        client_id=client_id,
        description="Mensalidade do sistema",
        amount_cents=amount_cents,
        due_date=today + timedelta(days=due_in_days),
        reference_month=f"{today.month:02d}",
        reference_year=str(today.year),
    ).aggregate


def some_activity(ledger: Ledger, invoices: int, seed: int = 1) -> None:
    """A tenant's busy day: clients, contracts, invoices and every kind of outcome."""
    from domain.errors import InvalidTransitionError  # noqa: PLC0415
    from domain.invoices import Charge  # noqa: PLC0415

    rng = random.Random(seed)
    reseller_id = a_reseller(ledger).reseller.id
    clients = [a_billable_client(ledger, reseller_id) for _ in range(3)]
    for number in range(invoices):
        client = rng.choice(clients)
        invoice = an_invoice(ledger, reseller_id, client.id, 1000 + number)
        outcome = rng.random()
        # A ``ledger project`` beside the test (its charge-registration process) may
        # register the invoice first; the rest of the day goes on the same way.
        with contextlib.suppress(InvalidTransitionError):
            if outcome < 0.1:
                ledger.record_registration_failure(invoice.id, "recusada")
                continue
            charge = Charge(
                f"ch{number}", "001", f"{number:011d}", "0" * 44, "0" * 47, "x"
            )
            ledger.record_registration(invoice.id, charge)
        paid_at = ledger.clock()
        if outcome < 0.3:
            ledger.cancel_invoice(reseller_id, invoice.id, "desistiu")
        if outcome < 0.8:
            ledger.record_payment(
                provider="sandbox",
                provider_event_id=f"evt-{reseller_id}-{number}",
                invoice_id=invoice.id,
                amount_cents=1000 + number,
                paid_at=paid_at,
                method="boleto",
            )
        if 0.7 < outcome < 0.8:
            ledger.record_refund(
                provider="sandbox",
                provider_event_id=f"evt-refund-{reseller_id}-{number}",
                invoice_id=invoice.id,
                amount_cents=None,
                refunded_at=paid_at,
            )
