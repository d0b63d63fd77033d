"""User: a login of a reseller, with a role.

Lifecycle: ``Added`` once, then ``PasswordChanged``, ``RoleChanged``, ``Disabled`` and
``Enabled`` any number of times. A disabled user cannot log in, and its tokens stop
working (the API reads the user on every request).
A user's id is derived from its e-mail, so e-mails are unique across every tenant
atomically: adding a second user with the same e-mail conflicts on the store's
unique version constraint instead of creating a duplicate. The password arrives
already hashed (argon2); the domain never sees a password.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.errors import InvalidInputError
from domain.text import email_address


class Role(StrEnum):
    """What a user may do. Owners manage users; auditors only read."""

    OWNER = "owner"
    OPERATOR = "operator"
    FINANCE = "finance"
    AUDITOR = "auditor"

    @classmethod
    def parse(cls, value: str) -> Role:
        """The role named ``value``, or ``InvalidInputError``."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(role.value for role in cls)
            raise InvalidInputError("role", f"must be one of {names}") from None


def user_id_for_email(email: str) -> UUID:
    """The id of the user whose login is ``email`` (normalised first)."""
    return derived_id("user", email_address(email))


class User(LedgerAggregate):
    """A person who logs in to one reseller's panel and ERP."""

    TOPIC = "revenda.User"

    class Added(LedgerAggregate.Event, AggregateCreated):
        """A user was given access to a reseller."""

        TOPIC = "revenda.User.Added"
        email: str
        role: str
        password_hash: str

    class PasswordChanged(LedgerAggregate.Event):
        """The user's password was replaced (the hash is stored, never the text)."""

        TOPIC = "revenda.User.PasswordChanged"
        password_hash: str

    class RoleChanged(LedgerAggregate.Event):
        """The user's role was changed by an owner."""

        TOPIC = "revenda.User.RoleChanged"
        role: str

    class Disabled(LedgerAggregate.Event):
        """An owner took the user's access away (its tokens stop working)."""

        TOPIC = "revenda.User.Disabled"

    class Enabled(LedgerAggregate.Event):
        """An owner gave a disabled user its access back."""

        TOPIC = "revenda.User.Enabled"

    @event(Added)
    def __init__(
        self, *, reseller_id: UUID, email: str, role: str, password_hash: str
    ) -> None:
        self.reseller_id = reseller_id
        self.email = email
        self.role = Role(role)
        self.password_hash = password_hash
        self.disabled = False

    @classmethod
    def add(cls, reseller_id: UUID, email: str, role: Role, password_hash: str) -> Self:
        """Add a user; its id follows from its e-mail."""
        address = email_address(email)
        return cls._create(
            cls.Added,
            id=user_id_for_email(address),
            reseller_id=reseller_id,
            email=address,
            role=role.value,
            password_hash=password_hash,
        )

    def change_password(self, password_hash: str) -> None:
        """Replace the stored hash."""
        self._password_changed(password_hash=password_hash)

    @event(PasswordChanged)
    def _password_changed(self, password_hash: str) -> None:
        self.password_hash = password_hash

    def change_role(self, role: Role) -> None:
        """Give the user another role; the same role records nothing."""
        if role is not self.role:
            self._role_changed(role=role.value)

    @event(RoleChanged)
    def _role_changed(self, role: str) -> None:
        self.role = Role(role)

    def disable(self) -> None:
        """Take the user's access away; an already disabled user records nothing."""
        if not self.disabled:
            self._disabled()

    @event(Disabled)
    def _disabled(self) -> None:
        self.disabled = True

    def enable(self) -> None:
        """Give the access back; an enabled user records nothing."""
        if self.disabled:
            self._enabled()

    @event(Enabled)
    def _enabled(self) -> None:
        self.disabled = False
