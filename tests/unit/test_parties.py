"""Resellers, users and clients: the rules that need no storage."""

from uuid import uuid4

import pytest

from domain.clients import Client, ContactDetails, client_id_for
from domain.documents import Document
from domain.errors import InvalidInputError
from domain.resellers import Reseller, consumer_customer_id, main_bank_account_id
from domain.users import Role, User, user_id_for_email


def test_a_reseller_numbers_invoices_from_one_without_gaps() -> None:
    reseller = Reseller.register(uuid4(), "Revenda", "16.727.230/0001-97", "a@b.com.br")
    codes = [reseller.assign_invoice_code(uuid4()) for _ in range(5)]
    assert codes == [1, 2, 3, 4, 5]
    assert reseller.last_invoice_code == 5


def test_a_reseller_comes_with_its_consumer_customer_and_main_account() -> None:
    reseller_id = uuid4()
    reseller = Reseller.register(reseller_id, "Revenda", "16727230000197", "A@B.com.br")
    assert reseller.consumer_customer_id == consumer_customer_id(reseller_id)
    assert reseller.bank_account_id == main_bank_account_id(reseller_id)
    assert reseller.email == "a@b.com.br"
    assert reseller.document == "16727230000197"


@pytest.mark.parametrize(
    ("name", "document", "email"),
    [
        ("", "16727230000197", "a@b.com"),
        ("Revenda", "14538220620", "a@b.com"),  # a CPF: resellers are companies
        ("Revenda", "16727230000197", "not-an-email"),
    ],
)
def test_a_reseller_needs_a_name_a_cnpj_and_an_email(
    name: str, document: str, email: str
) -> None:
    with pytest.raises(InvalidInputError):
        Reseller.register(uuid4(), name, document, email)


def test_a_user_id_follows_from_the_email_whatever_its_case() -> None:
    user = User.add(uuid4(), " Maria@Example.COM ", Role.FINANCE, "hash")
    assert user.id == user_id_for_email("maria@example.com")
    assert user.email == "maria@example.com"
    assert user.role is Role.FINANCE


def test_changing_to_the_same_role_records_nothing() -> None:
    user = User.add(uuid4(), "a@b.com", Role.OPERATOR, "hash")
    user.collect_events()
    user.change_role(Role.OPERATOR)
    assert user.collect_events() == []
    user.change_role(Role.AUDITOR)
    assert user.role is Role.AUDITOR


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="owner, operator, finance, auditor"):
        Role.parse("admin")


def test_a_client_id_follows_from_tenant_and_document() -> None:
    reseller_id = uuid4()
    document = Document.parse("145.382.206-20")
    details = ContactDetails.parse("Ana", "ana@example.com", " ", "Campinas", "sp")
    client = Client.register(reseller_id, document, details)
    assert client.id == client_id_for(reseller_id, document)
    assert client.id != client_id_for(uuid4(), document)
    assert (client.phone, client.city, client.state) == (None, "Campinas", "SP")
    assert client.document_type == "cpf"


def test_updating_a_client_with_the_same_details_records_nothing() -> None:
    details = ContactDetails.parse("Ana", "ana@example.com")
    client = Client.register(uuid4(), Document.parse("14538220620"), details)
    client.collect_events()
    assert client.update(details) is False
    assert client.collect_events() == []
    assert client.update(ContactDetails.parse("Ana Maria", "ana@example.com")) is True
    assert client.name == "Ana Maria"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("name", {"name": ""}),
        ("name", {"name": "x" * 201}),
        ("email", {"email": "ana"}),
        ("state", {"state": "XX"}),
        ("phone", {"phone": "1" * 33}),
        ("name", {"name": "Ana\x00"}),
    ],
)
def test_invalid_contact_details_are_refused(
    field: str, kwargs: dict[str, str]
) -> None:
    fields = {"name": "Ana", "email": "ana@example.com"} | kwargs
    with pytest.raises(InvalidInputError) as refusal:
        ContactDetails.parse(**fields)
    assert refusal.value.field == field
