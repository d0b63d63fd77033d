"""The ERP's vocabularies: the words its views use for an invoice's facts.

An invoice has one status (``domain.invoices.InvoiceStatus``); the ERP shows the
same facts twice more, in words of its own: the situation of the receivable
(lançamento) and the status of the boleto in bank control. Each vocabulary is one
enum holding the API's codes and their Portuguese labels; the views write the codes,
the schemas and filters list them, the presenters show the labels. A customer
credit (money received beyond what was owed) has a status of its own here too.
"""

from __future__ import annotations

from enum import StrEnum


class ReceivableSituation(StrEnum):
    """A receivable's situation: open until its invoice is paid, cancelled, refunded.

    A partly paid invoice is still open; one the partner refused to register is
    ``failed``: not owed through the partner, so out of the open books.
    """

    OPEN = "open"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    FAILED = "failed"

    @property
    def label(self) -> str:
        """The Portuguese label shown to people."""
        return _SITUATION_LABELS[self]


_SITUATION_LABELS = {
    ReceivableSituation.OPEN: "Aberto",
    ReceivableSituation.SETTLED: "Pago/Liquidado",
    ReceivableSituation.CANCELLED: "Cancelado",
    ReceivableSituation.REFUNDED: "Estornado",
    ReceivableSituation.FAILED: "Falha no Registro",
}


class BoletoStatus(StrEnum):
    """Where a registered invoice's boleto stands in bank control."""

    REGISTERED = "registered"
    OVERDUE = "overdue"
    PAID = "paid"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The Portuguese label shown to people."""
        return _BOLETO_LABELS[self]


_BOLETO_LABELS = {
    BoletoStatus.REGISTERED: "Registrado",
    BoletoStatus.OVERDUE: "Vencido",
    BoletoStatus.PAID: "Pago",
    BoletoStatus.CANCELLED: "Cancelado",
}


class CreditStatus(StrEnum):
    """A customer credit: available until the reseller gives the money back."""

    AVAILABLE = "available"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        """The Portuguese label shown to people."""
        return _CREDIT_LABELS[self]


_CREDIT_LABELS = {
    CreditStatus.AVAILABLE: "Disponível",
    CreditStatus.REFUNDED: "Devolvido",
}
