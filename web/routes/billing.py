"""Painel de Revenda: Configurações, Faturamento Mensal and the contract's plan.

- Configurações: the same ``Ledger`` command and request schema as
  ``PATCH /v1/settings/billing``, for owners only (``OwnerUser``: others get 403,
  even posting directly).
- Faturamento Mensal: ``POST/GET /v1/billing-runs``'s command and view, for owners
  and operators (``Writer``).
- The plan fields of Dados da Contratação: ``read_plan`` parses them as the API
  does (``PlanIn``, then ``api.routes.panel.plan_of``: ``Plan.parse`` and the
  partner's minimum); ``panel.change_contract`` saves the plan.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api import portuguese
from api.deps import LedgerDep, ViewsDep
from api.routes.billing import RUN_CATCH_UP_SECONDS
from api.routes.panel import plan_of as api_plan
from api.schemas import BillingRunCreate, BillingSettingsUpdate, PlanIn
from domain.billing import DAY_RANGES, PERCENT_FIELDS, BillingSettings
from domain.billing_runs import BillingReference
from domain.contracts import Contract, Plan
from domain.errors import DomainError, InvalidInputError
from projections.read_models import ReadModels
from web import formats
from web.forms import GENERAL, Form, read_form, refusal, validate
from web.routing import see_other, settled, web_router
from web.session import CurrentUser, OwnerUser, Writer
from web.templating import render

router = web_router()
PAGE_SIZE = 50
PLAN_FIELDS = {
    "plan.description": "plan_description",
    "plan.amount": "plan_amount",
    "plan.due_day": "plan_due_day",
    "description": "plan_description",
    "amount": "plan_amount",
    "due_day": "plan_due_day",
}
"""The API's plan fields (domain and schema names) → the form's."""
UNCHANGED = object()
"""``read_plan``'s answer when the form leaves the plan as it is."""
_MONTH = re.compile(r"0?[1-9]|1[0-2]")
_YEAR = re.compile(r"[0-9]{4}")
_PERCENT = re.compile(r"([0-9]{1,6})(?:[,.]([0-9]{1,2}))?")
_DAYS = re.compile(r"[0-9]{1,4}")
_BLANK_MEANS = {
    "reminder_days_before_due": "sem lembrete",
    "suspend_after_days_overdue": "não suspender",
    "auto_billing_day": "só manual",
}
_HINTS = {
    name: f"De {low} a {high}; em branco: {_BLANK_MEANS[name]}"
    for name, (low, high) in DAY_RANGES.items()
}


def _shown_percent(value: Decimal) -> str:
    """``Decimal("2.00")`` → ``2,00``."""
    return f"{value:.2f}".replace(".", ",")


def _settings_form(settings: BillingSettings) -> Form:
    values = {name: _shown_percent(getattr(settings, name)) for name in PERCENT_FIELDS}
    for name in DAY_RANGES:
        day = getattr(settings, name)
        values[name] = "" if day is None else str(day)
    return Form(values=values)


@router.get("/painel/configuracoes")
def settings_page(request: Request, user: OwnerUser, ledger: LedgerDep) -> Response:
    """The billing settings in force, in a form."""
    form = _settings_form(ledger.billing_settings(user.reseller_id))
    return _page(request, form)


def _page(request: Request, form: Form, status_code: int = 200) -> HTMLResponse:
    return render(
        request,
        "panel/settings.html",
        {"form": form, "hints": _HINTS},
        status_code=status_code,
    )


def _typed_percent(form: Form, name: str) -> str | None:
    """``2``, ``2,5``, ``2,00`` (or ``2.00``, ``2%``) → ``"2.00"`` for the schema."""
    text = form[name].strip().removesuffix("%").strip()
    if not text:
        form.error(name, "campo obrigatório; use 0 para não cobrar")
        return None
    match = _PERCENT.fullmatch(text)
    if match is None:
        form.error(name, "use um percentual como 2,00")
        return None
    return f"{match[1]}.{(match[2] or '0').ljust(2, '0')}"


def _typed_days(form: Form, name: str) -> int | None:
    """A whole number of days, or blank for "não usar"."""
    text = form[name].strip()
    if text and not _DAYS.fullmatch(text):
        form.error(name, "deve ser um número inteiro de dias")
    return int(text) if text and _DAYS.fullmatch(text) else None


@router.post("/painel/configuracoes")
async def save_settings(
    request: Request, user: OwnerUser, ledger: LedgerDep, views: ViewsDep
) -> Response:
    """Save every setting at once; any refusal saves nothing."""
    form = await read_form(request)
    data: dict[str, Any] = {}
    for name in PERCENT_FIELDS:
        data[name] = _typed_percent(form, name)
    for name in DAY_RANGES:
        data[name] = _typed_days(form, name)
    # Every field's refusal at once (the command stops at the first): the
    # domain's own rule, field by field, on what could be read; the command
    # runs it again on the whole.
    for name, value in data.items():
        if name in form.errors:
            continue
        try:
            BillingSettings().changed({name: value})
        except InvalidInputError as error:
            form.error(name, portuguese.message(error.message))
    body = validate(BillingSettingsUpdate, data, form) if form.ok else None
    if body is not None:
        try:
            recorded = ledger.change_billing_settings(
                user.reseller_id, body.model_dump()
            )
        except DomainError as error:
            refusal(form, error)
        else:
            settled(views, recorded.position)
            return see_other("/painel/configuracoes?salvo=1")
    return _page(request, form, 422)


# -- faturamento mensal ------------------------------------------------------------


@router.get("/painel/faturamento")
def billing_runs(
    request: Request, user: CurrentUser, views: ViewsDep, ledger: LedgerDep
) -> Response:
    """The billing run form (this month by default) and the past runs."""
    today = ledger.today()
    form = Form(
        values={
            "reference_month": f"{today.month:02d}",
            "reference_year": f"{today.year:04d}",
        }
    )
    return _runs_page(request, user.reseller_id, views, form)


def _runs_page(
    request: Request,
    reseller_id: UUID,
    views: ReadModels,
    form: Form,
    status_code: int = 200,
) -> HTMLResponse:
    page = views.billing.runs(reseller_id, limit=PAGE_SIZE)
    runs = [
        {**row, "month": row["reference"][5:], "year": row["reference"][:4]}
        for row in page.items
    ]
    return render(
        request,
        "panel/billing_runs.html",
        {"form": form, "runs": runs},
        status_code=status_code,
    )


@router.post("/painel/faturamento")
async def run_billing(
    request: Request, user: Writer, ledger: LedgerDep, views: ViewsDep
) -> Response:
    """Bill the month to every active contract with a plan (``POST /v1/billing-runs``).

    Contracts the month was already billed to are skipped, so running twice is
    harmless.
    """
    form = await read_form(request)
    reference = _reference_of(form)
    if reference is not None:
        # As the API does: the candidates come from the contracts view, which must
        # have seen every contract activated or given a plan before this request.
        head = ledger.recorder.max_notification_id() or 0
        if not views.wait_for(head, RUN_CATCH_UP_SECONDS):
            form.error(
                GENERAL,
                "os dados ainda estão sendo atualizados; tente de novo em instantes",
            )
        else:
            try:
                recorded = ledger.run_billing(
                    user.reseller_id,
                    reference,
                    views.contracts.billable(user.reseller_id),
                )
            except DomainError as error:
                refusal(form, error, field_of={"reference": "reference_year"})
            else:
                if recorded is not None:
                    settled(views, recorded.position)
                    return see_other(
                        f"/painel/faturamento?gerado={recorded.aggregate.id}"
                    )
    return _runs_page(request, user.reseller_id, views, form, 422)


def _reference_of(form: Form) -> str | None:
    """``YYYY-MM`` of Mês/Ano Referência, checked as the API checks it."""
    month = form["reference_month"].strip()
    year = form["reference_year"].strip()
    if not _MONTH.fullmatch(month):
        form.error("reference_month", "deve ter dois dígitos, de 01 a 12")
    if not _YEAR.fullmatch(year):
        form.error("reference_year", "deve ter exatamente quatro dígitos")
    if not form.ok:
        return None
    body = validate(BillingRunCreate, {"reference": f"{year}-{month.zfill(2)}"}, form)
    if body is None:
        return None
    try:
        BillingReference.parse(body.reference)
    except InvalidInputError as error:
        form.error("reference_year", portuguese.message(error.message))
        return None
    return body.reference


# -- the contract's plan (Dados da Contratação) ----------------------------------------


def plan_values(contract: Contract) -> dict[str, str]:
    """The plan fields of a contract's form, as a Brazilian reads them."""
    plan: Plan | None = contract.plan
    if plan is None:
        return {"plan_description": "", "plan_amount": "", "plan_due_day": ""}
    return {
        "plan_description": plan.description,
        "plan_amount": formats.money(plan.amount_cents).removeprefix("R$ "),
        "plan_due_day": str(plan.due_day),
    }


def read_plan(form: Form, contract: Contract, minimum_amount_cents: int) -> object:
    """The plan the form asks for: a ``Plan``, ``None`` (no plan) or ``UNCHANGED``.

    All three fields blank means no plan. Errors go to the form by field.
    """
    typed = {name: form[name].strip() for name in plan_values(contract)}
    if not any(typed.values()):
        return UNCHANGED if contract.plan is None else None
    amount = None
    try:
        amount = formats.parse_money(typed["plan_amount"])
    except formats.FormatError as error:
        form.error("plan_amount", str(error))
    due_day: object = typed["plan_due_day"]
    if _DAYS.fullmatch(typed["plan_due_day"]):
        due_day = int(typed["plan_due_day"])
    elif typed["plan_due_day"]:
        form.error("plan_due_day", "deve ser um número inteiro de 1 a 28")
    else:
        form.error("plan_due_day", "campo obrigatório")
    if not typed["plan_description"]:
        form.error("plan_description", "campo obrigatório")
    data = {
        "description": typed["plan_description"],
        "amount": amount,
        "due_day": due_day,
    }
    # Every field's refusal at once (the rules stop at the first): each field
    # that could be read is checked alone by the API's rules, the others standing
    # in with values those rules accept; then the whole plan, for real.
    stand_ins = {
        "description": "Plano",
        "amount": f"{minimum_amount_cents // 100}.{minimum_amount_cents % 100:02d}",
        "due_day": 1,
    }
    for name, value in data.items():
        if PLAN_FIELDS[name] not in form.errors:
            _plan_or_errors({**stand_ins, name: value}, minimum_amount_cents, form)
    if not form.ok:
        return UNCHANGED
    plan = _plan_or_errors(data, minimum_amount_cents, form)
    if plan is None:
        return UNCHANGED
    return UNCHANGED if plan == contract.plan else plan


def _plan_or_errors(
    data: dict[str, Any], minimum_amount_cents: int, form: Form
) -> Plan | None:
    """``data`` as the API reads a plan (``PlanIn``, then ``plan_of``), or errors."""
    errors = Form()
    body = validate(PlanIn, data, errors)
    for name, message in errors.errors.items():
        form.error(PLAN_FIELDS.get(name, GENERAL), message)
    if body is None:
        return None
    try:
        return api_plan(body, minimum_amount_cents)
    except InvalidInputError as error:
        refusal(form, error, field_of=PLAN_FIELDS)
        return None
