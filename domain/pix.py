"""Pix BR Code (EMV® Merchant-Presented Mode, BCB's Manual de Padrões do Pix).

A BR Code is a sequence of tag-length-value fields (two-digit id, two-digit length,
value) that ends with tag ``63``: a CRC-16/CCITT-FALSE (polynomial 0x1021, initial
value 0xFFFF, no reflection, no final xor) over the whole payload including the
literal ``6304``, written as four upper-case hex digits.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from domain.errors import InvalidInputError
from domain.money import check_amount_cents, format_amount

PIX_GUI = "br.gov.bcb.pix"
MAX_PAYLOAD_LENGTH = 512
MAX_NAME_LENGTH = 25
MAX_CITY_LENGTH = 15
MAX_TXID_LENGTH = 25
MAX_KEY_LENGTH = 77
_TXID = re.compile(r"[A-Za-z0-9]{1,25}|\*\*\*")
_AMOUNT = re.compile(r"(0|[1-9][0-9]{0,9})\.[0-9]{2}")

TAG_FORMAT = "00"
TAG_INITIATION = "01"
TAG_ACCOUNT = "26"
TAG_CATEGORY = "52"
TAG_CURRENCY = "53"
TAG_AMOUNT = "54"
TAG_COUNTRY = "58"
TAG_NAME = "59"
TAG_CITY = "60"
TAG_ADDITIONAL = "62"
TAG_CRC = "63"
SUB_GUI = "00"
SUB_KEY = "01"
SUB_URL = "25"
SUB_TXID = "05"


class PixError(InvalidInputError):
    """A BR Code that does not hold together."""

    def __init__(self, message: str) -> None:
        super().__init__("pix", message)


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE; ``crc16_ccitt_false(b"123456789") == 0x29B1``."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def tlv(tag: str, value: str) -> str:
    """Encode one field; values are at most 99 characters long."""
    if len(value) > 99:  # noqa: PLR2004
        raise PixError(f"field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def parse_tlv(payload: str) -> list[tuple[str, str]]:
    """Split a payload into ``(tag, value)`` pairs, refusing any malformed field."""
    fields: list[tuple[str, str]] = []
    position = 0
    while position < len(payload):
        header = payload[position : position + 4]
        if len(header) < 4 or not header.isdigit():  # noqa: PLR2004
            raise PixError(f"malformed field header at position {position}")
        length = int(header[2:])
        value = payload[position + 4 : position + 4 + length]
        if len(value) != length:
            raise PixError(f"field {header[:2]} is shorter than its declared length")
        fields.append((header[:2], value))
        position += 4 + length
    return fields


def with_crc(payload_without_crc: str) -> str:
    """Append tag 63 with the CRC computed over the payload and ``6304``."""
    body = payload_without_crc + TAG_CRC + "04"
    return body + f"{crc16_ccitt_false(body.encode()):04X}"


def _plain(text: str, limit: int) -> str:
    """Drop accents and characters outside printable ASCII; cut to ``limit``."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if " " <= c <= "~")
    return " ".join(ascii_text.split())[:limit]


@dataclass(frozen=True, slots=True)
class PixCode:
    """The fields of a static Pix BR Code that this ledger issues and reads."""

    key: str
    merchant_name: str
    merchant_city: str
    amount_cents: int | None
    txid: str
    initiation: str | None = "12"
    """Point of initiation (tag 01): ``12`` single use, ``11`` reusable, or absent."""

    def encode(self) -> str:
        """The copy-and-paste text, CRC included."""
        if not 1 <= len(self.key) <= MAX_KEY_LENGTH:
            raise PixError("key must have 1 to 77 characters")
        if _TXID.fullmatch(self.txid) is None:
            raise PixError("txid must be 1 to 25 letters or digits")
        name = _plain(self.merchant_name, MAX_NAME_LENGTH)
        city = _plain(self.merchant_city, MAX_CITY_LENGTH)
        if not name or not city:
            raise PixError("merchant name and city are required")
        account = tlv(SUB_GUI, PIX_GUI) + tlv(SUB_KEY, self.key)
        parts = [tlv(TAG_FORMAT, "01")]
        if self.initiation is not None:
            parts.append(tlv(TAG_INITIATION, self.initiation))
        parts += [tlv(TAG_ACCOUNT, account), tlv(TAG_CATEGORY, "0000")]
        parts.append(tlv(TAG_CURRENCY, "986"))
        if self.amount_cents is not None:
            check_amount_cents(self.amount_cents)
            parts.append(tlv(TAG_AMOUNT, format_amount(self.amount_cents)))
        parts += [tlv(TAG_COUNTRY, "BR"), tlv(TAG_NAME, name), tlv(TAG_CITY, city)]
        parts.append(tlv(TAG_ADDITIONAL, tlv(SUB_TXID, self.txid)))
        return with_crc("".join(parts))

    @classmethod
    def decode(cls, payload: str) -> PixCode:
        """Parse and validate a BR Code: structure, mandatory fields and CRC."""
        if len(payload) > MAX_PAYLOAD_LENGTH:
            raise PixError("payload is too long")
        fields = parse_tlv(payload)
        if not fields or fields[0] != (TAG_FORMAT, "01"):
            raise PixError("payload must start with format indicator 01")
        tag, crc = fields[-1]
        if tag != TAG_CRC or len(crc) != 4:  # noqa: PLR2004
            raise PixError("payload must end with a four-digit CRC (tag 63)")
        expected = f"{crc16_ccitt_false(payload[:-4].encode()):04X}"
        if crc.upper() != expected:
            raise PixError(f"CRC {crc} does not match {expected}")
        values = dict(fields)
        if len(values) != len(fields):
            raise PixError("a field appears twice")
        return cls._from_fields(values)

    @classmethod
    def _from_fields(cls, values: dict[str, str]) -> PixCode:
        account = dict(parse_tlv(values.get(TAG_ACCOUNT, "")))
        if account.get(SUB_GUI, "").lower() != PIX_GUI:
            raise PixError("merchant account (tag 26) lacks the Pix GUI")
        key = account.get(SUB_KEY) or account.get(SUB_URL)
        if not key:
            raise PixError("merchant account has neither key nor URL")
        if values.get(TAG_CATEGORY) is None or values.get(TAG_CURRENCY) != "986":
            raise PixError("category (52) and currency 986 (53) are required")
        if values.get(TAG_COUNTRY) != "BR":
            raise PixError("country (58) must be BR")
        name, city = values.get(TAG_NAME), values.get(TAG_CITY)
        if not name or not city:
            raise PixError("merchant name (59) and city (60) are required")
        amount_cents = None
        if TAG_AMOUNT in values:
            amount_text = values[TAG_AMOUNT]
            if _AMOUNT.fullmatch(amount_text) is None:
                raise PixError("amount (54) must be decimal text with two places")
            amount_cents = int(amount_text.replace(".", ""))
        txid = dict(parse_tlv(values.get(TAG_ADDITIONAL, ""))).get(SUB_TXID, "")
        if _TXID.fullmatch(txid) is None:
            raise PixError("additional data (62) must carry a txid (05)")
        initiation = values.get(TAG_INITIATION)
        if initiation not in (None, "11", "12"):
            raise PixError("point of initiation (01) must be 11 or 12")
        return cls(key, name, city, amount_cents, txid, initiation)
