"""A RabbitMQ cluster of its own on this machine, for failover tests: nodes on free ports with their own names,
data, cookie and only the plugin the services need (the consistent-hash exchange), joined with
`rabbitmqctl join_cluster`. The shared broker is never touched."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from support.servers import free_port

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")  # the scripts themselves: the /usr/sbin wrappers switch user
STARTUP_SECONDS = 240  # a node boots in ~15 s alone; on a busy 2-core machine, with two more, much longer


def available() -> bool:
    return (RABBITMQ_BIN / "rabbitmq-server").exists() and shutil.which("erl") is not None


class RabbitCluster:
    def __init__(self, workdir: Path, nodes: int = 3) -> None:
        self._workdir = workdir
        run = uuid.uuid4().hex[:6]
        self.names = [f"dropship{run}n{n}@localhost" for n in range(1, nodes + 1)]
        self.ports = [free_port() for _ in self.names]
        self._processes: list[subprocess.Popen[bytes]] = []
        home = workdir / "home"
        home.mkdir(parents=True, exist_ok=True)
        cookie = home / ".erlang.cookie"
        cookie.write_text(f"dropship{uuid.uuid4().hex}")
        cookie.chmod(0o400)
        (workdir / "plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
        self._home = home

    def url(self, node: int) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.ports[node]}/"

    def _env(self, node: int) -> dict[str, str]:
        folder = self._workdir / f"node{node}"
        folder.mkdir(exist_ok=True)
        (folder / "rabbitmq.conf").write_text(f"loopback_users = none\nlisteners.tcp.default = {self.ports[node]}\n")
        (folder / "env.conf").write_text("")
        return {
            **os.environ,
            "HOME": str(self._home),
            "RABBITMQ_NODENAME": self.names[node],
            "RABBITMQ_NODE_PORT": str(self.ports[node]),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self._workdir / "plugins"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(folder / "env.conf"),
        }

    def ctl(self, node: int, *command: str, timeout: float = STARTUP_SECONDS) -> None:
        subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.names[node], *command],
            env={**os.environ, "HOME": str(self._home)},
            check=True,
            capture_output=True,
            timeout=timeout,
        )

    def _wait_up(self, node: int) -> None:
        """Until the node answers and has booted (`await_startup` fails at once while its VM is not up yet)."""
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                self.ctl(node, "await_startup", timeout=60)
                return
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline or self._processes[node].poll() is not None:
                    raise
            time.sleep(1)

    def start(self) -> None:
        for node in range(len(self.names)):
            log = (self._workdir / f"node{node}.out").open("ab")
            self._processes.append(
                subprocess.Popen(
                    [str(RABBITMQ_BIN / "rabbitmq-server")],
                    env=self._env(node),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self._workdir,  # where a node that fails writes its crash dumps (MnesiaCore.*, erl_crash.dump)
                    start_new_session=True,
                )
            )
        for node in range(len(self.names)):
            self._wait_up(node)
        for node in range(1, len(self.names)):
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", self.names[0])
            self.ctl(node, "start_app")

    def stop_node(self, node: int) -> None:
        """The node leaves service (its app stops: clients are disconnected), as when it fails."""
        self.ctl(node, "stop_app")

    def close(self) -> None:
        for node, process in enumerate(self._processes):
            if process.poll() is None:
                try:
                    self.ctl(node, "stop", timeout=60)
                except (subprocess.SubprocessError, OSError):
                    process.kill()
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


@contextmanager
def running_cluster(workdir: Path, nodes: int = 3) -> Iterator[RabbitCluster]:
    """A started cluster, stopped (every node) when the block ends."""
    cluster = RabbitCluster(workdir, nodes)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
