"""Client: a customer of a reseller (cliente da revenda), billed by invoices.

Lifecycle: ``Registered`` once, then ``Updated`` whenever contact data change. The
document (CPF or CNPJ) never changes. A client's id is derived from its tenant and
document, so a second client with the same document in the same tenant conflicts
atomically in the store, while other tenants may register the same document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.documents import Document
from domain.text import email_address, optional_text, required_text, state_code

MAX_NAME_LENGTH = 200
MAX_PHONE_LENGTH = 32
MAX_CITY_LENGTH = 100


def client_id_for(reseller_id: UUID, document: Document) -> UUID:
    """The id of the tenant's client with ``document``."""
    return derived_id("client", reseller_id, document.number)


@dataclass(frozen=True, slots=True)
class ContactDetails:
    """The mutable part of a client, validated and normalised."""

    name: str
    email: str
    phone: str | None
    city: str | None
    state: str | None

    @classmethod
    def parse(
        cls,
        name: str,
        email: str,
        phone: str | None = None,
        city: str | None = None,
        state: str | None = None,
    ) -> ContactDetails:
        """Validate every field; blank optional fields become ``None``."""
        return cls(
            name=required_text(name, "name", MAX_NAME_LENGTH),
            email=email_address(email),
            phone=optional_text(phone, "phone", MAX_PHONE_LENGTH),
            city=optional_text(city, "city", MAX_CITY_LENGTH),
            state=state_code(state),
        )


class Client(LedgerAggregate):
    """A reseller's client."""

    TOPIC = "revenda.Client"

    class Registered(LedgerAggregate.Event, AggregateCreated):
        """A client was registered by its reseller."""

        TOPIC = "revenda.Client.Registered"
        document: str
        document_type: str
        name: str
        email: str
        phone: str | None
        city: str | None
        state: str | None

    class Updated(LedgerAggregate.Event):
        """The client's contact details were replaced (all of them, as they now are)."""

        TOPIC = "revenda.Client.Updated"
        name: str
        email: str
        phone: str | None
        city: str | None
        state: str | None

    @event(Registered)
    def __init__(  # noqa: PLR0913 - the fields of the created event
        self,
        *,
        reseller_id: UUID,
        document: str,
        document_type: str,
        name: str,
        email: str,
        phone: str | None,
        city: str | None,
        state: str | None,
    ) -> None:
        self.reseller_id = reseller_id
        self.document = document
        self.document_type = document_type
        self.name = name
        self.email = email
        self.phone = phone
        self.city = city
        self.state = state

    @classmethod
    def register(
        cls, reseller_id: UUID, document: Document, details: ContactDetails
    ) -> Self:
        """Register a client; its id follows from tenant and document."""
        return cls._create(
            cls.Registered,
            id=client_id_for(reseller_id, document),
            reseller_id=reseller_id,
            document=document.number,
            document_type=document.type.value,
            name=details.name,
            email=details.email,
            phone=details.phone,
            city=details.city,
            state=details.state,
        )

    @property
    def details(self) -> ContactDetails:
        """The contact details as they are now."""
        return ContactDetails(self.name, self.email, self.phone, self.city, self.state)

    def update(self, details: ContactDetails) -> bool:
        """Replace the contact details; return whether anything changed.

        Details equal to the current ones record nothing, on purpose: a repeated
        PATCH is not a fact worth keeping.
        """
        if details == self.details:
            return False
        self._updated(
            name=details.name,
            email=details.email,
            phone=details.phone,
            city=details.city,
            state=details.state,
        )
        return True

    @event(Updated)
    def _updated(
        self,
        name: str,
        email: str,
        phone: str | None,
        city: str | None,
        state: str | None,
    ) -> None:
        self.name = name
        self.email = email
        self.phone = phone
        self.city = city
        self.state = state
