"""Every view, every event it handles, on real PostgreSQL with the live runner."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from application.ledger import Ledger, NotificationRecorded, Recorded
from domain.contracts import ContractStatus
from domain.invoices import Charge, Invoice
from domain.resellers import consumer_customer_id, main_bank_account_id
from domain.vocabulary import BoletoStatus, ReceivableSituation
from projections.erp_boletos import boleto_id
from projections.erp_receivables import receivable_id
from projections.read_models import ReadModels
from tests.builders import a_cpf, a_reseller, an_active_contract

PAID_AT = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def charge_for(invoice_id: UUID) -> Charge:
    return Charge(
        charge_id=f"ch_{invoice_id.hex[:8]}",
        bank_code="001",
        our_number="00000000042",
        barcode="00196490000002952950000007777777000008765418",
        digitable_line="00190.00009 07777.777009 00087.654182 6 49000000295295",
        pix_emv="00020126580014br.gov.bcb.pix0136123e4567",
    )


class Tenant:
    """A reseller driven through the ledger, reading its views after each command."""

    def __init__(self, ledger: Ledger, views: ReadModels) -> None:
        self.ledger = ledger
        self.views = views
        registered = a_reseller(ledger)
        self.id = registered.reseller.id
        self.position = registered.position

    def settle(self, recorded: Recorded[Any] | int | None = None) -> None:
        """Wait until the views have what was recorded (by default, the whole log)."""
        position = recorded if isinstance(recorded, int) else None
        if isinstance(recorded, Recorded):
            position = recorded.position
        if recorded is None:
            position = self.ledger.recorder.max_notification_id()
        if position is not None:
            self.position = max(self.position, position)
        assert self.views.wait_for(self.position, 10), "views did not catch up"

    def client(
        self, document: str | None = None, name: str = "Cliente Exemplo"
    ) -> UUID:
        recorded = self.ledger.register_client(
            self.id, name=name, document=document or a_cpf(), email="c@example.com"
        )
        self.settle(recorded)
        return recorded.aggregate.id

    def billable_client(self, name: str = "Cliente Exemplo") -> UUID:
        client_id = self.client(name=name)
        an_active_contract(self.ledger, self.id, client_id)
        return client_id

    def invoice(
        self,
        client_id: UUID,
        amount_cents: int = 10000,
        due_date: date | None = None,
        issue_date: date | None = None,
        reference: tuple[str, str] = ("11", "2026"),
    ) -> Invoice:
        today = self.ledger.today()
        recorded = self.ledger.issue_invoice(
            self.id,
            client_id=client_id,
            description="Mensalidade",
            amount_cents=amount_cents,
            due_date=due_date or today + timedelta(days=10),
            issue_date=issue_date or min(today, due_date or today),
            reference_month=reference[0],
            reference_year=reference[1],
        )
        self.settle(recorded)
        return recorded.aggregate

    def registered_invoice(self, client_id: UUID, **kwargs: Any) -> Invoice:
        invoice = self.invoice(client_id, **kwargs)
        self.settle(self.ledger.record_registration(invoice.id, charge_for(invoice.id)))
        return invoice

    def pay(self, invoice_id: UUID, amount_cents: int = 10000) -> None:
        self.settle(self.payment(invoice_id, amount_cents).position)

    def payment(self, invoice_id: UUID, amount_cents: int) -> NotificationRecorded:
        return self.ledger.record_payment(
            provider="sandbox",
            provider_event_id=f"evt_{uuid4().hex}",
            invoice_id=invoice_id,
            amount_cents=amount_cents,
            paid_at=PAID_AT,
            method="pix",
        )

    def refund(self, invoice_id: UUID) -> None:
        refunded = self.ledger.record_refund(
            provider="sandbox",
            provider_event_id=f"evt_{uuid4().hex}",
            invoice_id=invoice_id,
            amount_cents=None,
            refunded_at=PAID_AT,
        )
        self.settle(refunded.position)

    def cancel(self, invoice_id: UUID) -> None:
        self.settle(self.ledger.cancel_invoice(self.id, invoice_id, "desistiu"))

    def overdue(self, invoice_id: UUID) -> None:
        marked = self.ledger.mark_overdue(invoice_id, date(2100, 1, 1))
        self.settle(marked)

    # -- reads ---------------------------------------------------------------------

    def invoice_row(self, invoice_id: UUID) -> dict[str, object]:
        row = self.views.invoices.get(self.id, invoice_id)
        assert row is not None
        return row

    def receivable(self, invoice_id: UUID) -> dict[str, object]:
        items = self.views.receivables.query(self.id, self.ledger.today()).items
        (row,) = [r for r in items if r["invoice_id"] == invoice_id]
        return row

    def boleto(self, invoice_id: UUID) -> dict[str, object] | None:
        return self.views.boletos.get(self.id, boleto_id(invoice_id))

    def credits(self, **filters: Any) -> list[dict[str, object]]:
        return self.views.credits.query(self.id, **filters).items

    def customer(self, customer_id: UUID) -> dict[str, object]:
        items = self.views.customers.query(self.id, limit=200).items
        (row,) = [r for r in items if r["id"] == customer_id]
        return row


@pytest.fixture
def tenant(ledger: Ledger, read_models: ReadModels) -> Tenant:
    return Tenant(ledger, read_models)


def test_a_new_reseller_has_its_consumidor_customer_and_its_main_account(
    tenant: Tenant,
) -> None:
    tenant.settle()
    consumidor = tenant.customer(consumer_customer_id(tenant.id))
    assert consumidor["name"] == "Consumidor"
    assert consumidor["origin"] == "system"
    assert consumidor["open_amount_cents"] == 0
    accounts = tenant.views.boletos.accounts(tenant.id)
    assert [(a["id"], a["name"], a["kind"]) for a in accounts] == [
        (main_bank_account_id(tenant.id), "Conta Principal", "online")
    ]


def test_clients_are_listed_newest_first_and_found_loosely(tenant: Tenant) -> None:
    first = tenant.client(document="145.382.206-20", name="José Álvares")
    second = tenant.client(name="Maria Souza")
    views = tenant.views.clients
    assert [c["id"] for c in views.query(tenant.id).items] == [second, first]
    assert [c["id"] for c in views.query(tenant.id, q="jose alv").items] == [first]
    assert [c["id"] for c in views.query(tenant.id, q="JOSÉ").items] == [first]
    assert [c["id"] for c in views.query(tenant.id, q="382.206").items] == [first]
    assert [c["id"] for c in views.query(tenant.id, q="38220620").items] == [first]
    assert views.query(tenant.id, q="nobody").items == []
    assert views.query(tenant.id, q="100%").items == []


def test_a_client_update_reaches_every_view_that_shows_its_name(tenant: Tenant) -> None:
    client_id = tenant.billable_client(name="Nome Antigo")
    invoice = tenant.registered_invoice(client_id)
    tenant.settle(
        tenant.ledger.update_client(
            tenant.id, client_id, {"name": "Nome Novo", "email": "novo@example.com"}
        )
    )
    client = tenant.views.clients.get(tenant.id, client_id)
    assert client is not None
    assert (client["name"], client["email"]) == ("Nome Novo", "novo@example.com")
    assert client["updated_at"] > client["created_at"]
    assert (
        tenant.views.contracts.query(tenant.id).items[0]["client_name"] == "Nome Novo"
    )
    assert tenant.invoice_row(invoice.id)["client_name"] == "Nome Novo"
    assert tenant.receivable(invoice.id)["customer_name"] == "Nome Novo"
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert boleto["customer_name"] == "Nome Novo"
    assert tenant.customer(client_id)["name"] == "Nome Novo"


def test_contracts_follow_every_transition(tenant: Tenant) -> None:
    client_id = tenant.client()
    ledger, views = tenant.ledger, tenant.views.contracts
    contract = ledger.open_contract(tenant.id, client_id).aggregate
    statuses = []
    for command in (
        ledger.activate_contract,
        ledger.suspend_contract,
        ledger.activate_contract,
        ledger.cancel_contract,
    ):
        tenant.settle(command(tenant.id, contract.id))
        row = views.get(tenant.id, contract.id)
        assert row is not None
        statuses.append(row["status"])
    assert statuses == ["active", "suspended", "active", "cancelled"]
    final = views.get(tenant.id, contract.id)
    assert final is not None
    assert final["activated_at"] is not None
    second = ledger.open_contract(tenant.id, client_id)
    tenant.settle(second)
    trial = views.query(tenant.id, status=ContractStatus.TRIAL).items
    assert [c["id"] for c in trial] == [second.aggregate.id]
    assert len(views.query(tenant.id, client_id=client_id).items) == 2


def test_an_invoice_row_follows_its_whole_lifecycle(tenant: Tenant) -> None:
    client_id = tenant.billable_client()
    invoice = tenant.invoice(client_id, amount_cents=12345)
    row = tenant.invoice_row(invoice.id)
    assert (row["status"], row["code"], row["amount_cents"]) == ("processing", 1, 12345)
    assert row["barcode"] is None
    tenant.settle(tenant.ledger.record_registration(invoice.id, charge_for(invoice.id)))
    row = tenant.invoice_row(invoice.id)
    assert row["status"] == "awaiting_payment"
    assert row["digitable_line"] == charge_for(invoice.id).digitable_line
    tenant.overdue(invoice.id)
    assert tenant.invoice_row(invoice.id)["status"] == "overdue"
    tenant.pay(invoice.id, amount_cents=12345)
    row = tenant.invoice_row(invoice.id)
    assert (row["status"], row["principal_paid_cents"]) == ("paid", 12345)
    assert (row["paid_at"], row["payment_method"]) == (PAID_AT, "pix")
    tenant.refund(invoice.id)
    assert tenant.invoice_row(invoice.id)["status"] == "refunded"


def test_a_failed_registration_shows_its_reason(tenant: Tenant) -> None:
    invoice = tenant.invoice(tenant.billable_client())
    tenant.settle(tenant.ledger.record_registration_failure(invoice.id, "CPF recusado"))
    row = tenant.invoice_row(invoice.id)
    assert (row["status"], row["failure_reason"]) == ("failed", "CPF recusado")
    assert tenant.boleto(invoice.id) is None
    receivable = tenant.receivable(invoice.id)
    assert (receivable["situation"], receivable["amount_open_cents"]) == ("failed", 0)
    assert tenant.customer(invoice.client_id)["open_amount_cents"] == 0
    assert tenant.views.receivables.aging(tenant.id, tenant.ledger.today()) == []


def test_one_payment_event_settles_invoice_receivable_boleto_and_customer(
    tenant: Tenant,
) -> None:
    client_id = tenant.billable_client()
    invoice = tenant.registered_invoice(client_id, amount_cents=25000)
    assert tenant.customer(client_id)["open_amount_cents"] == 25000
    paid = tenant.ledger.record_payment(
        provider="sandbox",
        provider_event_id=f"evt_{uuid4().hex}",
        invoice_id=invoice.id,
        amount_cents=25000,
        paid_at=PAID_AT,
        method="boleto",
    )
    history = tenant.ledger.history(invoice.id)
    assert [type(e).__name__ for e in history].count("PaymentReceived") == 1
    tenant.settle(paid.position)
    assert tenant.invoice_row(invoice.id)["status"] == "paid"
    receivable = tenant.receivable(invoice.id)
    assert (receivable["situation"], receivable["amount_paid_cents"]) == (
        "settled",
        25000,
    )
    assert receivable["amount_open_cents"] == 0
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert (boleto["status"], boleto["paid_at"]) == ("paid", PAID_AT)
    assert tenant.customer(client_id)["open_amount_cents"] == 0


def test_a_cancelled_invoice_closes_its_receivable_and_a_late_payment_settles_it(
    tenant: Tenant,
) -> None:
    client_id = tenant.billable_client()
    invoice = tenant.registered_invoice(client_id, amount_cents=5000)
    tenant.cancel(invoice.id)
    assert tenant.invoice_row(invoice.id)["status"] == "cancelled"
    assert tenant.receivable(invoice.id)["situation"] == "cancelled"
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert boleto["status"] == "cancelled"
    assert tenant.customer(client_id)["open_amount_cents"] == 0
    tenant.pay(invoice.id, amount_cents=5000)
    assert tenant.invoice_row(invoice.id)["status"] == "paid"
    assert tenant.receivable(invoice.id)["situation"] == "settled"
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert boleto["status"] == "paid"
    assert tenant.customer(client_id)["open_amount_cents"] == 0


def test_a_refund_keeps_the_amount_paid_with_nothing_open(tenant: Tenant) -> None:
    client_id = tenant.billable_client()
    invoice = tenant.registered_invoice(client_id, amount_cents=7000)
    tenant.pay(invoice.id, amount_cents=7000)
    tenant.refund(invoice.id)
    receivable = tenant.receivable(invoice.id)
    assert receivable["situation"] == "refunded"
    assert receivable["amount_paid_cents"] == 7000
    assert receivable["amount_open_cents"] == 0
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert boleto["status"] == "paid"
    assert tenant.customer(client_id)["open_amount_cents"] == 0


def test_an_overdue_invoice_marks_its_boleto_and_receivable(tenant: Tenant) -> None:
    client_id = tenant.billable_client()
    today = tenant.ledger.today()
    invoice = tenant.registered_invoice(
        client_id, due_date=today - timedelta(days=3), issue_date=today - timedelta(10)
    )
    receivable = tenant.receivable(invoice.id)
    assert receivable["overdue"] is True
    tenant.overdue(invoice.id)
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert boleto["status"] == "overdue"
    overdue = tenant.views.receivables.query(tenant.id, today, overdue=True).items
    assert [r["invoice_id"] for r in overdue] == [invoice.id]
    not_overdue = tenant.views.receivables.query(tenant.id, today, overdue=False)
    assert not_overdue.items == []


def test_receivable_filters_and_totals_cover_every_matching_item(
    tenant: Tenant,
) -> None:
    ana = tenant.billable_client(name="Ana Lima")
    bia = tenant.billable_client(name="Beatriz Rocha")
    today = tenant.ledger.today()
    invoices = [
        tenant.registered_invoice(
            ana, amount_cents=1000, due_date=today + timedelta(1)
        ),
        tenant.registered_invoice(
            ana, amount_cents=2000, due_date=today + timedelta(2)
        ),
        tenant.registered_invoice(
            bia, amount_cents=4000, due_date=today + timedelta(3)
        ),
    ]
    tenant.pay(invoices[1].id, amount_cents=2000)
    views = tenant.views.receivables
    page = views.query(tenant.id, today, limit=1)
    assert page.totals == {
        "count": 3,
        "amount": 7000,
        "amount_paid": 2000,
        "amount_open": 5000,
    }
    assert len(page.items) == 1
    assert page.next_cursor is not None
    second = views.query(tenant.id, today, limit=1, cursor=page.next_cursor)
    assert [r["invoice_id"] for r in page.items + second.items] == [
        invoices[0].id,
        invoices[1].id,
    ]
    settled = views.query(tenant.id, today, situation=ReceivableSituation.SETTLED)
    assert settled.totals["count"] == 1
    by_name = views.query(tenant.id, today, customer="beatriz")
    assert [r["invoice_id"] for r in by_name.items] == [invoices[2].id]
    by_id = views.query(tenant.id, today, customer=str(ana))
    assert by_id.totals["count"] == 2
    due = views.query(tenant.id, today, due_from=today + timedelta(2))
    assert due.totals["count"] == 2


def test_the_aging_report_sees_the_ledger_as_it_was_on_a_date(tenant: Tenant) -> None:
    client_id = tenant.billable_client(name="Cliente Aging")
    today = tenant.ledger.today()
    old = tenant.registered_invoice(
        client_id,
        amount_cents=1000,
        due_date=today - timedelta(days=45),
        issue_date=today - timedelta(days=60),
    )
    tenant.registered_invoice(
        client_id,
        amount_cents=3000,
        due_date=today + timedelta(days=5),
        issue_date=today,
    )
    (row,) = tenant.views.receivables.aging(tenant.id, today)
    assert row["customer_name"] == "Cliente Aging"
    assert (row["current"], row["days_31_60"], row["total"]) == (3000, 1000, 4000)
    (earlier,) = tenant.views.receivables.aging(tenant.id, today - timedelta(days=50))
    assert (earlier["current"], earlier["total"]) == (1000, 1000)
    tenant.pay(old.id, amount_cents=1000)
    paid_at_date = PAID_AT.date()
    (after,) = tenant.views.receivables.aging(tenant.id, max(today, paid_at_date))
    assert after["total"] == 3000


def test_boletos_appear_once_registered_and_filter_by_status(tenant: Tenant) -> None:
    client_id = tenant.billable_client()
    pending = tenant.invoice(client_id)
    assert tenant.boleto(pending.id) is None
    registered = tenant.registered_invoice(client_id)
    paid = tenant.registered_invoice(client_id)
    tenant.pay(paid.id)
    views = tenant.views.boletos
    assert [b["invoice_id"] for b in views.query(tenant.id).items] == [
        paid.id,
        registered.id,
    ]
    only_paid = views.query(tenant.id, status=BoletoStatus.PAID).items
    assert [b["invoice_id"] for b in only_paid] == [paid.id]
    account = main_bank_account_id(tenant.id)
    assert len(views.query(tenant.id, account_id=account).items) == 2
    assert views.query(tenant.id, account_id=uuid4()).items == []


def test_the_invoice_list_filters_and_pages_newest_code_first(tenant: Tenant) -> None:
    ana = tenant.billable_client()
    bia = tenant.billable_client()
    a1 = tenant.invoice(ana, reference=("10", "2026"))
    b1 = tenant.invoice(bia, reference=("11", "2026"))
    a2 = tenant.invoice(ana, reference=("11", "2026"))
    views = tenant.views.invoices
    assert [i["code"] for i in views.query(tenant.id).items] == [3, 2, 1]
    assert [i["id"] for i in views.query(tenant.id, client_id=ana).items] == [
        a2.id,
        a1.id,
    ]
    november = views.query(tenant.id, reference=("2026", "11")).items
    assert [i["id"] for i in november] == [a2.id, b1.id]
    first = views.query(tenant.id, limit=2)
    rest = views.query(tenant.id, limit=2, cursor=first.next_cursor)
    assert [i["code"] for i in first.items + rest.items] == [3, 2, 1]
    assert rest.next_cursor is None


def test_the_audit_feed_lists_the_tenants_events_in_order_without_secrets(
    tenant: Tenant,
) -> None:
    client_id = tenant.billable_client()
    tenant.settle()
    events = tenant.views.audit.query(tenant.id, limit=100)
    types = [e["type"] for e in events]
    assert types[:3] == ["Reseller.Registered", "User.Added", "Client.Registered"]
    assert "Contract.Activated" in types
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    user_added = events[1]
    assert "password_hash" not in user_added["data"]
    assert user_added["data"]["role"] == "owner"
    assert events[2]["aggregate_id"] == client_id
    after = tenant.views.audit.query(tenant.id, after=positions[1], limit=1)
    assert [e["position"] for e in after] == [positions[2]]


def test_no_query_of_one_tenant_returns_another_tenants_rows(
    ledger: Ledger, read_models: ReadModels
) -> None:
    alpha, beta = Tenant(ledger, read_models), Tenant(ledger, read_models)
    document = a_cpf()
    client_id = alpha.client(document=document)
    an_active_contract(ledger, alpha.id, client_id)
    invoice = alpha.registered_invoice(client_id)
    beta.client(document=document)
    beta.settle(alpha.position)
    views, today = read_models, ledger.today()
    assert beta.views.invoices.query(beta.id).items == []
    assert views.invoices.get(beta.id, invoice.id) is None
    assert views.contracts.query(beta.id).items == []
    assert [c["id"] for c in views.clients.query(beta.id, q=document).items] != [
        client_id
    ]
    assert views.clients.get(beta.id, client_id) is None
    assert views.receivables.query(beta.id, today).totals["count"] == 0
    assert views.receivables.aging(beta.id, today) == []
    assert views.boletos.query(beta.id).items == []
    assert views.boletos.get(beta.id, boleto_id(invoice.id)) is None
    assert {c["origin"] for c in views.customers.query(beta.id).items} == {
        "system",
        "reseller",
    }
    assert len(views.customers.query(beta.id).items) == 2
    assert all(e["reseller_id"] == beta.id for e in views.audit.query(beta.id))
    assert receivable_id(invoice.id) not in {
        r["id"] for r in views.receivables.query(beta.id, today).items
    }


def test_a_partial_payment_leaves_the_balance_open_in_every_view(
    tenant: Tenant,
) -> None:
    client_id = tenant.billable_client()
    invoice = tenant.registered_invoice(client_id, amount_cents=10000)
    tenant.pay(invoice.id, amount_cents=1)
    row = tenant.invoice_row(invoice.id)
    assert (row["status"], row["principal_paid_cents"]) == ("partially_paid", 1)
    receivable = tenant.receivable(invoice.id)
    assert (receivable["situation"], receivable["amount_open_cents"]) == ("open", 9999)
    assert receivable["amount_paid_cents"] == 1
    page = tenant.views.receivables.query(tenant.id, tenant.ledger.today())
    assert (page.totals["amount_paid"], page.totals["amount_open"]) == (1, 9999)
    assert tenant.customer(client_id)["open_amount_cents"] == 9999
    boleto = tenant.boleto(invoice.id)
    assert boleto is not None
    assert boleto["status"] == "registered"
    as_of = max(tenant.ledger.today(), PAID_AT.date())
    (aging,) = tenant.views.receivables.aging(tenant.id, as_of)
    assert aging["total"] == 9999
    tenant.pay(invoice.id, amount_cents=9999)
    assert tenant.invoice_row(invoice.id)["status"] == "paid"
    assert tenant.receivable(invoice.id)["situation"] == "settled"
    assert tenant.customer(client_id)["open_amount_cents"] == 0
    assert tenant.credits() == []


def test_money_beyond_what_was_owed_is_a_credit_until_given_back(
    tenant: Tenant,
) -> None:
    client_id = tenant.billable_client(name="Cliente Credor")
    invoice = tenant.registered_invoice(client_id, amount_cents=8990)
    tenant.pay(invoice.id, amount_cents=10000)
    tenant.pay(invoice.id, amount_cents=3000)
    left = tenant.credits()
    assert [(c["amount_cents"], c["origin"], c["status"]) for c in left] == [
        (3000, "duplicate_payment", "available"),
        (1010, "overpayment", "available"),
    ]
    assert {c["customer_name"] for c in left} == {"Cliente Credor"}
    assert tenant.customer(client_id)["credit_amount_cents"] == 4010
    refunded = tenant.ledger.refund_credit(
        tenant.id, UUID(str(left[0]["id"])), "Pix de volta"
    )
    tenant.settle(refunded)
    assert tenant.customer(client_id)["credit_amount_cents"] == 1010
    assert [c["id"] for c in tenant.credits(status="refunded")] == [left[0]["id"]]
    assert len(tenant.credits(customer="credor")) == 2
    assert tenant.credits(customer=str(uuid4())) == []
    first = tenant.views.credits.query(tenant.id, limit=1)
    assert first.next_cursor is not None
    second = tenant.views.credits.query(tenant.id, limit=1, cursor=first.next_cursor)
    assert [c["id"] for c in first.items + second.items] == [c["id"] for c in left]


def test_a_retried_invoice_is_open_again(tenant: Tenant) -> None:
    client_id = tenant.billable_client()
    invoice = tenant.invoice(client_id, amount_cents=6000)
    tenant.settle(tenant.ledger.record_registration_failure(invoice.id, "recusado"))
    assert tenant.customer(client_id)["open_amount_cents"] == 0
    tenant.settle(tenant.ledger.retry_invoice(tenant.id, invoice.id))
    row = tenant.invoice_row(invoice.id)
    assert (row["status"], row["failure_reason"]) == ("processing", None)
    assert tenant.receivable(invoice.id)["situation"] == "open"
    assert tenant.customer(client_id)["open_amount_cents"] == 6000
