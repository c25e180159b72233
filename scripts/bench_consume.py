"""The shared consume path's own cost (a script that prints figures, not a timed test): CPU per delivery.

`--messages` backorder events are published into a fresh queue first; then one `Broker` subscribes with a group
commit (`EventBatcher`) whose batch handler does nothing, and this process's CPU time (user + system) from the
subscription to the last delivery acknowledged, divided by the deliveries, is printed: what the broker plumbing
(frames read, deliveries handed over, envelopes parsed, acks written) costs per event with no database behind.
Process CPU time, not wall time: on a shared machine the rate moves with the neighbours, the CPU per delivery much
less. Run it `--rounds` times and compare the medians of two versions run alternately.

    .venv/bin/python scripts/bench_consume.py [--messages 20000] [--rounds 3] [--amqp-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import aio_pika

from dropship_shared.batching import EventBatcher
from dropship_shared.confirmed_publish import Outgoing
from dropship_shared.events import BackorderCancelled, Envelope
from dropship_shared.messaging import Broker, Subscription


async def one_round(amqp_url: str, messages: int) -> float:
    prefix = f"bench-consume-{uuid.uuid4().hex[:8]}"
    exchange, queue = f"{prefix}.events", f"{prefix}.queue"
    broker = Broker(amqp_url, exchange)
    await broker.connect()
    handled = 0
    done = asyncio.Event()

    async def nothing(envelopes: list[Envelope]) -> None:
        nonlocal handled
        handled += len(envelopes)
        if handled >= messages:
            done.set()

    batcher = EventBatcher(nothing)
    subscription = Subscription(queue, {"backorder.cancelled": batcher.handle})
    try:
        await broker.declare_topology(subscription)
        envelopes = [
            Envelope.wrap(BackorderCancelled(backorder_line_id=f"L{n}", supplier_id="acme"), "bench")
            for n in range(messages)
        ]
        for start in range(0, messages, 500):
            await broker.publish_many([broker_outgoing(envelope) for envelope in envelopes[start : start + 500]])
        started = time.process_time()
        await broker.subscribe(subscription)
        await done.wait()
        await asyncio.sleep(0.2)  # the last acks written
        return (time.process_time() - started) / messages
    finally:
        await broker.close()
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel()
        for name in (queue, f"{queue}.dlq"):
            await channel.queue_delete(name)
        for name in (exchange, f"{exchange}.dlx"):
            await channel.exchange_delete(name)
        await connection.close()


def broker_outgoing(envelope: Envelope) -> Outgoing:
    return Outgoing(envelope.type, envelope.to_bytes(), str(envelope.event_id), envelope.correlation_id)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    figures = [await one_round(args.amqp_url, args.messages) for _ in range(args.rounds)]
    rounds = ", ".join(f"{1e6 * figure:.1f}" for figure in figures)
    print(f"CPU per delivery: median {1e6 * statistics.median(figures):.1f} µs (rounds: {rounds})")


if __name__ == "__main__":
    asyncio.run(main())
