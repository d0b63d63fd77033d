"""The reseller panel: clients, contracts, invoices and their histories."""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse

from api import presenters
from api.auth import Commander, Historian, Reader
from api.deps import (
    After,
    ContainerDep,
    Cursor,
    DecimalJSONRoute,
    LedgerDep,
    Limit,
    ViewsDep,
    set_position,
    wait_after,
)
from api.problems import ProblemError, documented
from api.schemas import (
    ClientCreate,
    ClientPublic,
    ClientsPublic,
    ClientUpdate,
    ContractCreate,
    ContractPublic,
    ContractsPublic,
    ContractStatusCode,
    ContractUpdate,
    DateQuery,
    HistoryEvent,
    HistoryPublic,
    InvoiceCancel,
    InvoiceCreate,
    InvoicePublic,
    InvoicesPublic,
    InvoiceStatusCode,
    PlanIn,
    TextQuery,
)
from application.actors import actor_of
from application.documents import invoice_document
from application.ledger import Ledger
from domain.base import LedgerAggregate
from domain.contracts import Contract, Plan
from domain.errors import InvalidInputError
from domain.money import format_brl
from projections.audit import HIDDEN_FIELDS
from projections.view import event_data

router = APIRouter(route_class=DecimalJSONRoute)
_REFERENCE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


# -- clients ------------------------------------------------------------


@router.post(
    "/v1/clients",
    status_code=201,
    tags=["clients"],
    responses=documented(400, 401, 403, 409, 422),
)
def create_client(
    body: ClientCreate, caller: Commander, ledger: LedgerDep, response: Response
) -> ClientPublic:
    """Register a client of the reseller."""
    recorded = ledger.register_client(caller.reseller_id, **body.model_dump())
    set_position(response, ledger, recorded.position)
    return presenters.client(recorded.aggregate)


@router.get("/v1/clients", tags=["clients"], responses=documented(401, 422, 503))
def list_clients(
    caller: Reader,
    views: ViewsDep,
    q: TextQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> ClientsPublic:
    """Clients, newest first; ``q`` matches name or document."""
    wait_after(views, after)
    page = views.clients.query(caller.reseller_id, q=q, limit=limit, cursor=cursor)
    return ClientsPublic(
        items=[presenters.client_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/v1/clients/{client_id}", tags=["clients"], responses=documented(401, 404))
def get_client(client_id: UUID, caller: Reader, ledger: LedgerDep) -> ClientPublic:
    """One client, as it is now."""
    return presenters.client(ledger.get_client(caller.reseller_id, client_id))


@router.patch(
    "/v1/clients/{client_id}",
    tags=["clients"],
    responses=documented(400, 401, 403, 404, 422),
)
def update_client(
    client_id: UUID,
    body: ClientUpdate,
    caller: Commander,
    ledger: LedgerDep,
    response: Response,
) -> ClientPublic:
    """Change some contact fields of a client."""
    changes = body.model_dump(exclude_unset=True)
    for required in ("name", "email"):
        if required in changes and changes[required] is None:
            raise ProblemError(
                422,
                f"{required} cannot be removed",
                errors=[{"loc": ["body", required], "msg": "must not be null"}],
            )
    recorded = ledger.update_client(caller.reseller_id, client_id, changes)
    set_position(response, ledger, recorded.position)
    return presenters.client(recorded.aggregate)


# -- contracts ------------------------------------------------------------


def _contract(ledger: Ledger, reseller_id: UUID, contract: Contract) -> ContractPublic:
    client = ledger.get_client(reseller_id, contract.client_id)
    return presenters.contract(contract, client.name)


def plan_of(body: PlanIn | None, minimum_amount_cents: int) -> Plan | None:
    """The domain plan of a request (the API's and the screens').

    An amount the partner would refuse is refused here.
    """
    if body is None:
        return None
    plan = Plan.parse(body.description, body.amount, body.due_day)
    if plan.amount_cents < minimum_amount_cents:
        minimum = format_brl(minimum_amount_cents)
        msg = f"must be at least the payment partner's minimum, {minimum}"
        raise InvalidInputError("plan.amount", msg)
    return plan


@router.post(
    "/v1/contracts",
    status_code=201,
    tags=["contracts"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def create_contract(
    body: ContractCreate,
    caller: Commander,
    ledger: LedgerDep,
    container: ContainerDep,
    response: Response,
) -> ContractPublic:
    """Open a contract for a client, in trial, with its plan if given."""
    plan = plan_of(body.plan, container.gateway.minimum_amount_cents)
    recorded = ledger.open_contract(caller.reseller_id, body.client_id, plan)
    set_position(response, ledger, recorded.position)
    return _contract(ledger, caller.reseller_id, recorded.aggregate)


@router.patch(
    "/v1/contracts/{contract_id}",
    tags=["contracts"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def update_contract(
    contract_id: UUID,
    body: ContractUpdate,
    caller: Commander,
    ledger: LedgerDep,
    container: ContainerDep,
    response: Response,
) -> ContractPublic:
    """Give the contract a plan, a new one, or none (``"plan": null``)."""
    if "plan" not in body.model_fields_set:
        contract = ledger.get_contract(caller.reseller_id, contract_id)
        set_position(response, ledger, None)
        return _contract(ledger, caller.reseller_id, contract)
    plan = plan_of(body.plan, container.gateway.minimum_amount_cents)
    recorded = ledger.change_contract_plan(caller.reseller_id, contract_id, plan)
    set_position(response, ledger, recorded.position)
    return _contract(ledger, caller.reseller_id, recorded.aggregate)


@router.post(
    "/v1/contracts/{contract_id}/activate",
    tags=["contracts"],
    responses=documented(401, 403, 404, 409),
)
def activate_contract(
    contract_id: UUID, caller: Commander, ledger: LedgerDep, response: Response
) -> ContractPublic:
    """Activate a contract (see the transition table)."""
    recorded = ledger.activate_contract(caller.reseller_id, contract_id)
    set_position(response, ledger, recorded.position)
    return _contract(ledger, caller.reseller_id, recorded.aggregate)


@router.post(
    "/v1/contracts/{contract_id}/suspend",
    tags=["contracts"],
    responses=documented(401, 403, 404, 409),
)
def suspend_contract(
    contract_id: UUID, caller: Commander, ledger: LedgerDep, response: Response
) -> ContractPublic:
    """Suspend a contract (see the transition table)."""
    recorded = ledger.suspend_contract(caller.reseller_id, contract_id)
    set_position(response, ledger, recorded.position)
    return _contract(ledger, caller.reseller_id, recorded.aggregate)


@router.post(
    "/v1/contracts/{contract_id}/cancel",
    tags=["contracts"],
    responses=documented(401, 403, 404, 409),
)
def cancel_contract(
    contract_id: UUID, caller: Commander, ledger: LedgerDep, response: Response
) -> ContractPublic:
    """Cancel a contract (see the transition table)."""
    recorded = ledger.cancel_contract(caller.reseller_id, contract_id)
    set_position(response, ledger, recorded.position)
    return _contract(ledger, caller.reseller_id, recorded.aggregate)


@router.get("/v1/contracts", tags=["contracts"], responses=documented(401, 422, 503))
def list_contracts(
    caller: Reader,
    views: ViewsDep,
    status: ContractStatusCode | None = None,
    client_id: UUID | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> ContractsPublic:
    """Contracts, newest first."""
    wait_after(views, after)
    page = views.contracts.query(
        caller.reseller_id,
        status=status,
        client_id=client_id,
        limit=limit,
        cursor=cursor,
    )
    return ContractsPublic(
        items=[presenters.contract_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/v1/contracts/{contract_id}", tags=["contracts"], responses=documented(401, 404)
)
def get_contract(
    contract_id: UUID, caller: Reader, ledger: LedgerDep
) -> ContractPublic:
    """One contract, as it is now."""
    contract = ledger.get_contract(caller.reseller_id, contract_id)
    return _contract(ledger, caller.reseller_id, contract)


# -- invoices ------------------------------------------------------------


@router.post(
    "/v1/invoices",
    status_code=201,
    tags=["invoices"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def create_invoice(
    body: InvoiceCreate,
    caller: Commander,
    ledger: LedgerDep,
    container: ContainerDep,
    response: Response,
) -> InvoicePublic:
    """Issue an invoice to a client with an active contract."""
    recorded = ledger.issue_invoice(
        caller.reseller_id,
        client_id=body.client_id,
        description=body.description,
        amount_cents=body.amount,
        due_date=body.due_date,
        reference_month=body.reference_month,
        reference_year=body.reference_year,
        issue_date=body.issue_date,
        minimum_amount_cents=container.gateway.minimum_amount_cents,
    )
    set_position(response, ledger, recorded.position)
    client = ledger.issued_client(caller.reseller_id, body.client_id)
    return presenters.invoice(recorded.aggregate, client.name)


@router.get("/v1/invoices", tags=["invoices"], responses=documented(401, 422, 503))
def list_invoices(
    caller: Reader,
    views: ViewsDep,
    status: InvoiceStatusCode | None = None,
    client_id: UUID | None = None,
    reference: Annotated[
        str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])
    ] = None,
    due_from: DateQuery = None,
    due_to: DateQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> InvoicesPublic:
    """The reseller's invoices ("Faturas"), newest code first."""
    wait_after(views, after)
    period = None
    if reference is not None:
        match = _REFERENCE.fullmatch(reference)
        period = (match[1], match[2]) if match else None
    page = views.invoices.query(
        caller.reseller_id,
        status=status,
        client_id=client_id,
        reference=period,
        due_from=due_from,
        due_to=due_to,
        limit=limit,
        cursor=cursor,
    )
    return InvoicesPublic(
        items=[presenters.invoice_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/v1/invoices/{invoice_id}", tags=["invoices"], responses=documented(401, 404, 422)
)
def get_invoice(
    invoice_id: UUID,
    caller: Reader,
    ledger: LedgerDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> InvoicePublic:
    """One invoice as it is now, or as it was after its ``version``-th event."""
    invoice = ledger.get_invoice(caller.reseller_id, invoice_id, version)
    if version is not None and invoice.version != version:
        raise ProblemError(404, f"invoice {invoice_id} has no version {version}")
    client = ledger.get_client(caller.reseller_id, invoice.client_id)
    return presenters.invoice(invoice, client.name)


@router.post(
    "/v1/invoices/{invoice_id}/cancel",
    tags=["invoices"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def cancel_invoice(
    invoice_id: UUID,
    body: InvoiceCancel,
    caller: Commander,
    ledger: LedgerDep,
    response: Response,
) -> InvoicePublic:
    """Cancel an invoice not paid yet, or one the partner refused (failed)."""
    recorded = ledger.cancel_invoice(caller.reseller_id, invoice_id, body.reason)
    set_position(response, ledger, recorded.position)
    client = ledger.get_client(caller.reseller_id, recorded.aggregate.client_id)
    return presenters.invoice(recorded.aggregate, client.name)


@router.post(
    "/v1/invoices/{invoice_id}/retry",
    tags=["invoices"],
    responses=documented(401, 403, 404, 409),
)
def retry_invoice(
    invoice_id: UUID, caller: Commander, ledger: LedgerDep, response: Response
) -> InvoicePublic:
    """Register a failed invoice with the partner again: it is processing again."""
    recorded = ledger.retry_invoice(caller.reseller_id, invoice_id)
    set_position(response, ledger, recorded.position)
    client = ledger.get_client(caller.reseller_id, recorded.aggregate.client_id)
    return presenters.invoice(recorded.aggregate, client.name)


@router.get(
    "/v1/invoices/{invoice_id}/html",
    tags=["invoices"],
    response_class=HTMLResponse,
    responses=documented(401, 404),
)
def invoice_html(
    invoice_id: UUID, caller: Reader, ledger: LedgerDep, container: ContainerDep
) -> HTMLResponse:
    """The printable invoice as HTML (boleto, barcode and Pix QR code inline)."""
    invoice = ledger.get_invoice(caller.reseller_id, invoice_id)
    return HTMLResponse(container.renderer.html(invoice_document(ledger, invoice)))


@router.get(
    "/v1/invoices/{invoice_id}/pdf",
    tags=["invoices"],
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "The PDF."},
        **documented(401, 404),
    },
)
def invoice_pdf(
    invoice_id: UUID, caller: Reader, ledger: LedgerDep, container: ContainerDep
) -> Response:
    """The same printable invoice as PDF."""
    invoice = ledger.get_invoice(caller.reseller_id, invoice_id)
    pdf = container.renderer.pdf(invoice_document(ledger, invoice))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="fatura-{invoice.code}.pdf"'
        },
    )


# -- histories ------------------------------------------------------------


def _history(
    ledger: Ledger, reseller_id: UUID, aggregate: LedgerAggregate
) -> HistoryPublic:
    if aggregate.reseller_id != reseller_id:  # pragma: no cover - loaders check it
        raise ProblemError(404, "not found")
    items = [
        HistoryEvent(
            position=position,
            version=event.originator_version,
            type=type(event).__qualname__,
            recorded_at=event.timestamp,
            actor=actor_of(event),
            data=_data(event),
        )
        for position, event in ledger.positioned_history(aggregate.id)
    ]
    return HistoryPublic(items=items)


def _data(event: Any) -> dict[str, Any]:  # noqa: ANN401 - any event
    data: dict[str, Any] = orjson.loads(event_data(event, HIDDEN_FIELDS))
    return data


@router.get(
    "/v1/invoices/{invoice_id}/events",
    tags=["audit"],
    responses=documented(401, 403, 404),
)
def invoice_events(
    invoice_id: UUID, caller: Historian, ledger: LedgerDep
) -> HistoryPublic:
    """An invoice's full history."""
    invoice = ledger.get_invoice(caller.reseller_id, invoice_id)
    return _history(ledger, caller.reseller_id, invoice)


@router.get(
    "/v1/contracts/{contract_id}/events",
    tags=["audit"],
    responses=documented(401, 403, 404),
)
def contract_events(
    contract_id: UUID, caller: Historian, ledger: LedgerDep
) -> HistoryPublic:
    """A contract's full history."""
    contract = ledger.get_contract(caller.reseller_id, contract_id)
    return _history(ledger, caller.reseller_id, contract)


@router.get(
    "/v1/clients/{client_id}/events",
    tags=["audit"],
    responses=documented(401, 403, 404),
)
def client_events(
    client_id: UUID, caller: Historian, ledger: LedgerDep
) -> HistoryPublic:
    """A client's full history."""
    client = ledger.get_client(caller.reseller_id, client_id)
    return _history(ledger, caller.reseller_id, client)
