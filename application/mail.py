"""Outgoing mail: the ``MailSender`` port and the invoice message it carries.

The senders themselves (SMTP, ``.eml`` files) are adapters in ``adapters.mail``.
"""

from __future__ import annotations

from email.message import EmailMessage
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


def invoice_message(  # noqa: PLR0913 - the parts of one message
    *,
    sender: str,
    to: str,
    subject: str,
    html: str,
    pdf: bytes,
    filename: str,
) -> EmailMessage:
    """An HTML message with the PDF attached."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Sua fatura está em anexo (PDF) e no corpo desta mensagem.")
    message.add_alternative(html, subtype="html")
    message.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=filename
    )
    return message
