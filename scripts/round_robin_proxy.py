"""One address for the replicas of a service: a TCP proxy handing each new connection to the next replica in turn.

`scripts/devstack.py --replicas N` puts one in front of each service; tests use one in front of a broker node
to take that address away (`kill`). A replica that refuses a connection is skipped for that connection.

    python scripts/round_robin_proxy.py --listen 127.0.0.1:8001 --to 127.0.0.1:9101,127.0.0.1:9102
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence


class RoundRobinProxy:
    """Forwards each accepted connection to the next target that answers; `kill` stops listening and cuts the
    open connections, as clients would see it if the machine behind this address died."""

    def __init__(self, targets: Sequence[tuple[str, int]]) -> None:
        if not targets:
            raise ValueError("a proxy needs at least one target")
        self._targets = list(targets)
        self._next = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0  # accepted so far

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen (port 0: a free one); the port listened on."""
        self._server = await asyncio.start_server(self._forward, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def _open_next(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self._targets)):
            host, port = self._targets[self._next]
            self._next = (self._next + 1) % len(self._targets)
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(host, port)
        return None

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        opened = await self._open_next()
        if opened is None:
            client_writer.close()
            return
        server_reader, server_writer = opened
        self._writers.update({client_writer, server_writer})
        await asyncio.gather(
            _pipe(client_reader, server_writer), _pipe(server_reader, client_writer), return_exceptions=True
        )
        self._writers.difference_update({client_writer, server_writer})

    async def kill(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host or "127.0.0.1", int(port)


async def serve(listen: tuple[str, int], targets: list[tuple[str, int]]) -> None:
    proxy = RoundRobinProxy(targets)
    await proxy.start(*listen)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=host_port, required=True, help="host:port this proxy listens on")
    parser.add_argument("--to", required=True, help="the replicas, host:port separated by commas")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.listen, [host_port(target) for target in args.to.split(",")]))


if __name__ == "__main__":
    main()
