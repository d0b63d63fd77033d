"""The read side: every view (the list and the API's instances), read-your-writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import ConnectionPool

from projections.audit import AuditFeed
from projections.billing import Billing
from projections.erp_boletos import ErpBoletos
from projections.erp_credits import ErpCredits
from projections.erp_customers import ErpCustomers
from projections.erp_receivables import ErpReceivables
from projections.panel_clients import PanelClients
from projections.panel_contracts import PanelContracts
from projections.panel_invoices import PanelInvoices
from projections.panel_users import PanelUsers
from projections.view import View
from projections.watcher import PositionWatcher

VIEWS: tuple[type[View], ...] = (
    PanelClients,
    PanelContracts,
    PanelInvoices,
    PanelUsers,
    ErpCustomers,
    ErpReceivables,
    ErpBoletos,
    ErpCredits,
    AuditFeed,
    Billing,
)
"""Every view the ledger keeps live (and rebuilds, verifies and reports on)."""


@dataclass
class ReadModels:
    """One instance of each view, sharing a pool, plus the position watcher."""

    pool: ConnectionPool[Any]
    watcher: PositionWatcher
    clients: PanelClients
    contracts: PanelContracts
    invoices: PanelInvoices
    users: PanelUsers
    customers: ErpCustomers
    receivables: ErpReceivables
    boletos: ErpBoletos
    credits: ErpCredits
    audit: AuditFeed
    billing: Billing

    @classmethod
    def build(cls, pool: ConnectionPool[Any], conninfo: str) -> ReadModels:
        """Every view on ``pool``; the watcher listens on its own connection."""
        return cls(
            pool=pool,
            watcher=PositionWatcher(conninfo, VIEWS),
            clients=PanelClients(pool),
            contracts=PanelContracts(pool),
            invoices=PanelInvoices(pool),
            users=PanelUsers(pool),
            customers=ErpCustomers(pool),
            receivables=ErpReceivables(pool),
            boletos=ErpBoletos(pool),
            credits=ErpCredits(pool),
            audit=AuditFeed(pool),
            billing=Billing(pool),
        )

    def wait_for(self, position: int, timeout_seconds: float = 5.0) -> bool:
        """Whether every view has applied ``position`` within the timeout."""
        return self.watcher.wait_for(position, timeout_seconds)
