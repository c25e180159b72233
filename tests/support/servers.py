"""Serving ASGI apps over real HTTP in tests: uvicorn in a background thread on a free port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (prefer passing a bound socket to avoid races)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_uvicorn_app(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    startup_timeout: float = 10.0,
    shutdown_timeout: float = 10.0,
    log_level: str = "warning",
    **config_kwargs: Any,
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread and yield its base URL (``http://host:port``).

    The listening socket is bound before the thread starts (``port=0`` picks a free port),
    so there is no race for the port; the context waits until startup (lifespan included)
    finished and, on exit, asks the server to stop and joins the thread. The app runs on
    its own event loop, so it can be called from sync tests and from async tests alike.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    bound_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        host=host,
        port=bound_port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=1,
        **config_kwargs,
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # surface crashes (e.g. lifespan failure) to the test
            errors.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-{bound_port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if errors or not thread.is_alive():
                raise RuntimeError(f"uvicorn failed to start on port {bound_port}") from (errors[0] if errors else None)
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {startup_timeout}s")
            time.sleep(0.01)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(shutdown_timeout)
        sock.close()


def consuming(answer: httpx.Response) -> bool:
    """A `/readyz` answer of a service that is ready and has its broker subscriptions in place (readiness alone
    does not wait for the broker): events published from now on reach its queues."""
    return answer.status_code == 200 and answer.json()["broker"] == "connected"
