"""The Asaas adapter against the fake Asaas over real HTTP: registration, retries,
refusals, idempotency, customer reuse and cancellation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import httpx
import pytest

from adapters.asaas import AsaasGateway
from application.gateway import (
    ChargeRefusedError,
    ChargeRequest,
    GatewayUnavailableError,
)
from domain.boleto import Boleto, line_to_barcode
from domain.pix import PixCode
from tests.builders import a_cnpj, a_cpf, today
from tests.fakes.asaas import FakeAsaas


@pytest.fixture
def fake() -> Iterator[FakeAsaas]:
    with FakeAsaas().running() as server:
        yield server


class Sleeps(list[float]):
    """The backoff delays the adapter asked for (not slept: tests stay fast)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gateway(fake: FakeAsaas, sleeps: Sleeps) -> Iterator[AsaasGateway]:
    adapter = AsaasGateway(
        api_key=fake.api_key,
        webhook_token=fake.webhook_token,
        base_url=fake.url,
        sleep=sleeps,
        timeout=httpx.Timeout(0.3),
    )
    yield adapter
    adapter.close()


def a_request(
    payer_document: str | None = None, amount_cents: int = 15000, **extra: object
) -> ChargeRequest:
    fields: dict[str, object] = {
        "invoice_id": uuid4(),
        "reseller_id": uuid4(),
        "code": 7,
        "amount_cents": amount_cents,
        "due_date": today() + timedelta(days=10),
        "description": "Mensalidade",
        "payee_name": "Revenda Exemplo",
        "payee_document": a_cnpj(),
        "payer_name": "Cliente Exemplo",
        "payer_document": payer_document or a_cpf(),
        "payer_email": "cliente@example.com",
        "fine_percent": Decimal("2.00"),
        "interest_monthly_percent": Decimal("1.00"),
    }
    return ChargeRequest(**(fields | extra))  # type: ignore[arg-type]


def test_registering_creates_the_customer_and_a_boleto_payment_with_pix(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    request = a_request(amount_cents=25050)
    charge = gateway.register(request)

    payment = fake.payment_for(str(request.invoice_id))
    assert charge.charge_id == payment["id"]
    assert (payment["billingType"], payment["value"], payment["dueDate"]) == (
        "BOLETO",
        Decimal("250.5"),
        request.due_date.isoformat(),
    )
    assert payment["externalReference"] == str(request.invoice_id)
    assert payment["description"] == "Mensalidade"
    assert payment["fine"] == {"value": Decimal("2.0"), "type": "PERCENTAGE"}
    assert payment["interest"] == {"value": Decimal("1.0")}
    customer = fake.customers[payment["customer"]]
    assert customer["cpfCnpj"] == request.payer_document
    assert customer["name"] == "Cliente Exemplo"

    boleto = Boleto.from_barcode(charge.barcode)
    assert boleto.amount_cents == 25050
    assert line_to_barcode(charge.digitable_line) == charge.barcode
    assert charge.digitable_line.count(" ") == 4  # printed as banks print it
    assert (charge.bank_code, charge.our_number) == ("461", payment["nossoNumero"])
    assert PixCode.decode(charge.pix_emv).amount_cents == 25050


def test_registering_twice_finds_the_payment_instead_of_creating_another(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    request = a_request()
    first = gateway.register(request)
    second = gateway.register(request)
    assert first == second
    assert fake.count("POST", "/payments") == 1
    assert len(fake.payments) == 1


def test_a_customer_is_found_by_cpf_cnpj_and_reused(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    document = a_cnpj()
    gateway.register(a_request(document))
    gateway.register(a_request(document))
    gateway.register(a_request())
    assert fake.count("POST", "/customers") == 2
    assert sorted(c["cpfCnpj"] == document for c in fake.customers.values()) == [
        False,
        True,
    ]
    assert len(fake.payments) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_answers_are_retried_with_growing_backoff(
    gateway: AsaasGateway, fake: FakeAsaas, sleeps: Sleeps, status: int
) -> None:
    fake.fail(2, status, path="/payments", method="POST")
    charge = gateway.register(a_request())
    assert fake.count("POST", "/payments") == 3
    assert len(fake.payments) == 1
    assert charge.charge_id in fake.payments
    assert len(sleeps) == 2
    # Jittered between half and all of 0.5 s, then of 1 s.
    assert 0.25 <= sleeps[0] <= 0.5 < sleeps[1] <= 1.0


def test_a_create_that_timed_out_is_found_rather_than_created_again(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    # Asaas creates the payment but answers after the client gave up.
    fake.hang(1, 0.6, path="/payments", method="POST")
    request = a_request()
    charge = gateway.register(request)
    assert fake.count("POST", "/payments") == 1
    assert [p["id"] for p in fake.payments.values()] == [charge.charge_id]


def test_connection_errors_are_retried_then_reported_unavailable(
    sleeps: Sleeps,
) -> None:
    with FakeAsaas().running() as stopped:
        url = stopped.url
    adapter = AsaasGateway(
        api_key="k", webhook_token="t", base_url=url, sleep=sleeps, max_attempts=5
    )
    with pytest.raises(GatewayUnavailableError, match="Asaas indisponível"):
        adapter.register(a_request())
    assert len(sleeps) == 4
    assert max(sleeps) <= adapter.max_backoff_seconds


def test_backoff_is_capped(fake: FakeAsaas, sleeps: Sleeps) -> None:
    adapter = AsaasGateway(
        api_key=fake.api_key,
        webhook_token="t",
        base_url=fake.url,
        sleep=sleeps,
        max_attempts=8,
        max_backoff_seconds=2.0,
    )
    fake.fail(100, 503, path="/payments")
    with pytest.raises(GatewayUnavailableError):
        adapter.register(a_request())
    assert len(sleeps) == 7
    assert max(sleeps) <= 2.0
    assert fake.count("GET", "/payments") == 8


def test_a_400_is_a_refusal_with_asaas_reason_and_is_not_retried(
    gateway: AsaasGateway, fake: FakeAsaas, sleeps: Sleeps
) -> None:
    fake.fail(
        1,
        400,
        path="/payments",
        method="POST",
        description="A data de vencimento é inválida",
    )
    with pytest.raises(ChargeRefusedError) as refused:
        gateway.register(a_request())
    assert "A data de vencimento é inválida" in refused.value.reason
    assert fake.count("POST", "/payments") == 1
    assert sleeps == []


def test_a_wrong_api_key_is_a_refusal_not_retried(
    fake: FakeAsaas, sleeps: Sleeps
) -> None:
    adapter = AsaasGateway(
        api_key="wrong", webhook_token="t", base_url=fake.url, sleep=sleeps
    )
    with pytest.raises(ChargeRefusedError, match="Chave de API inválida"):
        adapter.register(a_request())
    assert len(fake.calls) == 1
    assert sleeps == []


def test_an_amount_below_asaas_minimum_is_refused_without_a_call(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    with pytest.raises(ChargeRefusedError, match="R\\$ 5,00"):
        gateway.register(a_request(amount_cents=499))
    assert fake.calls == []


def test_cancelling_deletes_the_payment_and_repeating_is_harmless(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    request = a_request()
    charge = gateway.register(request)
    gateway.cancel(request.invoice_id)
    gateway.cancel(request.invoice_id)
    gateway.cancel(uuid4())  # never registered
    assert fake.payments[charge.charge_id]["deleted"] is True
    assert fake.count("DELETE", f"/payments/{charge.charge_id}") == 1
    # Registered again (a retried invoice), a new payment is created.
    again = gateway.register(request)
    assert again.charge_id != charge.charge_id


def test_a_received_payment_asaas_will_not_delete_is_left_as_it_is(
    gateway: AsaasGateway, fake: FakeAsaas
) -> None:
    request = a_request()
    charge = gateway.register(request)
    fake.pay(charge.charge_id)
    gateway.cancel(request.invoice_id)
    assert fake.payments[charge.charge_id]["deleted"] is False


def test_the_invoice_of_a_charge_is_its_external_reference(
    gateway: AsaasGateway,
) -> None:
    request = a_request()
    charge = gateway.register(request)
    assert gateway.invoice_for_charge(charge.charge_id) == request.invoice_id
    assert gateway.invoice_for_charge("pay_unknown") is None
