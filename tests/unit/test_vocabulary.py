from enum import StrEnum
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from api.schemas import (
    BoletoStatusCode,
    ContractStatusCode,
    CreditStatusCode,
    InvoiceStatusCode,
    PaymentMethodCode,
    ReceivableSituationCode,
)
from domain.contracts import ContractStatus
from domain.invoices import InvoiceStatus, PaymentMethod
from domain.vocabulary import BoletoStatus, CreditStatus, ReceivableSituation

CODE_TYPES: list[tuple[Any, type[StrEnum]]] = [
    (InvoiceStatusCode, InvoiceStatus),
    (ContractStatusCode, ContractStatus),
    (ReceivableSituationCode, ReceivableSituation),
    (BoletoStatusCode, BoletoStatus),
    (PaymentMethodCode, PaymentMethod),
    (CreditStatusCode, CreditStatus),
]


def test_receivable_situations_are_the_documented_portuguese_words() -> None:
    assert {s.value: s.label for s in ReceivableSituation} == {
        "open": "Aberto",
        "settled": "Pago/Liquidado",
        "cancelled": "Cancelado",
        "refunded": "Estornado",
        "failed": "Falha no Registro",
    }


def test_credit_statuses_are_the_documented_portuguese_words() -> None:
    assert {s.value: s.label for s in CreditStatus} == {
        "available": "Disponível",
        "refunded": "Devolvido",
    }


def test_boleto_statuses_are_the_documented_portuguese_words() -> None:
    assert {s.value: s.label for s in BoletoStatus} == {
        "registered": "Registrado",
        "overdue": "Vencido",
        "paid": "Pago",
        "cancelled": "Cancelado",
    }


@pytest.mark.parametrize(("code_type", "vocabulary"), CODE_TYPES)
def test_a_code_field_lists_the_codes_inline_like_a_literal(
    code_type: Any, vocabulary: type[StrEnum]
) -> None:
    adapter: TypeAdapter[str] = TypeAdapter(code_type)
    codes = [member.value for member in vocabulary]
    assert adapter.json_schema() == {"enum": codes, "type": "string"}
    assert [adapter.validate_python(member) for member in vocabulary] == codes
    with pytest.raises(ValidationError, match="literal_error"):
        adapter.validate_python("unknown")
