"""The ``Ledger`` application: every write of the HTTP API, as one method each.

Each command takes primitives, loads aggregates, lets them check their rules, and
saves every aggregate it changed in one atomic ``save``. A command returns what it
recorded and the log position of its last event (``Recorded.position``), which the
API hands back as ``Ledger-Position`` for read-your-writes.

Uniqueness and idempotency come from deterministic ids (see the domain modules): a
racing duplicate fails on the store's unique (id, version) constraint. Commands
therefore run in a retry loop: on a conflict the whole command runs again from a
fresh load, where the duplicate is then seen and refused by name, or the command
succeeds on top of the change that beat it (two invoices issued at once each get
their own code).
"""

from __future__ import annotations

import copy
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    LRUCache,
    ProcessingEvent,
    project_aggregate,
)
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import (
    ApplicationRecorder,
    IntegrityError,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoder,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from psycopg import sql

from application.actors import ActorMapper
from application.chain import ChainedRecorder
from application.group_commit import GroupCommit, Pending
from application.passwords import Passwords
from application.transcodings import DateAsISO, FastJSONTranscoder, FastUUIDAsHex
from domain.base import LedgerAggregate, derived_id
from domain.billing import BillingSettings
from domain.billing_runs import (
    BillingReference,
    BillingRun,
    billing_description,
    billing_due_date,
    billing_invoice_id,
)
from domain.clients import Client, ContactDetails, client_id_for
from domain.contracts import (
    Contract,
    ContractStatus,
    Plan,
    SuspensionReason,
    contract_id_for,
)
from domain.credits import Credit, CreditNotFoundError
from domain.documents import Document
from domain.errors import (
    ClientNotFoundError,
    ConflictError,
    ContractNotFoundError,
    DuplicateClientError,
    EmailAlreadyInUseError,
    InvalidInputError,
    InvoiceNotFoundError,
    NoActiveContractError,
    NotFoundError,
    OpenContractExistsError,
    ResellerNotFoundError,
    UserNotFoundError,
)
from domain.invoices import (
    MAX_DESCRIPTION_LENGTH,
    Charge,
    Invoice,
    NoticeKind,
    PaymentMethod,
)
from domain.money import check_amount_cents, format_brl
from domain.notifications import (
    NotificationKind,
    Outcome,
    ProviderNotification,
    notification_id_for,
)
from domain.periods import ReferencePeriod, check_date_range
from domain.resellers import Reseller
from domain.text import email_address, required_text
from domain.users import Role, User, user_id_for_email

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
MAX_COMMAND_ATTEMPTS = 60
MAX_RETRY_SLEEP_SECONDS = 0.05
RESELLER_SNAPSHOT_INTERVAL = 100
LATEST_CONTRACTS_CACHED = 100_000
"""Clients whose latest contract this process remembers (for the issue hot path)."""
BILLING_BATCH_SIZE = 100
"""Invoices a billing run saves together with the reseller's sequence, per save."""
ISSUES = "issues"
"""The group-commit queue every tenant's issues share (one save serves several)."""

A = TypeVar("A", bound=LedgerAggregate)
T = TypeVar("T")
ContractAction = Callable[[Contract, datetime], None]


class ConcurrentChangeError(ConflictError):
    """A command kept conflicting with concurrent changes and gave up."""


class LastOwnerError(ConflictError):
    """The change would leave the tenant without an enabled owner."""


@dataclass(frozen=True, slots=True)
class Recorded(Generic[A]):
    """An aggregate as a command left it, and the log position it reached.

    ``position`` is ``None`` when the command recorded nothing (an idempotent no-op).
    """

    aggregate: A
    position: int | None


@dataclass(frozen=True, slots=True)
class BatchBilled:
    """What one save of a billing run issued, and what it found already billed."""

    invoice_ids: list[UUID]
    skipped: int
    position: int | None


@dataclass(frozen=True, slots=True)
class RegisteredReseller:
    """A new reseller and its owner user."""

    reseller: Reseller
    owner: User
    position: int


class NotificationResult(StrEnum):
    """What recording a partner notification did."""

    APPLIED = "applied"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class NotificationRecorded:
    """The outcome of a partner notification and the invoice as it now is."""

    result: NotificationResult
    invoice: Invoice
    position: int | None


@dataclass(eq=False, kw_only=True)
class _IssueRequest(Pending[Recorded[Invoice]]):
    """An invoice to issue, queued for the next batch (``Ledger._issue_batch``)."""

    reseller_id: UUID
    client_id: UUID
    build: Callable[[Reseller, Contract], Invoice]
    """Make the invoice on a reseller (taking its next code) for the contract."""


def _by_reseller(batch: list[_IssueRequest]) -> dict[UUID, list[_IssueRequest]]:
    grouped: dict[UUID, list[_IssueRequest]] = {}
    for request in batch:
        grouped.setdefault(request.reseller_id, []).append(request)
    return grouped


def _settle(request: Pending[T], run: Callable[[], T]) -> None:
    """Give ``request`` what ``run`` returns, or the exception it raises."""
    try:
        request.succeed(run())
    except Exception as error:  # noqa: BLE001 - the caller's to raise
        request.fail(error)


def _replica(reseller: Reseller) -> Reseller:
    """A copy of a cached reseller that a command may change.

    The reseller's attributes are immutable values, so a shallow copy with its own
    (empty) list of pending events is a full copy, at a fraction of ``deepcopy``.
    """
    replica = copy.copy(reseller)
    replica.__dict__["_pending_events"] = []
    return replica


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger(Application[UUID]):
    """The write side of the billing ledger."""

    name = "ledger"
    """Fixed: the events table (``ledger_events``) and every tracking row derive
    from this name, so renaming the class must not rename the application."""

    env: ClassVar[dict[str, str]] = {
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        # Cached aggregates are fast-forwarded with the events recorded since (one
        # query), so the reseller's sequence is not replayed from its snapshot on
        # every issue; copies keep a failed command from touching the cache.
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "y",
    }
    snapshot_class = Snapshot
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Reseller: RESELLER_SNAPSHOT_INTERVAL
    }

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        new_id: Callable[[], UUID] = uuid4,
        passwords: Passwords | None = None,
    ) -> None:
        super().__init__(env)
        if self.env.get("POSTGRES_ENABLE_DB_FUNCTIONS", "n").lower() in {"y", "yes"}:
            # Its insert function takes no table lock: tailing readers can skip
            # events committed out of order. Refuse rather than lose events.
            msg = "POSTGRES_ENABLE_DB_FUNCTIONS must stay off for the ledger"
            raise ValueError(msg)
        self.clock = clock
        self.new_id = new_id
        self.passwords = passwords or Passwords()
        self._sequence_locks: dict[UUID, threading.Lock] = {}
        self._sequence_locks_guard = threading.Lock()
        self._issues: GroupCommit[_IssueRequest] = GroupCommit(BILLING_BATCH_SIZE)
        self._latest_contracts: LRUCache[UUID, UUID] = LRUCache(
            maxsize=LATEST_CONTRACTS_CACHED
        )
        if isinstance(self.recorder, ChainedRecorder) and isinstance(
            self.mapper, ActorMapper
        ):
            self.recorder.start_chain(self.mapper.tenant_of)

    def construct_mapper(self) -> Mapper[UUID]:
        """The library's mapper, stamping the actor on every event it stores."""
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=ActorMapper
        )

    def construct_recorder(self) -> ApplicationRecorder:
        """On PostgreSQL, the recorder that also keeps each tenant's hash chain."""
        factory = self.factory
        if not isinstance(factory, PostgresFactory):
            return super().construct_recorder()
        recorder = ChainedRecorder(
            factory.datastore, events_table_name=f"{self.name.lower()}_events"
        )
        if factory.env_create_table():
            recorder.create_table()
        return recorder

    def _sequence_lock(self, reseller_id: UUID) -> threading.Lock:
        """Issues of one reseller queue up in this process instead of conflicting.

        Conflicts with other processes are still resolved by retrying the command.
        """
        with self._sequence_locks_guard:
            return self._sequence_locks.setdefault(reseller_id, threading.Lock())

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON format with a faster decoder and ``date`` added."""
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        """Add ``date`` to the library's default transcodings."""
        super().register_transcodings(transcoder)
        transcoder.register(FastUUIDAsHex())
        transcoder.register(DateAsISO())

    def today(self) -> date:
        """Today's date in São Paulo, the calendar every default date follows."""
        return self.clock().astimezone(SAO_PAULO).date()

    # -- plumbing ------------------------------------------------------------

    def _save_all(
        self,
        *aggregates: LedgerAggregate,
        expected_versions: Mapping[UUID, int] | None = None,
    ) -> int | None:
        if expected_versions:
            recordings = self.save(*aggregates, expected_versions=expected_versions)
        else:
            recordings = self.save(*aggregates)
        return recordings[-1].notification.id if recordings else None

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot an aggregate as just saved when the save crosses its interval.

        The library reloads the aggregate at the version that is a multiple of the
        interval (the last snapshot and the events since: a query and a replay of
        up to an interval of events, on every hundredth issue of a reseller). The
        aggregate just saved is the state at its own version already: that is the
        snapshot's version, the multiple itself or, when a batch saved several of
        its events at once, the version just past it.
        """
        if self.snapshots is None:
            return
        taken: set[UUID] = set()
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if (
                aggregate is None
                or interval is None
                or event.originator_version % interval
                or aggregate.id in taken
            ):
                continue
            taken.add(aggregate.id)
            taker = getattr(type(aggregate), "Snapshot", self.snapshot_class)
            self.snapshots.put([taker.take(aggregate)])

    def _retrying(self, command: Callable[[], T]) -> T:
        """Run ``command`` again from scratch whenever its save conflicts."""
        for attempt in range(MAX_COMMAND_ATTEMPTS):
            try:
                return command()
            except IntegrityError:
                backoff = min(MAX_RETRY_SLEEP_SECONDS, 0.001 * 2**attempt)
                time.sleep(random.uniform(0, backoff))  # noqa: S311 - jitter only
        msg = "the command kept conflicting with concurrent changes; try again"
        raise ConcurrentChangeError(msg)

    def _load(
        self, kind: type[A], aggregate_id: UUID, version: int | None = None
    ) -> A | None:
        try:
            aggregate: object = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def _load_in_tenant(
        self,
        kind: type[A],
        reseller_id: UUID,
        aggregate_id: UUID,
        not_found: type[NotFoundError],
        version: int | None = None,
    ) -> A:
        """Load an aggregate of the tenant; another tenant's id is not found."""
        aggregate = self._load(kind, aggregate_id, version)
        if aggregate is None or aggregate.reseller_id != reseller_id:
            msg = f"{kind.__name__.lower()} {aggregate_id} not found"
            raise not_found(msg)
        return aggregate

    # -- resellers and users ---------------------------------------------------

    def register_reseller(
        self, name: str, document: str, email: str, password: str
    ) -> RegisteredReseller:
        """Sign up a reseller with its owner user, ERP customer and bank account."""
        reseller_id = self.new_id()
        reseller = Reseller.register(reseller_id, name, document, email)
        password_hash = self.passwords.hash(password)

        def command() -> RegisteredReseller:
            if user_id_for_email(reseller.email) in self.repository:
                raise EmailAlreadyInUseError(f"e-mail {reseller.email} is in use")
            new_reseller = Reseller.register(reseller_id, name, document, email)
            owner = User.add(reseller_id, email, Role.OWNER, password_hash)
            position = self._save_all(new_reseller, owner)
            assert position is not None  # noqa: S101 - two events were recorded
            return RegisteredReseller(new_reseller, owner, position)

        return self._retrying(command)

    def get_reseller(self, reseller_id: UUID) -> Reseller:
        """The reseller, or ``ResellerNotFoundError``."""
        return self._load_in_tenant(
            Reseller, reseller_id, reseller_id, ResellerNotFoundError
        )

    def billing_settings(self, reseller_id: UUID) -> BillingSettings:
        """The reseller's billing settings in force."""
        return self.get_reseller(reseller_id).billing_settings

    def change_billing_settings(
        self, reseller_id: UUID, changes: dict[str, Any]
    ) -> Recorded[Reseller]:
        """Change some of the reseller's billing settings (validated first).

        Validation runs on the defaults before anything is loaded, so a bad value
        is refused the same way whatever the state.
        """
        BillingSettings().changed(changes)

        def command() -> Recorded[Reseller]:
            reseller = self.get_reseller(reseller_id)
            reseller.change_billing_settings(changes)
            return Recorded(reseller, self._save_all(reseller))

        with self._sequence_lock(reseller_id):
            return self._retrying(command)

    def add_user(
        self, reseller_id: UUID, email: str, password: str, role: str
    ) -> Recorded[User]:
        """Give someone a login to the reseller with ``role``."""
        parsed_role = Role.parse(role)
        address = email_address(email)
        self.get_reseller(reseller_id)
        password_hash = self.passwords.hash(password)

        def command() -> Recorded[User]:
            if user_id_for_email(address) in self.repository:
                raise EmailAlreadyInUseError(f"e-mail {address} is in use")
            user = User.add(reseller_id, address, parsed_role, password_hash)
            return Recorded(user, self._save_all(user))

        return self._retrying(command)

    def get_user(self, user_id: UUID) -> User:
        """The user, or ``UserNotFoundError`` (users are looked up across tenants)."""
        user = self._load(User, user_id)
        if user is None:
            msg = f"user {user_id} not found"
            raise UserNotFoundError(msg)
        return user

    def authenticate(self, email: str, password: str) -> User | None:
        """The user whose e-mail and password match, else ``None``.

        Unknown e-mails cost one argon2 verification too, like wrong passwords.
        """
        try:
            user = self._load(User, user_id_for_email(email))
        except ValueError:
            user = None
        password_hash = user.password_hash if user is not None else None
        if not self.passwords.verify(password_hash, password):
            return None
        # Checked after the verification, so a disabled login costs as much.
        return None if user is None or user.disabled else user

    def get_tenant_user(self, reseller_id: UUID, user_id: UUID) -> User:
        """A user of the tenant; another tenant's user is not found."""
        return self._load_in_tenant(User, reseller_id, user_id, UserNotFoundError)

    def update_user(
        self,
        reseller_id: UUID,
        user_id: UUID,
        *,
        role: str | None = None,
        disabled: bool | None = None,
        colleagues: Callable[[], Iterable[UUID]] = tuple,
    ) -> Recorded[User]:
        """Change a user's role and/or disable or enable it, in one save.

        ``colleagues`` gives the tenant's users (from a view, which may lag), asked
        only when an enabled owner would stop being one: each is loaded from the
        log, so a change that would leave no enabled owner is refused
        (``LastOwnerError``). A user added a moment ago and missing from
        the view can only make this refuse, never let the last owner go. Changes of
        one tenant's users queue in this process (the issue lock), so two owners
        cannot demote each other at once here.
        """
        parsed_role = None if role is None else Role.parse(role)

        def command() -> Recorded[User]:
            user = self.get_tenant_user(reseller_id, user_id)
            was_owner = user.role is Role.OWNER and not user.disabled
            if parsed_role is not None:
                user.change_role(parsed_role)
            if disabled is True:
                user.disable()
            elif disabled is False:
                user.enable()
            still_owner = user.role is Role.OWNER and not user.disabled
            if (
                was_owner
                and not still_owner
                and not self._another_owner(
                    reseller_id, (u for u in colleagues() if u != user_id)
                )
            ):
                msg = "the tenant's last enabled owner cannot be disabled or demoted"
                raise LastOwnerError(msg)
            return Recorded(user, self._save_all(user))

        with self._sequence_lock(reseller_id):
            return self._retrying(command)

    def _another_owner(self, reseller_id: UUID, user_ids: Iterable[UUID]) -> bool:
        for other_id in user_ids:
            other = self._load(User, other_id)
            if (
                other is not None
                and other.reseller_id == reseller_id
                and other.role is Role.OWNER
                and not other.disabled
            ):
                return True
        return False

    # -- clients -------------------------------------------------------------

    def register_client(  # noqa: PLR0913 - the client's fields
        self,
        reseller_id: UUID,
        *,
        name: str,
        document: str,
        email: str,
        phone: str | None = None,
        city: str | None = None,
        state: str | None = None,
    ) -> Recorded[Client]:
        """Register a client; its document must be new in the tenant."""
        parsed = Document.parse(document)
        details = ContactDetails.parse(name, email, phone, city, state)
        self.get_reseller(reseller_id)

        def command() -> Recorded[Client]:
            if client_id_for(reseller_id, parsed) in self.repository:
                msg = f"a client with document {parsed.number} already exists"
                raise DuplicateClientError(msg)
            client = Client.register(reseller_id, parsed, details)
            return Recorded(client, self._save_all(client))

        return self._retrying(command)

    def get_client(self, reseller_id: UUID, client_id: UUID) -> Client:
        """The tenant's client, or ``ClientNotFoundError``."""
        return self._load_in_tenant(Client, reseller_id, client_id, ClientNotFoundError)

    def issued_client(self, reseller_id: UUID, client_id: UUID) -> Client:
        """The client an invoice was just issued to, as the issue read it.

        The issue checked the version of the cached client it read (or loaded it
        afresh into the cache), so this process's cached copy is the client the
        invoice went to: no read of the log. Loaded when not cached.
        """
        client = self._cached(Client, client_id)
        if client is None or client.reseller_id != reseller_id:
            return self.get_client(reseller_id, client_id)
        return client

    def update_client(
        self, reseller_id: UUID, client_id: UUID, changes: Mapping[str, str | None]
    ) -> Recorded[Client]:
        """Change some contact fields; a field absent from ``changes`` is kept.

        ``None`` clears an optional field (phone, city, state).
        """
        allowed = {"name", "email", "phone", "city", "state"}
        unknown = set(changes) - allowed
        if unknown:
            msg = f"unknown client fields: {', '.join(sorted(unknown))}"
            raise ValueError(msg)

        def command() -> Recorded[Client]:
            client = self.get_client(reseller_id, client_id)
            current = client.details
            merged: dict[str, Any] = {
                "name": current.name,
                "email": current.email,
                "phone": current.phone,
                "city": current.city,
                "state": current.state,
            }
            merged.update(changes)
            client.update(ContactDetails.parse(**merged))
            return Recorded(client, self._save_all(client))

        return self._retrying(command)

    # -- contracts -------------------------------------------------------------

    def _contracts_of(self, client_id: UUID) -> list[Contract]:
        """A client's contracts in the order opened, up to the first open one.

        Contract *n* + 1 is only ever opened after contract *n* was cancelled, so no
        contract follows an open one: the search stops there, and the common case
        (one active contract) costs one load, not a probe for the next id too.
        """
        contracts: list[Contract] = []
        while True:
            contract = self._load(
                Contract, contract_id_for(client_id, len(contracts) + 1)
            )
            if contract is None:
                return contracts
            contracts.append(contract)
            if contract.is_open:
                return contracts

    def current_contract(self, reseller_id: UUID, client_id: UUID) -> Contract | None:
        """The client's latest contract, cancelled or not (``None``: never had one)."""
        self.get_client(reseller_id, client_id)
        contracts = self._contracts_of(client_id)
        return contracts[-1] if contracts else None

    def open_contract(
        self, reseller_id: UUID, client_id: UUID, plan: Plan | None = None
    ) -> Recorded[Contract]:
        """Open a contract in trial (with its plan, if any, in the same save).

        A client has at most one contract not cancelled.
        """

        def command() -> Recorded[Contract]:
            self.get_client(reseller_id, client_id)
            contracts = self._contracts_of(client_id)
            if contracts and contracts[-1].is_open:
                msg = f"client {client_id} already has a contract that is not cancelled"
                raise OpenContractExistsError(msg)
            contract = Contract.open(reseller_id, client_id, len(contracts) + 1)
            if plan is not None:
                contract.change_plan(plan)
            return Recorded(contract, self._save_all(contract))

        return self._retrying(command)

    def get_contract(self, reseller_id: UUID, contract_id: UUID) -> Contract:
        """The tenant's contract, or ``ContractNotFoundError``."""
        return self._load_in_tenant(
            Contract, reseller_id, contract_id, ContractNotFoundError
        )

    def _transition_contract(
        self, reseller_id: UUID, contract_id: UUID, action: ContractAction
    ) -> Recorded[Contract]:
        def command() -> Recorded[Contract]:
            contract = self.get_contract(reseller_id, contract_id)
            action(contract, self.clock())
            return Recorded(contract, self._save_all(contract))

        return self._retrying(command)

    def activate_contract(
        self, reseller_id: UUID, contract_id: UUID
    ) -> Recorded[Contract]:
        """Make the contract active: from trial, or from suspended."""
        return self._transition_contract(reseller_id, contract_id, Contract.activate)

    def suspend_contract(
        self,
        reseller_id: UUID,
        contract_id: UUID,
        reason: SuspensionReason = SuspensionReason.MANUAL,
    ) -> Recorded[Contract]:
        """Suspend an active contract (by hand, unless dunning says ``overdue``)."""
        return self._transition_contract(
            reseller_id, contract_id, lambda contract, at: contract.suspend(at, reason)
        )

    def reinstate_contract(
        self, reseller_id: UUID, contract_id: UUID
    ) -> Recorded[Contract]:
        """Make a contract suspended for overdue debts active again.

        Refused (``InvalidTransitionError``) for any other contract, a contract
        suspended by hand included.
        """
        return self._transition_contract(reseller_id, contract_id, Contract.reinstate)

    def change_contract_plan(
        self, reseller_id: UUID, contract_id: UUID, plan: Plan | None
    ) -> Recorded[Contract]:
        """Give a contract not cancelled a plan, a new one, or none (``None``)."""

        def command() -> Recorded[Contract]:
            contract = self.get_contract(reseller_id, contract_id)
            contract.change_plan(plan)
            return Recorded(contract, self._save_all(contract))

        return self._retrying(command)

    def cancel_contract(
        self, reseller_id: UUID, contract_id: UUID
    ) -> Recorded[Contract]:
        """Cancel a contract in trial, active or suspended."""
        return self._transition_contract(reseller_id, contract_id, Contract.cancel)

    # -- invoices ----------------------------------------------------------------

    def issue_invoice(  # noqa: PLR0913 - the invoice's fields
        self,
        reseller_id: UUID,
        *,
        client_id: UUID,
        description: str,
        amount_cents: int,
        due_date: date,
        reference_month: str,
        reference_year: str,
        issue_date: date | None = None,
        minimum_amount_cents: int = 1,
        fine_percent: Decimal | str | None = None,
        interest_monthly_percent: Decimal | str | None = None,
    ) -> Recorded[Invoice]:
        """Issue an invoice with the reseller's next code, atomically.

        The fine and the interest are copied from the reseller's billing settings
        unless given here.

        The input is validated before anything is loaded, so a bad request is
        refused the same way whatever the state; that includes an amount below
        the partner's ``minimum_amount_cents``, which the partner would refuse.
        Then the client must have an active contract. The reseller's sequence and
        the new invoice are saved together; a concurrent issue makes the save
        conflict and the command runs again with the next code.
        """
        period = ReferencePeriod.parse(reference_month, reference_year)
        check_amount_cents(amount_cents)
        if amount_cents < minimum_amount_cents:
            minimum = format_brl(minimum_amount_cents)
            msg = f"must be at least the payment partner's minimum, {minimum}"
            raise InvalidInputError("amount", msg)
        required_text(
            description, "description", MAX_DESCRIPTION_LENGTH, line_breaks=True
        )
        issued_on = issue_date or self.today()
        invoice_id = self.new_id()

        def build(reseller: Reseller, contract: Contract) -> Invoice:
            """The invoice, with the reseller's next code taken for it."""
            settings = reseller.billing_settings
            invoice = Invoice.issue(
                invoice_id=invoice_id,
                reseller_id=reseller_id,
                client_id=client_id,
                contract_id=contract.id,
                code=reseller.last_invoice_code + 1,
                description=description,
                amount_cents=amount_cents,
                issue_date=issued_on,
                due_date=due_date,
                period=period,
                fine_percent=settings.fine_percent
                if fine_percent is None
                else fine_percent,
                interest_monthly_percent=settings.interest_monthly_percent
                if interest_monthly_percent is None
                else interest_monthly_percent,
            )
            # Taken once the invoice is valid: a refused one takes no code.
            reseller.assign_invoice_code(invoice_id)
            return invoice

        request = _IssueRequest(
            reseller_id=reseller_id, client_id=client_id, build=build
        )
        self._issues.submit(ISSUES, request, self._issue_batch)
        if request.handed_back:
            # Its tenant was busy (a billing run, say): the batch went on without
            # it, and it waits for its tenant here, alone.
            with self._sequence_lock(reseller_id):
                return self._retrying(partial(self._issue_alone, request))
        return request.outcome()

    def _issue_batch(self, batch: list[_IssueRequest]) -> None:
        """Issue a batch of queued invoices, of any tenants, in one save.

        Each tenant's requests are built on one copy of its reseller, taking
        consecutive codes, each from the state it needs (``_issue_state``: this
        process's cache when it has it); a request refused there fails alone and
        takes no code. The versions of the clients and contracts read go with the
        save, which stores nothing if any moved on; then each request runs alone
        as a usual command, from fresh loads, retried on conflict.

        A tenant whose lock is held (its billing run, a settings change) is not
        waited for: its requests are handed back to their callers, who wait for
        it alone, so one busy tenant never holds up another's invoices.
        """
        locks: list[threading.Lock] = []
        resellers: list[Reseller] = []
        together: list[tuple[_IssueRequest, Invoice]] = []
        expected: dict[UUID, int] = {}
        try:
            for reseller_id, requests in _by_reseller(batch).items():
                lock = self._sequence_lock(reseller_id)
                if not lock.acquire(blocking=False):
                    for request in requests:
                        request.hand_back()
                    continue
                locks.append(lock)
                try:
                    reseller = self._issuing_reseller(reseller_id)
                except Exception as error:  # noqa: BLE001 - each caller's to raise
                    for request in requests:
                        request.fail(error)
                    continue
                built, versions = self._build_batch(reseller, requests)
                if built:
                    resellers.append(reseller)
                    together += built
                    for aggregate_id, version in versions.items():
                        expected[aggregate_id] = max(
                            version, expected.get(aggregate_id, 0)
                        )
            if together:
                self._save_batch(resellers, together, expected)
        finally:
            for lock in locks:
                lock.release()

    def _issuing_reseller(self, reseller_id: UUID) -> Reseller:
        """A copy of the reseller to take codes from (cached, else loaded)."""
        cached = self._cached(Reseller, reseller_id)
        return self.get_reseller(reseller_id) if cached is None else _replica(cached)

    def _save_batch(
        self,
        resellers: list[Reseller],
        together: list[tuple[_IssueRequest, Invoice]],
        expected: dict[UUID, int],
    ) -> None:
        try:
            position = self._save_all(
                *resellers,
                *(invoice for _, invoice in together),
                expected_versions=expected,
            )
        except IntegrityError:
            for request, _ in together:
                _settle(
                    request,
                    partial(self._retrying, partial(self._issue_alone, request)),
                )
        else:
            for reseller in resellers:
                self._keep_hot(reseller)
            for request, invoice in together:
                request.succeed(Recorded(invoice, position))

    def _build_batch(
        self, reseller: Reseller, batch: list[_IssueRequest]
    ) -> tuple[list[tuple[_IssueRequest, Invoice]], dict[UUID, int]]:
        """Each request's invoice on ``reseller``, and the versions read for them.

        A request refused here gets its error and takes no code.
        """
        together: list[tuple[_IssueRequest, Invoice]] = []
        expected: dict[UUID, int] = {}
        for request in batch:
            try:
                contract, versions = self._issue_state(request, fresh=False)
                invoice = request.build(reseller, contract)
            except Exception as error:  # noqa: BLE001 - the caller's to raise
                request.fail(error)
                continue
            together.append((request, invoice))
            for aggregate_id, version in versions.items():
                # Each was checked at the version it read; the latest holds.
                expected[aggregate_id] = max(version, expected.get(aggregate_id, 0))
        return together, expected

    def _issue_alone(self, request: _IssueRequest) -> Recorded[Invoice]:
        """One issue from fresh loads: the command a conflicting batch falls back to."""
        reseller = self.get_reseller(request.reseller_id)
        contract, expected = self._issue_state(request, fresh=True)
        invoice = request.build(reseller, contract)
        position = self._save_all(reseller, invoice, expected_versions=expected)
        self._keep_hot(reseller)
        return Recorded(invoice, position)

    def _issue_state(
        self, request: _IssueRequest, *, fresh: bool
    ) -> tuple[Contract, dict[UUID, int]]:
        """The client's active contract, and the versions of what was read.

        Not ``fresh``: from this process's cache when both are in it, with no
        read of the log. The reseller's sequence is saved with the invoice, so a
        stale one conflicts on its version; the client and its contract are only
        read, so their versions go with the save, which stores nothing if either
        moved on (``ChainedRecorder.insert_events``), and the issue runs again on
        fresh state. Each version is read before the state it guards: a cached
        aggregate fast-forwarded meanwhile can only make the save refuse, never
        let a stale status through.
        """
        cached = None if fresh else self._cached_issue_state(request)
        if cached is not None:
            return cached
        client = self.get_client(request.reseller_id, request.client_id)
        contracts = self._contracts_of(request.client_id)
        contract = contracts[-1] if contracts else None
        if contract is None or contract.status is not ContractStatus.ACTIVE:
            status = contract.status.value if contract else "none"
            msg = (
                "invoices are issued only to clients with an active contract; "
                f"this client's contract is {status}"
            )
            raise NoActiveContractError(msg)
        self._latest_contracts.put(request.client_id, contract.id)
        return contract, {client.id: client.version, contract.id: contract.version}

    def _cached_issue_state(
        self, request: _IssueRequest
    ) -> tuple[Contract, dict[UUID, int]] | None:
        if not isinstance(self.recorder, ChainedRecorder):
            return None  # only it checks the versions read
        client = self._cached(Client, request.client_id)
        try:
            contract_id = self._latest_contracts.get(request.client_id)
        except KeyError:
            return None
        contract = self._cached(Contract, contract_id)
        if client is None or contract is None:
            return None
        expected = {client.id: client.version, contract.id: contract.version}
        if (
            client.reseller_id != request.reseller_id
            or contract.client_id != request.client_id
            or contract.status is not ContractStatus.ACTIVE
        ):
            return None  # loaded, so a refusal is given on fresh state
        return contract, expected

    def _cached(self, kind: type[A], aggregate_id: UUID) -> A | None:
        """The aggregate as this process last saw it (no read, no copy)."""
        cache = self.repository.cache
        if cache is None:
            return None
        try:
            aggregate: object = cache.get(aggregate_id)
        except KeyError:
            return None
        return aggregate if isinstance(aggregate, kind) else None

    def _keep_hot(self, aggregate: LedgerAggregate) -> None:
        """Cache an aggregate just saved, so the next command starts from it."""
        cache = self.repository.cache
        if cache is not None:
            cache.put(aggregate.id, aggregate)

    # -- billing runs ------------------------------------------------------------

    def run_billing(  # noqa: PLR0913 - the run's inputs
        self,
        reseller_id: UUID,
        reference: str,
        contract_ids: Iterable[UUID],
        *,
        issue_date: date | None = None,
        run_id: UUID | None = None,
        batch_size: int = BILLING_BATCH_SIZE,
    ) -> Recorded[BillingRun] | None:
        """Bill ``reference`` to the active contracts with a plan in ``contract_ids``.

        ``contract_ids`` are the candidates (a view's list may lag or be stale):
        each is loaded here and billed only if it is the tenant's, ``active`` and
        has a plan. A contract's invoice for the month has a deterministic id, so
        one billed by an earlier or a racing run is skipped, found either before
        the save or by the save's conflict. Invoices are saved in batches, each
        with the reseller's code sequence in one atomic save: a crash between
        batches leaves whole batches behind, with gapless codes, and running again
        bills the rest. The run is recorded at the end.

        ``run_id`` given (an automatic run) and already recorded: nothing is done
        and ``None`` is returned.
        """
        billed = BillingReference.parse(reference)
        issued_on = issue_date or self.today()
        check_date_range(issued_on, "issue_date")
        if batch_size < 1:
            raise InvalidInputError("batch_size", "must be at least 1")
        automatic = run_id is not None
        the_run_id = run_id or self.new_id()
        if automatic and self._exists(the_run_id):
            return None
        self.get_reseller(reseller_id)
        candidates: list[tuple[Contract, UUID]] = []
        loaded = self._load_many(Contract, list(dict.fromkeys(contract_ids)))
        for contract in loaded:
            if (
                contract.reseller_id != reseller_id
                or contract.status is not ContractStatus.ACTIVE
                or contract.plan is None
            ):
                continue
            candidates.append((contract, billing_invoice_id(contract.id, billed)))
        billed_before = self._existing({invoice_id for _, invoice_id in candidates})
        pending = [c for c in candidates if c[1] not in billed_before]
        invoice_ids: list[UUID] = []
        skipped = len(candidates) - len(pending)
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            with self._sequence_lock(reseller_id):
                outcome = self._bill_batch(reseller_id, billed, issued_on, batch)
            invoice_ids += outcome.invoice_ids
            skipped += outcome.skipped
        run = BillingRun.complete(
            run_id=the_run_id,
            reseller_id=reseller_id,
            reference=billed,
            issue_date=issued_on,
            invoice_ids=invoice_ids,
            skipped=skipped,
            automatic=automatic,
        )
        try:
            position = self._save_all(run)
        except IntegrityError:
            if automatic:
                return None  # another process recorded this automatic run
            raise
        return Recorded(run, position)

    def _bill_batch(
        self,
        reseller_id: UUID,
        reference: BillingReference,
        issued_on: date,
        batch: Sequence[tuple[Contract, UUID]],
    ) -> BatchBilled:
        """Issue one batch with the reseller's next codes, in one atomic save.

        A conflict (another run billed one of them, or anything else took codes)
        makes the whole batch run again: the invoices that exist by then are
        skipped, so they consume no code.
        """
        attempts = 0

        def command() -> BatchBilled:
            nonlocal attempts
            attempts += 1
            todo = list(batch)
            if attempts > 1:
                existing = self._existing({invoice_id for _, invoice_id in todo})
                todo = [item for item in todo if item[1] not in existing]
            reseller = self.get_reseller(reseller_id)
            settings = reseller.billing_settings
            invoices: list[Invoice] = []
            for contract, invoice_id in todo:
                plan = contract.plan
                assert plan is not None  # noqa: S101 - filtered by the caller
                invoices.append(
                    Invoice.issue(
                        invoice_id=invoice_id,
                        reseller_id=reseller_id,
                        client_id=contract.client_id,
                        contract_id=contract.id,
                        code=reseller.assign_invoice_code(invoice_id),
                        description=billing_description(plan, reference),
                        amount_cents=plan.amount_cents,
                        issue_date=issued_on,
                        due_date=billing_due_date(plan, reference, issued_on),
                        period=reference.period,
                        fine_percent=settings.fine_percent,
                        interest_monthly_percent=settings.interest_monthly_percent,
                        billing_reference=str(reference),
                    )
                )
            position = self._save_all(reseller, *invoices) if invoices else None
            return BatchBilled(
                [invoice.id for invoice in invoices], len(batch) - len(todo), position
            )

        return self._retrying(command)

    def _load_many(self, kind: type[A], aggregate_ids: list[UUID]) -> list[A]:
        """The aggregates of ``kind`` among ``aggregate_ids``, in their order.

        One query per thousand instead of one load each: a billing run reads
        every contract of a reseller. Aggregates that are snapshotted, or any on
        another store, are loaded one by one.
        """
        recorder = self.recorder
        if kind in self.snapshotting_intervals or not isinstance(
            recorder, PostgresApplicationRecorder
        ):
            found = (self._load(kind, i) for i in aggregate_ids)
            return [aggregate for aggregate in found if aggregate is not None]
        statement = sql.SQL(
            "SELECT originator_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = ANY(%s) "
            "ORDER BY originator_id, originator_version"
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )
        events: dict[UUID, list[Any]] = {}
        for start in range(0, len(aggregate_ids), 1000):
            chunk = aggregate_ids[start : start + 1000]
            with recorder.datastore.transaction(commit=False) as cursor:
                rows = cursor.execute(statement, (chunk,)).fetchall()
            for row in rows:
                event = self.mapper.to_domain_event(
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                )
                events.setdefault(row["originator_id"], []).append(event)
        aggregates: list[A] = []
        for aggregate_id in aggregate_ids:
            aggregate = project_aggregate(None, events.get(aggregate_id, ()))
            if isinstance(aggregate, kind):
                aggregates.append(aggregate)
        return aggregates

    def _exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._existing({aggregate_id})

    def _existing(self, aggregate_ids: set[UUID]) -> set[UUID]:
        """Which of ``aggregate_ids`` have events: one query, not one load each."""
        if not aggregate_ids:
            return set()
        recorder = self.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            return {i for i in aggregate_ids if i in self.repository}
        statement = sql.SQL(
            "SELECT DISTINCT originator_id FROM {}.{} "
            "WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            rows = cursor.execute(statement, (list(aggregate_ids),)).fetchall()
        return {row["originator_id"] for row in rows}

    def get_billing_run(self, reseller_id: UUID, run_id: UUID) -> BillingRun:
        """The tenant's billing run, or ``NotFoundError``."""
        return self._load_in_tenant(BillingRun, reseller_id, run_id, NotFoundError)

    def get_invoice(
        self, reseller_id: UUID, invoice_id: UUID, version: int | None = None
    ) -> Invoice:
        """The tenant's invoice (as of its ``version``-th event, when given)."""
        return self._load_in_tenant(
            Invoice, reseller_id, invoice_id, InvoiceNotFoundError, version
        )

    def find_invoice(self, invoice_id: UUID) -> Invoice:
        """An invoice by id across tenants, for processes and partner webhooks."""
        invoice = self._load(Invoice, invoice_id)
        if invoice is None:
            msg = f"invoice {invoice_id} not found"
            raise InvoiceNotFoundError(msg)
        return invoice

    def _change_invoice(
        self,
        invoice_id: UUID,
        change: Callable[[Invoice], None],
        loaded: Invoice | None = None,
    ) -> Recorded[Invoice]:
        """Change the invoice and save it, again from a fresh load on a conflict.

        ``loaded`` is the caller's own copy, just loaded: the first attempt changes
        it rather than loading the invoice once more (a stale copy conflicts on
        its version when saved, and the retry loads it afresh).
        """
        first = [loaded] if loaded is not None and loaded.id == invoice_id else []

        def command() -> Recorded[Invoice]:
            invoice = first.pop() if first else self.find_invoice(invoice_id)
            change(invoice)
            return Recorded(invoice, self._save_all(invoice))

        return self._retrying(command)

    def record_registration(
        self, invoice_id: UUID, charge: Charge, *, loaded: Invoice | None = None
    ) -> Recorded[Invoice]:
        """The partner registered the charge: the invoice awaits payment.

        ``loaded``: the caller's own copy of the invoice, if it just loaded one.
        """
        return self._change_invoice(
            invoice_id, lambda invoice: invoice.register(charge), loaded
        )

    def record_registration_failure(
        self, invoice_id: UUID, reason: str
    ) -> Recorded[Invoice]:
        """The partner refused the charge: the invoice failed, with the reason."""
        return self._change_invoice(
            invoice_id, lambda invoice: invoice.fail_registration(reason)
        )

    def mark_overdue(self, invoice_id: UUID, as_of: date) -> Recorded[Invoice]:
        """Mark the invoice overdue if it still awaits a payment due before ``as_of``.

        Anything else records nothing, on purpose: the overdue sweep may find an
        invoice that was paid a moment ago, and that is not an error.
        """

        def change(invoice: Invoice) -> None:
            if invoice.is_past_due(as_of):
                invoice.mark_overdue(as_of)

        return self._change_invoice(invoice_id, change)

    def cancel_invoice(
        self, reseller_id: UUID, invoice_id: UUID, reason: str
    ) -> Recorded[Invoice]:
        """Cancel an invoice not paid yet, or one the partner refused (failed)."""

        def command() -> Recorded[Invoice]:
            invoice = self.get_invoice(reseller_id, invoice_id)
            invoice.cancel(reason, self.clock())
            return Recorded(invoice, self._save_all(invoice))

        return self._retrying(command)

    def retry_invoice(self, reseller_id: UUID, invoice_id: UUID) -> Recorded[Invoice]:
        """Register a failed invoice again: processing until the partner answers."""

        def command() -> Recorded[Invoice]:
            invoice = self.get_invoice(reseller_id, invoice_id)
            invoice.retry_registration(self.clock())
            return Recorded(invoice, self._save_all(invoice))

        return self._retrying(command)

    # -- notices to clients ----------------------------------------------------------

    def request_reminder(
        self, invoice_id: UUID, as_of: date, days_before_due: int | None
    ) -> Recorded[Invoice]:
        """Claim the invoice's reminder if it is due ``as_of``; else record nothing.

        The claim is an event on the invoice, so two sweeps racing (the service's
        and ``ledger tick``) claim it once: the loser finds it claimed and stops.
        """

        def change(invoice: Invoice) -> None:
            if invoice.reminder_is_due(as_of, days_before_due):
                invoice.request_notice(NoticeKind.REMINDER, as_of)

        return self._change_invoice(invoice_id, change)

    def request_overdue_notice(
        self, invoice_id: UUID, as_of: date
    ) -> Recorded[Invoice]:
        """Claim the overdue notice of a partly paid invoice past due; else nothing."""

        def change(invoice: Invoice) -> None:
            if invoice.overdue_notice_is_due(as_of):
                invoice.request_notice(NoticeKind.OVERDUE, as_of)

        return self._change_invoice(invoice_id, change)

    def record_notice_sent(
        self, invoice_id: UUID, kind: NoticeKind
    ) -> Recorded[Invoice]:
        """The notice went to the mail server; recording it twice records nothing."""

        def change(invoice: Invoice) -> None:
            if not invoice.notice_done(kind):
                invoice.record_notice_sent(kind, self.clock())

        return self._change_invoice(invoice_id, change)

    def record_notice_failed(
        self, invoice_id: UUID, kind: NoticeKind, reason: str
    ) -> Recorded[Invoice]:
        """The mail server refused the notice for good: never send it again."""

        def change(invoice: Invoice) -> None:
            if not invoice.notice_done(kind):
                invoice.record_notice_failed(kind, self.clock(), reason)

        return self._change_invoice(invoice_id, change)

    # -- customer credits ----------------------------------------------------------

    def get_credit(self, reseller_id: UUID, credit_id: UUID) -> Credit:
        """The tenant's credit, or ``CreditNotFoundError``."""
        return self._load_in_tenant(Credit, reseller_id, credit_id, CreditNotFoundError)

    def refund_credit(
        self, reseller_id: UUID, credit_id: UUID, reason: str
    ) -> Recorded[Credit]:
        """Record that the reseller gave an available credit back to its customer."""

        def command() -> Recorded[Credit]:
            credit = self.get_credit(reseller_id, credit_id)
            credit.refund(reason, self.clock())
            return Recorded(credit, self._save_all(credit))

        return self._retrying(command)

    # -- partner notifications -----------------------------------------------------

    def _process_notification(
        self,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        kind: NotificationKind,
        apply: Callable[[Invoice], Sequence[LedgerAggregate] | None],
    ) -> NotificationRecorded:
        """Apply a partner event to its invoice exactly once, atomically.

        The notification record and the invoice's new event are saved together, so
        a duplicate delivery, concurrent or not, conflicts instead of applying twice
        and is then answered as a duplicate. An event that does not fit the
        invoice's state is recorded as ignored and changes nothing else. ``apply``
        may return more aggregates it created (a payment's credit), saved with them.
        """
        notification_id = notification_id_for(provider, provider_event_id)

        def command() -> NotificationRecorded:
            invoice = self.find_invoice(invoice_id)
            if notification_id in self.repository:
                return NotificationRecorded(NotificationResult.DUPLICATE, invoice, None)
            created: Sequence[LedgerAggregate] = ()
            try:
                created = apply(invoice) or ()
            except ConflictError as refusal:
                outcome, detail = Outcome.IGNORED, str(refusal)
            else:
                outcome, detail = Outcome.APPLIED, ""
            notification = ProviderNotification.process(
                reseller_id=invoice.reseller_id,
                provider=provider,
                provider_event_id=provider_event_id,
                invoice_id=invoice.id,
                kind=kind,
                outcome=outcome,
                detail=detail,
            )
            position = self._save_all(invoice, *created, notification)
            return NotificationRecorded(NotificationResult(outcome), invoice, position)

        return self._retrying(command)

    def record_payment(  # noqa: PLR0913 - the fields of a payment notification
        self,
        *,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        amount_cents: int,
        paid_at: datetime,
        method: str,
    ) -> NotificationRecorded:
        """The partner says the client paid: record it once per partner event.

        Every payment is recorded, whatever the invoice's state; what it paid
        beyond the principal and the late fees allowed becomes a customer credit,
        saved in the same transaction (its id derives from the payment's).
        """
        check_amount_cents(amount_cents)
        parsed_method = PaymentMethod.parse(method)
        payment_id = derived_id(
            "invoice-payment", notification_id_for(provider, provider_event_id)
        )

        def pay(invoice: Invoice) -> list[LedgerAggregate]:
            payment = invoice.pay(
                amount_cents,
                paid_at,
                parsed_method,
                payment_id=payment_id,
                provider_event_id=provider_event_id,
            )
            if payment.credit_origin is None:
                return []
            credit = Credit.create(
                reseller_id=invoice.reseller_id,
                customer_id=invoice.client_id,
                invoice_id=invoice.id,
                invoice_code=invoice.code,
                payment_id=payment.id,
                amount_cents=payment.credit_cents,
                origin=payment.credit_origin,
            )
            return [credit]

        return self._process_notification(
            provider,
            provider_event_id,
            invoice_id,
            NotificationKind.PAYMENT_RECEIVED,
            pay,
        )

    def record_refund(
        self,
        *,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        amount_cents: int | None,
        refunded_at: datetime,
    ) -> NotificationRecorded:
        """The partner says the payment was returned (all of it when no amount)."""

        def refund(invoice: Invoice) -> None:
            amount = amount_cents or invoice.amount_paid_cents
            invoice.refund(amount, refunded_at)

        return self._process_notification(
            provider,
            provider_event_id,
            invoice_id,
            NotificationKind.PAYMENT_REFUNDED,
            refund,
        )

    def record_partner_cancellation(
        self,
        *,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        cancelled_at: datetime,
    ) -> NotificationRecorded:
        """The partner deleted the charge: the invoice is cancelled, if still unpaid.

        One the reseller cancelled already (the ledger asked the partner to delete
        it) or one paid is left as it is: the notice is recorded as ignored.
        """
        reason = f"Cancelada pelo parceiro ({provider})"
        return self._process_notification(
            provider,
            provider_event_id,
            invoice_id,
            NotificationKind.PAYMENT_DELETED,
            lambda invoice: invoice.cancel(reason, cancelled_at),
        )

    def record_payment_undone(
        self,
        *,
        provider: str,
        provider_event_id: str,
        invoice_id: UUID,
        undone_at: datetime,
    ) -> NotificationRecorded:
        """The partner withdrew its latest payment: the invoice owes it again."""

        def undo(invoice: Invoice) -> None:
            invoice.undo_payment(undone_at)

        return self._process_notification(
            provider,
            provider_event_id,
            invoice_id,
            NotificationKind.PAYMENT_UNDONE,
            undo,
        )

    def record_overdue_notice(
        self, *, provider: str, provider_event_id: str, invoice_id: UUID, as_of: date
    ) -> NotificationRecorded:
        """The partner says the invoice is overdue; a paid invoice stays paid."""
        return self._process_notification(
            provider,
            provider_event_id,
            invoice_id,
            NotificationKind.PAYMENT_OVERDUE,
            lambda invoice: invoice.mark_overdue(as_of),
        )

    # -- history -------------------------------------------------------------------

    def history(self, aggregate_id: UUID) -> list[Any]:
        """Every event of one aggregate, in version order."""
        return list(self.events.get(aggregate_id))

    def positioned_history(self, aggregate_id: UUID) -> list[tuple[int, Any]]:
        """Every event of one aggregate with its log position, in version order."""
        recorder = self.recorder
        if not isinstance(recorder, PostgresApplicationRecorder):
            return list(enumerate(self.history(aggregate_id), start=1))
        statement = sql.SQL(
            "SELECT notification_id, originator_version, topic, state FROM {}.{} "
            "WHERE originator_id = %s ORDER BY originator_version"
        ).format(
            sql.Identifier(recorder.datastore.schema),
            sql.Identifier(recorder.events_table_name),
        )
        with recorder.datastore.transaction(commit=False) as cursor:
            rows = cursor.execute(statement, (aggregate_id,)).fetchall()
        return [
            (
                row["notification_id"],
                self.mapper.to_domain_event(
                    StoredEvent(
                        originator_id=aggregate_id,
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                ),
            )
            for row in rows
        ]
