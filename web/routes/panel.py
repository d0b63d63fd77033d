"""Painel de Revenda: Clientes, Contratações and Faturas.

Each screen reads the view the matching ``/v1`` route reads and writes through the
same ``Ledger`` command, validated by the same request schema (``api.schemas``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.deps import ContainerDep, LedgerDep, ViewsDep
from api.schemas import ClientCreate, InvoiceCancel, InvoiceCreate
from application.ledger import Ledger
from domain.clients import ContactDetails
from domain.contracts import TRANSITIONS as CONTRACT_TRANSITIONS
from domain.contracts import ContractStatus, Plan
from domain.documents import Document
from domain.errors import (
    DomainError,
    DuplicateClientError,
    InvalidInputError,
    InvalidTransitionError,
    NoActiveContractError,
    OpenContractExistsError,
)
from domain.invoices import TRANSITIONS as INVOICE_TRANSITIONS
from domain.invoices import InvoiceStatus
from projections.read_models import ReadModels
from web import formats
from web.forms import GENERAL, Form, read_form, refusal, validate
from web.routes import billing
from web.routing import path_id, see_other, settled, web_router
from web.session import CurrentUser, WebUser, Writer, found
from web.templating import render

router = web_router()
PAGE_SIZE = 50
SUGGESTIONS = 20
MAX_LIVE_IDS = 100
Text = Annotated[str | None, Query(max_length=200)]
CursorQuery = Annotated[str | None, Query(max_length=200)]
FINAL_STATUSES = ("paid", "cancelled", "refunded", "failed")
"""Statuses the Faturas page stops watching (a retry reloads the page)."""
_WITH_DOCUMENT = re.compile(r"(?P<name>.*) \((?P<document>[0-9A-Za-z./-]{11,18})\)")
_REFERENCE_BR = re.compile(r"(0?[1-9]|1[0-2])/([0-9]{4})")
_REFERENCE_ISO = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
_ACTIONS = {
    "activate": "activate_contract",
    "suspend": "suspend_contract",
    "cancel": "cancel_contract",
}


@router.get("/painel")
def panel_home(_user: CurrentUser) -> RedirectResponse:
    """The panel opens on Faturas, where the day's work is."""
    return see_other("/painel/faturas")


# -- clientes ---------------------------------------------------------------


@router.get("/painel/clientes")
def clients(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    q: Text = None,
    cursor: CursorQuery = None,
) -> HTMLResponse:
    """The clients, newest first; ``q`` searches name or document."""
    page = views.clients.query(
        user.reseller_id, q=q or None, limit=PAGE_SIZE, cursor=cursor
    )
    return render(
        request,
        "panel/clients.html",
        {"rows": page.items, "next_cursor": page.next_cursor, "q": q or ""},
    )


@router.get("/painel/clientes/novo")
def new_client(request: Request, _user: Writer) -> HTMLResponse:
    """The new client form."""
    return render(request, "panel/client_form.html", {"form": Form()})


@router.post("/painel/clientes/novo")
async def create_client(
    request: Request, user: Writer, ledger: LedgerDep, views: ViewsDep
) -> Response:
    """Register the client as ``POST /v1/clients`` does; errors by the field."""
    form = await read_form(request)
    data = {
        "name": form["name"].strip(),
        "document": form["document"].strip(),
        "email": form["email"].strip(),
        "phone": form.optional("phone"),
        "city": form.optional("city"),
        "state": (form.optional("state") or "").upper() or None,
    }
    body = validate(ClientCreate, data, form) if form.ok else None
    if body is not None:
        _precheck_client(form, body)
    if body is not None and form.ok:
        try:
            recorded = ledger.register_client(user.reseller_id, **body.model_dump())
        except DuplicateClientError:
            form.error("document", "já existe um cliente com este CPF/CNPJ")
        except DomainError as error:
            refusal(form, error)
        else:
            settled(views, recorded.position)
            return see_other("/painel/clientes?salvo=1")
    return render(request, "panel/client_form.html", {"form": form}, status_code=422)


def _precheck_client(form: Form, body: ClientCreate) -> None:
    """Every field's refusal at once (the command stops at the first one).

    The same domain parsers the command runs; it runs them again when saving.
    """
    try:
        Document.parse(body.document)
    except InvalidInputError as error:
        refusal(form, error)
    try:
        ContactDetails.parse(body.name, body.email, body.phone, body.city, body.state)
    except InvalidInputError as error:
        refusal(form, error)


# -- client suggestions (contracts and invoices) ----------------------------------


@dataclass(frozen=True)
class Candidate:
    """A client offered in a ``Cliente`` field."""

    id: UUID
    name: str
    document: str


def _latest_contract_status(
    views: ReadModels, reseller_id: UUID, client_id: UUID
) -> str | None:
    page = views.contracts.query(reseller_id, client_id=client_id, limit=1)
    return str(page.items[0]["status"]) if page.items else None


def _eligible(purpose: str, status: str | None) -> bool:
    """``contrato``: no open contract; ``fatura``: an active contract."""
    if purpose == "fatura":
        return status == ContractStatus.ACTIVE
    return status is None or status == ContractStatus.CANCELLED


def _candidates(
    views: ReadModels, reseller_id: UUID, purpose: str, q: str | None
) -> list[Candidate]:
    page = views.clients.query(reseller_id, q=q or None, limit=PAGE_SIZE)
    return [
        Candidate(row["id"], row["name"], row["document"])
        for row in page.items
        if _eligible(purpose, _latest_contract_status(views, reseller_id, row["id"]))
    ][:SUGGESTIONS]


def _options(candidates: list[Candidate]) -> list[dict[str, str]]:
    """Each candidate's text; a name two clients share carries its document."""
    names = [c.name.casefold() for c in candidates]
    return [
        {
            "value": c.name
            if names.count(c.name.casefold()) == 1
            else f"{c.name} ({formats.document(c.document)})",
            "label": formats.document(c.document),
        }
        for c in candidates
    ]


@router.get("/painel/clientes/sugestoes")
def client_suggestions(
    user: CurrentUser,
    views: ViewsDep,
    para: Annotated[str, Query(pattern="^(contrato|fatura)$")] = "contrato",
    q: Text = None,
) -> JSONResponse:
    """Clients a ``Cliente`` field may offer, as the person types."""
    items = _options(_candidates(views, user.reseller_id, para, (q or "").strip()))
    return JSONResponse({"items": items}, headers={"Cache-Control": "no-store"})


def _resolve_client(
    views: ReadModels, reseller_id: UUID, purpose: str, text: str, form: Form
) -> UUID | None:
    """The one eligible client ``text`` names (picked, or typed exactly)."""
    typed = " ".join(text.split())
    if not typed:
        form.error("client", "informe o cliente")
        return None
    name, document = typed, None
    if match := _WITH_DOCUMENT.fullmatch(typed):
        name, document = match["name"], formats.compact_document(match["document"])
    rows = views.clients.query(reseller_id, q=document or name, limit=PAGE_SIZE).items
    matches = [
        row
        for row in rows
        if (document is None or row["document"] == document)
        and row["name"].casefold() == name.casefold()
    ]
    eligible = [
        row
        for row in matches
        if _eligible(purpose, _latest_contract_status(views, reseller_id, row["id"]))
    ]
    if len(eligible) == 1:
        return UUID(str(eligible[0]["id"]))
    if len(eligible) > 1:
        form.error(
            "client",
            "há mais de um cliente com este nome; escolha uma sugestão "
            "(com o CPF/CNPJ)",
        )
    elif purpose == "fatura":
        form.error(
            "client",
            "o cliente não tem contratação ativa"
            if matches
            else "nenhum cliente com contratação ativa tem este nome",
        )
    else:
        form.error(
            "client",
            "este cliente já tem uma contratação aberta"
            if matches
            else "nenhum cliente sem contratação aberta tem este nome",
        )
    return None


# -- contratações ---------------------------------------------------------------


@router.get("/painel/contratacoes")
def contracts(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    cursor: CursorQuery = None,
) -> HTMLResponse:
    """The contracts, newest first."""
    page = views.contracts.query(user.reseller_id, limit=PAGE_SIZE, cursor=cursor)
    rows = [
        {**row, "status_label": ContractStatus(row["status"]).label}
        for row in page.items
    ]
    return render(
        request,
        "panel/contracts.html",
        {"rows": rows, "next_cursor": page.next_cursor},
    )


@router.get("/painel/contratacoes/novo")
def new_contract(request: Request, user: Writer, views: ViewsDep) -> HTMLResponse:
    """The new contract form: a client with no open contract."""
    return _contract_form(request, user, views, Form())


def _contract_form(
    request: Request,
    user: WebUser,
    views: ReadModels,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    options = _options(_candidates(views, user.reseller_id, "contrato", None))
    return render(
        request,
        "panel/contract_form.html",
        {"form": form, "options": options},
        status_code=status_code,
    )


@router.post("/painel/contratacoes/novo")
async def create_contract(
    request: Request, user: Writer, ledger: LedgerDep, views: ViewsDep
) -> Response:
    """Open the contract in trial (``POST /v1/contracts``)."""
    form = await read_form(request)
    client_id = _resolve_client(
        views, user.reseller_id, "contrato", form["client"], form
    )
    if client_id is not None:
        try:
            recorded = ledger.open_contract(user.reseller_id, client_id)
        except OpenContractExistsError:
            form.error("client", "este cliente já tem uma contratação aberta")
        except DomainError as error:
            refusal(form, error)
        else:
            settled(views, recorded.position)
            return see_other(f"/painel/contratacoes/{recorded.aggregate.id}")
    return _contract_form(request, user, views, form, 422)


def _status_options(status: ContractStatus) -> list[tuple[str, str]]:
    """The current status, then those its transitions reach, by label."""
    reachable = [
        to
        for moves in CONTRACT_TRANSITIONS.values()
        for frm, to in moves.items()
        if frm is status
    ]
    ordered = [s for s in ContractStatus if s is status or s in reachable]
    return [(s.value, s.label) for s in ordered]


@router.get("/painel/contratacoes/{contratacao}")
def contract_page(
    request: Request, contratacao: str, user: CurrentUser, ledger: LedgerDep
) -> HTMLResponse:
    """A contract: the tab Dados da Contratação."""
    contract_id = path_id(contratacao)
    return _contract_page(request, ledger, user, contract_id, Form())


def _contract_page(
    request: Request,
    ledger: Ledger,
    user: WebUser,
    contract_id: UUID,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    with found():
        contract = ledger.get_contract(user.reseller_id, contract_id)
        client = ledger.get_client(user.reseller_id, contract.client_id)
    return render(
        request,
        "panel/contract.html",
        {
            "form": form,
            "contract": contract,
            "client": client,
            "status_options": _status_options(contract.status),
            "plan": billing.plan_values(contract),
        },
        status_code=status_code,
    )


@router.post("/painel/contratacoes/{contratacao}")
async def change_contract(  # noqa: C901 - status and plan, each refused by field
    request: Request,
    contratacao: str,
    user: Writer,
    ledger: LedgerDep,
    views: ViewsDep,
    container: ContainerDep,
) -> Response:
    """Save the plan and move the contract to the chosen status, then the list.

    Both are checked before either is saved: a refusal saves nothing.
    """
    contract_id = path_id(contratacao)
    form = await read_form(request)
    with found():
        contract = ledger.get_contract(user.reseller_id, contract_id)
    try:
        target = ContractStatus(form["status"])
    except ValueError:
        target = None
    action = None
    if target is None:
        form.error("status", "escolha um status da lista")
    elif target is not contract.status:
        action = next(
            (
                name
                for name, moves in CONTRACT_TRANSITIONS.items()
                if moves.get(contract.status) is target and name in _ACTIONS
            ),
            None,
        )
        if action is None:
            form.error(
                "status",
                f"não é possível passar de {contract.status.label} a {target.label}",
            )
    plan = billing.UNCHANGED
    if contract.status is not ContractStatus.CANCELLED:
        plan = billing.read_plan(form, contract, container.gateway.minimum_amount_cents)
    position = None
    if form.ok and plan is not billing.UNCHANGED:
        try:
            position = ledger.change_contract_plan(
                user.reseller_id, contract_id, plan if isinstance(plan, Plan) else None
            ).position
        except DomainError as error:
            refusal(form, error, field_of=billing.PLAN_FIELDS)
    if form.ok and action is not None:
        try:
            command = getattr(ledger, _ACTIONS[action])
            position = command(user.reseller_id, contract_id).position
        except InvalidTransitionError:
            form.error(
                "status", "o status mudou enquanto isso; confira e tente de novo"
            )
        except DomainError as error:
            refusal(form, error)
    if not form.ok:
        return _contract_page(request, ledger, user, contract_id, form, 422)
    settled(views, position)
    return see_other("/painel/contratacoes?salvo=1")


# -- faturas -------------------------------------------------------------------


def _reference(text: str) -> tuple[str, str] | None:
    """``mm/aaaa`` or ``aaaa-mm`` (a month picker) → ``(year, month)``."""
    value = text.strip()
    if match := _REFERENCE_BR.fullmatch(value):
        return match[2], match[1].zfill(2)
    if match := _REFERENCE_ISO.fullmatch(value):
        return match[1], match[2]
    return None


@router.get("/painel/faturas")
def invoices(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    status: Text = None,
    cliente: Text = None,
    referencia: Text = None,
    cursor: CursorQuery = None,
) -> HTMLResponse:
    """The invoices, newest code first, with their status kept live."""
    filters = Form(
        values={
            "status": status or "",
            "cliente": cliente or "",
            "referencia": referencia or "",
        }
    )
    status_code = None
    if status:
        try:
            status_code = InvoiceStatus(status)
        except ValueError:
            filters.error("status", "status desconhecido")
    period = None
    if referencia:
        period = _reference(referencia)
        if period is None:
            filters.error("referencia", "use mm/aaaa")
    client_id = None
    if cliente and cliente.strip():
        matches = views.clients.query(
            user.reseller_id, q=cliente.strip(), limit=PAGE_SIZE
        ).items
        exact = [
            r for r in matches if r["name"].casefold() == cliente.strip().casefold()
        ]
        chosen = exact or matches
        if len(chosen) == 1:
            client_id = chosen[0]["id"]
        else:
            filters.error(
                "cliente",
                "nenhum cliente com este nome ou CPF/CNPJ"
                if not chosen
                else "mais de um cliente; digite o nome completo ou o CPF/CNPJ",
            )
    rows: list[Any] = []
    next_cursor = None
    if filters.ok:
        page = views.invoices.query(
            user.reseller_id,
            status=status_code,
            client_id=client_id,
            reference=period,
            limit=PAGE_SIZE,
            cursor=cursor,
        )
        rows = [
            {**row, "status_label": InvoiceStatus(row["status"]).label}
            for row in page.items
        ]
        next_cursor = page.next_cursor
    return render(
        request,
        "panel/invoices.html",
        {
            "rows": rows,
            "next_cursor": next_cursor,
            "filters": filters,
            "statuses": [("", "Todos"), *((s.value, s.label) for s in InvoiceStatus)],
            "final_statuses": " ".join(FINAL_STATUSES),
        },
        status_code=200 if filters.ok else 422,
    )


@router.get("/painel/faturas/situacao")
def invoice_statuses(
    user: CurrentUser,
    views: ViewsDep,
    ids: Annotated[str, Query(max_length=40 * MAX_LIVE_IDS)] = "",
) -> JSONResponse:
    """The status of each asked invoice now (the Faturas page polls this)."""
    items: dict[str, dict[str, str]] = {}
    for raw in ids.split(",")[:MAX_LIVE_IDS]:
        try:
            invoice_id = UUID(raw)
        except ValueError:
            continue
        row = views.invoices.get(user.reseller_id, invoice_id)
        if row is not None:
            status = InvoiceStatus(row["status"])
            items[str(invoice_id)] = {"status": status.value, "label": status.label}
    return JSONResponse({"items": items}, headers={"Cache-Control": "no-store"})


@router.get("/painel/faturas/nova")
def new_invoice(
    request: Request, user: Writer, views: ViewsDep, ledger: LedgerDep
) -> HTMLResponse:
    """The new invoice form, dated today (São Paulo, the ledger's clock)."""
    today = ledger.today()
    form = Form(
        values={
            "issue_date": formats.day(today),
            "reference_month": f"{today.month:02d}",
            "reference_year": f"{today.year:04d}",
        }
    )
    return _invoice_form(request, user, views, form)


def _invoice_form(
    request: Request,
    user: WebUser,
    views: ReadModels,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    options = _options(_candidates(views, user.reseller_id, "fatura", None))
    return render(
        request,
        "panel/invoice_form.html",
        {"form": form, "options": options},
        status_code=status_code,
    )


def _date_field(form: Form, name: str) -> str | None:
    """A date field as ISO for the schema, or ``None`` with its error."""
    try:
        parsed = formats.parse_day(form[name])
    except formats.FormatError as error:
        form.error(name, str(error))
        return None
    return parsed.isoformat()


@router.post("/painel/faturas/nova")
async def create_invoice(
    request: Request,
    user: Writer,
    ledger: LedgerDep,
    views: ViewsDep,
    container: ContainerDep,
) -> Response:
    """Issue the invoice (``POST /v1/invoices``): Em Processamento, then live."""
    form = await read_form(request)
    client_id = _resolve_client(views, user.reseller_id, "fatura", form["client"], form)
    amount = None
    try:
        amount = formats.parse_money(form["amount"])
    except formats.FormatError as error:
        form.error("amount", str(error))
    issue_date = _date_field(form, "issue_date")
    due_date = _date_field(form, "due_date")
    data = {
        "client_id": client_id,
        "description": form["description"].strip(),
        "amount": amount,
        "due_date": due_date,
        "issue_date": issue_date,
        "reference_month": form["reference_month"].strip().zfill(2),
        "reference_year": form["reference_year"].strip(),
    }
    body = None
    if form.ok:
        body = validate(InvoiceCreate, data, form)
    if body is not None:
        try:
            recorded = ledger.issue_invoice(
                user.reseller_id,
                client_id=body.client_id,
                description=body.description,
                amount_cents=body.amount,
                due_date=body.due_date,
                reference_month=body.reference_month,
                reference_year=body.reference_year,
                issue_date=body.issue_date,
                minimum_amount_cents=container.gateway.minimum_amount_cents,
            )
        except NoActiveContractError:
            form.error("client", "o cliente não tem contratação ativa")
        except DomainError as error:
            refusal(form, error)
        else:
            settled(views, recorded.position)
            return see_other(f"/painel/faturas?nova={recorded.aggregate.id}")
    return _invoice_form(request, user, views, form, 422)


_EVENT_LABELS = {
    "Issued": "Emitida",
    "Registered": "Registrada no parceiro",
    "RegistrationFailed": "Falha no registro",
    "RegistrationRetried": "Registro reenviado",
    "BecameOverdue": "Vencida",
    "Paid": "Paga",
    "PaymentReceived": "Pagamento recebido",
    "Cancelled": "Cancelada",
    "Refunded": "Estornada",
    "PaymentUndone": "Pagamento desfeito pelo parceiro",
    "NoticeRequested": "Aviso agendado",
    "NoticeSent": "Aviso enviado",
    "NoticeFailed": "Aviso recusado",
}


_ACTOR_KINDS = {
    "user": "Usuário",
    "partner": "Parceiro",
    "system": "Sistema",
    "unknown": "Desconhecido (antes do registro de autoria)",
}


def _actor(event: object) -> str:
    """Who caused the event, when it says (API.md: ``actor`` {type, id, email})."""
    actor = getattr(event, "actor", None)
    if actor is None:
        return ""
    if isinstance(actor, Mapping):
        fields = dict(actor)
    else:
        fields = {k: getattr(actor, k, None) for k in ("type", "id", "email")}
    if fields.get("email"):
        return str(fields["email"])
    kind = str(fields.get("type") or "")
    who = fields.get("id")
    label = _ACTOR_KINDS.get(kind, kind)
    return f"{label}: {who}" if who else label


def _history(ledger: Ledger, invoice_id: UUID) -> list[dict[str, Any]]:
    rows = []
    for position, event in ledger.positioned_history(invoice_id):
        kind = type(event).__name__
        rows.append(
            {
                "position": position,
                "type": f"{type(event).__qualname__}",
                "label": _EVENT_LABELS.get(kind, kind),
                "at": event.timestamp,
                "actor": _actor(event),
            }
        )
    return rows


@router.get("/painel/faturas/{fatura}")
def invoice_page(
    request: Request, fatura: str, user: CurrentUser, ledger: LedgerDep
) -> HTMLResponse:
    """An invoice: its facts, payments, the actions the role allows, its history."""
    invoice_id = path_id(fatura)
    return _invoice_page(request, ledger, user, invoice_id, Form())


def _invoice_page(
    request: Request,
    ledger: Ledger,
    user: WebUser,
    invoice_id: UUID,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    with found():
        invoice = ledger.get_invoice(user.reseller_id, invoice_id)
        client = ledger.get_client(user.reseller_id, invoice.client_id)
    history = _history(ledger, invoice_id)
    notices = [
        row
        for row in history
        if row["type"].endswith(("BecameOverdue", "RegistrationFailed"))
    ]
    return render(
        request,
        "panel/invoice.html",
        {
            "form": form,
            "invoice": invoice,
            "client": client,
            "can_cancel": invoice.status in INVOICE_TRANSITIONS["cancel"],
            "can_retry": invoice.status in INVOICE_TRANSITIONS["retry registration of"],
            "history": history if user.can_see_history else None,
            "notices": notices,
            "final_statuses": " ".join(FINAL_STATUSES),
        },
        status_code=status_code,
    )


@router.post("/painel/faturas/{fatura}/cancelar")
async def cancel_invoice(
    request: Request,
    fatura: str,
    user: Writer,
    ledger: LedgerDep,
    views: ViewsDep,
) -> Response:
    """Cancel with a reason (``POST /v1/invoices/{id}/cancel``)."""
    invoice_id = path_id(fatura)
    form = await read_form(request)
    body = validate(InvoiceCancel, {"reason": form["reason"].strip()}, form)
    if body is not None:
        try:
            with found():
                recorded = ledger.cancel_invoice(
                    user.reseller_id, invoice_id, body.reason
                )
        except InvalidTransitionError:
            form.error(GENERAL, "esta fatura não pode mais ser cancelada")
        except DomainError as error:
            refusal(form, error)
        else:
            settled(views, recorded.position)
            return see_other(f"/painel/faturas/{invoice_id}?salvo=1")
    return _invoice_page(request, ledger, user, invoice_id, form, 422)


@router.post("/painel/faturas/{fatura}/registrar")
async def retry_invoice(
    request: Request,
    fatura: str,
    user: Writer,
    ledger: LedgerDep,
    views: ViewsDep,
) -> Response:
    """Register a failed invoice again (``POST /v1/invoices/{id}/retry``)."""
    invoice_id = path_id(fatura)
    form = await read_form(request)
    try:
        with found():
            recorded = ledger.retry_invoice(user.reseller_id, invoice_id)
    except InvalidTransitionError:
        form.error(
            GENERAL, "só uma fatura com falha no registro pode ser registrada de novo"
        )
    except DomainError as error:
        refusal(form, error)
    else:
        settled(views, recorded.position)
        return see_other(f"/painel/faturas/{invoice_id}?salvo=1")
    return _invoice_page(request, ledger, user, invoice_id, form, 422)
