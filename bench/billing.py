"""B8 (issue 11): a monthly billing run of 1,000 contracts, contracts billed per second.

Each contract is loaded from the log (a fresh ``Ledger``, nothing cached), its
deterministic invoice id checked, and the invoices saved with the reseller's code
sequence in batches (the default, 100 a save) or one a save. A second run of the
same month finds every contract billed. Baseline in the same run: a raw psycopg
single-row INSERT + commit, one thread (as in B1).
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from uuid import UUID

from application.ledger import SAO_PAULO
from bench.common import _cpf, ledger_on, record, scratch_database, show
from bench.issue import raw_rate
from domain.clients import Client, ContactDetails
from domain.contracts import Contract, Plan
from domain.documents import Document
from domain.resellers import Reseller

PLAN = Plan("Plano Mensal", 9_990, 10)


def next_month() -> str:
    """The month after today's in São Paulo (``YYYY-MM``): billable whenever run."""
    today = datetime.now(SAO_PAULO).date()
    year, month = divmod(today.year * 12 + today.month, 12)
    return f"{year}-{month + 1:02d}"


REFERENCE = next_month()


def planned_contracts(url: str, count: int, seed: int) -> tuple[UUID, list[UUID]]:
    """A reseller with ``count`` active contracts with a plan, saved in bulk."""
    ledger = ledger_on(url)
    try:
        reseller = Reseller.register(
            UUID(int=seed + 1), f"Revenda {seed}", "16727230000197", f"r{seed}@x.com"
        )
        ledger.save(reseller)
        contract_ids = []
        aggregates: list[Client | Contract] = []
        for number in range(count):
            client = Client.register(
                reseller.id,
                Document.parse(_cpf(seed * 100_000 + number)),
                ContactDetails.parse(f"Cliente {number}", "c@x.com", city="Recife"),
            )
            contract = Contract.open(reseller.id, client.id, 1)
            contract.change_plan(PLAN)
            contract.activate(datetime.now(UTC))
            contract_ids.append(contract.id)
            aggregates += [client, contract]
            if len(aggregates) >= 500:
                ledger.save(*aggregates)
                aggregates = []
        if aggregates:
            ledger.save(*aggregates)
    finally:
        ledger.close()
    return reseller.id, contract_ids


def timed_run(
    url: str, reseller_id: UUID, contract_ids: list[UUID], batch_size: int
) -> tuple[float, int]:
    """Seconds a run takes from a cold ``Ledger``, and how many it issued."""
    ledger = ledger_on(url)
    try:
        started = time.perf_counter()
        recorded = ledger.run_billing(
            reseller_id, REFERENCE, contract_ids, batch_size=batch_size
        )
        seconds = time.perf_counter() - started
    finally:
        ledger.close()
    assert recorded is not None
    return seconds, recorded.aggregate.issued


def run(count: int) -> dict[str, float | str]:
    """A batched run, the same month again, and a run saving one invoice a save."""
    with scratch_database() as url:
        raw = raw_rate(url, 2000, 1)
        reseller_id, contracts = planned_contracts(url, count, 1)
        batched, issued = timed_run(url, reseller_id, contracts, 100)
        again, issued_again = timed_run(url, reseller_id, contracts, 100)
        single_id, single_contracts = planned_contracts(url, count, 2)
        single, issued_single = timed_run(url, single_id, single_contracts, 1)
    assert (issued, issued_again, issued_single) == (count, 0, count)
    rows = [
        (f"run of {count}, 100 a save", batched, count),
        ("the same month again (all skipped)", again, count),
        (f"run of {count}, 1 a save", single, count),
    ]
    show(
        f"B8 billing run of {count} contracts (contracts/s; seconds)",
        [
            (
                label,
                f"{n / seconds:,.0f}/s ({seconds:.2f} s)",
                f"{raw:,.0f} raw INSERT/s",
                f"{n / seconds / raw:.2f}x",
            )
            for label, seconds, n in rows
        ],
    )
    return {
        "value": round(count / batched),
        "baseline": round(raw),
        "ratio": round(count / batched / raw, 3),
        "seconds": round(batched, 3),
        "seconds_again": round(again, 3),
        "value_one_a_save": round(count / single),
        "seconds_one_a_save": round(single, 3),
        "contracts": count,
        "unit": "contracts/s",
    }


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.billing [--contracts N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contracts", type=int, default=1000)
    args = parser.parse_args(argv)
    record("B8", run(args.contracts))


if __name__ == "__main__":
    main()
