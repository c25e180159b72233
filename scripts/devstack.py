"""Starts the whole system on one machine: the three services and a supplier simulator as processes.

Used by `make run` (the README's start command), by the end-to-end and crash tests, and by the
load scripts. Storage is one SQLite file per service unless a PostgreSQL server URL is given,
in which case each service gets its own database on that server. With `--replicas N` (PostgreSQL only)
each service runs as N processes sharing the service's usual port (HTTP_REUSE_PORT: the kernel spreads new
connections over them), each also on a port of its own (HTTP_REPLICA_PORT) for its /metrics and /readyz.
With `--message-sender separate` the customer messages are sent by a process of their own, `orders-sender`
(`python -m orders send-messages`, the orders processes run with MESSAGE_SENDER=separate); by default orders sends
them itself, one process per service as in the demo and the tests: the sender of its own pays off under load, when
the process taking orders is the one at a full core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from dev_identity import DevIdentity, local_secrets_key

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {  # name → python module run with `python -m`
    "orders": "orders",
    "aggregator": "aggregator",
    "supplier-gateway": "supplier_gateway",
    "supplier-simulator": "supplier_simulator",
}
DEFAULT_PORTS = {"orders": 8001, "aggregator": 8002, "supplier-gateway": 8003, "supplier-simulator": 8090}
# Workers: processes doing a part of a service's background work, started and stopped with it (name → its service
# and the `python -m` command line).
WORKERS = {"orders-sender": ("orders", ("orders", "send-messages"))}
REPLICATED = ("orders", "aggregator", "supplier-gateway")  # the simulator stands in for one supplier: always one
DEMO_SUPPLIER = "acme"
DEMO_SECRET = "acme-demo-secret"
SERVICE_TOKEN_SECONDS = 30 * 24 * 3600  # the aggregator's token for the other services, as long as a demo runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    port: int  # this process's own: a replica's HTTP_REPLICA_PORT
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> tuple[str, ...]:
        return WORKERS[self.name][1] if self.name in WORKERS else (SERVICES[self.name],)

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.command],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.log_path.parent,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, exactly like a crash."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def wait_ready(self, timeout: float = 60.0) -> None:
        path = "/health" if self.name == "supplier-simulator" else "/readyz"
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                response = httpx.get(self.url + path, timeout=2)
                # Ready (the database) and, for a service, consuming: events published before the other
                # services' queues exist would go nowhere, so the stack waits for every subscription (a worker
                # has no broker).
                consuming = path != "/readyz" or response.json().get("broker", "connected") == "connected"
                if response.status_code == 200 and consuming:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s ({last}); see {self.log_path}")


@dataclass
class System:
    """The four processes, wired to one broker namespace and one storage choice."""

    workdir: Path
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchange: str = "dropship"
    queue_prefix: str = ""
    database_urls: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    extra_env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # who signs the tokens the services trust: the development key pair under workdir unless given
    identity: DevIdentity | None = None
    replicas: int = 1  # processes of each service (but the simulator); more than one needs PostgreSQL
    # the processes of each service: one, or its replicas, which share the service's port in `ports`
    replica_processes: dict[str, list[ServiceProcess]] = field(default_factory=dict, init=False)
    # the customers' mailbox: "print" (aiosmtpd printing every email to smtp-sink.log, the demo's and the tests'),
    # "discard" (scripts/mail_sink.py: accepts and counts, for benchmarks, a fraction of the CPU)
    mailbox: str = "print"
    # who sends the customer messages: the orders processes ("in_process"), or a process of their own, the
    # `orders-sender` worker ("separate")
    message_sender: str = "in_process"
    smtp_sink: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.identity is None:
            self.identity = DevIdentity.load_or_create(self.workdir / "auth")
        self.smtp_port = free_port()
        gateway = f"http://127.0.0.1:{self.ports['supplier-gateway']}"
        for name in SERVICES:
            if name == "supplier-simulator":
                env = {
                    "SIMULATOR_PORT": str(self.ports[name]),
                    "SIMULATOR_SUPPLIER_ID": DEMO_SUPPLIER,
                    "SIMULATOR_SECRET": DEMO_SECRET,
                    "SIMULATOR_CALLBACK_URL": f"{gateway}/suppliers/{{supplier_id}}/callbacks/{{kind}}",
                    "SIMULATOR_STATE_FILE": str(self.workdir / "supplier-simulator.json"),
                }
            else:
                env = {
                    "HTTP_PORT": str(self.ports[name]),
                    "AMQP_URL": self.amqp_url,
                    "EXCHANGE": self.exchange,
                    "QUEUE_PREFIX": self.queue_prefix,
                    "DATABASE_URL": self.database_urls.get(
                        name, f"sqlite+aiosqlite:///{self.workdir / (name + '.db')}"
                    ),
                    "LOG_JSON": "true",
                    **self.identity.service_env(),
                }
                if name == "supplier-gateway":
                    env["SUPPLIER_SECRETS_KEY"] = local_secrets_key(self.workdir / "auth")
                if name == "orders":
                    env.update(
                        {
                            "SMTP_HOST": "127.0.0.1",
                            "SMTP_PORT": str(self.smtp_port),
                            "MESSAGE_SENDER": self.message_sender,
                        }
                    )
                if name == "aggregator":  # the dashboard reads the other services' public APIs
                    env.update(
                        {
                            "ORDERS_URL": f"http://127.0.0.1:{self.ports['orders']}",
                            "GATEWAY_URL": gateway,
                            "PEER_TOKEN": self.identity.token(
                                "operations", subject="aggregator", ttl_seconds=SERVICE_TOKEN_SECONDS
                            ),
                            "DASHBOARD_SESSION_KEY": secrets.token_urlsafe(32),
                            "DASHBOARD_DEV_SIGN_IN": "true",
                        }
                    )
            env.update(self.extra_env.get(name, {}))
            self._add(name, env)
            if name == "orders" and self.message_sender == "separate":
                sender_env = {**env, "HTTP_PORT": str(free_port()), **self.extra_env.get("orders-sender", {})}
                sender = ServiceProcess(
                    "orders-sender", int(sender_env["HTTP_PORT"]), sender_env, self.workdir / "orders-sender.log"
                )
                self.replica_processes["orders-sender"] = [sender]

    def _add(self, name: str, env: dict[str, str]) -> None:
        if self.replicas == 1 or name not in REPLICATED:
            self.replica_processes[name] = [ServiceProcess(name, self.ports[name], env, self.workdir / f"{name}.log")]
            return
        replicas = []
        for number in range(1, self.replicas + 1):
            port = free_port()
            replica_env = {**env, "HTTP_REUSE_PORT": "true", "HTTP_REPLICA_PORT": str(port)}
            replicas.append(ServiceProcess(name, port, replica_env, self.workdir / f"{name}-{number}.log"))
        self.replica_processes[name] = replicas

    @property
    def services(self) -> dict[str, ServiceProcess]:
        """The process of each service that runs as one (replicated services are in `replica_processes`)."""
        return {name: replicas[0] for name, replicas in self.replica_processes.items() if len(replicas) == 1}

    def url(self, name: str) -> str:
        """The service's address: its process, or the port its replicas share."""
        return f"http://127.0.0.1:{self.ports[name]}"

    def headers(self, *roles: str) -> dict[str, str]:
        """An Authorization header the services accept, for `roles` (all three when none are named)."""
        assert self.identity is not None
        return self.identity.headers(*roles)

    def start(self, *names: str) -> None:
        """Start these services (all by default) and their workers, and wait until each is ready."""
        names = names or tuple(SERVICES)
        if self.smtp_sink is None and "orders" in names:
            self.start_smtp_sink()
        for name in names:
            if len(self.replica_processes[name]) > 1 and name not in self.database_urls:
                raise ValueError(
                    f"{self.replicas} replicas of {name} need a PostgreSQL database (one SQLite file each)"
                )
        workers = [worker for worker, (service, _) in WORKERS.items() if service in names]
        started = [process for name in names for process in self.replica_processes[name]] + [
            process for worker in workers for process in self.replica_processes.get(worker, [])
        ]
        for process in started:
            process.start()
        for process in started:
            process.wait_ready()

    def processes(self) -> dict[str, ServiceProcess]:
        """Every process by a name of its own: `orders`, or with replicas `orders-1`, `orders-2`."""
        named = {}
        for name, replicas in self.replica_processes.items():
            if len(replicas) == 1:
                named[name] = replicas[0]
            else:
                named.update({f"{name}-{number}": replica for number, replica in enumerate(replicas, 1)})
        return named

    def start_smtp_sink(self) -> None:
        """A local SMTP server for the customers' emails: by default it prints every one to smtp-sink.log (the
        demo's mailbox); `mailbox="discard"` accepts and counts them (scripts/mail_sink.py)."""
        log = (self.workdir / "smtp-sink.log").open("ab")
        if self.mailbox == "discard":
            command = [sys.executable, str(ROOT / "scripts" / "mail_sink.py"), "--port", str(self.smtp_port)]
        else:
            command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.smtp_port}"]
        self.smtp_sink = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        for process in self.processes().values():
            process.stop()
        if self.smtp_sink is not None and self.smtp_sink.poll() is None:
            self.smtp_sink.terminate()
            self.smtp_sink.wait(10)

    def configure_demo(self) -> None:
        """Register the demo supplier with the gateway, give it a batching policy, load a catalog."""
        simulator = self.url("supplier-simulator")
        with httpx.Client(timeout=10, headers=self.headers("admin")) as client:
            client.put(
                f"{self.url('supplier-gateway')}/suppliers/{DEMO_SUPPLIER}",
                json={
                    "name": "ACME Furniture (simulated)",
                    "protocol": "http",
                    "base_url": simulator,
                    "signing_secret": DEMO_SECRET,
                },
            ).raise_for_status()
            client.put(
                f"{self.url('aggregator')}/suppliers/{DEMO_SUPPLIER}", json={"name": "ACME Furniture (simulated)"}
            ).raise_for_status()
            client.put(
                f"{self.url('aggregator')}/suppliers/{DEMO_SUPPLIER}/policy",
                json={"min_units": 10, "max_wait_seconds": 3600, "on_deadline": "release"},
            ).raise_for_status()
            client.put(
                f"{self.url('orders')}/products",
                json=[
                    {
                        "sku": "CHAIR-OAK",
                        "name": "Oak dining chair",
                        "supplier_id": DEMO_SUPPLIER,
                        "supplier_sku": "AC-CH-100",
                        "price": "129.00",
                        "cost": "61.50",
                        "on_hand": 2,
                    },
                    {
                        "sku": "TABLE-OAK",
                        "name": "Oak dining table",
                        "supplier_id": DEMO_SUPPLIER,
                        "supplier_sku": "AC-TB-200",
                        "price": "899.00",
                        "cost": "410.00",
                        "on_hand": 0,
                    },
                ],
            ).raise_for_status()


async def create_postgres_databases(server_url: str, prefix: str) -> dict[str, str]:
    """One database per service on the given PostgreSQL server (created if missing)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    urls = {}
    async with engine.connect() as connection:
        for name in SERVICES:
            if name == "supplier-simulator":
                continue
            database = f"{prefix}{name.replace('-', '_')}"
            exists = await connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database})
            if not exists:
                await connection.execute(text(f'CREATE DATABASE "{database}"'))
            urls[name] = server_url.rsplit("/", 1)[0] + f"/{database}"
    await engine.dispose()
    return urls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=ROOT / "var", help="logs and SQLite files")
    parser.add_argument("--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("POSTGRES_URL"),
        help="PostgreSQL server URL (postgresql+asyncpg://user@host:5432/postgres); default: SQLite files",
    )
    parser.add_argument("--no-demo", action="store_true", help="do not load the demo supplier and catalog")
    parser.add_argument(
        "--replicas", type=int, default=1, help="processes of each service, sharing its port (needs --postgres)"
    )
    parser.add_argument(
        "--message-sender",
        choices=("in_process", "separate"),
        default="in_process",
        help="who sends the customer messages: the orders processes, or a process of their own (orders-sender)",
    )
    args = parser.parse_args()
    if args.replicas > 1 and not args.postgres:
        parser.error("--replicas needs --postgres: the replicas of a service share its database")
    database_urls = asyncio.run(create_postgres_databases(args.postgres, "dropship_")) if args.postgres else {}
    system = System(
        args.workdir,
        amqp_url=args.amqp_url,
        database_urls=database_urls,
        replicas=args.replicas,
        message_sender=args.message_sender,
    )
    try:
        system.start()
        if not args.no_demo:
            system.configure_demo()
        print("The drop-ship system is running (Ctrl-C stops it):")
        for name, processes in system.replica_processes.items():
            if name in WORKERS:
                print(f"  {name:<20} {processes[0].url}   (/metrics, /readyz)   log: {processes[0].log_path}")
                continue
            url = system.url(name)
            if len(processes) == 1:
                print(f"  {name:<20} {url}   docs: {url}/docs   log: {processes[0].log_path}")
                continue
            print(f"  {name:<20} {url}   docs: {url}/docs   (its {len(processes)} replicas share the port)")
            for replica in processes:
                print(f"  {'':<20} replica {replica.url}   log: {replica.log_path}")
        print(f"  dashboard            {system.url('aggregator')}/dashboard   (development sign-in)")
        print(f"  customer emails      {system.workdir / 'smtp-sink.log'}")
        print("Every API call needs a bearer token signed by the development key under var/auth/, e.g.:")
        print('  curl -H "Authorization: Bearer $(.venv/bin/python scripts/dev_token.py --role admin)" \\')
        print(f"       {system.url('aggregator')}/suppliers")
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        system.stop()


if __name__ == "__main__":
    main()
