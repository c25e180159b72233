"""Reading supplier answers in the shapes real APIs give them: refusal reasons and cancel verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supplier_gateway.adapters.supplier_answers import REASON_LIMIT, CancelVerdict, cancel_verdict, refusal_reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {"type": "about:blank", "title": "Unprocessable", "detail": "SKU A-1 is discontinued"},
            "SKU A-1 is discontinued",
        ),
        ({"message": "Item not orderable"}, "Item not orderable"),
        (
            {"error": "invalid_request", "error_description": "ship_to.country must be ISO"},
            "ship_to.country must be ISO",
        ),
        ({"error": "rejected", "reason": "sku_not_orderable"}, "sku_not_orderable"),
        ({"error": {"code": "E42", "message": "Credit hold"}}, "Credit hold"),
        ({"errors": ["qty too high", "sku unknown"]}, "qty too high; sku unknown"),
        ({"errors": [{"field": "qty", "message": "too high"}, {"code": "SKU_UNKNOWN"}]}, "too high; SKU_UNKNOWN"),
        ("Account suspended until invoice 77 is paid\n", "Account suspended until invoice 77 is paid"),
        ("", "HTTP 422 with no reason given"),
        ({"unrelated": 1}, "HTTP 422 with no reason given"),
    ],
)
def test_the_reason_is_found_where_real_apis_put_it(body: Any, reason: str) -> None:
    assert refusal_reason(422, body) == reason


def test_a_long_text_body_is_bounded() -> None:
    assert len(refusal_reason(400, "x" * 100_000)) == REASON_LIMIT


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_any_json_body_gives_a_bounded_non_empty_reason(body: Any) -> None:
    reason = refusal_reason(400, body)
    assert 0 < len(reason) <= REASON_LIMIT


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, {"status": "accepted"}, CancelVerdict.ACCEPTED),
        (200, {"status": "Cancelled"}, CancelVerdict.ACCEPTED),
        (202, {"status": "canceled", "po": "PO-1"}, CancelVerdict.ACCEPTED),
        (204, "", CancelVerdict.ACCEPTED),
        (200, {"supplier_order_id": "SO-1"}, CancelVerdict.ACCEPTED),
        (409, {"status": "rejected", "reason": "already shipped"}, CancelVerdict.REFUSED),
        (409, {"status": "rejected", "reason": "already_shipped"}, CancelVerdict.REFUSED),
        (422, {"message": "Order has shipped"}, CancelVerdict.REFUSED),
        (400, "too late", CancelVerdict.REFUSED),
        (200, {"status": "rejected", "reason": "in transit"}, CancelVerdict.REFUSED),
        (200, {"status": "declined"}, CancelVerdict.REFUSED),
        (200, {"error": "cannot cancel a shipped order"}, CancelVerdict.REFUSED),
        (200, {"status": "pending"}, CancelVerdict.UNKNOWN),
        (200, "<html>gateway hiccup</html>", CancelVerdict.UNKNOWN),
        (200, ["accepted"], CancelVerdict.UNKNOWN),
        (302, "", CancelVerdict.UNKNOWN),
    ],
)
def test_only_an_explicit_acceptance_cancels(status: int, body: Any, verdict: CancelVerdict) -> None:
    assert cancel_verdict(status, body)[0] is verdict


def test_a_refusal_keeps_the_suppliers_words() -> None:
    assert cancel_verdict(409, {"status": "rejected", "reason": "Order has shipped"}) == (
        CancelVerdict.REFUSED,
        "Order has shipped",
    )
    assert cancel_verdict(200, {"status": "declined"}) == (CancelVerdict.REFUSED, "declined")
