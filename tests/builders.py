"""Example builders: valid documents and ready-made tenants, clients and contracts."""

from __future__ import annotations

import random
from datetime import timedelta
from uuid import UUID, uuid4

from stdnum.br import cnpj, cpf

from application.ledger import Ledger, RegisteredReseller
from domain.clients import Client
from domain.contracts import Contract
from domain.invoices import Invoice

_random = random.Random(20261128)
PASSWORD = "s3nha-forte!"  # noqa: S105 - test fixture


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
