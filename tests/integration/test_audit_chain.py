"""The tenant hash chain on PostgreSQL: written with the events, found when tampered.

Each tampering test edits the stored rows by hand, as someone with database access
would, and checks that the verification names the exact position, and that another
tenant's chain, untouched, still verifies.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from uuid import UUID

import psycopg
import pytest

from api.database import eventsourcing_env
from application.actors import Actor, acting_as, actor_of
from application.chain import (
    GENESIS,
    Verification,
    audit_all,
    audit_tenant,
    chain_hash,
    stored_bytes,
)
from application.ledger import Ledger
from application.passwords import Passwords
from tests.builders import a_billable_client, a_client, a_reseller, an_invoice
from tests.integration.workers import run_cli


def _verify(ledger: Ledger, tenant: UUID) -> Verification:
    return audit_tenant(ledger.recorder, ledger.mapper, tenant)


def _positions(url: str, tenant: UUID) -> list[int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT position FROM ledger_chain WHERE tenant_id = %s ORDER BY position",
            (tenant,),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.fixture
def two_tenants(fresh_ledger: Ledger) -> Iterator[tuple[UUID, UUID]]:
    tampered = a_reseller(fresh_ledger).reseller.id
    untouched = a_reseller(fresh_ledger).reseller.id
    for tenant in (tampered, untouched):
        client = a_billable_client(fresh_ledger, tenant)
        an_invoice(fresh_ledger, tenant, client.id)
        a_client(fresh_ledger, tenant)
    assert _verify(fresh_ledger, tampered).ok
    assert _verify(fresh_ledger, untouched).ok
    yield tampered, untouched
    assert _verify(fresh_ledger, untouched).ok, "an untouched tenant must verify"


def test_each_event_is_chained_with_its_hash_as_defined(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    tenant = a_reseller(fresh_ledger).reseller.id
    a_client(fresh_ledger, tenant)
    with psycopg.connect(fresh_database) as conn:
        rows = conn.execute(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state, c.hash"
            " FROM ledger_chain c JOIN ledger_events e"
            " ON e.notification_id = c.position"
            " WHERE c.tenant_id = %s ORDER BY c.position",
            (tenant,),
        ).fetchall()
    previous = GENESIS
    for originator_id, version, topic, state, digest in rows:
        assert digest == chain_hash(
            previous, stored_bytes(originator_id, version, topic, state)
        )
        previous = digest
    verification = _verify(fresh_ledger, tenant)
    assert verification.ok
    assert verification.events == len(rows) == 3  # reseller, owner, client
    assert verification.head == previous.hex()
    assert verification.first_bad_position is None


def test_an_edited_event_is_found_at_its_position(
    fresh_ledger: Ledger, fresh_database: str, two_tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = two_tenants
    edited = _positions(fresh_database, tenant)[3]
    with psycopg.connect(fresh_database) as conn:
        conn.execute(
            "UPDATE ledger_events SET state = replace(state::text, 'a', 'b')::bytea"
            " WHERE notification_id = %s",
            (edited,),
        )
    verification = _verify(fresh_ledger, tenant)
    assert not verification.ok
    assert verification.first_bad_position == edited


def test_a_deleted_event_is_found_at_its_position(
    fresh_ledger: Ledger, fresh_database: str, two_tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = two_tenants
    deleted = _positions(fresh_database, tenant)[4]
    with psycopg.connect(fresh_database) as conn:
        conn.execute("DELETE FROM ledger_events WHERE notification_id = %s", (deleted,))
    verification = _verify(fresh_ledger, tenant)
    assert (verification.ok, verification.first_bad_position) == (False, deleted)


def test_an_event_deleted_with_its_chain_row_breaks_the_next_one(
    fresh_ledger: Ledger, fresh_database: str, two_tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = two_tenants
    positions = _positions(fresh_database, tenant)
    deleted = positions[2]
    with psycopg.connect(fresh_database) as conn:
        conn.execute("DELETE FROM ledger_events WHERE notification_id = %s", (deleted,))
        conn.execute("DELETE FROM ledger_chain WHERE position = %s", (deleted,))
    verification = _verify(fresh_ledger, tenant)
    assert (verification.ok, verification.first_bad_position) == (False, positions[3])


def test_two_swapped_events_are_found_at_the_first(
    fresh_ledger: Ledger, fresh_database: str, two_tenants: tuple[UUID, UUID]
) -> None:
    tenant, _ = two_tenants
    positions = _positions(fresh_database, tenant)
    first, second = positions[2], positions[5]
    with psycopg.connect(fresh_database) as conn:
        # Through a free position: the position index is unique.
        conn.execute(
            "UPDATE ledger_events SET notification_id = -1 WHERE notification_id = %s",
            (first,),
        )
        conn.execute(
            "UPDATE ledger_events SET notification_id = %s WHERE notification_id = %s",
            (first, second),
        )
        conn.execute(
            "UPDATE ledger_events SET notification_id = %s WHERE notification_id = -1",
            (second,),
        )
    verification = _verify(fresh_ledger, tenant)
    assert (verification.ok, verification.first_bad_position) == (False, first)


def test_an_event_inserted_behind_the_ledgers_back_is_found(
    fresh_ledger: Ledger, fresh_database: str, two_tenants: tuple[UUID, UUID]
) -> None:
    tenant, untouched = two_tenants
    client = a_client(fresh_ledger, tenant)
    (stored,) = [
        fresh_ledger.mapper.to_stored_event(event)
        for event in fresh_ledger.history(client.id)
    ]
    with psycopg.connect(fresh_database) as conn:
        (inserted,) = conn.execute(
            "INSERT INTO ledger_events (originator_id, originator_version, topic,"
            " state) VALUES (%s, 2, %s, %s) RETURNING notification_id",
            (stored.originator_id, stored.topic, stored.state),
        ).fetchone() or (0,)
    verification = _verify(fresh_ledger, tenant)
    assert (verification.ok, verification.first_bad_position) == (False, inserted)
    every = audit_all(fresh_ledger.recorder, fresh_ledger.mapper)
    assert not every[tenant].ok
    assert every[untouched].ok


def test_concurrent_writers_in_two_ledgers_keep_a_valid_chain(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    other = Ledger(
        eventsourcing_env(fresh_database, pool_size=2, max_overflow=10),
        passwords=Passwords.fast_for_tests(),
    )
    try:
        tenant = a_reseller(fresh_ledger).reseller.id
        errors: list[BaseException] = []

        def write(ledger: Ledger, count: int) -> None:
            try:
                for _ in range(count):
                    a_client(ledger, tenant)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [
            threading.Thread(target=write, args=(ledger, 8))
            for ledger in (fresh_ledger, other, fresh_ledger, other)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        verification = _verify(other, tenant)
        assert verification.ok, verification.problem
        assert verification.events == 2 + 4 * 8
    finally:
        other.close()


def test_events_recorded_before_the_chain_are_chained_once_at_start(
    fresh_ledger: Ledger, fresh_database: str
) -> None:
    tenant = a_reseller(fresh_ledger).reseller.id
    a_client(fresh_ledger, tenant)
    with psycopg.connect(fresh_database) as conn:
        conn.execute("DELETE FROM ledger_chain")  # as before the chain existed
    restarted = Ledger(
        eventsourcing_env(fresh_database, pool_size=1, max_overflow=2),
        passwords=Passwords.fast_for_tests(),
    )
    try:
        assert _verify(restarted, tenant).events == 3
        assert _verify(restarted, tenant).ok
    finally:
        restarted.close()


def test_the_actor_is_stored_with_the_event_and_read_back(
    fresh_ledger: Ledger,
) -> None:
    tenant = a_reseller(fresh_ledger).reseller.id
    user = Actor.user(UUID(int=7), "ana@example.com")
    with acting_as(user):
        client = a_client(fresh_ledger, tenant)
    with acting_as(Actor.system("overdue-sweep")):
        fresh_ledger.update_client(tenant, client.id, {"city": "Recife"})
    history = [
        actor_of(event) for _, event in fresh_ledger.positioned_history(client.id)
    ]
    assert history == [
        {"type": "user", "id": str(UUID(int=7)), "email": "ana@example.com"},
        {"type": "system", "id": "overdue-sweep"},
    ]


def test_ledger_audit_verify_exits_1_naming_the_first_bad_event(
    fresh_ledger: Ledger, fresh_database: str, two_tenants: tuple[UUID, UUID]
) -> None:
    tenant, untouched = two_tenants
    edited = _positions(fresh_database, tenant)[1]
    with psycopg.connect(fresh_database) as conn:
        conn.execute(
            "UPDATE ledger_events SET state = state || ' '::bytea"
            " WHERE notification_id = %s",
            (edited,),
        )
    failed = run_cli(fresh_database, "audit", "verify")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"tenant {tenant}: first bad event at position {edited}:" in failed.stdout
    assert str(untouched) not in failed.stdout
    assert "1 broken" in failed.stdout
