"""Pages of query results and the opaque cursors that continue them."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from domain.errors import InvalidInputError

Row = dict[str, Any]
MAX_LIMIT = 200


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
    """The keyset values of ``cursor``, or ``InvalidInputError``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidInputError("cursor", "is not a cursor from this API") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInputError("cursor", "is not a cursor from this API")
    return values


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
