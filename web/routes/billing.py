"""Painel de Revenda: Configurações (the reseller's billing settings).

The same ``Ledger`` command and request schema as ``PATCH /v1/settings/billing``,
for owners only (``OwnerUser``: others get 403, even posting directly).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from api import portuguese
from api.deps import LedgerDep, ViewsDep
from api.schemas import BillingSettingsUpdate
from domain.billing import DAY_RANGES, PERCENT_FIELDS, BillingSettings
from domain.errors import DomainError, InvalidInputError
from web.forms import Form, read_form, refusal, validate
from web.routing import see_other, settled, web_router
from web.session import OwnerUser
from web.templating import render

router = web_router()
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
