"""The payment partner's side: signed webhooks, and the sandbox's pay button.

A webhook is handed whole to the application's ``WebhookReceiver``; this module only
maps its refusals onto problem responses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from adapters.sandbox import SandboxGateway
from api.auth import Commander
from api.deps import ContainerDep, DecimalJSONRoute, LedgerDep, set_position
from api.problems import ProblemError, documented
from api.schemas import AmountIn, Strict, TimestampIn
from application.gateway import WebhookMalformedError, WebhookUnauthenticatedError
from application.ledger import SAO_PAULO
from application.webhooks import NoInvoiceForEventError, UnknownProviderError

router = APIRouter(route_class=DecimalJSONRoute)


class WebhookAck(BaseModel):
    """The event was taken: applied, ignored (it did not fit) or a duplicate."""

    result: Literal["applied", "ignored", "duplicate"]


class SandboxPayment(Strict):
    """A simulated payment by the client."""

    method: Literal["boleto", "pix"]
    amount: AmountIn | None = None
    paid_at: TimestampIn | None = None


class SandboxPaymentQueued(BaseModel):
    """The webhook the sandbox will deliver."""

    event_id: str
    status: Literal["queued"] = "queued"


@router.post(
    "/v1/webhooks/{provider}",
    tags=["partner"],
    responses=documented(401, 404, 422),
)
async def receive_webhook(
    provider: str, request: Request, response: Response, container: ContainerDep
) -> WebhookAck:
    """A payment notification from the partner (authenticated by its signature)."""
    body = await request.body()
    try:
        receipt = await run_in_threadpool(
            container.webhooks.receive, provider, request.headers, body
        )
    except UnknownProviderError as error:
        raise ProblemError(404, str(error)) from None
    except WebhookUnauthenticatedError:
        raise ProblemError(
            401, "the webhook signature is missing, wrong or stale"
        ) from None
    except WebhookMalformedError as error:
        raise ProblemError(422, error.detail, errors=error.errors) from None
    except NoInvoiceForEventError as error:
        raise ProblemError(404, str(error)) from None
    set_position(response, container.ledger, receipt.position)
    return WebhookAck(result=receipt.result.value)


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
    """Simulate the client paying: the sandbox then delivers a signed webhook.

    Only in development or with ``LEDGER_SANDBOX_PAY=true`` (else 404): anywhere
    else it would let an operator mark any invoice paid.
    """
    gateway = container.gateway
    if not container.settings.sandbox_pay_enabled:
        raise ProblemError(404, "the sandbox pay endpoint is disabled")
    if not isinstance(gateway, SandboxGateway):
        raise ProblemError(404, "the sandbox partner is not configured")
    invoice = ledger.get_invoice(caller.reseller_id, invoice_id)
    if body.paid_at is not None:
        _check_paid_at(body.paid_at, invoice.issue_date, ledger.clock())
    event_id = gateway.simulate_payment(
        invoice_id, body.method, body.amount, body.paid_at, owed=invoice.owed_cents
    )
    container.wake_delivery()
    return SandboxPaymentQueued(event_id=event_id)


def _check_paid_at(paid_at: datetime, issue_date: date, now: datetime) -> None:
    """Not before the invoice's issue date (São Paulo), not in the future: 422."""
    # A time without an offset is read as UTC, like the log's timestamps.
    aware = paid_at if paid_at.tzinfo is not None else paid_at.replace(tzinfo=UTC)
    if aware > now:
        msg = "must not be in the future"
    elif aware.astimezone(SAO_PAULO).date() < issue_date:
        msg = "must not be before the invoice's issue date"
    else:
        return
    raise ProblemError(
        422, f"paid_at {msg}", errors=[{"loc": ["body", "paid_at"], "msg": msg}]
    )
