"""The actor is stamped on every event by the ledger's mapper, from the context.

The stored form is a persisted contract like the events' own fields: pinned here.
"""

from __future__ import annotations

import json
import threading
from uuid import UUID

from application.actors import UNKNOWN, Actor, acting_as, actor_of, current_actor
from application.ledger import Ledger
from application.passwords import Passwords
from domain.clients import Client, ContactDetails
from domain.documents import Document

TENANT = UUID("11111111-1111-4111-8111-111111111111")
USER = UUID("44444444-4444-4444-8444-444444444444")


def _ledger() -> Ledger:
    return Ledger(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        passwords=Passwords.fast_for_tests(),
    )


def _registered() -> Client:
    return Client.register(
        TENANT, Document.parse("529.982.247-25"), ContactDetails.parse("Ana", "a@x.com")
    )


def test_the_actor_is_stored_in_the_state_and_decoded_back() -> None:
    ledger = _ledger()
    (event,) = _registered().collect_events()
    with acting_as(Actor.user(USER, "ana@example.com")):
        stored = ledger.mapper.to_stored_event(event)
    assert json.loads(stored.state)["actor"] == {
        "type": "user",
        "id": str(USER),
        "email": "ana@example.com",
    }
    assert getattr(stored, "tenant_id", None) == TENANT
    assert actor_of(ledger.mapper.to_domain_event(stored)) == {
        "type": "user",
        "id": str(USER),
        "email": "ana@example.com",
    }
    assert "actor" not in vars(event), "the domain's event object is left alone"


def test_partner_and_system_actors_have_no_email() -> None:
    assert Actor.partner("sandbox").as_dict() == {"type": "partner", "id": "sandbox"}
    assert Actor.system("charge_registration").as_dict() == {
        "type": "system",
        "id": "charge_registration",
    }


def test_work_nobody_claimed_is_recorded_as_unknown_and_acting_as_is_scoped() -> None:
    assert current_actor() is UNKNOWN
    with acting_as(Actor.partner("sandbox")):
        assert current_actor() == Actor.partner("sandbox")
        seen: list[Actor] = []
        # A thread starts with a context of its own: nothing leaks into it.
        thread = threading.Thread(target=lambda: seen.append(current_actor()))
        thread.start()
        thread.join()
        assert seen == [UNKNOWN]
    assert current_actor() is UNKNOWN


def test_commands_stamp_the_actor_of_their_context() -> None:
    ledger = _ledger()
    registered = ledger.register_reseller(
        "Revenda", "11.222.333/0001-81", "dona@example.com", "uma senha comprida"
    )
    with acting_as(Actor.user(registered.owner.id, "dona@example.com")):
        client = ledger.register_client(
            registered.reseller.id,
            name="Cliente",
            document="529.982.247-25",
            email="c@example.com",
        ).aggregate
    (created,) = ledger.history(client.id)
    (first, *_) = ledger.history(registered.reseller.id)
    assert actor_of(created)["email"] == "dona@example.com"
    assert actor_of(first) == {"type": "unknown"}
