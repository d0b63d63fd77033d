"""The panel's small rules: the status select and the reference filter."""

from __future__ import annotations

import pytest

from domain.contracts import ContractStatus
from web.routes.panel import _reference, _status_options


@pytest.mark.parametrize(
    ("status", "labels"),
    [
        (ContractStatus.TRIAL, ["Em Teste", "Ativo", "Cancelado"]),
        (ContractStatus.ACTIVE, ["Ativo", "Suspenso", "Cancelado"]),
        (ContractStatus.SUSPENDED, ["Ativo", "Suspenso", "Cancelado"]),
        (ContractStatus.CANCELLED, ["Cancelado"]),
    ],
)
def test_the_status_select_offers_only_allowed_transitions(
    status: ContractStatus, labels: list[str]
) -> None:
    assert [label for _, label in _status_options(status)] == labels


@pytest.mark.parametrize(
    ("typed", "period"),
    [
        ("11/2026", ("2026", "11")),
        ("3/2027", ("2027", "03")),
        ("2026-11", ("2026", "11")),
        (" 01/2026 ", ("2026", "01")),
        ("13/2026", None),
        ("11/26", None),
        ("2026-1", None),
        ("novembro", None),
    ],
)
def test_the_reference_filter_reads_mm_aaaa(
    typed: str, period: tuple[str, str] | None
) -> None:
    assert _reference(typed) == period
