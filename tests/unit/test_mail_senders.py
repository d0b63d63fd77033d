"""Mail senders: which SMTP failures are for good, and safe ``.eml`` file names."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from adapters.mail import FileSender, permanent_refusal

PERMANENT = [
    smtplib.SMTPRecipientsRefused({"a@x.com": (550, b"5.1.1 no such user")}),
    smtplib.SMTPDataError(554, b"5.7.1 rejected"),
    smtplib.SMTPSenderRefused(553, b"5.1.8 bad sender", "f@x.com"),
    smtplib.SMTPNotSupportedError("SMTPUTF8 not supported"),
]
TRANSIENT = [
    smtplib.SMTPRecipientsRefused(
        {"a@x.com": (550, b"no"), "b@x.com": (451, b"try later")}
    ),
    smtplib.SMTPDataError(421, b"4.3.2 service not available"),
    smtplib.SMTPSenderRefused(451, b"4.7.1 greylisted", "f@x.com"),
    smtplib.SMTPServerDisconnected("connection lost"),
]


@pytest.mark.parametrize("error", PERMANENT, ids=type)
def test_a_5xx_refusal_is_for_good(error: smtplib.SMTPException) -> None:
    assert permanent_refusal(error)


@pytest.mark.parametrize("error", TRANSIENT, ids=type)
def test_a_4xx_reply_or_a_lost_connection_is_transient(
    error: smtplib.SMTPException,
) -> None:
    assert permanent_refusal(error) is None


def test_the_refusal_reason_quotes_the_reply() -> None:
    assert permanent_refusal(PERMANENT[0]) == "550 5.1.1 no such user"


def test_an_eml_file_name_is_bounded_whatever_the_address(tmp_path: Path) -> None:
    address = "a" * 64 + "@" + ".".join(["b" * 60] * 3) + ".com.br"
    assert len(address) > 230
    message = EmailMessage()
    message["To"] = address
    assert str(message["To"]) == address
    message.set_content("corpo")
    FileSender(tmp_path).send(message)
    (written,) = tmp_path.iterdir()
    assert written.suffix == ".eml"
    assert len(written.name) < 64
    assert written.read_bytes() == message.as_bytes()
