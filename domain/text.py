"""Validation of the free-text fields that commands carry (names, e-mails, ...).

The one rule of text in the ledger: no control characters (U+0000..U+001F, U+007F),
except line breaks where a field allows them (an invoice's description). The API
checks it on every field first (``api.schemas``); the aggregates check it again so
that no command, whatever its origin, records a value the views cannot store.
"""

from __future__ import annotations

import re

from domain.errors import InvalidInputError

MAX_EMAIL_LENGTH = 254
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LINE_BREAK = re.compile(r"\r?\n")

BRAZILIAN_STATES = frozenset(
    {
        *("AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS"),
        *("MG", "PA", "PB", "PR", "PE", "PI", "RJ", "RN", "RS", "RO", "RR", "SC"),
        *("SP", "SE", "TO"),
    }
)


def has_control_characters(value: str, *, line_breaks: bool = False) -> bool:
    """Whether ``value`` holds a control character (line breaks allowed if asked)."""
    if line_breaks:
        value = _LINE_BREAK.sub("", value)
    return _CONTROL.search(value) is not None


def required_text(
    value: str, field: str, max_length: int, *, line_breaks: bool = False
) -> str:
    """Strip ``value`` and require 1..``max_length`` characters without controls.

    ``line_breaks`` allows line feeds (alone or after a carriage return) inside the
    text, never a lone carriage return, a tab nor any other control character.
    """
    text = value.strip()
    if not text:
        raise InvalidInputError(field, "must not be blank")
    if len(text) > max_length:
        raise InvalidInputError(field, f"must have at most {max_length} characters")
    if has_control_characters(text, line_breaks=line_breaks):
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
    if (
        len(text) > MAX_EMAIL_LENGTH
        or _EMAIL.fullmatch(text) is None
        or has_control_characters(text)
    ):
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
