"""Cursors: what this API wrote reads back; anything else is invalid input."""

import base64

import pytest

from domain.errors import InvalidInputError
from projections.pages import decode_cursor, encode_cursor
from tests.builders import days_from_today


def test_a_cursor_reads_back_its_keyset() -> None:
    assert decode_cursor(encode_cursor(42), 1) == [42]
    day = days_from_today(10)
    assert decode_cursor(encode_cursor(day, 7), 2) == [day, 7]


def raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "é",
        "\x00",
        raw("[1, 2]"),
        raw('{"a": 1}'),
        raw("[true]"),
        raw("[1.5]"),
        raw("[-1]"),
        raw("[9223372036854775808]"),
        raw("[" + "9" * 5000 + "]"),
        raw('["not a date"]'),
        raw('["\\u0000"]'),
        raw("[[1]]"),
        raw("[null]"),
    ],
)
def test_anything_else_is_invalid_input(cursor: str) -> None:
    with pytest.raises(InvalidInputError, match="cursor"):
        decode_cursor(cursor, 1)
