from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.contracts import TRANSITIONS, Contract, ContractStatus, contract_id_for
from domain.errors import InvalidTransitionError

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

# How to bring a fresh (trial) contract into each status.
PATHS: dict[ContractStatus, list[Callable[[Contract], None]]] = {
    ContractStatus.TRIAL: [],
    ContractStatus.ACTIVE: [lambda c: c.activate(NOW)],
    ContractStatus.SUSPENDED: [lambda c: c.activate(NOW), lambda c: c.suspend(NOW)],
    ContractStatus.CANCELLED: [lambda c: c.cancel(NOW)],
}
ACTIONS: dict[str, Callable[[Contract], None]] = {
    "activate": lambda c: c.activate(NOW),
    "suspend": lambda c: c.suspend(NOW),
    "cancel": lambda c: c.cancel(NOW),
}


def a_contract_in(status: ContractStatus) -> Contract:
    contract = Contract.open(uuid4(), uuid4(), 1)
    for step in PATHS[status]:
        step(contract)
    assert contract.status is status
    return contract


def test_a_new_contract_is_in_trial_with_an_id_derived_from_client_and_sequence() -> (
    None
):
    client_id = uuid4()
    contract = Contract.open(uuid4(), client_id, 2)
    assert contract.status is ContractStatus.TRIAL
    assert contract.id == contract_id_for(client_id, 2)
    assert contract.status.label == "Em Teste"


@pytest.mark.parametrize("status", list(ContractStatus))
@pytest.mark.parametrize("action", list(ACTIONS))
def test_every_transition_of_the_table_is_allowed_and_every_other_refused(
    status: ContractStatus, action: str
) -> None:
    contract = a_contract_in(status)
    version = contract.version
    allowed = TRANSITIONS[action].get(status)
    if allowed is None:
        with pytest.raises(InvalidTransitionError):
            ACTIONS[action](contract)
        assert contract.version == version
        assert contract.status is status
    else:
        ACTIONS[action](contract)
        assert contract.status is allowed
        assert contract.version == version + 1


def test_the_transition_table_is_the_one_the_api_documents() -> None:
    pairs = {
        (src.value, dst.value)
        for moves in TRANSITIONS.values()
        for src, dst in moves.items()
    }
    assert pairs == {
        ("trial", "active"),
        ("trial", "cancelled"),
        ("active", "suspended"),
        ("active", "cancelled"),
        ("suspended", "active"),
        ("suspended", "cancelled"),
    }


def test_activation_time_is_kept_and_labels_are_portuguese() -> None:
    contract = a_contract_in(ContractStatus.ACTIVE)
    assert contract.activated_at == NOW
    assert [s.label for s in ContractStatus] == [
        "Em Teste",
        "Ativo",
        "Suspenso",
        "Cancelado",
    ]
