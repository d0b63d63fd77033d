"""Forms: what the person typed, errors by the field in Portuguese, nothing saved.

A POST route reads the form (``read_form``), parses what a Brazilian types
(``web.formats``), validates it with the API's own request schema (``validate``:
same limits, same refusals) and calls the ``Ledger``. Any refusal (a ``FormatError``,
the schema's, or the domain's ``InvalidInputError``/conflicts via ``refusal``)
goes into ``Form.errors`` under the field's name and the route renders the same
template again with status 422, the typed values kept. Field names in the HTML are
the API's field names, so a refusal lands next to its field without a mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from api import portuguese
from domain.errors import DomainError, InvalidInputError
from web.session import CSRF_FIELD

GENERAL = "__all__"
"""The key of an error about the whole form, shown above it."""
MAX_FIELD_CHARACTERS = 10_000
"""More than this in one field is refused before any parser sees it."""

Schema = TypeVar("Schema", bound=BaseModel)


@dataclass
class Form:
    """A form's values as typed and its errors by field name."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def get(self, name: str, default: str = "") -> str:
        """A value as typed, or ``default``."""
        return self.values.get(name, default)

    def error(self, name: str, message: str) -> None:
        """Record the first error of a field (in Portuguese)."""
        self.errors.setdefault(name, message)

    @property
    def ok(self) -> bool:
        """No error so far."""
        return not self.errors

    def optional(self, name: str) -> str | None:
        """A value as typed, or ``None`` when blank."""
        value = self.values.get(name, "").strip()
        return value or None


async def read_form(request: Request) -> Form:
    """The posted text fields (the CSRF token aside); files are ignored."""
    posted = await request.form()
    form = Form()
    for name, value in posted.multi_items():
        if name == CSRF_FIELD or not isinstance(value, str):
            continue
        form.values.setdefault(name, value)
        if len(value) > MAX_FIELD_CHARACTERS:
            form.error(name, "texto longo demais")
    return form


def validate(schema: type[Schema], data: dict[str, Any], form: Form) -> Schema | None:
    """``data`` as the API's ``schema``, or ``None`` with the errors in ``form``."""
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        for issue in error.errors():
            loc = issue.get("loc", ())
            name = str(loc[0]) if loc else GENERAL
            form.error(
                name,
                portuguese.message(
                    str(issue.get("msg", "")), issue.get("type"), issue.get("ctx")
                ),
            )
        return None


def refusal(
    form: Form, error: DomainError, *, field_of: dict[str, str] | None = None
) -> None:
    """A domain refusal as a form error: by field for invalid input, else general.

    ``field_of`` renames a domain field to the form's (``amount_cents`` → ``amount``).
    """
    if isinstance(error, InvalidInputError):
        name = (field_of or {}).get(error.field, error.field)
        form.error(name, portuguese.message(error.message))
        return
    form.error(GENERAL, portuguese.detail(409, str(error)))
