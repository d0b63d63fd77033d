"""Boleto bancário codec: the 44-digit barcode and the 47-digit digitable line.

Layout of the barcode (positions 1-based), FEBRABAN / BCB Carta-Circular 2.926:

====== ==== ==========================================================
1–3    3    bank code
4      1    currency, 9 = Real
5      1    general check digit, modulo 11
6–9    4    due-date factor
10–19  10   amount in centavos
20–44  25   free field (bank specific)
====== ==== ==========================================================

The digitable line carries the same digits in five fields: three with their own
modulo-10 check digit, the general check digit, then factor and amount.

The due-date factor counts days from 1997-10-07; it reached 9999 on 2025-02-21 and
restarted at 1000 on 2025-02-22, wrapping every 9000 days since. Decoding a factor is
therefore ambiguous by construction: the cycle closest to a reference date is chosen.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from domain.errors import InvalidInputError
from domain.money import MAX_AMOUNT_CENTS

BARCODE_LENGTH = 44
LINE_LENGTH = 47
FREE_FIELD_LENGTH = 25
CURRENCY_REAL = "9"

FACTOR_BASE_DATE = date(1997, 10, 7)
FACTOR_RESET_DATE = date(2025, 2, 22)
FACTOR_MIN = 1000
FACTOR_MAX = 9999
FACTOR_CYCLE_DAYS = FACTOR_MAX - FACTOR_MIN + 1
FIRST_FACTOR_DATE = FACTOR_BASE_DATE + timedelta(days=FACTOR_MIN)

_DIGITS = re.compile(r"[0-9]+")
_LINE_SEPARATORS = re.compile(r"[\s.]")


class BoletoError(InvalidInputError):
    """A barcode or digitable line that does not hold together."""

    def __init__(self, message: str, field: str = "boleto") -> None:
        super().__init__(field, message)


def due_date_factor(due_date: date) -> int:
    """Return the four-digit factor for ``due_date`` (with the 2025 restart)."""
    if due_date < FIRST_FACTOR_DATE:
        raise BoletoError("due date before 2000-07-03 has no four-digit factor")
    if due_date < FACTOR_RESET_DATE:
        return (due_date - FACTOR_BASE_DATE).days
    return FACTOR_MIN + (due_date - FACTOR_RESET_DATE).days % FACTOR_CYCLE_DAYS


def due_date_from_factor(factor: int, near: date) -> date:
    """Return the date with ``factor`` whose cycle lies closest to ``near``."""
    if not FACTOR_MIN <= factor <= FACTOR_MAX:
        raise BoletoError(f"due-date factor {factor} is outside 1000..9999")
    candidates = [FACTOR_BASE_DATE + timedelta(days=factor)]
    first_cycle = FACTOR_RESET_DATE + timedelta(days=factor - FACTOR_MIN)
    cycles_to_near = max(0, (near - first_cycle).days // FACTOR_CYCLE_DAYS)
    candidates.extend(
        first_cycle + timedelta(days=FACTOR_CYCLE_DAYS * k)
        for k in range(max(0, cycles_to_near - 1), cycles_to_near + 2)
    )
    return min(candidates, key=lambda d: (abs((d - near).days), d))


def modulo11_check_digit(digits: str) -> int:
    """General check digit: weights 2..9 from the right; 0, 10 and 11 become 1."""
    total = sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(digits)))
    result = 11 - total % 11
    return 1 if result in (0, 10, 11) else result


def modulo10_check_digit(digits: str) -> int:
    """Field check digit: weights 2,1,2,1… from the right, products' digits summed."""
    total = 0
    for i, d in enumerate(reversed(digits)):
        product = int(d) * (2 if i % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class Boleto:
    """The fields a barcode carries. ``factor`` 0 means the boleto has no due date."""

    bank_code: str
    factor: int
    amount_cents: int
    free_field: str

    @classmethod
    def create(
        cls, bank_code: str, due_date: date, amount_cents: int, free_field: str
    ) -> Boleto:
        """Build from a due date; every part is validated."""
        boleto = cls(bank_code, due_date_factor(due_date), amount_cents, free_field)
        boleto.check()
        return boleto

    def check(self) -> None:
        """Raise ``BoletoError`` unless every field fits the layout."""
        if len(self.bank_code) != 3 or not self.bank_code.isdigit():  # noqa: PLR2004
            raise BoletoError("bank code must be three digits")
        if not (self.factor == 0 or FACTOR_MIN <= self.factor <= FACTOR_MAX):
            raise BoletoError("due-date factor must be 0 or 1000..9999")
        if not 0 <= self.amount_cents <= MAX_AMOUNT_CENTS:
            raise BoletoError("amount does not fit ten digits of centavos")
        if len(self.free_field) != FREE_FIELD_LENGTH or not self.free_field.isdigit():
            raise BoletoError("free field must be 25 digits")

    def due_date(self, near: date) -> date | None:
        """The due date whose factor cycle is closest to ``near`` (None: no factor)."""
        return None if self.factor == 0 else due_date_from_factor(self.factor, near)

    @property
    def barcode(self) -> str:
        """The 44-digit barcode, general check digit included."""
        head = self.bank_code + CURRENCY_REAL
        tail = f"{self.factor:04d}{self.amount_cents:010d}{self.free_field}"
        return f"{head}{modulo11_check_digit(head + tail)}{tail}"

    @property
    def digitable_line(self) -> str:
        """The 47-digit line as printed (``AAAAA.AAAAA BBBBB.BBBBBB ... D E``)."""
        return format_line(barcode_to_line(self.barcode))

    @classmethod
    def from_barcode(cls, barcode: str) -> Boleto:
        """Parse and verify a 44-digit barcode."""
        if len(barcode) != BARCODE_LENGTH or _DIGITS.fullmatch(barcode) is None:
            raise BoletoError("barcode must be 44 digits", "barcode")
        if barcode[3] != CURRENCY_REAL:
            raise BoletoError("currency code must be 9 (Real)", "barcode")
        expected = modulo11_check_digit(barcode[:4] + barcode[5:])
        if int(barcode[4]) != expected:
            raise BoletoError("general check digit does not match", "barcode")
        return cls(
            bank_code=barcode[:3],
            factor=int(barcode[5:9]),
            amount_cents=int(barcode[9:19]),
            free_field=barcode[19:],
        )

    @classmethod
    def from_digitable_line(cls, line: str) -> Boleto:
        """Parse and verify a digitable line, with or without its punctuation."""
        return cls.from_barcode(line_to_barcode(line))


def barcode_to_line(barcode: str) -> str:
    """The 47 digits of the digitable line for a (verified) barcode, unpunctuated."""
    Boleto.from_barcode(barcode)
    field1 = barcode[0:4] + barcode[19:24]
    field2 = barcode[24:34]
    field3 = barcode[34:44]
    return (
        f"{field1}{modulo10_check_digit(field1)}"
        f"{field2}{modulo10_check_digit(field2)}"
        f"{field3}{modulo10_check_digit(field3)}"
        f"{barcode[4]}{barcode[5:19]}"
    )


def line_to_barcode(line: str) -> str:
    """The 44-digit barcode for a digitable line; every check digit is verified."""
    digits = _LINE_SEPARATORS.sub("", line)
    if len(digits) != LINE_LENGTH or _DIGITS.fullmatch(digits) is None:
        raise BoletoError("digitable line must be 47 digits", "digitable_line")
    fields = (
        (digits[0:9], digits[9]),
        (digits[10:20], digits[20]),
        (digits[21:31], digits[31]),
    )
    for number, (payload, check) in enumerate(fields, start=1):
        if modulo10_check_digit(payload) != int(check):
            raise BoletoError(
                f"check digit of field {number} does not match", "digitable_line"
            )
    barcode = (
        digits[0:4] + digits[32] + digits[33:47] + digits[4:9] + digits[10:20]
    ) + digits[21:31]
    try:
        Boleto.from_barcode(barcode)
    except BoletoError as error:
        raise BoletoError(error.message, "digitable_line") from None
    return barcode


def format_line(digits: str) -> str:
    """Punctuate 47 line digits the way they are printed on a boleto."""
    return (
        f"{digits[0:5]}.{digits[5:10]} {digits[10:15]}.{digits[15:21]} "
        f"{digits[21:26]}.{digits[26:32]} {digits[32]} {digits[33:47]}"
    )


# -- the printed boleto ------------------------------------------------------------

BANK_NAMES = {
    "001": "Banco do Brasil",
    "033": "Santander",
    "104": "Caixa",
    "237": "Bradesco",
    "341": "Itaú",
    "461": "Asaas IP",
}
"""Names printed in the bank area of the boleto, for the codes partners use."""


def bank_check_digit(bank_code: str) -> str:
    """The check digit printed after the bank code (``001-9``, ``341-7``, ``104-0``).

    Modulo 11 with weights 2, 3, 4 from the right; a result of 10 or 11 is 0.
    """
    if len(bank_code) != 3 or not bank_code.isdigit():  # noqa: PLR2004
        raise BoletoError("bank code must be three digits")
    total = sum(int(d) * w for d, w in zip(reversed(bank_code), (2, 3, 4), strict=True))
    digit = 11 - total % 11
    return "0" if digit >= 10 else str(digit)  # noqa: PLR2004


ITF_NARROW = 1
ITF_WIDE = 3
"""Element widths in narrow modules: FEBRABAN's wide:narrow ratio is 3:1."""
_ITF_PATTERNS = (
    "nnwwn",
    "wnnnw",
    "nwnnw",
    "wwnnn",
    "nnwnw",
    "wnwnn",
    "nwwnn",
    "nnnww",
    "wnnwn",
    "nwnwn",
)
"""Interleaved 2 of 5: the five elements of each digit, two of them wide."""
_ITF_START = (ITF_NARROW,) * 4
_ITF_STOP = (ITF_WIDE, ITF_NARROW, ITF_NARROW)


def itf_widths(digits: str) -> list[int]:
    """The widths of the bars and spaces of ``digits`` in ITF, a bar first.

    Each pair of digits is five bars (the first digit) interleaved with five spaces
    (the second); a start pattern (bar, space, bar, space) precedes them and a stop
    pattern (wide bar, space, bar) ends them.
    """
    if not digits or len(digits) % 2 or _DIGITS.fullmatch(digits) is None:
        raise BoletoError("ITF encodes an even number of digits", "barcode")
    widths = list(_ITF_START)
    for index in range(0, len(digits), 2):
        bars = _ITF_PATTERNS[int(digits[index])]
        spaces = _ITF_PATTERNS[int(digits[index + 1])]
        for bar, space in zip(bars, spaces, strict=True):
            widths += [ITF_WIDE if bar == "w" else ITF_NARROW]
            widths += [ITF_WIDE if space == "w" else ITF_NARROW]
    return widths + list(_ITF_STOP)


def itf_decode(widths: list[int]) -> str:
    """The digits of ITF bar and space widths (any unit; narrow is the smallest).

    Used to check a rendered barcode reads back: elements wider than twice the
    narrowest are wide.
    """
    narrow = min(widths)
    marks = ["w" if w > 2 * narrow else "n" for w in widths]
    if marks[:4] != ["n"] * 4 or marks[-3:] != ["w", "n", "n"]:
        raise BoletoError("no ITF start or stop pattern", "barcode")
    body = marks[4:-3]
    if len(body) % 10:
        raise BoletoError("ITF body is not whole pairs of digits", "barcode")
    digits = []
    for index in range(0, len(body), 10):
        chunk = body[index : index + 10]
        for pattern in ("".join(chunk[0::2]), "".join(chunk[1::2])):
            if pattern not in _ITF_PATTERNS:
                raise BoletoError("not an ITF digit pattern", "barcode")
            digits.append(str(_ITF_PATTERNS.index(pattern)))
    return "".join(digits)
