"""Billing runs: one invoice per active contract with a plan, for a reference month.

A run bills every ``active`` contract that has a plan and no invoice for the
reference month from an earlier run. What makes "never two invoices for the same
contract and month" atomic is the invoice's id: it derives from the contract and
the reference (``billing_invoice_id``), so a second run, a racing run or a run
repeated after a crash builds the very same invoice id, and the store's unique
(id, version) constraint refuses it: that contract is "already billed" and skipped.

The run itself is recorded at its end (``BillingRun.Completed``) with what it
issued and skipped. An automatic run (``auto_billing_day``) has an id derived from
the reseller and the month, so the daily sweep starts it at most once a month.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Self
from uuid import UUID

from eventsourcing.domain import AggregateCreated, event

from domain.base import LedgerAggregate, derived_id
from domain.contracts import Plan
from domain.errors import InvalidInputError
from domain.periods import FIRST_DATE, LAST_DATE, ReferencePeriod

_REFERENCE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, slots=True)
class BillingReference:
    """The month a run bills, as ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, value: object) -> BillingReference:
        """``YYYY-MM`` within the ledger's date range, or ``InvalidInputError``."""
        match = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidInputError("reference", "must be a month as YYYY-MM")
        year, month = int(match[1]), int(match[2])
        if not FIRST_DATE.year <= year <= LAST_DATE.year:
            # Checked before any date is built: year 0 is no date at all.
            msg = f"must be between {FIRST_DATE.year}-01 and {LAST_DATE.year}-12"
            raise InvalidInputError("reference", msg)
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> BillingReference:
        """The month ``day`` falls in."""
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        """The first day of the month."""
        return date(self.year, self.month, 1)

    @property
    def period(self) -> ReferencePeriod:
        """The invoice's reference month and year."""
        return ReferencePeriod(month=f"{self.month:02d}", year=f"{self.year:04d}")

    def day(self, number: int) -> date:
        """Day ``number`` of the month, or its last day when the month is shorter."""
        last = calendar.monthrange(self.year, self.month)[1]
        return date(self.year, self.month, min(number, last))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def billing_invoice_id(contract_id: UUID, reference: BillingReference) -> UUID:
    """The id of the invoice a run issues to ``contract_id`` for ``reference``."""
    return derived_id("billing-run-invoice", contract_id, reference)


def automatic_run_id(reseller_id: UUID, reference: BillingReference) -> UUID:
    """The id of the reseller's automatic run of ``reference`` (one per month)."""
    return derived_id("automatic-billing-run", reseller_id, reference)


def billing_due_date(plan: Plan, reference: BillingReference, issued_on: date) -> date:
    """The plan's due day of the reference month, or the issue date once past."""
    return max(reference.day(plan.due_day), issued_on)


def billing_description(plan: Plan, reference: BillingReference) -> str:
    """``"<plan description> - MM/YYYY"``."""
    return f"{plan.description} - {reference.month:02d}/{reference.year:04d}"


class BillingRun(LedgerAggregate):
    """One billing run of a reseller, recorded once it is done."""

    TOPIC = "revenda.BillingRun"

    class Completed(LedgerAggregate.Event, AggregateCreated):
        """A run finished: what it issued (invoice ids) and how many it skipped."""

        TOPIC = "revenda.BillingRun.Completed"
        reference: str
        issue_date: date
        issued: int
        skipped: int
        invoice_ids: list[str]
        automatic: bool

    @event(Completed)
    def __init__(  # noqa: PLR0913 - the fields of the created event
        self,
        *,
        reseller_id: UUID,
        reference: str,
        issue_date: date,
        issued: int,
        skipped: int,
        invoice_ids: list[str],
        automatic: bool,
    ) -> None:
        self.reseller_id = reseller_id
        self.reference = reference
        self.issue_date = issue_date
        self.issued = issued
        self.skipped = skipped
        self.invoice_ids = [UUID(invoice_id) for invoice_id in invoice_ids]
        self.automatic = automatic

    @classmethod
    def complete(  # noqa: PLR0913 - the run's outcome
        cls,
        *,
        run_id: UUID,
        reseller_id: UUID,
        reference: BillingReference,
        issue_date: date,
        invoice_ids: list[UUID],
        skipped: int,
        automatic: bool,
    ) -> Self:
        """Record a finished run."""
        return cls._create(
            cls.Completed,
            id=run_id,
            reseller_id=reseller_id,
            reference=str(reference),
            issue_date=issue_date,
            issued=len(invoice_ids),
            skipped=skipped,
            invoice_ids=[str(invoice_id) for invoice_id in invoice_ids],
            automatic=automatic,
        )
