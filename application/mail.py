"""Outgoing mail: the ``MailSender`` port and the one message every notice uses.

The senders themselves (SMTP, ``.eml`` files) are adapters in ``adapters.mail``.
A message arrives whole: a plain-text part with everything needed to pay, the
HTML part with the barcode and the Pix QR code as PNG images attached inline
(``multipart/related``; webmail strips inline SVG), the PDF attached, and the
headers a mail client and a spam filter expect (``From`` with the reseller's name,
``Reply-To`` the reseller, ``Date``, ``Message-ID``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol


class MailRefusedError(Exception):
    """The message was refused for good (an SMTP 5xx): sending again cannot help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailSender(Protocol):
    """Sends one message."""

    def send(self, message: EmailMessage) -> None:
        """Send ``message``; raise ``MailRefusedError`` if refused for good.

        Any other error is transient: the message may be sent again later.
        """
        ...


@dataclass(frozen=True)
class Mail:
    """The parts of one message, whatever notice it carries."""

    subject: str
    text: str
    html: str
    images: dict[str, bytes] = field(default_factory=dict)
    """PNG images by content id, which the HTML refers to as ``cid:<id>``."""
    pdf: bytes | None = None
    pdf_filename: str = "fatura.pdf"


def build_message(  # noqa: PLR0913 - the envelope of one message
    mail: Mail,
    *,
    mail_from: str,
    sender_name: str,
    reply_to: str | None,
    to: str,
    sent_at: datetime,
) -> EmailMessage:
    """The message: text and HTML alternatives, inline images, the PDF attached.

    ``mail_from`` is the service's address (``LEDGER_MAIL_FROM``), shown with the
    reseller's name; replies go to the reseller. Images keep their content ids
    (``<barcode@domain>``) unique per message, so a client never mixes two
    messages' pictures.
    """
    domain = mail_from.rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = Address(display_name=_one_line(sender_name), addr_spec=mail_from)
    message["To"] = to
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = _one_line(mail.subject)
    message["Date"] = format_datetime(sent_at)
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(mail.text)
    html = mail.html
    content_ids = {}
    for name in mail.images:
        content_id = make_msgid(idstring=name, domain=domain)
        content_ids[name] = content_id
        html = html.replace(f"cid:{name}", f"cid:{content_id[1:-1]}")
    message.add_alternative(html, subtype="html")
    html_part = message.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)  # noqa: S101 - made just above
    for name, png in mail.images.items():
        html_part.add_related(
            png,
            maintype="image",
            subtype="png",
            cid=content_ids[name],
            filename=f"{name}.png",
            disposition="inline",
        )
    if mail.pdf is not None:
        message.add_attachment(
            mail.pdf,
            maintype="application",
            subtype="pdf",
            filename=mail.pdf_filename,
        )
    return message


def _one_line(text: str) -> str:
    """Header text: no line breaks nor control characters (no header injection)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
