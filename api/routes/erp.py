"""The ERP: customers, receivables, credits, bank accounts, boletos and aging."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from api import presenters
from api.auth import Caller, Reader, allow
from api.deps import (
    After,
    ContainerDep,
    Cursor,
    LedgerDep,
    Limit,
    ViewsDep,
    set_position,
    wait_after,
)
from api.problems import ProblemError, documented
from api.schemas import (
    AgingPublic,
    BankAccountPublic,
    BankAccountsPublic,
    BoletosPublic,
    BoletoStatusCode,
    CreditPublic,
    CreditRefund,
    CreditsPublic,
    CreditStatusCode,
    CustomersPublic,
    DateQuery,
    ReceivableSituationCode,
    ReceivablesPublic,
    ReceivableTotals,
    TextQuery,
)
from application.documents import invoice_document
from domain.money import format_amount
from domain.users import Role

router = APIRouter()
CREDIT_KEEPERS = (Role.OWNER, Role.OPERATOR, Role.FINANCE)
"""Who may record that a credit's money was given back (the ERP screen too)."""
CreditKeeper = Annotated[Caller, allow(*CREDIT_KEEPERS)]


@router.get("/v1/erp/customers", tags=["erp"], responses=documented(401, 422, 503))
def list_customers(
    caller: Reader,
    views: ViewsDep,
    q: TextQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> CustomersPublic:
    """ERP customers: one per client plus ``Consumidor``, with open amounts."""
    wait_after(views, after)
    page = views.customers.query(caller.reseller_id, q=q, limit=limit, cursor=cursor)
    return CustomersPublic(
        items=[presenters.customer_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/v1/erp/receivables", tags=["erp"], responses=documented(401, 422, 503))
def list_receivables(
    caller: Reader,
    views: ViewsDep,
    ledger: LedgerDep,
    situation: ReceivableSituationCode | None = None,
    customer: TextQuery = None,
    issued_from: DateQuery = None,
    issued_to: DateQuery = None,
    due_from: DateQuery = None,
    due_to: DateQuery = None,
    overdue: bool | None = None,
    as_of: DateQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> ReceivablesPublic:
    """Accounts receivable by due date, with totals over every match.

    With ``as_of``, as they stood at the end of that São Paulo day (not later
    than today: a day that has not ended has no closing state).
    """
    if as_of is not None and as_of > ledger.today():
        raise ProblemError(
            422,
            "as_of: must not be after today",
            errors=[{"loc": ["query", "as_of"], "msg": "must not be after today"}],
        )
    wait_after(views, after)
    page = views.receivables.query(
        caller.reseller_id,
        ledger.today(),
        situation=situation,
        customer=customer,
        issued_from=issued_from,
        issued_to=issued_to,
        due_from=due_from,
        due_to=due_to,
        overdue=overdue,
        as_of=as_of,
        limit=limit,
        cursor=cursor,
    )
    totals = page.totals
    return ReceivablesPublic(
        items=[presenters.receivable_row(row) for row in page.items],
        totals=ReceivableTotals(
            count=totals["count"],
            amount=format_amount(totals["amount"]),
            amount_paid=format_amount(totals["amount_paid"]),
            amount_open=format_amount(totals["amount_open"]),
        ),
        next_cursor=page.next_cursor,
    )


@router.get("/v1/erp/credits", tags=["erp"], responses=documented(401, 422, 503))
def list_credits(
    caller: Reader,
    views: ViewsDep,
    customer: TextQuery = None,
    status: CreditStatusCode | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> CreditsPublic:
    """Customer credits (money received beyond what was owed), newest first."""
    wait_after(views, after)
    page = views.credits.query(
        caller.reseller_id, customer=customer, status=status, limit=limit, cursor=cursor
    )
    return CreditsPublic(
        items=[presenters.credit_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/v1/erp/credits/{credit_id}/refund",
    tags=["erp"],
    responses=documented(400, 401, 403, 404, 409, 422),
)
def refund_credit(
    credit_id: UUID,
    body: CreditRefund,
    caller: CreditKeeper,
    ledger: LedgerDep,
    response: Response,
) -> CreditPublic:
    """Record that the reseller gave an available credit back to its customer."""
    recorded = ledger.refund_credit(caller.reseller_id, credit_id, body.reason)
    set_position(response, ledger, recorded.position)
    credit = recorded.aggregate
    customer = ledger.get_client(caller.reseller_id, credit.customer_id)
    return presenters.credit(credit, customer.name)


@router.get("/v1/erp/bank-accounts", tags=["erp"], responses=documented(401, 503))
def list_bank_accounts(
    caller: Reader, views: ViewsDep, after: After = None
) -> BankAccountsPublic:
    """The tenant's bank accounts."""
    wait_after(views, after)
    rows = views.boletos.accounts(caller.reseller_id)
    return BankAccountsPublic(
        items=[
            BankAccountPublic(id=r["id"], name=r["name"], kind=r["kind"]) for r in rows
        ]
    )


@router.get("/v1/erp/boletos", tags=["erp"], responses=documented(401, 422, 503))
def list_boletos(
    caller: Reader,
    views: ViewsDep,
    account_id: UUID | None = None,
    status: BoletoStatusCode | None = None,
    customer: TextQuery = None,
    due_from: DateQuery = None,
    due_to: DateQuery = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    after: After = None,
) -> BoletosPublic:
    """Boletos in bank control, newest first."""
    wait_after(views, after)
    page = views.boletos.query(
        caller.reseller_id,
        account_id=account_id,
        status=status,
        customer=customer,
        due_from=due_from,
        due_to=due_to,
        limit=limit,
        cursor=cursor,
    )
    return BoletosPublic(
        items=[presenters.boleto_row(row) for row in page.items],
        next_cursor=page.next_cursor,
    )


@router.get(
    "/v1/erp/boletos/{boleto_id}/print",
    tags=["erp"],
    response_class=HTMLResponse,
    responses=documented(401, 404),
)
def print_boleto(
    boleto_id: UUID,
    caller: Reader,
    views: ViewsDep,
    ledger: LedgerDep,
    container: ContainerDep,
) -> HTMLResponse:
    """The printable boleto: its invoice, with barcode, line and Pix."""
    views.wait_for(ledger.recorder.max_notification_id() or 0, 5)
    row = views.boletos.get(caller.reseller_id, boleto_id)
    if row is None:
        raise ProblemError(404, f"boleto {boleto_id} not found")
    invoice = ledger.get_invoice(caller.reseller_id, row["invoice_id"])
    return HTMLResponse(container.renderer.html(invoice_document(ledger, invoice)))


@router.get("/v1/erp/reports/aging", tags=["erp"], responses=documented(401, 422, 503))
def aging_report(
    caller: Reader,
    views: ViewsDep,
    ledger: LedgerDep,
    as_of: DateQuery = None,
    after: After = None,
) -> AgingPublic:
    """Open receivables by days past due on ``as_of`` (default today)."""
    wait_after(views, after)
    day = as_of or ledger.today()
    rows = views.receivables.aging(caller.reseller_id, day)
    return AgingPublic(
        as_of=day,
        items=[presenters.aging_item(row) for row in rows],
        totals=presenters.aging_totals(rows),
    )
