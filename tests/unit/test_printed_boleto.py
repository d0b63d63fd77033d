"""The boleto as a bank prints it: the fields of the ficha de compensação, a
barcode that reads back, and no barcode nor QR code on a paid or cancelled one.

The rendered barcode is decoded from the widths of the SVG's bars (not from the
digits we fed in), and the page is rendered to PNG in the test's output directory
for a person to look at.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.documents import (
    NARROW_MM,
    TemplateRenderer,
    barcode_png,
    barcode_svg,
    late_fee_instructions,
)
from domain.boleto import (
    Boleto,
    BoletoError,
    bank_check_digit,
    barcode_to_line,
    format_line,
    itf_decode,
    itf_widths,
)
from domain.documents import format_document
from tests.unit.test_printable_invoice import BARCODE, EMV, LINE, a_document

_BAR = re.compile(r"M(\d+) 0h(\d+)v")


def a_boleto(**overrides: object) -> object:
    fields: dict[str, object] = {
        "fine_percent": Decimal("2.00"),
        "interest_monthly_percent": Decimal("1.00"),
        "client_city": "Campinas",
        "client_state": "SP",
        "pix_city": "SAO PAULO",
    }
    fields.update(overrides)
    return a_document(**fields)


def decode_svg(svg: str) -> str:
    """Read the digits back from the bars and gaps of a rendered ITF barcode."""
    bars = [(int(x), int(w)) for x, w in _BAR.findall(svg)]
    widths: list[int] = []
    for (x, width), following in zip(bars, [*bars[1:], None], strict=True):
        widths.append(width)
        if following is not None:
            widths.append(following[0] - x - width)
    return itf_decode(widths)


def test_the_bank_code_check_digit_is_the_printed_one() -> None:
    assert [bank_check_digit(c) for c in ("001", "341", "237", "104", "033")] == [
        "9",
        "7",
        "2",
        "0",
        "7",
    ]
    with pytest.raises(BoletoError):
        bank_check_digit("01")


def test_itf_round_trips_and_refuses_what_it_is_not() -> None:
    widths = itf_widths(BARCODE)
    assert sum(widths) == 405  # start 4 + 44 digits x 9 + stop 5 narrow modules
    assert itf_decode(widths) == BARCODE
    assert itf_decode([w * 7 for w in widths]) == BARCODE  # any unit
    with pytest.raises(BoletoError):
        itf_widths("123")
    with pytest.raises(BoletoError):
        itf_decode(widths[1:])


def test_the_rendered_barcode_reads_back_to_the_barcode_and_the_line() -> None:
    svg = barcode_svg(BARCODE)
    decoded = decode_svg(svg)
    assert decoded == BARCODE
    assert format_line(barcode_to_line(decoded)) == LINE
    assert Boleto.from_barcode(decoded).amount_cents == 295295
    # FEBRABAN's 103 mm x 13 mm.
    assert 'width="102.87mm" height="13.0mm"' in svg
    assert pytest.approx(103, abs=0.2) == 405 * NARROW_MM


def test_the_png_barcode_for_mail_reads_back_too() -> None:
    import io  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    image = Image.open(io.BytesIO(barcode_png(BARCODE))).convert("1")
    row = [image.getpixel((x, image.height // 2)) for x in range(image.width)]
    runs: list[int] = []
    previous = None
    for pixel in row:
        if pixel == previous:
            runs[-1] += 1
        else:
            runs.append(1)
            previous = pixel
    assert itf_decode(runs[1:-1]) == BARCODE  # without the white quiet zones


def test_every_field_of_the_ficha_de_compensacao_is_printed() -> None:
    html = TemplateRenderer().html(a_boleto())  # type: ignore[arg-type]
    for fact in (
        "Banco do Brasil",
        "001-9",
        LINE,
        "Local de pagamento",
        "Vencimento",
        "10/12/2026",
        "Beneficiário",
        "Revenda São João — CNPJ 16.727.230/0001-97",
        "Agência/Código do Beneficiário",
        "1234567",
        "Data do documento",
        "28/11/2026",
        "Nº do documento",
        "Nosso número",
        "12345670000000042",
        "Valor do documento",
        "R$\xa01.234,56",
        "Instruções",
        "Após o vencimento, multa de 2,00% e juros de 1,00% ao mês",
        "Pagador",
        "Ana &lt;Souza&gt; &amp; Cia — CPF 145.382.206-20",
        "Campinas/SP",
        "Recibo do Pagador",
        "Ficha de Compensação",
        "Pague com Pix",
        EMV,
    ):
        assert fact in html, fact
    assert html.index(LINE) < html.index("Local de pagamento")  # the line on top
    (svg,) = re.findall(r'<svg[^>]*class="itf".*?</svg>', html, re.DOTALL)
    assert decode_svg(svg) == BARCODE
    assert html.count("<svg") == 2  # barcode and Pix QR code


def test_no_fees_no_instruction() -> None:
    html = TemplateRenderer().html(a_document())
    assert "Após o vencimento" not in html
    assert late_fee_instructions(Decimal(0), Decimal(0)) == ""
    assert late_fee_instructions(Decimal(2), Decimal(0)) == (
        "Após o vencimento, multa de 2,00%"
    )


@pytest.mark.parametrize(
    ("status", "label", "stamp"),
    [
        ("paid", "Pago", "PAGO em 05/12/2026"),
        ("cancelled", "Cancelada", "FATURA CANCELADA"),
    ],
)
def test_a_paid_or_cancelled_boleto_has_no_barcode_nor_qr_code(
    status: str, label: str, stamp: str
) -> None:
    paid_at = datetime(2026, 12, 5, 15, tzinfo=UTC) if status == "paid" else None
    document = a_boleto(status=status, status_label=label, paid_at=paid_at)
    renderer = TemplateRenderer()
    html = renderer.html(document)  # type: ignore[arg-type]
    assert stamp in html
    assert "<svg" not in html
    assert EMV not in html
    assert renderer.images(document) == {}  # type: ignore[arg-type]
    assert "cid:" not in renderer.mail_html(document, "Recibo")  # type: ignore[arg-type]


def test_cpf_and_cnpj_are_printed_punctuated() -> None:
    assert format_document("14538220620") == "145.382.206-20"
    assert format_document("16727230000197") == "16.727.230/0001-97"
    assert format_document("12ABC34501DE35") == "12.ABC.345/01DE-35"


def test_the_boleto_renders_to_a_png_a_person_can_look_at(tmp_path: Path) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    pdf = TemplateRenderer().pdf(a_boleto())  # type: ignore[arg-type]
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1  # invoice and boleto on one A4 page
    image = document[0].render(scale=2).to_pil()
    target = tmp_path / "boleto.png"
    image.save(target)
    print(f"boleto rendered to {target}")  # noqa: T201 - where to look
    # A4 at 144 dpi, with ink in the lower half (the ficha and its barcode).
    assert image.size == (1191, 1684)
    lower = image.convert("L").crop((0, 1100, 1191, 1400))
    assert lower.getextrema()[0] == 0
