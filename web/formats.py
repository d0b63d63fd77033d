"""Brazilian formats for people: money, dates and documents, out and in.

Out: ``R$ 1.234,56`` (babel, pt-BR), ``dd/mm/aaaa``, CPF ``000.000.000-00`` and CNPJ
``00.000.000/0000-00``. In: what a Brazilian types (``1.234,56``, ``1234,56``,
``dd/mm/aaaa`` or the ISO date a date picker sends). A parser raises
``FormatError`` with a Portuguese message; the domain still checks ranges.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_currency

LOCALE = "pt_BR"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
_CPF_LENGTH = 11
_CNPJ_LENGTH = 14
_GROUPED = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")
_PLAIN = re.compile(r"[0-9]{1,16}")
_DOT_DECIMAL = re.compile(r"[0-9]{1,16}\.[0-9]{1,2}")
_BR_DATE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_PUNCTUATION = re.compile(r"[\s./-]")


class FormatError(ValueError):
    """Input a person typed that is not in a format we read (message in pt-BR)."""


def money(cents: int | None) -> str:
    """``123456`` → ``R$ 1.234,56`` (a plain space after ``R$``)."""
    if cents is None:
        return ""
    text = format_currency(Decimal(cents) / 100, "BRL", locale=LOCALE)
    return text.replace("\xa0", " ")


def day(value: date | datetime | None) -> str:
    """A date as ``dd/mm/aaaa`` (a moment on its São Paulo day)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(SAO_PAULO).date()
    return format_date(value, "dd/MM/yyyy", locale=LOCALE)


def moment(value: datetime | None) -> str:
    """A moment as ``dd/mm/aaaa hh:mm`` in São Paulo."""
    if value is None:
        return ""
    return value.astimezone(SAO_PAULO).strftime("%d/%m/%Y %H:%M")


def document(number: str | None) -> str:
    """A CPF or CNPJ with its punctuation; anything else as it is."""
    if not number:
        return ""
    raw = _PUNCTUATION.sub("", number)
    if len(raw) == _CPF_LENGTH:
        return f"{raw[:3]}.{raw[3:6]}.{raw[6:9]}-{raw[9:]}"
    if len(raw) == _CNPJ_LENGTH:
        return f"{raw[:2]}.{raw[2:5]}.{raw[5:8]}/{raw[8:12]}-{raw[12:]}"
    return number


def parse_money(text: str) -> str:
    """``1.234,56``, ``1234,56``, ``R$ 1.234,56`` (or ``1234.56``) → ``"1234.56"``.

    The result is decimal text for ``domain.money.parse_amount``, which checks the
    range; a dot alone followed by three digits groups thousands (``1.234``).
    """
    value = text.strip().removeprefix("R$").strip().replace(" ", "")
    if not value:
        raise FormatError("campo obrigatório")
    units, comma, places = value.partition(",")
    if comma:
        if not (_GROUPED.fullmatch(units) or _PLAIN.fullmatch(units)):
            raise FormatError("valor inválido; use por exemplo 1.234,56")
        if not re.fullmatch(r"[0-9]{1,2}", places):
            raise FormatError("use no máximo dois dígitos depois da vírgula")
        return f"{units.replace('.', '')}.{places}"
    if _GROUPED.fullmatch(value):
        return value.replace(".", "")
    if _PLAIN.fullmatch(value) or _DOT_DECIMAL.fullmatch(value):
        return value
    raise FormatError("valor inválido; use por exemplo 1.234,56")


def parse_day(text: str) -> date:
    """``dd/mm/aaaa`` or ``aaaa-mm-dd`` (a date picker's value) → ``date``."""
    value = text.strip()
    if not value:
        raise FormatError("campo obrigatório")
    try:
        if match := _BR_DATE.fullmatch(value):
            return date(int(match[3]), int(match[2]), int(match[1]))
        if match := _ISO_DATE.fullmatch(value):
            return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise FormatError("não é uma data do calendário") from None
    raise FormatError("data inválida; use dd/mm/aaaa")


def compact_document(text: str) -> str:
    """A document as typed, without punctuation (the domain verifies it)."""
    return _PUNCTUATION.sub("", text.strip())
