"""Uniqueness made atomic by deterministic ids, and idempotent partner events."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from application.ledger import Ledger, NotificationResult
from domain.errors import (
    DuplicateClientError,
    EmailAlreadyInUseError,
    InvoiceNotFoundError,
    OpenContractExistsError,
)
from domain.invoices import Charge, InvoiceStatus
from domain.notifications import ProviderNotification, notification_id_for
from domain.users import Role
from tests.builders import (
    PASSWORD,
    a_billable_client,
    a_client,
    a_cnpj,
    a_cpf,
    a_reseller,
    an_email,
    an_invoice,
)

PAID_AT = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)
CHARGE = Charge("ch_test", "001", "123", "0" * 44, "0" * 47, "000201")


def test_a_document_is_unique_within_a_tenant_but_not_across_tenants(
    ledger: Ledger,
) -> None:
    first = a_reseller(ledger).reseller.id
    second = a_reseller(ledger).reseller.id
    document = a_cpf()
    a_client(ledger, first, document)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(DuplicateClientError):
        a_client(ledger, first, document)
    assert ledger.recorder.max_notification_id() == before
    other = a_client(ledger, second, document)
    assert other.document == document


def test_concurrent_registrations_of_one_document_create_one_client(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    document = a_cpf()

    def register() -> str:
        try:
            a_client(ledger, reseller_id, document)
        except DuplicateClientError:
            return "duplicate"
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: register(), range(8)))
    assert sorted(results) == ["created"] + ["duplicate"] * 7


def test_a_client_has_at_most_one_contract_that_is_not_cancelled(
    ledger: Ledger,
) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_client(ledger, reseller_id)
    first = ledger.open_contract(reseller_id, client.id).aggregate
    with pytest.raises(OpenContractExistsError):
        ledger.open_contract(reseller_id, client.id)
    ledger.cancel_contract(reseller_id, first.id)
    second = ledger.open_contract(reseller_id, client.id).aggregate
    assert second.id != first.id
    assert ledger.current_contract(reseller_id, client.id) == second


def test_concurrent_contract_openings_open_one(ledger: Ledger) -> None:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_client(ledger, reseller_id)

    def open_one() -> str:
        try:
            ledger.open_contract(reseller_id, client.id)
        except OpenContractExistsError:
            return "refused"
        return "opened"

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: open_one(), range(6)))
    assert sorted(results) == ["opened"] + ["refused"] * 5


def test_emails_are_unique_across_all_users_of_all_tenants(ledger: Ledger) -> None:
    registered = a_reseller(ledger)
    other = a_reseller(ledger).reseller.id
    with pytest.raises(EmailAlreadyInUseError):
        ledger.register_reseller("Outra", a_cnpj(), registered.owner.email, PASSWORD)
    with pytest.raises(EmailAlreadyInUseError):
        ledger.add_user(other, registered.owner.email.upper(), PASSWORD, "operator")
    user = ledger.add_user(other, an_email(), PASSWORD, "auditor").aggregate
    assert user.role is Role.AUDITOR
    assert user.reseller_id == other


def test_login_needs_the_right_password_and_says_nothing_about_unknown_emails(
    ledger: Ledger,
) -> None:
    owner = a_reseller(ledger).owner
    assert ledger.authenticate(owner.email, PASSWORD) == owner
    assert ledger.authenticate(owner.email.upper(), PASSWORD) == owner
    assert ledger.authenticate(owner.email, "wrong-password") is None
    assert ledger.authenticate(an_email(), PASSWORD) is None
    assert ledger.authenticate("not an email", PASSWORD) is None


def _registered_invoice(ledger: Ledger) -> tuple[object, object]:
    reseller_id = a_reseller(ledger).reseller.id
    client = a_billable_client(ledger, reseller_id)
    invoice = an_invoice(ledger, reseller_id, client.id)
    ledger.record_registration(invoice.id, CHARGE)
    return reseller_id, invoice.id


def test_the_same_provider_event_recorded_twice_concurrently_pays_once(
    ledger: Ledger,
) -> None:
    reseller_id, invoice_id = _registered_invoice(ledger)
    event_id = f"evt_{uuid4().hex}"

    def pay() -> NotificationResult:
        return ledger.record_payment(
            provider="sandbox",
            provider_event_id=event_id,
            invoice_id=invoice_id,  # type: ignore[arg-type]
            amount_cents=15000,
            paid_at=PAID_AT,
            method="pix",
        ).result

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda _: pay(), range(10)))
    assert results.count(NotificationResult.APPLIED) == 1
    assert results.count(NotificationResult.DUPLICATE) == 9
    history = ledger.history(invoice_id)  # type: ignore[arg-type]
    assert [type(e).__name__ for e in history].count("PaymentReceived") == 1
    invoice = ledger.get_invoice(reseller_id, invoice_id)  # type: ignore[arg-type]
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.amount_paid_cents == 15000


def test_a_notification_that_does_not_apply_is_kept_as_ignored(
    ledger: Ledger,
) -> None:
    reseller_id, invoice_id = _registered_invoice(ledger)
    paid = ledger.record_payment(
        provider="sandbox",
        provider_event_id="evt_pay_1",
        invoice_id=invoice_id,  # type: ignore[arg-type]
        amount_cents=15000,
        paid_at=PAID_AT,
        method="boleto",
    )
    late_overdue = ledger.record_overdue_notice(
        provider="sandbox",
        provider_event_id=f"evt_{uuid4().hex}",
        invoice_id=invoice_id,  # type: ignore[arg-type]
        as_of=PAID_AT.date(),
    )
    assert paid.result is NotificationResult.APPLIED
    assert late_overdue.result is NotificationResult.IGNORED
    assert late_overdue.invoice.status is InvoiceStatus.PAID
    invoice = ledger.get_invoice(reseller_id, invoice_id)  # type: ignore[arg-type]
    assert invoice.status is InvoiceStatus.PAID
    record: object = ledger.repository.get(notification_id_for("sandbox", "evt_pay_1"))
    assert isinstance(record, ProviderNotification)
    assert record.outcome == "applied"


def test_a_payment_for_an_unknown_invoice_is_refused_and_records_nothing(
    ledger: Ledger,
) -> None:
    before = ledger.recorder.max_notification_id()
    with pytest.raises(InvoiceNotFoundError):
        ledger.record_payment(
            provider="sandbox",
            provider_event_id="evt_unknown",
            invoice_id=uuid4(),
            amount_cents=100,
            paid_at=PAID_AT,
            method="pix",
        )
    assert ledger.recorder.max_notification_id() == before


def test_a_late_payment_after_cancel_and_a_refund_are_recorded(
    ledger: Ledger,
) -> None:
    reseller_id, invoice_id = _registered_invoice(ledger)
    ledger.cancel_invoice(reseller_id, invoice_id, "cliente desistiu")  # type: ignore[arg-type]
    paid = ledger.record_payment(
        provider="sandbox",
        provider_event_id=f"evt_{uuid4().hex}",
        invoice_id=invoice_id,  # type: ignore[arg-type]
        amount_cents=15000,
        paid_at=PAID_AT,
        method="boleto",
    )
    assert paid.invoice.status is InvoiceStatus.PAID
    refunded = ledger.record_refund(
        provider="sandbox",
        provider_event_id=f"evt_{uuid4().hex}",
        invoice_id=invoice_id,  # type: ignore[arg-type]
        amount_cents=None,
        refunded_at=PAID_AT,
    )
    assert refunded.result is NotificationResult.APPLIED
    assert refunded.invoice.status is InvoiceStatus.REFUNDED
    assert refunded.invoice.amount_paid_cents == 15000
