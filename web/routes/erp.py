"""ERP: Clientes, Contas a Receber (Lançamentos, Créditos), Boletos, Inadimplência.

Each screen reads the view its ``/v1/erp`` route reads (``api.routes.erp``), with
the same filters; the one write, giving a credit back, is the same ``Ledger``
command for the same roles (``CREDIT_KEEPERS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api import portuguese
from api.deps import LedgerDep, ViewsDep
from api.routes.erp import CREDIT_KEEPERS
from api.schemas import CreditRefund
from domain.errors import DomainError, InvalidInputError, InvalidTransitionError
from domain.periods import check_date_range
from domain.resellers import main_bank_account_id
from domain.text import has_control_characters
from domain.vocabulary import BoletoStatus, CreditStatus, ReceivableSituation
from projections.erp_receivables import AGING_BUCKETS
from projections.read_models import ReadModels
from web import formats
from web.forms import GENERAL, Form, read_form, validate
from web.routing import path_id, see_other, settled, web_router
from web.session import CurrentUser, ForbiddenError, WebUser, found, require_user
from web.templating import render

router = web_router()
PAGE_SIZE = 50
Text = Annotated[str | None, Query(max_length=200)]
_DOCUMENT_LENGTHS = (11, 14)
AGING_LABELS = {
    "current": "A vencer",
    "days_1_30": "1\N{EN DASH}30",
    "days_31_60": "31\N{EN DASH}60",
    "days_61_90": "61\N{EN DASH}90",
    "days_over_90": "Mais de 90",
}


def require_credit_keeper(user: Annotated[WebUser, Depends(require_user)]) -> WebUser:
    """A dependency: the roles the API lets give a credit back (403 for others)."""
    if user.role not in CREDIT_KEEPERS:
        raise ForbiddenError("Seu perfil pode consultar créditos, mas não devolvê-los.")
    return user


CreditKeeper = Annotated[WebUser, Depends(require_credit_keeper)]


@router.get("/erp")
def erp_home(_user: CurrentUser) -> RedirectResponse:
    """The ERP opens on Lançamentos, where the money is."""
    return see_other("/erp/lancamentos")


# -- filters ----------------------------------------------------------------------


def _filters(values: Mapping[str, str | None]) -> Form:
    """The filters as typed; control characters are refused (as the API does)."""
    filters = Form()
    for name, value in values.items():
        text = (value or "").strip()
        if has_control_characters(text):
            filters.error(name, "não pode conter caracteres de controle")
            text = ""
        filters.values[name] = text
    return filters


def _day(filters: Form, name: str) -> date | None:
    """A date filter as typed (``dd/mm/aaaa`` or a picker's ISO), or its error."""
    if not filters[name]:
        return None
    try:
        value = formats.parse_day(filters[name])
        check_date_range(value, name)
    except formats.FormatError as error:
        filters.error(name, str(error))
        return None
    except InvalidInputError as error:
        filters.error(name, portuguese.message(error.message))
        return None
    return value


def _code(filters: Form, name: str, codes: type[Any]) -> str | None:
    """A select's code (the API's), or ``None`` for Todos."""
    if not filters[name]:
        return None
    try:
        return str(codes(filters[name]).value)
    except ValueError:
        filters.error(name, "escolha uma opção da lista")
        return None


def _customer(views: ReadModels, reseller_id: UUID, text: str) -> str | None:
    """The customer filter: a name part, or a CPF/CNPJ (the customer's id then).

    The receivables and boletos views match names; a document is looked up in the
    customers view, which matches documents too.
    """
    if not text:
        return None
    digits = formats.compact_document(text)
    if digits.isdigit() and len(digits) in _DOCUMENT_LENGTHS:
        found_rows = views.customers.query(reseller_id, q=digits, limit=2).items
        if len(found_rows) == 1:
            return str(found_rows[0]["id"])
    return text


def _options(codes: Any, first: str = "Todos") -> list[tuple[str, str]]:  # noqa: ANN401 - an enum class with labels
    return [("", first), *((c.value, c.label) for c in codes)]


def _page_query(filters: Form, cursor: str) -> str:
    return urlencode({**filters.values, "cursor": cursor})


# -- clientes ----------------------------------------------------------------------


@router.get("/erp/clientes")
def customers(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    q: Text = None,
    cursor: Text = None,
) -> Response:
    """Todos os Clientes: the reseller's clients and Consumidor, with open amounts."""
    filters = _filters({"q": q})
    rows: list[Any] = []
    next_cursor = None
    try:
        page = views.customers.query(
            user.reseller_id, q=filters.optional("q"), limit=PAGE_SIZE, cursor=cursor
        )
        rows, next_cursor = page.items, page.next_cursor
    except InvalidInputError:
        filters.error(GENERAL, "a página pedida não existe; volte à primeira")
    return render(
        request,
        "erp/customers.html",
        {
            "rows": rows,
            "filters": filters,
            "next_query": _page_query(filters, next_cursor) if next_cursor else None,
        },
        status_code=200 if filters.ok else 422,
    )


# -- contas a receber: lançamentos --------------------------------------------------


@router.get("/erp/lancamentos")
def receivables(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    ledger: LedgerDep,
    situacao: Text = None,
    cliente: Text = None,
    lancamento_de: Text = None,
    lancamento_ate: Text = None,
    vencimento_de: Text = None,
    vencimento_ate: Text = None,
    posicao_em: Text = None,
    cursor: Text = None,
) -> Response:
    """Lançamentos by due date, filtered, with totals over every match.

    **Posição em** shows the books as they stood at the end of a past day (the
    API's ``as_of``): what an auditor asks as "what did we show as open on 31/12".
    """
    filters = _filters(
        {
            "situacao": situacao,
            "cliente": cliente,
            "lancamento_de": lancamento_de,
            "lancamento_ate": lancamento_ate,
            "vencimento_de": vencimento_de,
            "vencimento_ate": vencimento_ate,
            "posicao_em": posicao_em,
        }
    )
    as_of = _day(filters, "posicao_em")
    if as_of is not None and as_of > ledger.today():
        filters.error("posicao_em", "não pode ser uma data futura")
    situation = _code(filters, "situacao", ReceivableSituation)
    query: dict[str, Any] = {
        "situation": situation,
        "issued_from": _day(filters, "lancamento_de"),
        "issued_to": _day(filters, "lancamento_ate"),
        "due_from": _day(filters, "vencimento_de"),
        "due_to": _day(filters, "vencimento_ate"),
    }
    rows: list[Any] = []
    totals: dict[str, int] | None = None
    next_cursor = None
    if filters.ok:
        try:
            page = views.receivables.query(
                user.reseller_id,
                ledger.today(),
                customer=_customer(views, user.reseller_id, filters["cliente"]),
                limit=PAGE_SIZE,
                cursor=cursor,
                as_of=as_of,
                **query,
            )
        except InvalidInputError:
            filters.error(GENERAL, "a página pedida não existe; volte à primeira")
        else:
            rows = [
                {**row, "label": ReceivableSituation(row["situation"]).label}
                for row in page.items
            ]
            totals, next_cursor = page.totals, page.next_cursor
    return render(
        request,
        "erp/receivables.html",
        {
            "rows": rows,
            "totals": totals,
            "filters": filters,
            "situations": _options(ReceivableSituation),
            "next_query": _page_query(filters, next_cursor) if next_cursor else None,
            "paged": bool(cursor),
        },
        status_code=200 if filters.ok else 422,
    )


# -- contas a receber: créditos --------------------------------------------------------


@router.get("/erp/creditos")
def credits_page(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    situacao: Text = None,
    cliente: Text = None,
    cursor: Text = None,
) -> Response:
    """Créditos: money received beyond what was owed, newest first."""
    filters = _filters({"situacao": situacao, "cliente": cliente})
    return _credits(request, user, views, filters, cursor=cursor)


def _credits(
    request: Request,
    user: WebUser,
    views: ReadModels,
    filters: Form,
    *,
    cursor: str | None = None,
    refused: tuple[str, Form] | None = None,
) -> HTMLResponse:
    status = _code(filters, "situacao", CreditStatus)
    rows: list[Any] = []
    next_cursor = None
    if filters.ok:
        try:
            page = views.credits.query(
                user.reseller_id,
                customer=_customer(views, user.reseller_id, filters["cliente"]),
                status=status,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except InvalidInputError:
            filters.error(GENERAL, "a página pedida não existe; volte à primeira")
        else:
            rows = [
                {**row, "label": CreditStatus(row["status"]).label}
                for row in page.items
            ]
            next_cursor = page.next_cursor
    failed = refused is not None or not filters.ok
    return render(
        request,
        "erp/credits.html",
        {
            "rows": rows,
            "filters": filters,
            "statuses": _options(CreditStatus),
            "can_refund": user.role in CREDIT_KEEPERS,
            "refused_id": refused[0] if refused else None,
            "refund_form": refused[1] if refused else Form(),
            "next_query": _page_query(filters, next_cursor) if next_cursor else None,
        },
        status_code=422 if failed else 200,
    )


@router.post("/erp/creditos/{credito}/devolver")
async def refund_credit(
    request: Request,
    credito: str,
    user: CreditKeeper,
    ledger: LedgerDep,
    views: ViewsDep,
) -> Response:
    """Record that the credit was given back (``POST /v1/erp/credits/{id}/refund``)."""
    credit_id = path_id(credito)
    form = await read_form(request)
    body = validate(CreditRefund, {"reason": form["reason"].strip()}, form)
    if body is not None:
        try:
            with found():
                recorded = ledger.refund_credit(
                    user.reseller_id, credit_id, body.reason
                )
        except InvalidTransitionError:
            form.error(GENERAL, "este crédito já foi devolvido")
        except InvalidInputError as error:
            form.error(error.field, portuguese.message(error.message))
        except DomainError as error:
            form.error(GENERAL, portuguese.detail(409, str(error)))
        else:
            settled(views, recorded.position)
            return see_other("/erp/creditos?devolvido=1")
    return _credits(request, user, views, _filters({}), refused=(str(credit_id), form))


# -- controle bancário: boletos -----------------------------------------------


@router.get("/erp/boletos")
def boletos(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    conta: Text = None,
    situacao: Text = None,
    cliente: Text = None,
    vencimento_de: Text = None,
    vencimento_ate: Text = None,
    cursor: Text = None,
) -> Response:
    """Boletos of a bank account (Conta Principal unless chosen), newest first."""
    accounts = views.boletos.accounts(user.reseller_id)
    filters = _filters(
        {
            "conta": conta or str(main_bank_account_id(user.reseller_id)),
            "situacao": situacao,
            "cliente": cliente,
            "vencimento_de": vencimento_de,
            "vencimento_ate": vencimento_ate,
        }
    )
    account_id = None
    if filters["conta"] not in {str(a["id"]) for a in accounts}:
        filters.error("conta", "escolha uma conta da lista")
    else:
        account_id = UUID(filters["conta"])
    status = _code(filters, "situacao", BoletoStatus)
    due_from = _day(filters, "vencimento_de")
    due_to = _day(filters, "vencimento_ate")
    rows: list[Any] = []
    next_cursor = None
    if filters.ok:
        try:
            page = views.boletos.query(
                user.reseller_id,
                account_id=account_id,
                status=status,
                customer=_customer(views, user.reseller_id, filters["cliente"]),
                due_from=due_from,
                due_to=due_to,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except InvalidInputError:
            filters.error(GENERAL, "a página pedida não existe; volte à primeira")
        else:
            rows = [
                {**row, "label": BoletoStatus(row["status"]).label}
                for row in page.items
            ]
            next_cursor = page.next_cursor
    return render(
        request,
        "erp/boletos.html",
        {
            "rows": rows,
            "filters": filters,
            "accounts": [(str(a["id"]), a["name"]) for a in accounts],
            "statuses": _options(BoletoStatus),
            "next_query": _page_query(filters, next_cursor) if next_cursor else None,
        },
        status_code=200 if filters.ok else 422,
    )


# -- relatórios: inadimplência ------------------------------------------------


@router.get("/erp/inadimplencia")
def aging(
    request: Request,
    user: CurrentUser,
    views: ViewsDep,
    ledger: LedgerDep,
    data_base: Text = None,
) -> Response:
    """Open receivables per customer by days past due on the Data Base."""
    today = ledger.today()
    filters = _filters({"data_base": data_base or formats.day(today)})
    as_of = _day(filters, "data_base")
    rows: list[Any] = []
    totals: dict[str, int] = {}
    if filters.ok and as_of is not None:
        rows = views.receivables.aging(user.reseller_id, as_of)
        buckets = [bucket for bucket, _ in AGING_BUCKETS]
        totals = {b: sum(r[b] for r in rows) for b in (*buckets, "total")}
    return render(
        request,
        "erp/aging.html",
        {
            "rows": rows,
            "totals": totals,
            "filters": filters,
            "buckets": [(b, AGING_LABELS[b]) for b, _ in AGING_BUCKETS],
            "as_of": as_of,
        },
        status_code=200 if filters.ok else 422,
    )
