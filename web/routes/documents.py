"""Printable documents in the browser, with the session cookie.

The same renderer and the same document as ``GET /v1/invoices/{id}/html|pdf`` and
``GET /v1/erp/boletos/{id}/print``; only the way the caller is known differs.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi.responses import HTMLResponse, Response

from api.deps import ContainerDep, LedgerDep, ViewsDep
from application.documents import invoice_document
from web.routing import path_id, web_router
from web.session import CurrentUser, PageNotFoundError, found

router = web_router()
Page = TypeVar("Page", bound=Response)


@router.get("/painel/faturas/{fatura}/html")
def invoice_html(
    fatura: str, user: CurrentUser, ledger: LedgerDep, container: ContainerDep
) -> HTMLResponse:
    """The printable invoice (HTML)."""
    invoice_id = path_id(fatura)
    with found():
        invoice = ledger.get_invoice(user.reseller_id, invoice_id)
    return _private(
        HTMLResponse(container.renderer.html(invoice_document(ledger, invoice)))
    )


@router.get("/painel/faturas/{fatura}/pdf")
def invoice_pdf(
    fatura: str, user: CurrentUser, ledger: LedgerDep, container: ContainerDep
) -> Response:
    """The printable invoice (PDF), shown inline by the browser."""
    invoice_id = path_id(fatura)
    with found():
        invoice = ledger.get_invoice(user.reseller_id, invoice_id)
    pdf = container.renderer.pdf(invoice_document(ledger, invoice))
    return _private(
        Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="fatura-{invoice.code}.pdf"'
            },
        )
    )


@router.get("/erp/boletos/{boleto}/imprimir")
def print_boleto(
    boleto: str,
    user: CurrentUser,
    views: ViewsDep,
    ledger: LedgerDep,
    container: ContainerDep,
) -> HTMLResponse:
    """The printable boleto: its invoice, with barcode, line and Pix."""
    boleto_id = path_id(boleto)
    views.wait_for(ledger.recorder.max_notification_id() or 0, 5)
    row = views.boletos.get(user.reseller_id, boleto_id)
    if row is None:
        raise PageNotFoundError
    with found():
        invoice = ledger.get_invoice(user.reseller_id, row["invoice_id"])
    return _private(
        HTMLResponse(container.renderer.html(invoice_document(ledger, invoice)))
    )


def _private(response: Page) -> Page:
    response.headers["Cache-Control"] = "no-store"
    return response
