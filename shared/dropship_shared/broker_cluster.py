"""The broker as a cluster: its nodes' addresses, and a connection that moves to the next node when it loses one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aio_pika import RobustConnection
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from yarl import URL

from dropship_shared.logs import get_logger

log = get_logger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0  # per attempt: a node that swallows packets must not hold the others up


def parse_broker_addresses(value: str) -> tuple[str, ...]:
    """`AMQP_URL`: one AMQP URL, or the URLs of a cluster's nodes separated by commas (in the order to try them)."""
    addresses = tuple(part.strip() for part in value.split(",") if part.strip())
    if not addresses:
        raise ValueError("AMQP_URL names no broker address")
    for address in addresses:
        if URL(address).scheme not in ("amqp", "amqps"):
            raise ValueError(f"not an AMQP URL: {redacted(address)}")
    return addresses


def redacted(address: str) -> str:
    """An address fit for a log line: its password hidden."""
    url = URL(address)
    return str(url.with_password("******")) if url.password else str(url)


class BrokerAddresses:
    """Round robin over a cluster's nodes: start at the first, move on to the next each time one is lost or
    refuses, back to the first after the last. Shared by the connections a broker opens in turn."""

    def __init__(self, addresses: Sequence[str]) -> None:
        if not addresses:
            raise ValueError("no broker address")
        self._addresses = tuple(addresses)
        self._current = 0

    def __len__(self) -> int:
        return len(self._addresses)

    @property
    def current(self) -> str:
        return self._addresses[self._current]

    def advance(self) -> str:
        self._current = (self._current + 1) % len(self._addresses)
        return self.current


class FailoverConnection(RobustConnection):
    """aio-pika's robust connection (it re-opens channels, re-declares topology and resumes consumers when it
    reconnects), reconnecting to the next node of the cluster rather than always the same one.

    aio-pika calls `_on_connection_close` both when an open connection is lost and when an attempt to open one
    fails, so each lost or refused attempt moves on by one address. With a single address nothing changes: a
    restarted broker is reconnected to as before."""

    def __init__(self, addresses: BrokerAddresses) -> None:
        super().__init__(URL(addresses.current))
        self._addresses = addresses

    async def _on_connection_close(self, closing: asyncio.Future[None]) -> None:
        if not self._close_called and len(self._addresses) > 1:
            lost = str(self)
            self.url = URL(self._addresses.advance())
            log.warning("broker node lost or refused; trying the next", lost=lost, next=str(self))
        await super()._on_connection_close(closing)


async def connect_to_cluster(addresses: BrokerAddresses | str) -> FailoverConnection:
    """A connection to the first node that answers, trying each once in turn; the last refusal when none does.
    `addresses` may be `AMQP_URL` itself (one URL or several, separated by commas)."""
    if isinstance(addresses, str):
        addresses = BrokerAddresses(parse_broker_addresses(addresses))
    for attempt in range(len(addresses)):
        connection = FailoverConnection(addresses)
        try:
            await connection.connect(timeout=CONNECT_TIMEOUT_SECONDS)
            return connection
        except CONNECTION_EXCEPTIONS:  # the failed attempt moved `addresses` on to the next node
            await connection.close()
            if attempt == len(addresses) - 1:
                raise
    raise AssertionError("unreachable: BrokerAddresses is never empty")
