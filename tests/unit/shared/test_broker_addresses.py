"""A broker given as a list of cluster nodes: parsing `AMQP_URL` and the round robin over its addresses."""

from __future__ import annotations

import pytest

from dropship_shared.broker_cluster import BrokerAddresses, parse_broker_addresses, redacted

A = "amqp://guest:guest@rabbit-1:5672/"
B = "amqp://guest:guest@rabbit-2:5672/"
C = "amqps://app:secret@rabbit-3:5671/prod?heartbeat=30"


def test_one_url_is_a_cluster_of_one() -> None:
    assert parse_broker_addresses(A) == (A,)


def test_a_comma_separated_list_keeps_its_order_and_drops_blanks() -> None:
    assert parse_broker_addresses(f" {A}, {B},,{C} ,") == (A, B, C)


@pytest.mark.parametrize("value", ["", " , ", "http://rabbit:5672/", f"{A},rabbit-2:5672"])
def test_nothing_or_something_else_than_amqp_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        parse_broker_addresses(value)


def test_a_refused_address_is_named_without_its_password() -> None:
    with pytest.raises(ValueError) as refused:
        parse_broker_addresses("http://app:secret@rabbit:5672/")
    assert "secret" not in str(refused.value)
    assert redacted(C) == "amqps://app:******@rabbit-3:5671/prod?heartbeat=30"


def test_addresses_start_at_the_first_and_go_round() -> None:
    addresses = BrokerAddresses((A, B, C))
    assert len(addresses) == 3
    assert addresses.current == A
    assert [addresses.advance() for _ in range(4)] == [B, C, A, B]
    assert addresses.current == B


def test_a_single_address_stays_itself() -> None:
    addresses = BrokerAddresses((A,))
    assert addresses.advance() == A
    assert addresses.current == A


def test_no_address_is_refused() -> None:
    with pytest.raises(ValueError):
        BrokerAddresses(())
