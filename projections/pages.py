"""Pages of query results and the opaque cursors that continue them."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.errors import InvalidInputError

Row = dict[str, Any]
MAX_LIMIT = 200
_MAX_BIGINT = 2**63 - 1


@dataclass(frozen=True)
class Page:
    """Items of one page, the cursor of the next (``None`` at the end), totals."""

    items: list[Row]
    next_cursor: str | None
    totals: Row = field(default_factory=dict)


def encode_cursor(*values: object) -> str:
    """An opaque cursor for the keyset ``values`` of the last item of a page."""
    text = json.dumps([str(v) if not isinstance(v, int) else v for v in values])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The keyset values of ``cursor``, or ``InvalidInputError``.

    Cursors are opaque to clients, so anything this API did not write is refused
    here, before a value reaches SQL: ``encode_cursor`` writes only log positions
    and codes (integers within PostgreSQL's bigint) and dates (ISO text).
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidInputError("cursor", "is not a cursor from this API") from None
    if (
        not isinstance(values, list)
        or len(values) != arity
        or not all(map(_keyset_value, values))
    ):
        raise InvalidInputError("cursor", "is not a cursor from this API")
    return values


def _keyset_value(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= _MAX_BIGINT
    if isinstance(value, str):
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


def check_limit(limit: int) -> int:
    """A page size within 1..200."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError("limit", f"must be between 1 and {MAX_LIMIT}")
    return limit


def page_of(rows: list[Row], limit: int, *keyset: str) -> Page:
    """A page from ``limit + 1`` fetched rows: the extra one says there is more."""
    items = rows[:limit]
    more = len(rows) > limit
    next_cursor = encode_cursor(*(items[-1][k] for k in keyset)) if more else None
    return Page(items=items, next_cursor=next_cursor)
