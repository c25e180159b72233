"""Processes of a service sharing one port (HTTP_REUSE_PORT, what `scripts/devstack.py --replicas` runs): the
kernel hands new connections to each of them, each is also reachable alone (HTTP_REPLICA_PORT), and when one is
killed -9 the others go on answering on the port. Without the setting a second process cannot listen there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from uvicorn.config import STARTUP_FAILURE

from support.polling import eventually
from support.servers import free_port

SERVICE = Path(__file__).parents[2] / "support" / "whoami_service.py"


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    own_port: int

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(30)  # reaped: its sockets are closed


def whoami(port: int) -> int | None:
    """The pid answering a request on a fresh connection to `port`, None if nothing answered."""
    try:  # a new connection each time: the kernel picks a listener per connection
        with httpx.Client(timeout=10) as client:
            return int(client.get(f"http://127.0.0.1:{port}/whoami").json())
    except httpx.TransportError:
        return None


@pytest.fixture
def start_replica(tmp_path: Path) -> Iterator[Callable[..., Replica]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int, *, reuse_port: bool, own_port: int = 0) -> Replica:
        env = {**os.environ, "HTTP_PORT": str(port), "HTTP_REPLICA_PORT": str(own_port)}
        env["HTTP_REUSE_PORT"] = "true" if reuse_port else "false"
        log = (tmp_path / f"replica-{len(started)}.log").open("ab")
        process = subprocess.Popen([sys.executable, str(SERVICE)], env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)
        return Replica(process, own_port)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(30)


async def started(replica: Replica, port: int) -> None:
    await eventually(lambda: whoami(port), lambda pid: pid == replica.process.pid)


async def test_processes_share_the_port_and_the_survivor_serves_it_when_one_is_killed(
    start_replica: Callable[..., Replica],
) -> None:
    port = free_port()
    first, second = (start_replica(port, reuse_port=True, own_port=free_port()) for _ in range(2))
    for replica in (first, second):
        await started(replica, replica.own_port)  # each alone on its own port

    answered: set[int | None] = set()
    both = {first.process.pid, second.process.pid}
    await eventually(lambda: answered.add(whoami(port)) or answered, lambda seen: both <= seen)
    assert answered == both  # every connection to the port was answered, by one or the other

    first.kill()
    assert [whoami(port) for _ in range(20)] == [second.process.pid] * 20


async def test_without_reuse_port_a_second_process_cannot_listen_on_the_port(
    start_replica: Callable[..., Replica],
) -> None:
    port = free_port()
    first = start_replica(port, reuse_port=False)
    await started(first, port)

    second = start_replica(port, reuse_port=False)
    assert second.process.wait(60) == STARTUP_FAILURE
    assert whoami(port) == first.process.pid
