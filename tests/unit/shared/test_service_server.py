"""How every service is served (`service_main.ServiceServer`): once the app has started, the objects alive then are
set aside from the cyclic garbage collector (`gc.freeze`), those made during the app's startup included."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI

from dropship_shared.service_main import ServiceServer, uvicorn_config


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    """Each test starts with nothing frozen and gives the test process its collector back."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def app_with_startup(started: list[object]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        started.append(gc.get_freeze_count())  # what was frozen while the app was starting
        started.append([object() for _ in range(10_000)])  # made at startup, alive for the process's life
        yield

    return FastAPI(lifespan=lifespan)


async def serve_until_started(app: FastAPI) -> ServiceServer:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ServiceServer(uvicorn_config(app, "127.0.0.1", port))
    serving = asyncio.create_task(server.serve())
    while not (server.started or serving.done()):
        await asyncio.sleep(0.01)
    server.should_exit = True
    await serving
    return server


async def test_the_heap_alive_once_the_app_has_started_is_frozen() -> None:
    started: list[object] = []
    before = gc.get_freeze_count()

    server = await serve_until_started(app_with_startup(started))

    assert server.started
    assert before == 0 and started[0] == 0  # nothing frozen before the app had started
    assert gc.get_freeze_count() > 10_000  # the startup's own objects among them
