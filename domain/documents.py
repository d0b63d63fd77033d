"""CPF and CNPJ documents, including the alphanumeric CNPJ valid from July 2026.

Check digits are verified by python-stdnum. A document is kept normalised: upper
case, no punctuation. A document made of one repeated character is refused even
where its check digits happen to hold (``111.111.111-11``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from stdnum.br import cnpj, cpf
from stdnum.exceptions import ValidationError

from domain.errors import InvalidInputError

MAX_DOCUMENT_TEXT_LENGTH = 32
_CPF_LENGTH = 11
_PUNCTUATION = re.compile(r"[\s./-]")


class DocumentType(StrEnum):
    """The two kinds of Brazilian tax id a client can carry."""

    CPF = "cpf"
    CNPJ = "cnpj"


@dataclass(frozen=True, slots=True)
class Document:
    """A verified CPF (11 digits) or CNPJ (14 characters), normalised."""

    number: str
    type: DocumentType

    @classmethod
    def parse(cls, raw: str, field: str = "document") -> Document:
        """Verify and normalise ``raw``, with or without punctuation."""
        if len(raw) > MAX_DOCUMENT_TEXT_LENGTH:
            raise InvalidInputError(field, "is too long for a CPF or CNPJ")
        compact = _PUNCTUATION.sub("", raw).upper()
        if len(set(compact)) <= 1:
            raise InvalidInputError(field, "is not a valid CPF or CNPJ")
        kind = DocumentType.CPF if len(compact) == _CPF_LENGTH else DocumentType.CNPJ
        validator = cpf if kind is DocumentType.CPF else cnpj
        try:
            number = validator.validate(compact)
        except ValidationError:
            raise InvalidInputError(field, "is not a valid CPF or CNPJ") from None
        return cls(number=str(number), type=kind)

    @classmethod
    def parse_cnpj(cls, raw: str, field: str = "document") -> Document:
        """Like ``parse`` but accept only a CNPJ (a reseller is a company)."""
        document = cls.parse(raw, field)
        if document.type is not DocumentType.CNPJ:
            raise InvalidInputError(field, "must be a CNPJ")
        return document


def compact_document_text(text: str) -> str:
    """Strip punctuation and upper-case, as documents are stored (for searches)."""
    return _PUNCTUATION.sub("", text).upper()


def format_document(number: str) -> str:
    """A normalised CPF or CNPJ punctuated as printed.

    ``145.382.206-20``, ``16.727.230/0001-97``; anything else is returned as is.
    """
    if len(number) == _CPF_LENGTH:
        return f"{number[:3]}.{number[3:6]}.{number[6:9]}-{number[9:]}"
    if len(number) == 14:  # noqa: PLR2004 - a CNPJ's length
        return f"{number[:2]}.{number[2:5]}.{number[5:8]}/{number[8:12]}-{number[12:]}"
    return number
