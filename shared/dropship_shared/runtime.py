"""What every service process runs besides its HTTP API: database, broker, outbox relay, consumers
and supervised background loops, started and stopped as one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from dropship_shared.db import (
    create_engine,
    create_postgres_pool,
    create_reader_engine,
    is_sqlite,
    ping,
    session_factory,
)
from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.messaging import Broker, BrokerPluginMissing, BrokerState, Subscription
from dropship_shared.metrics import ScrapeTimeFigures, gauge
from dropship_shared.migrations import upgrade_to_head, wait_until_migrated
from dropship_shared.outbox import OutboxLag, OutboxRelay, outbox_lag
from dropship_shared.settings import ServiceSettings
from dropship_shared.tracing import configure_tracing
from dropship_shared.web import Readiness, WorkerReadiness

log = get_logger(__name__)

BackgroundLoop = Callable[[], Awaitable[None]]


@dataclass
class ServiceRuntime:
    settings: ServiceSettings
    metadata: MetaData
    outbox: Table
    migrations: Path
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    broker: Broker = field(init=False)
    outbox_ready: asyncio.Event = field(init=False)
    figures: ScrapeTimeFigures = field(init=False)
    figure_sessions: async_sessionmaker[AsyncSession] = field(init=False)
    # What this process consumes: set by the service's bootstrap, declared by `migrate` and consumed by `start`.
    subscriptions: list[Subscription] = field(default_factory=list, init=False)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list, init=False)
    _own_engines: list[AsyncEngine] = field(default_factory=list, init=False)
    _subscribed: bool = field(default=False, init=False)
    _plugin_missing: bool = field(default=False, init=False)
    _migrated: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        configure_tracing(self.settings.service_name, self.settings.otel_exporter_otlp_endpoint)  # before engines
        self.engine = create_engine(self.settings.resolved_database_url(), self.settings.database_pool_size)
        self.sessions = session_factory(self.engine)
        self.broker = Broker(
            self.settings.amqp_url,
            self.settings.exchange,
            prefetch=self.settings.prefetch,
            delivery_limit=self.settings.delivery_limit,
        )
        self.outbox_ready = asyncio.Event()
        # Scrape-time figures read on a connection of their own, so a scrape never waits behind the handlers.
        self.figure_sessions = self.own_sessions(pool_size=1, autocommit=True)
        self.figures = ScrapeTimeFigures()
        self.figures.add("outbox", self._outbox_figures)
        self.figures.add("broker", self._queue_figures)
        self.figures.add("broker_connection", self._connection_figures)

    def own_sessions(self, pool_size: int, autocommit: bool = False) -> async_sessionmaker[AsyncSession]:
        """Sessions on a small pool of their own (create_postgres_pool), for background work (the outbox
        relay, customer messages) that must not queue behind the event handlers and requests for a
        connection of the shared pool; `autocommit` for work made of single statements.
        On SQLite they share the process's one connection: a second one would wait on the file's lock in
        SQLite's busy handler (coarse sleeps) instead of in line with the others."""
        url = self.settings.resolved_database_url()
        if is_sqlite(url):
            return self.sessions
        engine = create_postgres_pool(url, pool_size, autocommit)
        self._own_engines.append(engine)
        return session_factory(engine)

    def reader_sessions(self, pool_size: int = 8) -> async_sessionmaker[AsyncSession]:
        """Sessions for requests that only read, on connections of their own (create_reader_engine): a
        read never waits for a connection behind event handlers that hold theirs."""
        return session_factory(self._reader_engine(pool_size))

    def _reader_engine(self, pool_size: int) -> AsyncEngine:
        engine = create_reader_engine(self.settings.resolved_database_url(), pool_size)
        self._own_engines.append(engine)
        return engine

    async def migrate(self) -> None:
        await asyncio.to_thread(upgrade_to_head, str(self.migrations), self.settings.resolved_database_url())

    async def outbox_lag(self) -> OutboxLag:
        return await outbox_lag(self.figure_sessions, self.outbox)

    async def _outbox_figures(self) -> list[Any]:
        return (await self.outbox_lag()).figures(utcnow())

    async def _queue_figures(self) -> list[Any]:
        """Consumer lag: the events ready in each queue this process consumes, and its dead letters."""
        waiting = gauge(
            "consumer_queue_depth", "Events ready in a service's queue, not yet taken by a consumer", ["queue"]
        )
        dead = gauge(
            "dead_letter_queue_depth", "Messages waiting in a queue's dead-letter queue (<queue>.dlq)", ["queue"]
        )
        for queue in (subscription.queue for subscription in self.subscriptions):
            waiting.add_metric([queue], await self.broker.queue_depth(queue))
            dead.add_metric([queue], await self.broker.queue_depth(f"{queue}.dlq"))
        return [waiting, dead]

    async def _connection_figures(self) -> list[Any]:
        connected = gauge(
            "broker_connected",
            "1 while this replica is connected to the broker and consuming; 0 while connecting, reconnecting "
            "or refused (plugin missing): its events wait in the outbox meanwhile",
        )
        connected.add_metric([], 1 if self.broker_state() is BrokerState.CONNECTED else 0)
        return [connected]

    async def declare_broker_topology(self) -> None:
        """Declare the exchanges, queues, dead-letter queues, bindings and partitions this service consumes from,
        as its consumers declare them, then disconnect (`python -m <service> migrate`): an event published before
        the service first starts waits in its queue. Raises if the broker cannot be reached."""
        await self.broker.connect()
        try:
            for subscription in self.subscriptions:
                await self.broker.declare_topology(subscription)
        finally:
            await self.broker.close()

    async def start(self, loops: dict[str, BackgroundLoop]) -> None:
        if self.settings.migrate_on_start:
            await self.migrate()
        else:
            await wait_until_migrated(self.engine, str(self.migrations))
        self._migrated = True
        relay = OutboxRelay(
            self.own_sessions(pool_size=1),  # publishing never waits for a connection behind the handlers
            self.outbox,
            self.broker,
            self.outbox_ready,
            batch_size=self.settings.outbox_batch_size,
            poll_seconds=self.settings.outbox_poll_seconds,
            linger_seconds=self.settings.outbox_linger_seconds,
            sqlite_reader=self._reader_engine(pool_size=1)
            if is_sqlite(self.settings.resolved_database_url())
            else None,
        )
        self._spawn("broker", lambda: self._connect(self.subscriptions), restart=False)
        self._spawn("outbox-relay", relay.run)
        for name, loop in loops.items():
            self._spawn(name, loop)

    async def start_worker(self, loops: dict[str, BackgroundLoop]) -> None:
        """Only `loops`, for a worker beside the service (no broker, no outbox relay). It never migrates: the
        service (MIGRATE_ON_START) or `python -m <service> migrate` does, and the worker waits for the schema."""
        await wait_until_migrated(self.engine, str(self.migrations))
        self._migrated = True
        for name, loop in loops.items():
            self._spawn(name, loop)

    async def _connect(self, subscriptions: list[Subscription]) -> None:
        delay = 0.5
        while True:
            try:
                await self.broker.connect()
                break
            except Exception as exc:  # the broker may still be starting: keep trying, stay unready
                log.warning("broker not reachable yet", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        try:
            for subscription in subscriptions:
                await self.broker.subscribe(subscription)
        except BrokerPluginMissing:
            self._plugin_missing = True
            with contextlib.suppress(Exception):
                await self.broker.close()
            raise
        except Exception:
            # e.g. a topology the broker refuses (a plugin missing): start over on a fresh connection, unready
            with contextlib.suppress(Exception):
                await self.broker.close()
            raise
        self._subscribed, self._plugin_missing = True, False
        log.info("broker connected", queues=[s.queue for s in subscriptions])

    def _spawn(self, name: str, loop: BackgroundLoop, restart: bool = True) -> None:
        async def supervised() -> None:
            while True:
                try:
                    await loop()
                    if not restart:
                        return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("background loop crashed; restarting", loop=name)
                await asyncio.sleep(1.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.broker.close()
        await self.dispose_engines()

    async def dispose_engines(self) -> None:
        """Close every database connection the runtime opened (also when it was never started)."""
        for engine in self._own_engines:
            await engine.dispose()
        await self.engine.dispose()

    def broker_state(self) -> BrokerState:
        if self._plugin_missing:
            return BrokerState.PLUGIN_MISSING
        if not self._subscribed:
            return BrokerState.CONNECTING
        return BrokerState.CONNECTED if self.broker.connected else BrokerState.RECONNECTING

    async def readiness(self) -> Readiness:
        """Ready when the API can serve: the database answers and has the schema this code needs. The broker's
        state is reported only (the outbox holds the events while it is away)."""
        worker = await self.worker_readiness()
        return Readiness(ready=worker.ready, checks=worker.checks, broker=self.broker_state())

    async def worker_readiness(self) -> WorkerReadiness:
        """Ready when a worker can work: the database answers and has the schema this code needs."""
        checks = {"database": await ping(self.engine), "schema": self._migrated}
        return WorkerReadiness(ready=all(checks.values()), checks=checks)
