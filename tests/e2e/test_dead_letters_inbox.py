"""Every service's dead letters reach the gateway's exceptions inbox (dead_letter.recorded), end to end: an
event orders cannot read and one the aggregator cannot read are filed with their queues, and resolving one
with a replay publishes that message again."""

from __future__ import annotations

import aio_pika
import httpx

from dropship_shared.events import Envelope
from e2e.conftest import SystemFactory
from support.infrastructure import BrokerNamespace
from support.polling import eventually
from support.tokens import bearer


async def test_the_dead_letters_of_orders_and_the_aggregator_are_filed_in_the_gateways_inbox(
    make_system: SystemFactory, broker_namespace: BrokerNamespace
) -> None:
    system = make_system()
    system.start("orders", "aggregator", "supplier-gateway")
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(broker_namespace.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        poison = {
            "shipment.updated": Envelope(
                type="shipment.updated",
                correlation_id="e2e-poison",
                payload={"po_number": "PO-X", "supplier_id": "acme"},
            ),
            "backorder.created": Envelope(
                type="backorder.created",
                correlation_id="e2e-poison",
                payload={"order_id": "O-X", "supplier_id": "acme"},
            ),
        }
        for routing_key, envelope in poison.items():
            message = aio_pika.Message(
                envelope.to_bytes(), message_id=str(envelope.event_id), content_type="application/json"
            )
            await exchange.publish(message, routing_key=routing_key)
    finally:
        await connection.close()

    with httpx.Client(base_url=system.url("supplier-gateway"), timeout=10, headers=bearer()) as gateway:

        def dead_letters() -> list[dict[str, object]]:
            return list(gateway.get("/exceptions", params={"kind": "dead_letter"}).json())

        filed = await eventually(dead_letters, lambda found: len(found) >= 2)
        by_key = {str(e["routing_key"]): e for e in filed}
        assert str(by_key["shipment.updated"]["queue"]).endswith("orders")
        assert str(by_key["backorder.created"]["queue"]).endswith("aggregator")
        assert by_key["shipment.updated"]["message_id"] == str(poison["shipment.updated"].event_id)
        assert (
            by_key["shipment.updated"]["po_number"] == "PO-X" and by_key["backorder.created"]["supplier_id"] == "acme"
        )

        replayed = gateway.post(
            f"/exceptions/{by_key['shipment.updated']['exception_id']}/resolve",
            json={"note": "retried", "replay": True},
        )
        assert replayed.status_code == 200, replayed.text
        # it cannot be read this time either: orders dead-letters it again and a new exception opens
        await eventually(dead_letters, lambda found: len(found) == 3)
