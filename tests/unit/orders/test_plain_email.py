"""The plain-ASCII email written directly reads back exactly like the one email's generator makes."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from orders.adapters.channels import plain_ascii_email
from orders.service_layer.ports import OutgoingMessage

SENDER = "Our shop <orders@shop.example.com>"
BODY = "Hello Ann,\n\n2 x TABLE: expected delivery by 2026-12-10.\n.\nFrom the shop\n"
LONG_LINES = (
    "Some items are not in stock right now. We have ordered them for you from our supplier, who ships them"
    " straight to you (a=b; 100% sure).\n\n"
) + "We will charge your card only when these items ship, and tell you. \n" * 12


def outgoing(subject: str, body: str = BODY, recipient: str = "ann@example.com") -> OutgoingMessage:
    return OutgoingMessage(
        notification_id=1,
        message_key="0123456789abcdef0123456789abcdef:placed",
        kind="backorder_placed",
        order_id="0123456789abcdef0123456789abcdef",
        line_no=None,
        recipient=recipient,
        subject=subject,
        body=body,
        context={},
        created_at=datetime(2026, 11, 29, tzinfo=UTC),
    )


def by_email_package(message: OutgoingMessage) -> bytes:
    email = EmailMessage()
    email["From"] = SENDER
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = "<0123456789abcdef0123456789abcdef.placed@orders>"
    email.set_content(message.body)
    return email.as_bytes(policy=policy.SMTP)


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Your order 42: some items are on backorder", BODY),
        ("Your order 0123456789abcdef0123456789abcdef: some items are on backorder, and a long subject folds", BODY),
        ("Your order 42: lines over 78 characters go quoted-printable", LONG_LINES),
        ("Your order 42: ten lines or fewer, all of them in the sniff", "".join(LONG_LINES.splitlines(True)[:4])),
        ("Your order 42: short", LONG_LINES[-60:]),
    ],
)
def test_a_plain_message_reads_back_as_the_email_package_writes_it(subject: str, body: str) -> None:
    message = outgoing(subject, body)
    plain = plain_ascii_email(SENDER, message)
    assert plain is not None
    assert all(len(line) <= 78 for line in plain.split(b"\r\n"))
    ours, theirs = (message_from_bytes(raw, policy=policy.default) for raw in (plain, by_email_package(message)))
    assert ours.items() == theirs.items()
    assert ours.get_content() == theirs.get_content()
    assert ours.get_content().replace("\r\n", "\n") == body
    assert plain == by_email_package(message)  # byte for byte, whatever the encoding


@pytest.mark.parametrize(
    "message",
    [
        outgoing("Votre commande: livrée à Zoé"),  # non-ASCII subject
        outgoing("Your order", body="Grüße\n"),  # non-ASCII body
        outgoing("Your order", recipient="zoé@example.com"),  # internationalised address
        outgoing("Your order\r\nBcc: someone@example.com"),  # a header that would break in two
    ],
)
def test_anything_not_plain_is_left_to_the_email_package(message: OutgoingMessage) -> None:
    assert plain_ascii_email(SENDER, message) is None
