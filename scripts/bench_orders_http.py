"""What `POST /orders` costs the orders process, in process: the HTTP layer beside the intake it wraps (not a test).

    .venv/bin/python scripts/bench_orders_http.py [--storage sqlite|postgres] [--orders 2000] [--seconds 8]
                                                  [--connections 32] [--rounds 2] [--profile FILE]

One process, one migrated database (single-line backordered orders, as bench_pipeline's sustained phase), no
broker and no background work (the outbox keeps the events), so the process's CPU time is the requests' alone.
Each round measures the phases of PHASES one after the other: the intake called directly, `POST /orders` through
the app as an ASGI application (no server, no sockets) and served by uvicorn with the services' settings (driven
by scripts/loadgen.py's worker processes, closed loop, for `--seconds`), the same two with an intake that answers
at once (the HTTP layer alone), and bench_pipeline's trivial endpoint served the same way. Each figure is this
process's CPU time (`time.process_time`, every thread) per answered request. With `--profile FILE` py-spy samples
the served phases of the last round (FILE.<phase>.txt) and the samples are split by the innermost frame that
names a part of the request's path (CATEGORIES).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench_pipeline import SHIP_TO, SUPPLIERS, order_body, product, trivial_app
from bench_support import PY_SPY, fresh_postgres_database, machine_line
from fastapi import FastAPI
from loadgen import Target, generate_load
from starlette.types import ASGIApp, Message

from dev_identity import DevIdentity
from dropship_shared.events import Address
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.service_main import ServiceServer, uvicorn_config
from orders.bootstrap import MIGRATIONS, create_app
from orders.config import OrdersSettings
from orders.domain.model import RequestedLine
from orders.service_layer.handlers import PlacedOrder, PlaceOrder
from orders.service_layer.intake import OrderIntake

PHASES = {
    "intake": "OrderIntake.place called directly",
    "asgi": "POST /orders through the app, no server",
    "served": "POST /orders served by uvicorn",
    "http-asgi": "the app alone: an intake answering at once, no server",
    "http-served": "the app alone, served by uvicorn",
    "trivial": "bench_pipeline's trivial endpoint, served by uvicorn",
}


class AnsweredAtOnce:
    """An intake that answers every order at once with one placed before: what is left is the HTTP layer's."""

    def __init__(self, placed: PlacedOrder) -> None:
        self._placed = placed

    async def place(self, command: PlaceOrder, correlation_id: str) -> PlacedOrder:
        return self._placed


async def call(app: ASGIApp, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """One request through `app` as uvicorn would make it (HTTP/1.1 scope, the body in one message)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8001),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        + [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    sent = False
    status = 0
    answer = bytearray()

    async def receive() -> Message:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a client that stays: never a disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            answer.extend(message.get("body", b""))

    await app(scope, receive, send)
    return status, bytes(answer)


async def closed_loop(count: int, connections: int, one: Callable[[int], Awaitable[bool]]) -> tuple[float, int]:
    """`count` calls of `one`, `connections` at a time; the process CPU seconds they took and how many succeeded."""
    next_index = 0
    ok = 0

    async def worker() -> None:
        nonlocal next_index, ok
        while next_index < count:
            index = next_index
            next_index += 1
            answered = await one(index)  # not `ok += await ...`: that reads ok before the await
            ok += answered

    started = time.process_time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.process_time() - started, ok


def command_of(index: int) -> PlaceOrder:
    return PlaceOrder(
        customer_email="bench@example.com",
        ship_to=Address.model_validate(SHIP_TO),
        lines=[RequestedLine(f"SKU-{SUPPLIERS[index % len(SUPPLIERS)]}", 2)],
    )


async def through_intake(intake: OrderIntake, count: int, connections: int) -> tuple[float, int]:
    async def one(index: int) -> bool:
        await intake.place(command_of(index), uuid.uuid4().hex)
        return True

    return await closed_loop(count, connections, one)


async def through_asgi(app: FastAPI, headers: dict[str, str], count: int, connections: int) -> tuple[float, int]:
    bodies = [order_body(f"SKU-{supplier}", quantity=2) for supplier in SUPPLIERS]

    async def one(index: int) -> bool:
        status, _ = await call(app, "POST", "/orders", headers, bodies[index % len(bodies)])
        return status == 201

    return await closed_loop(count, connections, one)


class CallCounter:
    """Python function calls (and calls into C) made on this thread while counting: a figure the machine's load
    does not move, to tell small savings from noise."""

    def __init__(self) -> None:
        self.calls = 0

    def __enter__(self) -> CallCounter:
        sys.setprofile(self._count)
        return self

    def __exit__(self, *_: object) -> None:
        sys.setprofile(None)

    def _count(self, frame: Any, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            self.calls += 1


async def served(
    app: Any,
    headers: dict[str, str],
    seconds: float,
    connections: int,
    profile: Path | None = None,
    counter: CallCounter | None = None,
) -> tuple[float, int]:
    """The app behind uvicorn (the services' configuration, no lifespan) on a free port, loaded from loadgen."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn_config(app, "127.0.0.1", port)
    config.lifespan = "off"
    server = ServiceServer(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    bodies = tuple(order_body(f"SKU-{supplier}", quantity=2) for supplier in SUPPLIERS)
    target = Target(port, "POST", "/orders", bodies, headers)
    spy = _spy(profile, seconds) if profile else None
    started = time.process_time()
    with counter or contextlib.nullcontext():
        result = await asyncio.to_thread(generate_load, target, seconds=seconds, connections=connections)
    used = time.process_time() - started
    if spy is not None:
        spy.wait(60)
    server.should_exit = True
    await serving
    return used, result.ok


def _spy(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    command = [str(PY_SPY), "record", "--pid", str(os.getpid()), "--duration", str(max(1, int(seconds) - 1))]
    command += ["--rate", "250", "--format", "raw", "--nonblocking", "--output", str(path)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# Where a sample's CPU went: the innermost frame (leaf first) that one of these names: "part of its file" or
# "part of its file:its function".
CATEGORIES: dict[str, list[str]] = {
    "logging (structlog, logging)": ["logging/", "structlog/"],
    "intake (transaction, SQL, group commit)": [
        "service_layer/intake.py",
        "service_layer/handlers.py",
        "adapters/repository.py",
        "service_layer/unit_of_work.py",
        "dropship_shared/unit_of_work.py",
        "dropship_shared/batching.py",
        "dropship_shared/transient.py",
        "sqlalchemy/",
        "aiosqlite/",
        "asyncpg/",
        "orders/domain/",
    ],
    "response: OrderOut.of": ["entrypoints/schemas.py:of"],
    "response: serialization, Response": [
        "fastapi/routing.py:serialize_response",
        "fastapi/routing.py:_prepare_response_content",
        "starlette/responses.py",
        "fastapi/_compat:serialize",
    ],
    "auth (authorize, tokens)": ["dropship_shared/auth.py", "dropship_shared/tokens.py", "fastapi/security/"],
    "request body: read, parse, validate (OrderIn)": [
        "fastapi/dependencies/utils.py:request_body_to_args",
        "fastapi/dependencies/utils.py:_validate_value_with_model_field",
        "fastapi/_compat:validate",
        "starlette/requests.py:body",
        "starlette/requests.py:json",
        "fastapi/routing.py:_extract_endpoint_context",
        "email_validator/",
        "pydantic/networks.py",
        "entrypoints/customer_email.py",
    ],
    "dependency resolution": ["fastapi/dependencies/", "entrypoints/deps.py"],
    "endpoint (post_order)": ["entrypoints/api.py"],
    "routing": [
        "starlette/routing.py:matches",
        "fastapi/routing.py:matches",
        "starlette/routing.py:app",
        "starlette/routing.py:__call__",
        "fastapi/routing.py:handle",
        "fastapi/routing.py:__call__",
    ],
    "FastAPI request handler (request_response, run_endpoint)": [
        "fastapi/routing.py",
        "starlette/routing.py",
        "entrypoints/intake_route.py",
    ],
    "middleware: correlation id, storable URL": ["dropship_shared/web.py"],
    "middleware: body limit": ["dropship_shared/body_limits.py"],
    "middleware: tracing": ["opentelemetry/", "dropship_shared/tracing.py"],
    "middleware: error and exception layers, app entry": [
        "starlette/middleware/",
        "starlette/_exception_handler.py",
        "fastapi/middleware/",
        "starlette/applications.py",
        "fastapi/applications.py",
    ],
    "starlette datastructures (headers, URL, state)": ["starlette/datastructures.py", "starlette/requests.py"],
    "uvicorn, httptools": ["uvicorn/", "httptools/"],
    "event loop (asyncio, uvloop)": ["asyncio/", "uvloop/"],
}


def category_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        function, _, where = frame.partition(" (")
        for name, patterns in CATEGORIES.items():
            for pattern in patterns:
                part, _, wanted = pattern.partition(":")
                if part in where and (not wanted or function.endswith(wanted)):
                    return name
    return "other"


def split_profile(path: Path) -> str:
    shares: Counter[str] = Counter()
    total = 0
    for raw in path.read_text().splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        shares[category_of(stack.split(";"))] += int(count_text)
        total += int(count_text)
    lines = [f"py-spy: {total} samples by innermost known frame"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in shares.most_common()]
    return "\n".join(lines)


async def bench(args: argparse.Namespace, database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    identity = DevIdentity.generate()
    settings = OrdersSettings(
        database_url=database_url,
        auth_issuer=identity.issuer,
        auth_audience=identity.audience,
        auth_public_keys=identity.public_key_pem,
        amqp_url="amqp://nobody@127.0.0.1:1/",  # never connected: no lifespan, no broker
    )
    app = create_app(settings)
    admin, storefront = identity.headers("admin"), identity.headers("storefront")
    catalog = json.dumps([product(f"SKU-{supplier}", supplier) for supplier in SUPPLIERS]).encode()
    status, answer = await call(app, "PUT", "/products", admin, catalog)
    assert status == 200, answer
    intake: OrderIntake = app.state.intake
    await through_asgi(app, storefront, 200, args.connections)  # warm: caches, prepared statements, pools
    trivial = trivial_app()
    answered_at_once = AnsweredAtOnce(await intake.place(command_of(0), uuid.uuid4().hex))
    print(machine_line())
    figures: dict[str, list[float]] = {name: [] for name in args.phases.split(",")}

    async def measure(name: str, profile: Path | None) -> tuple[float, int]:
        if name == "intake":
            return await through_intake(intake, args.orders, args.connections)
        if name == "trivial":
            return await served(trivial, {}, args.seconds, args.connections)
        app.state.intake = answered_at_once if name.startswith("http") else intake
        try:
            if name.endswith("asgi"):
                return await through_asgi(app, storefront, args.orders * 4, args.connections)
            return await served(app, storefront, args.seconds, args.connections, profile)
        finally:
            app.state.intake = intake

    for round_no in range(args.rounds):
        last = round_no == args.rounds - 1
        for name in figures:
            profile = args.profile.with_suffix(f".{name}.txt") if args.profile and last else None
            used, ok = await measure(name, profile if name.endswith("served") else None)
            figures[name].append(1000 * used / max(ok, 1))
            print(f"round {round_no + 1} {name:12}: {ok:6} answered, {1000 * used / max(ok, 1):.3f} ms CPU each")
    print(machine_line())
    print("CPU per request (ms), every round:")
    for name, values in figures.items():
        listed = " ".join(f"{value:.3f}" for value in values)
        print(f"  {name:12} min {min(values):.3f}: {listed}   ({PHASES[name]})")
    app.state.intake = answered_at_once
    with CallCounter() as counter:
        _, answered = await through_asgi(app, storefront, 200, 1)
    print(f"Python calls per POST /orders: the app alone {counter.calls / answered:.0f}", end="")
    _, answered = await served(app, storefront, 3, 4, counter=(counter := CallCounter()))
    print(f", served {counter.calls / answered:.0f}")
    app.state.intake = intake
    if args.profile:
        for name in figures:
            if (path := args.profile.with_suffix(f".{name}.txt")).exists():
                print(f"{name}: {split_profile(path)}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--storage", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--orders", type=int, default=2000, help="orders per in-process phase")
    parser.add_argument("--seconds", type=float, default=8, help="length of each served phase")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated, among: " + ", ".join(PHASES))
    parser.add_argument("--profile", type=Path, help="py-spy raw output of the last served phase")
    args = parser.parse_args()
    if args.storage == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-orders-http-") as folder:
            await bench(args, f"sqlite+aiosqlite:///{folder}/orders.db")
    else:
        async with fresh_postgres_database(args.postgres, f"bench_orders_http_{uuid.uuid4().hex[:8]}") as url:
            await bench(args, url)


if __name__ == "__main__":
    import uvloop

    sys.exit(uvloop.run(main()))
