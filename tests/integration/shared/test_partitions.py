"""Partitioned consumption against the real RabbitMQ (consistent-hash exchange, single-active-consumer quorum
queues): each supplier's events go to one replica at a time, and move to another, all of them, once each, when
that replica dies. What a plain queue held from before partitioning is drained, not lost."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field

import aio_pika
import pytest
from yarl import URL

from dropship_shared import messaging
from dropship_shared.events import BackorderCancelled, Envelope
from dropship_shared.messaging import Broker, Partitions, Subscription, partition_key_in, partition_queue
from support.infrastructure import BrokerNamespace
from support.polling import eventually, stays
from support.tcp_proxy import TcpProxy

PARTITIONS = 4
SUPPLIERS = [f"supplier-{n}" for n in range(16)]


def cancelled(supplier: str, line: str) -> Envelope:
    return Envelope.wrap(BackorderCancelled(backorder_line_id=line, supplier_id=supplier), f"corr-{line}")


@dataclass
class Replica:
    """A consumer process of the partitioned subscription: what it handled (committed), per supplier."""

    name: str
    broker: Broker
    handled: list[tuple[str, str]] = field(default_factory=list)  # (supplier, line)
    owned: set[str] = field(default_factory=set)
    lost: int = 0
    frozen: asyncio.Event | None = None  # set: the process hangs in its handler from now on (about to die)
    hanging: int = 0

    async def handle(self, envelope: Envelope) -> None:
        if self.frozen is not None:
            self.hanging += 1
            await asyncio.Event().wait()  # never returns: never acked, as a process that died mid-transaction
        payload = envelope.payload_as(BackorderCancelled)
        self.handled.append((payload.supplier_id, payload.backorder_line_id))

    def on_lost(self) -> None:
        self.lost += 1
        self.owned.clear()

    async def subscribe(self, queue: str, count: int = PARTITIONS) -> None:
        partitions = Partitions(count, frozenset({"backorder.cancelled"}), self.owned.add, self.on_lost)
        await self.broker.subscribe(Subscription(queue, {"backorder.cancelled": self.handle}, partitions))

    def suppliers(self) -> set[str]:
        return {supplier for supplier, _ in self.handled}


def remember_partitions(namespace: BrokerNamespace, queue: str, count: int = PARTITIONS) -> None:
    for number in range(count):
        namespace.queue(partition_queue(queue, number).removeprefix(f"{namespace.prefix}."))


async def test_replicas_get_disjoint_suppliers_and_the_survivor_takes_over_everything_once(
    broker_namespace: BrokerNamespace,
) -> None:
    queue = broker_namespace.queue("partitioned")
    remember_partitions(broker_namespace, queue)
    real = URL(broker_namespace.amqp_url)
    proxies = [TcpProxy((real.host or "127.0.0.1", real.port or 5672)) for _ in range(2)]
    replicas = []
    for number, proxy in enumerate(proxies):  # each replica reaches the broker through an address of its own
        port = await proxy.start()
        address = str(real.with_host("127.0.0.1").with_port(port))
        replicas.append(Replica(f"replica-{number}", Broker(address, broker_namespace.exchange)))
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    try:
        for replica in replicas:
            await replica.broker.connect()
            await replica.subscribe(queue)

        first = [(supplier, f"{supplier}/first-{n}") for supplier in SUPPLIERS for n in range(3)]
        await asyncio.gather(*(publisher.publish(cancelled(supplier, line)) for supplier, line in first))
        await eventually(lambda: sum(len(r.handled) for r in replicas), lambda count: count == len(first))
        assert sorted(h for r in replicas for h in r.handled) == sorted(first)
        # One replica at a time per supplier: no supplier's events were handled by both.
        assert not replicas[0].suppliers() & replicas[1].suppliers()
        for replica in replicas:  # each was told which suppliers it is the active consumer of
            assert replica.owned == replica.suppliers()

        victim, survivor = sorted(replicas, key=lambda r: len(r.handled), reverse=True)
        taken_over = victim.suppliers()
        handled_before = len(survivor.handled)
        victim.frozen = asyncio.Event()
        second = [(supplier, f"{supplier}/second-{n}") for supplier in SUPPLIERS for n in range(3)]
        await asyncio.gather(*(publisher.publish(cancelled(supplier, line)) for supplier, line in second))
        await eventually(lambda: victim.hanging, lambda hanging: hanging > 0)  # deliveries held unacked
        await proxies[replicas.index(victim)].kill()  # the victim's process dies with them

        await eventually(lambda: len(survivor.handled), lambda count: count >= handled_before + len(second))
        survived = survivor.handled[handled_before:]
        assert Counter(survived) == Counter(second)  # every line of the second wave once, none lost or doubled
        assert taken_over <= {supplier for supplier, _ in survived}
        await eventually(lambda: victim.lost, lambda lost: lost > 0)  # its consumers lost: it forgets what it owned
        assert not victim.owned
        await stays(lambda: len(survivor.handled), lambda count: count == handled_before + len(second))
    finally:
        for replica in replicas:
            await replica.broker.close()
        await publisher.close()
        for proxy in proxies:
            await proxy.kill()


async def test_what_the_plain_queue_held_is_drained_and_new_events_go_to_the_partitions(
    broker_namespace: BrokerNamespace,
) -> None:
    """An existing deployment's queue, bound to the events before partitioning, still holds some: consumed with
    the partitions, nothing lost; once partitioned, the plain queue no longer receives those events."""
    queue = broker_namespace.queue("migrating")
    remember_partitions(broker_namespace, queue)
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    connection = await aio_pika.connect(broker_namespace.amqp_url)
    replica = Replica("replica", Broker(broker_namespace.amqp_url, broker_namespace.exchange))
    try:
        channel = await connection.channel()
        await publisher.declare_queue(channel, queue, ["backorder.cancelled"])  # as before partitioning
        old = [(supplier, f"{supplier}/old") for supplier in SUPPLIERS]
        for supplier, line in old:
            await publisher.publish(cancelled(supplier, line))

        await replica.broker.connect()
        await replica.subscribe(queue)
        new = [(supplier, f"{supplier}/new") for supplier in SUPPLIERS]
        for supplier, line in new:
            await publisher.publish(cancelled(supplier, line))
        await eventually(lambda: Counter(replica.handled), lambda seen: seen == Counter(old + new))
        assert replica.owned == set(SUPPLIERS)  # the new ones came from the partitions
        plain = await channel.declare_queue(queue, passive=True)
        assert plain.declaration_result.message_count == 0
    finally:
        await replica.broker.close()
        await publisher.close()
        await connection.close()


@pytest.mark.parametrize("count", [1, 0], ids=["lowered", "turned-off"])
async def test_partitions_beyond_a_lowered_count_are_drained(broker_namespace: BrokerNamespace, count: int) -> None:
    """What waits in partitions the new count no longer has (all of them at 0) is drained by the replicas on the
    new count; new events go to the partitions left (or the plain queue)."""
    queue = broker_namespace.queue(f"shrinking{count}")
    remember_partitions(broker_namespace, queue)
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    before = Replica("before", Broker(broker_namespace.amqp_url, broker_namespace.exchange))
    after = Replica("after", Broker(broker_namespace.amqp_url, broker_namespace.exchange))
    try:
        await before.broker.connect()
        await before.subscribe(queue)
        before.frozen = asyncio.Event()  # takes its deliveries and dies with them
        waiting = [(supplier, f"{supplier}/waiting") for supplier in SUPPLIERS]
        await asyncio.gather(*(publisher.publish(cancelled(supplier, line)) for supplier, line in waiting))
        await eventually(lambda: before.hanging, lambda hanging: hanging > 0)
        await before.broker.close()

        await after.broker.connect()
        if count:
            await after.subscribe(queue, count=count)
        else:
            await after.broker.subscribe(Subscription(queue, {"backorder.cancelled": after.handle}))
        later = [(supplier, f"{supplier}/later") for supplier in SUPPLIERS]
        await asyncio.gather(*(publisher.publish(cancelled(supplier, line)) for supplier, line in later))
        await eventually(lambda: Counter(after.handled), lambda seen: seen == Counter(waiting + later))
        await stays(lambda: len(after.handled), lambda count: count == len(waiting + later), seconds=1.0)
    finally:
        await after.broker.close()
        await publisher.close()


def test_the_outbox_and_an_envelope_give_the_same_partition_key() -> None:
    for supplier in ["acme", 'odd "quoted" \\ supplier', "ünïcode"]:
        envelope = cancelled(supplier, "L1")
        assert partition_key_in(envelope.to_bytes().decode()) == supplier
    assert partition_key_in('{"type":"x","payload":{}}') is None


async def test_a_broker_without_the_plugin_is_named_as_the_reason(
    broker_namespace: BrokerNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(messaging, "CONSISTENT_HASH", "x-no-such-exchange-type")  # as a broker without the plugin
    replica = Replica("replica", Broker(broker_namespace.amqp_url, broker_namespace.exchange))
    await replica.broker.connect()
    try:
        with pytest.raises(RuntimeError, match="rabbitmq_consistent_hash_exchange"):
            await replica.subscribe(broker_namespace.queue("unpluggable"))
    finally:
        await replica.broker.close()


async def test_the_queue_depth_of_a_partitioned_subscription_counts_its_partitions(
    broker_namespace: BrokerNamespace,
) -> None:
    """Consumer lag (metrics, backlog, console): what waits in the partitions is waiting for this consumer too."""
    queue = broker_namespace.queue("lagging")
    remember_partitions(broker_namespace, queue)
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    replica = Replica("replica", Broker(broker_namespace.amqp_url, broker_namespace.exchange, prefetch=1))
    await publisher.connect()
    try:
        await replica.broker.connect()
        await replica.subscribe(queue)
        replica.frozen = asyncio.Event()  # takes one delivery (prefetch 1) and hangs on it: the rest waits
        await asyncio.gather(*(publisher.publish(cancelled("acme", f"L{n}")) for n in range(10)))
        await eventually(lambda: replica.hanging, lambda hanging: hanging == 1)
        assert await replica.broker.queue_depth(queue) == 9  # confirmed, so enqueued; one of ten taken
    finally:
        await replica.broker.close()
        await publisher.close()


async def test_subscribing_while_the_global_random_generator_is_reseeded(broker_namespace: BrokerNamespace) -> None:
    """Hypothesis reseeds Python's global `random` for each example, and a server under test (the fuzz tests)
    runs in the same process: aiormq draws a consumer's default tag from that generator, so two consumers of
    one channel got the same tag (DuplicateConsumerTag, the broker loop crashed). Our tags come from urandom."""
    queue = broker_namespace.queue("reseeded")
    remember_partitions(broker_namespace, queue)
    replica = Replica("replica", Broker(broker_namespace.amqp_url, broker_namespace.exchange))
    saved = random.getstate()

    async def reseed_all_the_time() -> None:
        while True:
            random.seed(0)
            await asyncio.sleep(0)

    reseeding = asyncio.create_task(reseed_all_the_time())
    await replica.broker.connect()
    try:
        await replica.subscribe(queue)  # the plain queue and four partitions consumed on one channel
    finally:
        reseeding.cancel()
        random.setstate(saved)
        await replica.broker.close()
