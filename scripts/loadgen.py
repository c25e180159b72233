"""HTTP load generator for the benchmarks: several processes, each a raw HTTP/1.1 keep-alive client on
asyncio (uvloop where installed), so the generator is not what limits the figures.

Two modes:
- closed loop (`rate` is None): every connection sends its next request as soon as the last one is
  answered, for `seconds`; the figure is the server's sustained rate;
- open loop (`rate` requests/s in all): requests are due on a fixed schedule and latency counts from the
  moment a request was due, not from when it was sent, so a slow server cannot hide its queueing
  (no coordinated omission).

`generate_load()` starts the worker processes (this same file run as a script) and merges their results;
`LoadRun` does the same in two steps (start the workers, then let them go) for a caller that measures around
the load itself. Each worker reports the CPU time it used while sending.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    """One kind of request, sent again and again."""

    port: int
    method: str
    path: str
    bodies: tuple[bytes, ...] = (b"",)  # sent in turn
    headers: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"

    def requests(self) -> list[bytes]:
        return [self._request(body) for body in self.bodies]

    def _request(self, body: bytes) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if body or self.method in {"POST", "PUT", "PATCH"}:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful answers only
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection failures (no HTTP answer)
    bodies: list[bytes] = field(default_factory=list)  # successful answers' bodies, when kept
    cpu_seconds: float = 0.0  # the CPU time (user + system) the worker processes used, added up
    processes: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)


class LoadRun:
    """The worker processes of one load, started and ready (interpreter up, modules imported) on entering the
    block, sending only once `run()` is called: what is measured around `run()` (CPU, a profile) is the load
    itself, not the workers' start, which takes seconds on a busy machine."""

    def __init__(
        self,
        target: Target,
        *,
        seconds: float,
        connections: int = 64,
        processes: int = 2,
        rate: float | None = None,
        keep_bodies: bool = False,
    ) -> None:
        self.spec = {
            "host": target.host,
            "port": target.port,
            "requests": [base64.b64encode(request).decode() for request in target.requests()],
            "seconds": seconds,
            "connections": max(1, connections // processes),
            "rate": rate / processes if rate else None,
            "keep_bodies": keep_bodies,
        }
        self.processes = processes
        self.workers: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> LoadRun:
        self._folder = tempfile.TemporaryDirectory(prefix="loadgen-")
        self.outputs = [Path(self._folder.name) / f"worker{n}.json" for n in range(self.processes)]
        for output in self.outputs:
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, __file__, json.dumps(self.spec), str(output)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            )
        for worker in self.workers:
            assert worker.stdout is not None
            if worker.stdout.readline() != b"ready\n":
                raise RuntimeError(f"load generator worker exited with {worker.wait()} before it was ready")
        return self

    def run(self) -> LoadResult:
        """Let every worker go, wait for them and merge what they measured."""
        for worker in self.workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            worker.stdin.close()
        for worker in self.workers:
            if worker.wait() != 0:
                raise RuntimeError(f"load generator worker exited with {worker.returncode}")
        merged = LoadResult(processes=self.processes)
        for output in self.outputs:
            part = json.loads(output.read_text())
            merged.requests += part["requests"]
            merged.seconds = max(merged.seconds, part["seconds"])
            merged.latencies += part["latencies"]
            merged.errors += part["errors"]
            merged.cpu_seconds += part["cpu_seconds"]
            for status, count in part["statuses"].items():
                merged.statuses[int(status)] = merged.statuses.get(int(status), 0) + count
            merged.bodies += [base64.b64decode(body) for body in part["bodies"]]
        return merged

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            for stream in (worker.stdin, worker.stdout):
                if stream is not None:
                    stream.close()
        self._folder.cleanup()


def generate_load(target: Target, **options: Any) -> LoadResult:
    """Run the load (`options` as LoadRun takes them) from its worker processes and merge what they measured."""
    with LoadRun(target, **options) as load:
        return load.run()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        body += await reader.readexactly(size + 2)
        if size == 0:
            return status, bytes(body[:-2])
        del body[-2:]


async def _worker(spec: dict[str, object]) -> dict[str, object]:
    requests = [base64.b64decode(request) for request in spec["requests"]]  # type: ignore[attr-defined]
    seconds = float(spec["seconds"])  # type: ignore[arg-type]
    rate = spec["rate"]
    keep = bool(spec["keep_bodies"])
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[str] = []
    errors = 0
    sent = 0
    started = time.perf_counter()
    deadline = started + seconds

    def next_due() -> float | None:
        """Closed loop: now; open loop: the next slot of the schedule. None when the run is over."""
        nonlocal sent
        due = time.perf_counter() if rate is None else started + sent / float(rate)  # type: ignore[arg-type]
        if due >= deadline:
            return None
        sent += 1
        return due

    async def connection() -> None:
        nonlocal errors
        reader = writer = None
        while (due := next_due()) is not None:
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(str(spec["host"]), int(spec["port"]))  # type: ignore[call-overload]
                writer.write(requests[sent % len(requests)])
                status, body = await _read_response(reader)  # type: ignore[arg-type]
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            statuses[status] = statuses.get(status, 0) + 1
            if 200 <= status < 300:
                latencies.append(time.perf_counter() - due)
                if keep:
                    bodies.append(base64.b64encode(body).decode())
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(int(spec["connections"]))))  # type: ignore[call-overload]
    return {
        "requests": sum(statuses.values()),
        "seconds": time.perf_counter() - started,
        "latencies": latencies,
        "statuses": statuses,
        "errors": errors,
        "bodies": bodies,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="one load generator worker (started by generate_load)")
    parser.add_argument("spec")
    parser.add_argument("output", type=Path)
    args = parser.parse_args()
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    spec = json.loads(args.spec)
    print("ready", flush=True)
    if sys.stdin.readline() != "go\n":
        return  # the load was called off
    cpu_started = time.process_time()
    result = asyncio.run(_worker(spec))
    result["cpu_seconds"] = time.process_time() - cpu_started
    args.output.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
