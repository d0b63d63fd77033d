"""The printable invoice: one template for HTML and PDF, everything inline."""

from datetime import date

from adapters.documents import TemplateRenderer, barcode_svg, brl, qr_svg
from application.documents import InvoiceDocument

LINE = "00190.00009 07777.777009 00087.654182 6 49000000295295"
BARCODE = "00196490000002952950000007777777000008765418"
EMV = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


def a_document(**overrides: object) -> InvoiceDocument:
    fields: dict[str, object] = {
        "reseller_name": "Revenda São João",
        "reseller_document": "16727230000197",
        "client_name": "Ana <Souza> & Cia",
        "client_document": "14538220620",
        "client_email": "ana@example.com",
        "code": 42,
        "description": "Mensalidade de dezembro",
        "reference_month": "12",
        "reference_year": "2026",
        "issue_date": date(2026, 11, 28),
        "due_date": date(2026, 12, 10),
        "amount_cents": 123456,
        "amount_paid_cents": 0,
        "status_label": "Aguardando Pagamento",
        "digitable_line": LINE,
        "barcode": BARCODE,
        "pix_emv": EMV,
        "paid_at": None,
        "bank_code": "001",
        "our_number": "12345670000000042",
    }
    fields.update(overrides)
    return InvoiceDocument(**fields)  # type: ignore[arg-type]


def test_the_html_shows_every_fact_in_brazilian_format_and_escapes_names() -> None:
    html = TemplateRenderer().html(a_document())
    for fact in (
        "Revenda São João",
        "16.727.230/0001-97",
        "Ana &lt;Souza&gt; &amp; Cia",
        "CPF 145.382.206-20",
        "Nº 42",
        "12/2026",
        "28/11/2026",
        "10/12/2026",
        "R$\xa01.234,56",
        "Aguardando Pagamento",
        "Mensalidade de dezembro",
        LINE,
        EMV,
    ):
        assert fact in html, fact
    assert html.count("<svg") == 2
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html
    assert "<img" not in html


def test_an_unregistered_invoice_says_so_instead_of_showing_a_boleto() -> None:
    html = TemplateRenderer().html(
        a_document(digitable_line=None, barcode=None, pix_emv=None)
    )
    assert "<svg" not in html
    assert "ainda não foram registrados" in html


def test_the_pdf_is_rendered_from_the_same_page() -> None:
    pdf = TemplateRenderer().pdf(a_document())
    assert pdf.startswith(b"%PDF-")
    assert len(pdf) > 5_000


def test_the_barcode_is_interleaved_2_of_5_of_the_44_digits() -> None:
    svg = barcode_svg(BARCODE)
    assert svg.startswith("<svg")
    # ITF: start, 22 digit pairs of 5 bars and 5 spaces, stop; a subpath a bar.
    assert svg.count("<path") == 1
    assert svg.count("z") >= 22 * 5
    assert barcode_svg(BARCODE) == svg
    assert barcode_svg(BARCODE[:-1] + "9") != svg


def test_the_qr_code_and_amounts() -> None:
    assert qr_svg(EMV).startswith("<svg")
    assert brl(15000) == "R$\xa0150,00"
    assert brl(5) == "R$\xa00,05"


def test_the_pdf_text_holds_the_digitable_line_and_the_amount() -> None:
    import io  # noqa: PLC0415

    from pypdf import PdfReader  # noqa: PLC0415

    pdf = TemplateRenderer().pdf(a_document())
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert LINE in text
    assert "R$\xa01.234,56" in text
    assert "Nº 42" in text
