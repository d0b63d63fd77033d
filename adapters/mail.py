"""Outgoing mail: SMTP when configured, ``.eml`` files otherwise.

``LEDGER_SMTP_URL`` looks like ``smtp://user:password@host:587``: STARTTLS is used on
port 587 (or with ``?starttls=yes``), and the login when a user is given. Without it,
each message is written as an ``.eml`` file under the data directory, which any mail
client opens. Both implement ``application.mail.MailSender``: a 5xx refusal is raised
as ``MailRefusedError`` (never sent again), anything else as a transient error.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from application.mail import MailRefusedError

SMTP_TIMEOUT_SECONDS = 30
STARTTLS_PORT = 587
PERMANENT_CODE = 500
"""SMTP replies from 500 up refuse for good; 4xx ask to try again later."""


class SmtpSender:
    """Delivers through an SMTP server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
            msg = "LEDGER_SMTP_URL must look like smtp://user:password@host:587"
            raise ValueError(msg)
        self.implicit_tls = parts.scheme == "smtps"
        self.host = parts.hostname
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        self.starttls = self.port == STARTTLS_PORT or query.get("starttls") == ["yes"]

    def send(self, message: EmailMessage) -> None:
        """Connect, secure, log in if configured, send."""
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.implicit_tls:
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.user is not None:
                smtp.login(self.user, self.password or "")
            try:
                smtp.send_message(message)
            except smtplib.SMTPException as error:
                reason = permanent_refusal(error)
                if reason is None:
                    raise
                raise MailRefusedError(reason) from error


def permanent_refusal(error: smtplib.SMTPException) -> str | None:
    """The reason when ``error`` is a refusal for good (5xx), else ``None``.

    4xx replies and lost connections are transient: the message is sent again.
    """
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"the server does not support this message: {error}"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = error.recipients.values()
        if replies and all(code >= PERMANENT_CODE for code, _ in replies):
            return "; ".join(f"{code} {_text(reply)}" for code, reply in replies)
        return None
    if (
        isinstance(error, smtplib.SMTPResponseException)
        and error.smtp_code >= PERMANENT_CODE
    ):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    return None


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


class FileSender:
    """Writes each message as an ``.eml`` file (development without SMTP)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send(self, message: EmailMessage) -> None:
        """Write the message to a new file.

        The name is a timestamp and a short hash of the recipient: bounded and safe
        whatever the address holds (the recipient is in the file's ``To``).
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        to = hashlib.sha256(str(message["To"]).encode(errors="replace")).hexdigest()
        (self.directory / f"{stamp}-{to[:12]}.eml").write_bytes(message.as_bytes())
