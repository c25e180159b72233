"""Validation of supplier policies: every bad value names its field."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aggregator_domain_factories import policy

from aggregator.domain import Cutoff, PolicyError, PriceBreak, SkuRule, SupplierPolicy


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"min_units": -1}, "min_units"),
        ({"min_value": "-0.01"}, "min_value"),
        ({"min_value": "NaN"}, "min_value"),
        ({"max_wait": timedelta(0)}, "max_wait"),
        ({"max_wait": timedelta(seconds=-1)}, "max_wait"),
        ({"on_deadline": "shrug"}, "on_deadline"),
        ({"max_lines_per_po": 0}, "max_lines_per_po"),
        ({"max_lines_per_po": 1, "sku_rules": {"S-1": SkuRule(case_pack=6)}}, "max_lines_per_po"),
        ({"version": 0}, "version"),
        ({"sku_rules": {"": SkuRule()}}, "sku_rules"),
    ],
)
def test_bad_policy_values_are_refused_with_the_field_name(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as refused:
        policy(**changes)
    assert refused.value.field == field


def test_an_empty_supplier_id_is_refused() -> None:
    with pytest.raises(PolicyError) as refused:
        SupplierPolicy(supplier_id=" ", max_wait=timedelta(hours=1))
    assert refused.value.field == "supplier_id"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"min_qty": -1}, "min_qty"),
        ({"case_pack": 0}, "case_pack"),
        ({"case_pack": -6}, "case_pack"),
        ({"remainder": "discard"}, "remainder"),
        ({"price_breaks": (PriceBreak(10, Decimal(8)), PriceBreak(10, Decimal(7)))}, "price_breaks"),
        ({"price_breaks": (PriceBreak(20, Decimal(7)), PriceBreak(10, Decimal(8)))}, "price_breaks"),
        ({"price_breaks": (PriceBreak(10, Decimal(7)), PriceBreak(20, Decimal(8)))}, "price_breaks"),
        ({"price_breaks": (PriceBreak(0, Decimal(7)),)}, "price_breaks"),
        ({"price_breaks": (PriceBreak(5, Decimal(-1)),)}, "price_breaks"),
    ],
)
def test_bad_sku_rules_are_refused_with_the_field_name(rule: dict[str, Any], field: str) -> None:
    with pytest.raises(PolicyError) as refused:
        SkuRule(**rule)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("local_time", "zone", "field"),
    [
        ("25:00", "Europe/Paris", "cutoff.local_time"),
        ("9:00", "Europe/Paris", "cutoff.local_time"),
        ("14:60", "Europe/Paris", "cutoff.local_time"),
        ("14:00", "Europe/Atlantis", "cutoff.time_zone"),
        ("14:00", "../etc/passwd", "cutoff.time_zone"),
    ],
)
def test_a_bad_cutoff_is_refused(local_time: str, zone: str, field: str) -> None:
    with pytest.raises(PolicyError) as refused:
        Cutoff(local_time, zone)
    assert refused.value.field == field


def test_a_valid_policy_keeps_its_rules_immutable() -> None:
    rules = {"S-1": SkuRule(min_qty=2, case_pack=6, remainder="round_up")}
    valid = policy(min_units=10, sku_rules=rules, cutoff=Cutoff("14:00", "Europe/Paris"), max_lines_per_po=2)
    rules["S-2"] = SkuRule()
    assert set(valid.sku_rules) == {"S-1"}
    with pytest.raises(TypeError):
        valid.sku_rules["S-3"] = SkuRule()  # type: ignore[index]


def test_price_tiers_pick_the_largest_tier_reached() -> None:
    rule = SkuRule(price_breaks=(PriceBreak(10, Decimal("9")), PriceBreak(50, Decimal("8"))))
    assert rule.tier_cost(9) is None
    assert rule.tier_cost(10) == Decimal("9")
    assert rule.tier_cost(49) == Decimal("9")
    assert rule.tier_cost(500) == Decimal("8")
