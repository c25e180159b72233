"""Customer messages rendered from the templates: each rendering sees its own message's values and the shop's name,
nothing of the messages rendered before it."""

from __future__ import annotations

from orders.adapters.message_templates import MessageTemplates


def test_a_rendering_sees_only_its_own_message_values() -> None:
    templates = MessageTemplates("Corner Shop")
    refused = {"order_id": "O1", "sku": "CHAIR", "reason": "packed already"}
    shipped_anyway = {"order_id": "O2", "sku": "TABLE"}

    first = templates.render("cancel_refused", refused)
    second = templates.render("cancel_refused", shipped_anyway)  # no reason: the template's own wording

    assert first.subject == "Your order O1: CHAIR could not be cancelled"
    assert 'but it could not: "packed already".' in first.body
    assert second.subject == "Your order O2: TABLE could not be cancelled"
    assert "but it could not: it had already shipped." in second.body
    assert refused == {"order_id": "O1", "sku": "CHAIR", "reason": "packed already"}  # the caller's values untouched


def test_the_shop_name_and_the_lines_of_a_backorder_message() -> None:
    templates = MessageTemplates("Corner Shop")
    lines = [
        {"line_no": 1, "sku": "CHAIR", "quantity": 2, "promised_date": "2026-12-08"},
        {"line_no": 2, "sku": "TABLE", "quantity": 1, "promised_date": "2026-12-10"},
    ]

    rendered = templates.render("backorder_placed", {"order_id": "O7", "lines": lines})
    again = templates.render("backorder_placed", {"order_id": "O8", "lines": lines[1:]})

    assert rendered.subject == "Your order O7: some items are on backorder"
    assert rendered.body.startswith("Thank you for your order O7 at Corner Shop.\n")
    assert (
        "- 2 x CHAIR: expected delivery by 2026-12-08\n- 1 x TABLE: expected delivery by 2026-12-10\n" in rendered.body
    )
    assert "CHAIR" not in again.body and "O8 at Corner Shop" in again.body
    assert rendered.body.endswith("we will tell you at once if the date changes.\n")
