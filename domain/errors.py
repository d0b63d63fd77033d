"""Named domain errors.

A refused command raises one of these and records nothing. Each error belongs to
one of three families that the edges map to HTTP: invalid input (422), not found
(404) and conflict with the current state (409).
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal the domain can express."""


class InvalidInputError(DomainError, ValueError):
    """A value that can never be accepted, whatever the state (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFoundError(DomainError, LookupError):
    """Something named by id does not exist for this tenant (HTTP 404)."""


class ConflictError(DomainError):
    """The command conflicts with the current state (HTTP 409)."""


class InvalidTransitionError(ConflictError):
    """A lifecycle transition that the state machine does not allow."""

    def __init__(self, entity: str, from_status: str, action: str) -> None:
        super().__init__(f"cannot {action} a {entity} in status '{from_status}'")
        self.entity = entity
        self.from_status = from_status
        self.action = action


class ResellerNotFoundError(NotFoundError):
    """No reseller with that id."""


class UserNotFoundError(NotFoundError):
    """No user with that id or e-mail."""


class ClientNotFoundError(NotFoundError):
    """No client with that id in the tenant."""


class ContractNotFoundError(NotFoundError):
    """No contract with that id in the tenant."""


class InvoiceNotFoundError(NotFoundError):
    """No invoice with that id in the tenant."""


class EmailAlreadyInUseError(ConflictError):
    """E-mails are unique across every user of every tenant."""


class DuplicateClientError(ConflictError):
    """A tenant already has a client with that document."""


class OpenContractExistsError(ConflictError):
    """A client has at most one contract that is not cancelled."""


class NoActiveContractError(ConflictError):
    """Invoices are issued only to clients whose contract is active."""
