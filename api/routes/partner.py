"""The payment partner's side: signed webhooks, and the sandbox's pay button."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.auth import Commander
from api.deps import ContainerDep, DecimalJSONRoute, LedgerDep, set_position
from api.problems import ProblemError, documented
from api.schemas import AmountIn, Strict
from application.ledger import Ledger, NotificationRecorded
from application.sandbox import SIGNATURE_HEADER, SandboxGateway, verify

router = APIRouter(route_class=DecimalJSONRoute)


class WebhookData(BaseModel):
    """What a partner event says about a charge."""

    model_config = ConfigDict(extra="ignore")

    charge_id: Annotated[str | None, Field(max_length=255)] = None
    invoice_id: UUID | None = None
    amount: AmountIn | None = None
    paid_at: datetime | None = None
    method: Literal["boleto", "pix"] | None = None


class WebhookEvent(BaseModel):
    """A partner event, as the sandbox (and the Asaas adapter) deliver it."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[str, Field(min_length=1, max_length=255)]
    type: Literal["payment.received", "payment.overdue", "payment.refunded"]
    created_at: datetime
    data: WebhookData


class WebhookAck(BaseModel):
    """The event was taken: applied, ignored (it did not fit) or a duplicate."""

    result: Literal["applied", "ignored", "duplicate"]


class SandboxPayment(Strict):
    """A simulated payment by the client."""

    method: Literal["boleto", "pix"]
    amount: AmountIn | None = None
    paid_at: datetime | None = None


class SandboxPaymentQueued(BaseModel):
    """The webhook the sandbox will deliver."""

    event_id: str
    status: Literal["queued"] = "queued"


def _parse(body: bytes) -> WebhookEvent:
    try:
        return WebhookEvent.model_validate_json(body)
    except ValidationError as error:
        errors = [
            {"loc": ["body", *map(str, issue["loc"])], "msg": issue["msg"]}
            for issue in error.errors()
        ]
        raise ProblemError(
            422, "the webhook body is malformed", errors=errors
        ) from None


def _apply(
    ledger: Ledger, provider: str, event: WebhookEvent, invoice_id: UUID
) -> NotificationRecorded:
    data = event.data
    if event.type == "payment.received":
        if data.amount is None or data.method is None:
            raise ProblemError(
                422,
                "payment.received needs data.amount and data.method",
                errors=[{"loc": ["body", "data"], "msg": "amount and method required"}],
            )
        return ledger.record_payment(
            provider=provider,
            provider_event_id=event.id,
            invoice_id=invoice_id,
            amount_cents=data.amount,
            paid_at=data.paid_at or event.created_at,
            method=data.method,
        )
    if event.type == "payment.refunded":
        return ledger.record_refund(
            provider=provider,
            provider_event_id=event.id,
            invoice_id=invoice_id,
            amount_cents=data.amount,
            refunded_at=event.created_at,
        )
    return ledger.record_overdue_notice(
        provider=provider,
        provider_event_id=event.id,
        invoice_id=invoice_id,
        as_of=ledger.today(),
    )


@router.post(
    "/v1/webhooks/{provider}",
    tags=["partner"],
    responses=documented(401, 404, 422),
)
async def receive_webhook(
    provider: str, request: Request, response: Response, container: ContainerDep
) -> WebhookAck:
    """A payment notification from the partner (authenticated by its signature)."""
    gateway = container.gateway
    if provider != gateway.name:
        raise ProblemError(404, f"unknown payment provider {provider!r}")
    body = await request.body()
    secret = container.webhook_secret
    if not verify(secret, request.headers.get(SIGNATURE_HEADER), body, time.time()):
        raise ProblemError(401, "the webhook signature is missing, wrong or stale")
    event = _parse(body)
    invoice_id = event.data.invoice_id
    if invoice_id is None and event.data.charge_id is not None:
        invoice_id = await run_in_threadpool(
            gateway.invoice_for_charge, event.data.charge_id
        )
    if invoice_id is None:
        raise ProblemError(404, "no invoice or charge matches this event")
    recorded = await run_in_threadpool(
        _apply, container.ledger, provider, event, invoice_id
    )
    payload: Any = orjson.loads(body)
    await run_in_threadpool(
        container.webhook_log.keep,
        provider,
        event.id,
        event.type,
        payload,
        recorded.result.value,
    )
    set_position(response, container.ledger, recorded.position)
    return WebhookAck(result=recorded.result.value)


@router.post(
    "/v1/sandbox/invoices/{invoice_id}/pay",
    status_code=202,
    tags=["partner"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def sandbox_pay(
    invoice_id: UUID,
    body: SandboxPayment,
    caller: Commander,
    ledger: LedgerDep,
    container: ContainerDep,
) -> SandboxPaymentQueued:
    """Simulate the client paying: the sandbox then delivers a signed webhook."""
    gateway = container.gateway
    if not isinstance(gateway, SandboxGateway):
        raise ProblemError(404, "the sandbox partner is not configured")
    ledger.get_invoice(caller.reseller_id, invoice_id)
    event_id = gateway.simulate_payment(
        invoice_id, body.method, body.amount, body.paid_at
    )
    container.wake_delivery()
    return SandboxPaymentQueued(event_id=event_id)
