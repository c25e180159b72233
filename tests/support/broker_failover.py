"""Publishing and consuming through a broker that is failing over, as the services do: for failover tests."""

from __future__ import annotations

import asyncio

from dropship_shared.events import BackorderCancelled, Envelope
from dropship_shared.messaging import Broker, Subscription
from support.infrastructure import BrokerNamespace


def cancelled(line: str) -> Envelope:
    return Envelope.wrap(BackorderCancelled(backorder_line_id=line, supplier_id="acme"), f"failover-{line}")


async def publish_until_confirmed(broker: Broker, envelope: Envelope) -> None:
    """What the outbox relay does: an unconfirmed publish (the connection is being re-opened) is tried again."""

    async def attempt() -> bool:
        try:
            await broker.publish(envelope)
        except Exception:
            return False
        return True

    confirmed = False
    while not confirmed:
        confirmed = await attempt()
        if not confirmed:
            await asyncio.sleep(0.2)


async def consumed(broker: Broker, namespace: BrokerNamespace) -> list[str]:
    seen: list[str] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope.payload_as(BackorderCancelled).backorder_line_id)

    await broker.subscribe(Subscription(namespace.queue("failover"), {"backorder.cancelled": handle}))
    return seen
