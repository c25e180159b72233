"""Helpers shared by the benchmark scripts (bench_aggregator.py, bench_gateway.py): percentiles,
process memory, the machine's load, a throw-away PostgreSQL database and a py-spy profile summary.

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import psutil

from dropship_shared.broker_cluster import connect_to_cluster

ROOT = Path(__file__).resolve().parents[1]
PY_SPY = Path(sys.executable).with_name("py-spy")


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of the values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latency_line(name: str, seconds: list[float]) -> str:
    """'name: n=…, p50 … ms, p90 …, p99 …, max …' from latencies in seconds."""
    ms = [s * 1000 for s in seconds]
    return (
        f"{name}: n={len(ms)}, p50 {percentile(ms, 0.5):.1f} ms, p90 {percentile(ms, 0.9):.1f} ms, "
        f"p99 {percentile(ms, 0.99):.1f} ms, max {max(ms):.1f} ms"
    )


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (default: this one) in MiB."""
    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def machine_line() -> str:
    return f"machine: {load_average()}; python {sys.version.split()[0]}"


def server_url_of(server_url: str, database: str) -> str:
    return server_url.rsplit("/", 1)[0] + f"/{database}"


@contextlib.asynccontextmanager
async def fresh_postgres_database(server_url: str, database: str) -> AsyncIterator[str]:
    """Create an empty database on the server, yield its URL, drop it (forcibly) afterwards."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            await connection.execute(text(f'CREATE DATABASE "{database}"'))
        yield server_url_of(server_url, database)
    finally:
        async with engine.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        await engine.dispose()


class Profile:
    """py-spy sampling another process into a raw (collapsed stacks) file, summarised afterwards."""

    def __init__(self, pid: int, seconds: float, path: Path, rate: int = 100) -> None:
        self.path = path
        self.process: subprocess.Popen[bytes] | None = None
        if not PY_SPY.exists() and shutil.which("py-spy") is None:
            print("py-spy not found: no profile", flush=True)
            return
        self.process = subprocess.Popen(
            [
                str(PY_SPY if PY_SPY.exists() else "py-spy"),
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(max(1, int(seconds))),
                "--rate",
                str(rate),
                "--format",
                "raw",
                "--nonblocking",
                "--output",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait(self, timeout: float = 120) -> bool:
        if self.process is None:
            return False
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.path.exists()

    def summary(self, top: int = 15) -> str:
        """Top functions by own samples and by inclusive samples (percent of all samples)."""
        if not self.path.exists():
            return "(no profile recorded)"
        own: Counter[str] = Counter()
        inclusive: Counter[str] = Counter()
        total = 0
        for raw in self.path.read_text().splitlines():
            stack, _, count_text = raw.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_short(frame) for frame in stack.split(";")]
            total += count
            own[frames[-1]] += count
            for frame in set(frames):
                inclusive[frame] += count
        if not total:
            return "(empty profile)"
        lines = [f"py-spy: {total} samples; own time (leaf frames):"]
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
        lines.append("inclusive time (frame anywhere on the stack):")
        lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top + 10)]
        return "\n".join(lines)


def _short(frame: str) -> str:
    """'func (path/to/module.py:123)' → 'func (module.py)': aggregate by function, not by line."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    filename = where.rsplit(":", 1)[0]
    parts = Path(filename).parts
    short = "/".join(parts[-2:]) if parts else filename
    return f"{name} ({short})"


MAX_PARTITIONS = 64  # more than any SUPPLIER_PARTITIONS a run sets


async def delete_topology(amqp_url: str, exchange: str, queues: list[str]) -> None:
    """Remove what a run declared on the shared broker: its queues, their DLQs and partitions (deleting one that
    does not exist is no error), its exchanges. Left behind, each quorum queue keeps file handles of the broker's."""
    connection = await connect_to_cluster(amqp_url)
    try:
        channel = await connection.channel()
        for name in queues:
            for queue in (name, f"{name}.dlq", *(f"{name}.p{number}" for number in range(MAX_PARTITIONS))):
                await channel.queue_delete(queue)
            await channel.exchange_delete(f"{name}.partitions")
        for name in (exchange, f"{exchange}.dlx"):
            await channel.exchange_delete(name)
    finally:
        await connection.close()
