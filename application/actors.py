"""Who caused an event: the actor, carried ambiently and stamped on every event.

Commands do not take an actor argument (every command would change, and a command
can be called from a request, a partner's webhook or one of the service's own
processes alike). Instead, whoever starts a unit of work says who it acts for with
``acting_as``, a ``ContextVar``: the API for the authenticated user, the webhook
receiver for the partner, each process for itself. ``ActorMapper`` reads it when an
event is stored and puts it into the event's stored state.

Why in the mapper and not as a field of each event class: the actor is not part of
what happened to an aggregate (no aggregate rule reads it), it is the envelope of
every event, so it is written where every event passes once, on its way to the
store. Being inside the stored bytes, it is covered by the tenant's hash chain
(``application.chain``): an actor edited afterwards breaks the chain like any other
change. Events stored before actors existed have none and decode with
``{"type": "unknown"}``; no event class changes, so no ``class_version`` moves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

ActorType = Literal["user", "partner", "system", "unknown"]
ACTOR_FIELD = "actor"
"""The key of the actor in an event's stored state (and on a decoded event)."""
NO_TENANT = UUID(int=0)
"""The chain of events that name no tenant (none of the ledger's do today)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who caused an event: a user, the payment partner, or one of our processes."""

    type: ActorType
    id: str | None = None
    email: str | None = None

    @classmethod
    def user(cls, user_id: UUID, email: str) -> Actor:
        """A logged-in user of the API or the panel."""
        return cls("user", str(user_id), email)

    @classmethod
    def partner(cls, provider: str) -> Actor:
        """The payment partner, through one of its webhooks."""
        return cls("partner", provider)

    @classmethod
    def system(cls, process: str) -> Actor:
        """The service's own work: a process, a periodic job, a CLI command."""
        return cls("system", process)

    def as_dict(self) -> dict[str, str]:
        """The actor as stored and shown: only the fields it has."""
        stored: dict[str, str] = {"type": self.type}
        if self.id is not None:
            stored["id"] = self.id
        if self.email is not None:
            stored["email"] = self.email
        return stored


UNKNOWN = Actor("unknown")
"""Events stored before actors were recorded, and work nobody claimed."""

_current: ContextVar[Actor] = ContextVar("ledger_actor", default=UNKNOWN)


def current_actor() -> Actor:
    """Who the work running in this context is done for."""
    return _current.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Every event stored inside the block is stamped with ``actor``."""
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)


class _Named(Protocol):
    name: str


N = TypeVar("N", bound=_Named)


def acting_for_itself(
    react: Callable[[N, Any], None],
) -> Callable[[N, Any], None]:
    """A process's reaction, recorded as the process (``system``, its ``name``)."""

    @functools.wraps(react)
    def reacting(self: N, event: Any) -> None:  # noqa: ANN401 - any event
        with acting_as(Actor.system(self.name)):
            react(self, event)

    return reacting


def set_actor(actor: Actor) -> None:
    """Act as ``actor`` for the rest of this context (one request's task).

    For the API, whose context ends with the request; elsewhere use ``acting_as``.
    """
    _current.set(actor)


def actor_of(event: object) -> dict[str, str]:
    """The actor of a decoded event, as stored (``{"type": "unknown"}`` if none)."""
    actor = getattr(event, ACTOR_FIELD, None)
    return dict(actor) if isinstance(actor, dict) else UNKNOWN.as_dict()


@dataclass(frozen=True)
class TenantStoredEvent(StoredEvent):
    """A stored event that also says which tenant's hash chain it extends.

    The tenant is known from the domain event (``reseller_id``) when it is mapped;
    carrying it here spares the recorder from decoding the state again.
    """

    tenant_id: UUID = field(default=NO_TENANT)


class ActorMapper(Mapper[UUID]):
    """The library's mapper, plus the actor in the state and the tenant alongside."""

    reads_like_the_library = True
    """Decoding is the library's plus ``completed``: a fast reader that decodes the
    library's format itself (``projections.reader.RawLog``) calls ``completed``."""

    @staticmethod
    def completed(event: DomainEventProtocol[UUID]) -> DomainEventProtocol[UUID]:
        """What this mapper adds to a decoded event: the unknown actor if none."""
        if not isinstance(event, Snapshot):
            vars(event).setdefault(ACTOR_FIELD, UNKNOWN.as_dict())
        return event

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        """The library's encoding, with the current actor in the state.

        An event decoded with an actor keeps its own. Snapshots get none: a snapshot
        is a cache of state, not something anyone did.
        """
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        if not isinstance(domain_event, Snapshot):
            state.setdefault(ACTOR_FIELD, current_actor().as_dict())
        stored_state = self.transcoder.encode(state)
        if self.compressor:
            stored_state = self.compressor.compress(stored_state)
        if self.cipher:
            stored_state = self.cipher.encrypt(stored_state)
        tenant = getattr(domain_event, "reseller_id", None)
        return TenantStoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored_state,
            tenant_id=tenant if isinstance(tenant, UUID) else NO_TENANT,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        """Decode; an event stored before actors existed gets the unknown actor."""
        return self.completed(super().to_domain_event(stored_event))

    def tenant_of(self, stored_event: StoredEvent) -> UUID:
        """The tenant of a stored event, decoding it (for events read back)."""
        tenant = getattr(self.to_domain_event(stored_event), "reseller_id", None)
        return tenant if isinstance(tenant, UUID) else NO_TENANT
