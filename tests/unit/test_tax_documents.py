import pytest

from domain.documents import Document, DocumentType
from domain.errors import InvalidInputError


@pytest.mark.parametrize(
    ("raw", "number", "kind"),
    [
        ("145.382.206-20", "14538220620", DocumentType.CPF),
        ("14538220620", "14538220620", DocumentType.CPF),
        ("16.727.230/0001-97", "16727230000197", DocumentType.CNPJ),
        ("12.ABC.345/01DE-35", "12ABC34501DE35", DocumentType.CNPJ),
        ("12.abc.345/01de-35", "12ABC34501DE35", DocumentType.CNPJ),
        ("12abc34501de35", "12ABC34501DE35", DocumentType.CNPJ),
    ],
)
def test_documents_are_verified_and_normalised(
    raw: str, number: str, kind: DocumentType
) -> None:
    document = Document.parse(raw)
    assert document.number == number
    assert document.type is kind


@pytest.mark.parametrize(
    "raw",
    [
        "145.382.206-21",  # wrong check digit
        "16.727.230/0001-98",
        "12.ABC.345/01DE-36",
        "111.111.111-11",  # check digits hold, but one repeated digit
        "11111111111111",
        "00000000000",
        "AAAAAAAAAAAAAA",
        "1453822062",  # too short
        "",
        "abc",
        "145.382.206-20" * 4,
    ],
)
def test_invalid_documents_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInputError):
        Document.parse(raw)


def test_a_reseller_document_must_be_a_cnpj() -> None:
    assert Document.parse_cnpj("16.727.230/0001-97").type is DocumentType.CNPJ
    with pytest.raises(InvalidInputError, match="CNPJ"):
        Document.parse_cnpj("145.382.206-20")
