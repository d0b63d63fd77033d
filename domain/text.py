"""Validation of the free-text fields that commands carry (names, e-mails, ...)."""

from __future__ import annotations

import re

from domain.errors import InvalidInputError

MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

BRAZILIAN_STATES = frozenset(
    {
        *("AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS"),
        *("MG", "PA", "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC"),
        *("SP", "SE", "TO"),
    }
)


def required_text(value: str, field: str, max_length: int) -> str:
    """Strip ``value`` and require 1..``max_length`` characters without controls."""
    text = value.strip()
    if not text:
        raise InvalidInputError(field, "must not be blank")
    if len(text) > max_length:
        raise InvalidInputError(field, f"must have at most {max_length} characters")
    if _CONTROL.search(text):
        raise InvalidInputError(field, "must not contain control characters")
    return text


def optional_text(value: str | None, field: str, max_length: int) -> str | None:
    """Like ``required_text``, but ``None`` or blank means absent."""
    if value is None or not value.strip():
        return None
    return required_text(value, field, max_length)


def email_address(value: str, field: str = "email") -> str:
    """A plausible e-mail address, stripped and lower-cased."""
    text = value.strip().lower()
    if len(text) > MAX_EMAIL_LENGTH or _EMAIL.fullmatch(text) is None:
        raise InvalidInputError(field, "is not a valid e-mail address")
    return text


def state_code(value: str | None, field: str = "state") -> str | None:
    """A Brazilian state (UF) code such as ``SP``, upper-cased, or ``None``."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if code not in BRAZILIAN_STATES:
        raise InvalidInputError(field, "must be a Brazilian state code such as SP")
    return code
