"""Billing that runs itself: automatic monthly runs and dunning.

Both are daily jobs (``application.processes.DailyJob``) of the service's sweep and
of ``ledger tick``; the views only name candidates (they may lag), and every
decision is taken on aggregates loaded from the log.

* ``automatic_billing``: on a reseller's ``auto_billing_day`` (São Paulo date), run
  the month's billing. The automatic run's id derives from the reseller and the
  month, so a sweep that runs every minute, or two processes, start it once.
* ``dunning``: with ``suspend_after_days_overdue`` N, an ``active`` contract whose
  client has an invoice unpaid N or more days after its due date is suspended with
  reason ``overdue``. The sweep also reinstates a contract suspended for overdue
  debts whose client owes nothing past due any more (an invoice cancelled, say).
* ``Reinstatement``: a process reacting to a payment (and to a cancellation), so a
  client that pays is active again at once, not at the next day's sweep: the
  payment event is what changes the answer, so it is what triggers the check.

A contract suspended by hand is never touched: ``Contract.reinstate`` refuses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from application.ledger import Ledger
from domain.billing_runs import BillingReference, automatic_run_id
from domain.contracts import ContractStatus, SuspensionReason
from domain.errors import DomainError, InvalidTransitionError, NotFoundError
from domain.invoices import Invoice, InvoiceStatus

log = logging.getLogger(__name__)

UNPAID = frozenset(
    {
        InvoiceStatus.AWAITING_PAYMENT,
        InvoiceStatus.OVERDUE,
        InvoiceStatus.PARTIALLY_PAID,
    }
)
"""Statuses in which a client owes the invoice's balance through the partner."""


class BillingQueries(Protocol):
    """What the daily jobs ask the views (candidates only; they may lag)."""

    def auto_billing_resellers(self, day: int) -> list[UUID]:
        """Resellers whose ``auto_billing_day`` is ``day``."""
        ...

    def dunning_resellers(self) -> list[UUID]:
        """Resellers with ``suspend_after_days_overdue`` set."""
        ...

    def billable_contracts(self, reseller_id: UUID) -> list[UUID]:
        """The reseller's active contracts with a plan."""
        ...

    def late_clients(self, reseller_id: UUID, due_on_or_before: date) -> list[UUID]:
        """Clients with an unpaid invoice due on or before the date."""
        ...

    def unpaid_invoices(
        self, reseller_id: UUID, client_id: UUID, due_before: date
    ) -> list[UUID]:
        """The client's unpaid invoices due before the date."""
        ...

    def contracts_suspended_for_overdue(self) -> list[tuple[UUID, UUID]]:
        """(reseller, contract) of every contract suspended for overdue debts."""
        ...


def owes_past_due(invoice: Invoice, today: date, days: int = 1) -> bool:
    """Whether ``invoice`` is unpaid ``days`` or more days after its due date."""
    return invoice.status in UNPAID and (today - invoice.due_date).days >= days


def automatic_billing(ledger: Ledger, queries: BillingQueries, today: date) -> int:
    """Run the month's billing of every reseller whose billing day is ``today``.

    Returns how many invoices were issued. One reseller's failure is logged and
    the others go on.
    """
    issued = 0
    reference = BillingReference.of(today)
    for reseller_id in queries.auto_billing_resellers(today.day):
        try:
            if ledger.billing_settings(reseller_id).auto_billing_day != today.day:
                continue  # the view lagged behind a change of the setting
            recorded = ledger.run_billing(
                reseller_id,
                str(reference),
                queries.billable_contracts(reseller_id),
                issue_date=today,
                run_id=automatic_run_id(reseller_id, reference),
            )
        except Exception:
            log.exception("automatic billing of reseller %s failed", reseller_id)
            continue
        if recorded is not None:
            issued += recorded.aggregate.issued
    return issued


def _any_owed(
    ledger: Ledger, invoice_ids: Iterable[UUID], today: date, days: int
) -> bool:
    for invoice_id in invoice_ids:
        try:
            invoice = ledger.find_invoice(invoice_id)
        except NotFoundError:
            continue
        if owes_past_due(invoice, today, days):
            return True
    return False


def suspend_if_late(  # noqa: PLR0913 - the client and the rule
    ledger: Ledger,
    *,
    queries: BillingQueries,
    reseller_id: UUID,
    client_id: UUID,
    today: date,
    days: int,
) -> bool:
    """Suspend the client's active contract if it owes an invoice ``days`` late."""
    contract = ledger.current_contract(reseller_id, client_id)
    if contract is None or contract.status is not ContractStatus.ACTIVE:
        return False
    due_before = date.fromordinal(today.toordinal() - days + 1)
    candidates = queries.unpaid_invoices(reseller_id, client_id, due_before)
    if not _any_owed(ledger, candidates, today, days):
        return False
    try:
        ledger.suspend_contract(reseller_id, contract.id, SuspensionReason.OVERDUE)
    except InvalidTransitionError:
        return False  # changed meanwhile (suspended by hand, cancelled)
    return True


def reinstate_if_settled(
    ledger: Ledger,
    queries: BillingQueries,
    reseller_id: UUID,
    contract_id: UUID,
    today: date,
) -> bool:
    """Reinstate a contract suspended for overdue debts once nothing is past due."""
    contract = ledger.get_contract(reseller_id, contract_id)
    if contract.suspension_reason is not SuspensionReason.OVERDUE:
        return False
    candidates = queries.unpaid_invoices(reseller_id, contract.client_id, today)
    if _any_owed(ledger, candidates, today, 1):
        return False
    try:
        ledger.reinstate_contract(reseller_id, contract_id)
    except InvalidTransitionError:
        return False
    return True


def dunning(ledger: Ledger, queries: BillingQueries, today: date) -> dict[str, int]:
    """Suspend late clients' contracts and reinstate settled ones, every reseller."""
    suspended = reinstated = 0
    for reseller_id in queries.dunning_resellers():
        try:
            days = ledger.billing_settings(reseller_id).suspend_after_days_overdue
            if days is None:
                continue
            due_on_or_before = date.fromordinal(today.toordinal() - days)
            for client_id in queries.late_clients(reseller_id, due_on_or_before):
                suspended += suspend_if_late(
                    ledger,
                    queries=queries,
                    reseller_id=reseller_id,
                    client_id=client_id,
                    today=today,
                    days=days,
                )
        except Exception:
            log.exception("dunning of reseller %s failed", reseller_id)
    # Also for resellers that turned dunning off since: what it suspended for
    # debts comes back once paid. The payment process does this at once; here
    # it catches what it cannot see (a debt settled by a cancellation it missed).
    for reseller_id, contract_id in queries.contracts_suspended_for_overdue():
        try:
            reinstated += reinstate_if_settled(
                ledger, queries, reseller_id, contract_id, today
            )
        except Exception:
            log.exception("reinstatement of contract %s failed", contract_id)
    return {"suspended": suspended, "reinstated": reinstated}


class Reinstatement:
    """On a payment or a cancellation, reinstate what dunning suspended.

    Only a contract suspended for overdue debts, and only once its client owes
    nothing past due any more.
    """

    name = "reinstatement"

    def __init__(
        self,
        ledger: Ledger,
        queries: BillingQueries,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.ledger = ledger
        self.queries = queries
        self.today = today or ledger.today

    def handles(self, event: object) -> bool:
        """Payments (of both versions) and cancellations can settle what is owed."""
        return isinstance(
            event, Invoice.PaymentReceived | Invoice.Paid | Invoice.Cancelled
        )

    def react(self, event: Any) -> None:  # noqa: ANN401 - a handled event
        """Reinstate when the client owes nothing past due; else do nothing."""
        invoice = self.ledger.find_invoice(event.originator_id)
        try:
            contract = self.ledger.current_contract(
                invoice.reseller_id, invoice.client_id
            )
        except DomainError:
            return
        if contract is None or contract.suspension_reason is not (
            SuspensionReason.OVERDUE
        ):
            return
        reinstate_if_settled(
            self.ledger,
            self.queries,
            invoice.reseller_id,
            contract.id,
            self.today(),
        )
