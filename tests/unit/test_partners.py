"""Every value ``LEDGER_GATEWAY`` accepts builds a payment partner."""

from typing import get_args

from api.bootstrap import PARTNERS
from api.settings import Settings


def test_each_gateway_setting_has_a_partner_and_no_partner_is_unreachable() -> None:
    accepted = set(get_args(Settings.model_fields["gateway"].annotation))
    assert accepted
    assert accepted == set(PARTNERS)
    assert Settings().gateway in PARTNERS
