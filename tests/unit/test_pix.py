import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.money import MAX_AMOUNT_CENTS
from domain.pix import PixCode, PixError, crc16_ccitt_false, with_crc

MANUAL_EXAMPLE = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def test_crc16_ccitt_false_check_value() -> None:
    assert f"{crc16_ccitt_false(b'123456789'):04X}" == "29B1"


def test_the_manual_example_decodes_and_encodes_back_exactly() -> None:
    code = PixCode.decode(MANUAL_EXAMPLE)
    assert code.key == "123e4567-e12b-12d1-a456-426655440000"
    assert code.merchant_name == "Fulano de Tal"
    assert code.merchant_city == "BRASILIA"
    assert code.amount_cents is None
    assert code.txid == "***"
    assert code.initiation is None
    assert code.encode() == MANUAL_EXAMPLE


def test_a_wrong_crc_is_refused() -> None:
    with pytest.raises(PixError, match="CRC"):
        PixCode.decode(MANUAL_EXAMPLE[:-4] + "1D3E")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "format indicator"),
        ("000201", "CRC"),
        ("0002016304", "shorter"),
        ("00020126580014br.gov.bcb.pix01361", "shorter"),
        ("000201XXYY", "header"),
    ],
)
def test_a_malformed_payload_is_refused(payload: str, message: str) -> None:
    with pytest.raises(PixError, match=message):
        PixCode.decode(payload)


def test_a_code_without_the_pix_gui_is_refused() -> None:
    payload = with_crc(
        "00020126180014br.gov.bcb.xyz5204000053039865802BR5901X6001Y62070503***"
    )
    with pytest.raises(PixError, match="GUI"):
        PixCode.decode(payload)


def test_names_and_cities_lose_accents_and_are_cut_to_the_limits() -> None:
    code = PixCode(
        key="16727230000197",
        merchant_name="Revenda São João de Informática Ltda",
        merchant_city="São José dos Campos",
        amount_cents=15050,
        txid="FAT000123",
    )
    decoded = PixCode.decode(code.encode())
    assert decoded.merchant_name == "Revenda Sao Joao de Infor"
    assert decoded.merchant_city == "Sao Jose dos Ca"
    assert decoded.amount_cents == 15050


@given(
    amount=st.none() | st.integers(min_value=1, max_value=MAX_AMOUNT_CENTS),
    txid=st.from_regex(r"[A-Za-z0-9]{1,25}", fullmatch=True),
    key=st.from_regex(r"[a-z0-9@.+-]{1,77}", fullmatch=True),
)
def test_built_codes_decode_to_what_was_built(
    amount: int | None, txid: str, key: str
) -> None:
    code = PixCode(key, "Revenda", "Sao Paulo", amount, txid)
    assert PixCode.decode(code.encode()) == code
