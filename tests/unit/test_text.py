"""The domain's rules for text and dates: what no command may record."""

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from domain.clients import ContactDetails
from domain.errors import InvalidInputError
from domain.notifications import notification_id_for
from domain.periods import check_date_range
from domain.resellers import Reseller
from domain.text import email_address, has_control_characters, required_text
from domain.users import Role, User

CONTROLS = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\t", "\r", "\n"]


@pytest.mark.parametrize("control", CONTROLS)
def test_an_email_with_a_control_character_is_refused(control: str) -> None:
    hostile = f"c{control}x@example.com"
    with pytest.raises(InvalidInputError, match="email"):
        email_address(hostile)
    with pytest.raises(InvalidInputError):
        User.add(uuid4(), hostile, Role.OPERATOR, "hash")
    with pytest.raises(InvalidInputError):
        Reseller.register(uuid4(), "Revenda", "16727230000197", hostile)


@pytest.mark.parametrize("field", ["name", "phone", "city"])
@pytest.mark.parametrize("control", CONTROLS)
def test_a_contact_field_with_a_control_character_is_refused(
    field: str, control: str
) -> None:
    fields = {"name": "Cliente", "email": "c@example.com"} | {field: f"a{control}b"}
    with pytest.raises(InvalidInputError, match=field):
        ContactDetails.parse(**fields)


def test_line_breaks_are_text_only_where_a_field_allows_them() -> None:
    assert required_text("a\nb\r\nc", "description", 10, line_breaks=True) == (
        "a\nb\r\nc"
    )
    for hostile in ("a\rb", "a\tb", "a\x00b", "a\n\x00b"):
        with pytest.raises(InvalidInputError):
            required_text(hostile, "description", 10, line_breaks=True)
    with pytest.raises(InvalidInputError):
        required_text("a\nb", "name", 10)
    assert not has_control_characters("São Paulo — ç ü 🙂")


@pytest.mark.parametrize(
    "value",
    [
        date(2000, 1, 1),
        date(2099, 12, 31),
        datetime(2000, 1, 1, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_dates_from_2000_to_2099_are_accepted(value: date) -> None:
    check_date_range(value, "due_date")


@pytest.mark.parametrize(
    "value",
    [
        date(1, 1, 1),
        date(1999, 12, 31),
        date(2100, 1, 1),
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_dates_outside_2000_to_2099_are_refused(value: date) -> None:
    with pytest.raises(InvalidInputError, match="due_date"):
        check_date_range(value, "due_date")


@pytest.mark.parametrize("event_id", ["", "e" * 256, "evt\x00", "evt\n"])
def test_a_partner_event_id_the_views_cannot_keep_is_refused(event_id: str) -> None:
    with pytest.raises(InvalidInputError, match="id"):
        notification_id_for("sandbox", event_id)
