"""The address RCPT names for a customer's To value: a bare address is taken as it is, exactly as parseaddr reads it."""

from __future__ import annotations

from email.utils import parseaddr

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orders.adapters.channels import BARE_ADDRESS, envelope_address


@given(st.from_regex(BARE_ADDRESS, fullmatch=True))
def test_a_bare_address_is_what_parseaddr_reads_in_it(address: str) -> None:
    assert envelope_address(address) == parseaddr(address)[1] == address


@pytest.mark.parametrize(
    ("to", "address"),
    [
        ("Ann <ann@example.com>", "ann@example.com"),
        (" ann@example.com ", "ann@example.com"),
        ("zoë@example.com", "zoë@example.com"),
        ('"Ann, Bee" <ann@example.com>', "ann@example.com"),
    ],
)
def test_anything_else_is_read_by_parseaddr(to: str, address: str) -> None:
    assert BARE_ADDRESS.fullmatch(to) is None
    assert envelope_address(to) == address
