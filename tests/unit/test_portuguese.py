"""Which requests are answered in Portuguese, and how messages are put."""

import pytest

from api.portuguese import detail, message, prefers_portuguese


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("pt", True),
        ("pt-BR", True),
        ("pt-BR,pt;q=0.9,en;q=0.8", True),
        ("en;q=0.1, pt-PT;q=0.9", True),
        ("fr, pt;q=0.5", True),
        ("en, pt;q=0.5", False),
        ("en", False),
        ("fr", False),
        ("", False),
        (None, False),
        ("pt;q=0", False),
    ],
)
def test_portuguese_is_chosen_when_preferred_to_english(
    header: str | None, expected: bool
) -> None:
    assert prefers_portuguese(header) is expected


def test_messages_are_translated_by_type_or_by_their_english_text() -> None:
    assert message("x", "string_too_long", {"max_length": 200}) == (
        "deve ter no máximo 200 caracteres"
    )
    assert message("Value error, must be between 2000-01-01 and 2099-12-31") == (
        "deve estar entre 2000-01-01 e 2099-12-31"
    )
    assert message("something new") == "valor inválido"
    assert detail(422, "email: is not a valid e-mail address") == (
        "email: não é um e-mail válido"
    )
    assert detail(
        422, "amount: must be at least the payment partner's minimum, R$ 5,00"
    ) == ("amount: deve ser ao menos o mínimo do parceiro de pagamento, R$ 5,00")
    assert detail(409, "cannot cancel a invoice in status 'paid'") == (
        "a operação conflita com o estado atual"
    )
