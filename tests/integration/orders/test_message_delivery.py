"""Customer messages leave their outbox by real SMTP (aiosmtpd) and signed webhook, retried, never resent."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response
from integration.orders.conftest import JOURNEY_MESSAGES
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.events import Address, utcnow
from dropship_shared.signing import verify
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.channels import EmailChannel, NetworkThread, WebhookChannel
from orders.adapters.orm import inbox, outbox
from orders.domain.model import RequestedLine
from orders.service_layer import handlers, views
from orders.service_layer.message_delivery import (
    DeliveryPolicy,
    MessageDelivery,
    deliver_due_messages,
    reconcile_in_flight,
    record_backlog,
)
from orders.service_layer.ports import MessageChannel, OutgoingMessage
from orders.service_layer.unit_of_work import OrdersUnitOfWork
from support.polling import eventually
from support.servers import free_port, run_uvicorn_app

SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")
SECRET = "webhook-secret"
NO_WAIT = DeliveryPolicy(first_retry=timedelta(0), lease=timedelta(seconds=60))


class MailSink:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture
async def closing() -> AsyncIterator[list[MessageChannel]]:
    """The channels a test opens, closed after it (each keeps a network thread and open connections)."""
    channels: list[MessageChannel] = []
    yield channels
    for channel in channels:
        await channel.close()


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[list[dict[str, Any]], str]]:
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/hooks/customer-messages")
    async def receive(request: Request) -> Response:
        body = await request.body()
        verify(SECRET, body, request.headers)  # raises (→ 500) on a bad signature
        received.append({"event_id": request.headers["X-Event-Id"], **json.loads(body)})
        return Response(status_code=204)

    with run_uvicorn_app(app) as url:
        yield received, f"{url}/hooks/customer-messages"


async def test_messages_reach_smtp_and_webhook_once_and_are_marked_sent(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
    smtp_sink: tuple[MailSink, int],
    webhook_receiver: tuple[list[dict[str, Any]], str],
    closing: list[MessageChannel],
) -> None:
    sink, smtp_port = smtp_sink
    received, webhook_url = webhook_receiver
    channels: list[MessageChannel] = [
        EmailChannel("127.0.0.1", smtp_port, "orders@shop.example.com"),
        WebhookChannel(webhook_url, SECRET),
    ]
    closing.extend(channels)
    placed = await handlers.place_order(
        journey_uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
    )
    order_id = placed.order.order_id

    assert await deliver_due_messages(journey_uow, channels, NO_WAIT) == 2
    assert await deliver_due_messages(journey_uow, channels, NO_WAIT) == 0  # never twice

    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["To"] == "ann@example.com"
    assert mail["Subject"] == f"Your order {order_id}: some items are on backorder"
    assert "expected delivery by" in mail.get_payload()
    assert mail["Message-ID"] == f"<{order_id}.placed@orders>"
    assert [(r["event_id"], r["kind"], r["order_id"]) for r in received] == [
        (f"{order_id}:placed", "backorder_placed", order_id)
    ]
    assert all(m["sent_at"] is not None for m in await views.messages(journey_uow, order_id))


async def test_an_unreachable_smtp_server_is_retried_until_the_message_goes(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork], smtp_sink: tuple[MailSink, int], closing: list[MessageChannel]
) -> None:
    sink, smtp_port = smtp_sink
    placed = await handlers.place_order(
        journey_uow, handlers.PlaceOrder("bob@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
    )
    down: list[MessageChannel] = [EmailChannel("127.0.0.1", free_port(), "orders@shop.example.com", timeout=2)]
    closing.extend(down)
    assert await deliver_due_messages(journey_uow, down, NO_WAIT) == 0
    rows = [m for m in await views.messages(journey_uow, placed.order.order_id) if m["channel"] == "email"]
    assert (rows[0]["attempts"], rows[0]["sent_at"]) == (1, None)
    assert rows[0]["last_error"]

    up: list[MessageChannel] = [EmailChannel("127.0.0.1", smtp_port, "orders@shop.example.com")]
    closing.extend(up)
    assert await deliver_due_messages(journey_uow, up, NO_WAIT) == 1
    rows = [m for m in await views.messages(journey_uow, placed.order.order_id) if m["channel"] == "email"]
    assert (rows[0]["attempts"], rows[0]["last_error"]) == (2, None)
    assert len(sink.messages) == 1


class SlowMailSink(MailSink):
    """Takes a moment over each message, noting how many it was given at once and over how many connections."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most_at_once = 0
        self.connections: set[object] = set()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        self.connections.add(session.peer)
        await asyncio.sleep(0.05)
        self.in_flight -= 1
        return await super().handle_DATA(server, session, envelope)


async def test_messages_go_out_several_at_a_time_over_a_few_reused_connections_handed_over_at_once(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork], monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = SlowMailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    channel = EmailChannel("127.0.0.1", controller.port, "orders@shop.example.com", connections=4)
    hand_overs: list[object] = []
    run = NetworkThread.run

    async def counted(thread: NetworkThread, work: Any) -> Any:
        hand_overs.append(work)
        return await run(thread, work)

    monkeypatch.setattr(NetworkThread, "run", counted)
    for n in range(12):
        await handlers.place_order(
            journey_uow, handlers.PlaceOrder(f"c{n}@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
        )
    policy = DeliveryPolicy()
    try:
        assert await deliver_due_messages(journey_uow, [channel], policy) == 12
    finally:
        await channel.close()
        controller.stop()
    assert len(sink.messages) == 12
    assert 1 < sink.most_at_once <= 4
    assert len(sink.connections) <= 4  # connections are kept open and reused, not one per message
    assert len(hand_overs) == 1 + 1  # the claimed batch to the SMTP thread at once; the QUIT at close


async def test_a_restarted_sender_sends_at_once_what_it_had_in_flight(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork], smtp_sink: tuple[MailSink, int], closing: list[MessageChannel]
) -> None:
    sink, smtp_port = smtp_sink
    placed = await handlers.place_order(
        journey_uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
    )
    crashed = DeliveryPolicy(claimant="orders@host-a:8001", lease=timedelta(minutes=10))
    async with journey_uow() as uow:  # claimed (the attempt on record), then the process died
        [claimed] = await uow.notifications.claim_due("email", utcnow(), crashed.lease, 10, crashed.claimant)
        await uow.commit()
    await record_backlog(journey_uow)
    assert REGISTRY.get_sample_value("customer_messages_backlog") == 2  # the email and the webhook

    other_replica = DeliveryPolicy(claimant="orders@host-b:8001")
    assert await reconcile_in_flight(journey_uow, other_replica) == 0  # not its claim: the lease decides
    assert await reconcile_in_flight(journey_uow, crashed) == 1

    email: list[MessageChannel] = [EmailChannel("127.0.0.1", smtp_port, "orders@shop.example.com")]
    closing.extend(email)
    assert await deliver_due_messages(journey_uow, email, crashed) == 1  # at once, not after the lease
    [mail] = sink.messages
    assert mail["Message-ID"] == f"<{claimed.message_key.replace(':', '.')}@orders>"
    [row] = [m for m in await views.messages(journey_uow, placed.order.order_id) if m["channel"] == "email"]
    assert (row["attempts"], row["in_flight_since"]) == (2, None) and row["sent_at"] is not None


async def test_the_sender_wakes_on_the_commit_that_stores_messages_and_streams_them(
    journey_sessions: async_sessionmaker[AsyncSession],
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
    smtp_sink: tuple[MailSink, int],
) -> None:
    sink, smtp_port = smtp_sink
    channel = EmailChannel("127.0.0.1", smtp_port, "orders@shop.example.com", connections=2)
    # An hour between looks: only the wake-up on commit can get these messages out during the test.
    policy = DeliveryPolicy(batch_size=4, poll_seconds=3600, claimant="orders@test")
    delivery = MessageDelivery(journey_uow, [channel], policy)

    def waking_uow() -> OrdersUnitOfWork:  # as bootstrap wires it: the handlers' commits wake the sender
        return OrdersUnitOfWork(
            journey_sessions, outbox, inbox, messages=JOURNEY_MESSAGES, messages_ready=delivery.wake
        )

    sending = asyncio.create_task(delivery.run())
    try:
        await eventually(lambda: REGISTRY.get_sample_value("customer_messages_backlog"), lambda n: n == 0)
        for n in range(10):  # more than a claim's room: the rest are claimed as sends finish
            await handlers.place_order(
                waking_uow, handlers.PlaceOrder(f"s{n}@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
            )
        await eventually(lambda: len(sink.messages), lambda n: n == 10)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        await delivery.close()
    assert sorted(m["To"] for m in sink.messages) == sorted(f"s{n}@example.com" for n in range(10))
    async with journey_uow() as uow:
        unsent, _ = await uow.notifications.backlog()
    assert unsent == 10  # the webhook copies: no webhook channel in this sender


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Your order 42: some items are on backorder", "Hello Ann,\n\n1 x TABLE: expected delivery by Monday.\n"),
        ("Votre commande 42 : livraison prévue", "Bonjour Zoé,\n\n1 x TABLE : livrée lundi.\n"),  # email's path
    ],
)
async def test_plain_and_non_ascii_mail_arrive_as_written(
    smtp_sink: tuple[MailSink, int], closing: list[MessageChannel], subject: str, body: str
) -> None:
    sink, smtp_port = smtp_sink
    channel = EmailChannel("127.0.0.1", smtp_port, "Our shop <orders@shop.example.com>")
    closing.append(channel)
    [went] = await channel.send_many(
        [
            OutgoingMessage(
                1, "o42:placed", "backorder_placed", "o42", None, "ann@example.com", subject, body, {}, utcnow()
            )
        ]
    )
    assert not isinstance(went, Exception)
    [raw] = sink.messages
    mail = email.message_from_bytes(raw.as_bytes(), policy=email.policy.default)
    assert (mail["From"], mail["To"], mail["Subject"]) == (
        "Our shop <orders@shop.example.com>",
        "ann@example.com",
        subject,
    )
    assert mail["Message-ID"] == "<o42.placed@orders>"
    assert mail.get_content().replace("\r\n", "\n") == body


class HeldChannel:
    """A channel whose sends all wait until the test lets them go: what was handed over, claim by claim."""

    name = "email"

    def __init__(self) -> None:
        self.handed_over: list[int] = []
        self.go = asyncio.Event()

    async def send_many(self, messages: Sequence[OutgoingMessage]) -> list[datetime | Exception]:
        self.handed_over.append(len(messages))
        await self.go.wait()
        return [utcnow() for _ in messages]

    async def close(self) -> None:
        pass


async def test_the_sender_hands_over_the_next_claim_while_the_last_one_still_goes(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    for n in range(10):
        await handlers.place_order(
            journey_uow, handlers.PlaceOrder(f"p{n}@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
        )
    channel = HeldChannel()
    policy = DeliveryPolicy(batch_size=4, in_flight=8, poll_seconds=3600, linger_seconds=0, claimant="orders@test")
    delivery = MessageDelivery(journey_uow, [channel], policy)
    sending = asyncio.create_task(delivery.run())
    try:
        # Nothing has gone yet, and two claims are with the channel: as many as `in_flight` leaves room for.
        await eventually(lambda: list(channel.handed_over), lambda claims: sum(claims) == 8)
        assert channel.handed_over == [4, 4]
        channel.go.set()  # they go; room frees and the last two are claimed
        await eventually(lambda: sum(channel.handed_over), lambda handed: handed == 10)
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)


async def test_each_message_that_went_is_recorded_with_its_own_time(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    """mark_sent writes many messages in one statement (on PostgreSQL as arrays): each row gets its own time."""
    placed = [
        await handlers.place_order(
            journey_uow, handlers.PlaceOrder(f"{name}@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), name
        )
        for name in ("ann", "bob", "cy")
    ]
    now = utcnow()
    async with journey_uow() as uow:
        claimed = await uow.notifications.claim_due("email", now, timedelta(seconds=60), 10, "orders")
        await uow.commit()
    went = {message.notification_id: now + timedelta(seconds=n, microseconds=n) for n, message in enumerate(claimed)}
    async with journey_uow() as uow:
        await uow.notifications.mark_sent(list(went.items()))
        await uow.commit()
    rows = [m for p in placed for m in await views.messages(journey_uow, p.order.order_id) if m["channel"] == "email"]
    assert len(rows) == len(claimed) == 3
    assert {row["id"]: (row["sent_at"], row["in_flight_since"], row["last_error"]) for row in rows} == {
        notification_id: (at, None, None) for notification_id, at in went.items()
    }
