"""Helpers shared by the benchmark scripts (bench_pipeline.py, bench_aggregator.py, bench_gateway.py):
percentiles, a ceiling measured in rounds, the steady-state end-to-end rate, process memory, the CPU of every
process involved and the machine's busy share, the machine's load, a throw-away PostgreSQL database, a py-spy
profile summary, and the deletion of what a run declared on the broker.

Not a benchmark itself; nothing here runs on import.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import psutil

from dropship_shared.broker_cluster import connect_to_cluster, parse_broker_addresses

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


@dataclass(frozen=True)
class Ceiling:
    """A ceiling measured in several rounds after a warm-up round that is not counted. What the machine can reach
    is the best round; the spread ((best - worst) / best) says how much it moved meanwhile (others' load)."""

    rates: tuple[float, ...]
    unit: str

    @property
    def best(self) -> float:
        return max(self.rates)

    @property
    def spread(self) -> float:
        return (self.best - min(self.rates)) / self.best if self.best else 0.0

    def describe(self) -> str:
        rounds = " / ".join(f"{rate:,.0f}" for rate in self.rates)
        return (
            f"best {self.best:,.0f} {self.unit} (median {statistics.median(self.rates):,.0f}; "
            f"rounds {rounds}; spread {100 * self.spread:.0f} %)"
        )


@dataclass(frozen=True)
class Throughput:
    lines: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.lines / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SteadyState:
    """Lines per second while intake ran: each supplier's from its first PO to its last one before the last order,
    added up over the suppliers."""

    released: float  # lines released to POs per second
    taken: float  # lines placed per second over the same windows: what intake offered meanwhile
    lines: int  # lines counted in `released`
    seconds: float  # the suppliers' windows, on average

    @property
    def sustained(self) -> float:
        """The lower of the two: over a window of a few seconds releases outpace intake when the pipeline catches
        up a backlog (a first PO released late, the next ones on time), which it could not keep up for longer."""
        return min(self.released, self.taken)


@dataclass(frozen=True)
class EndToEnd:
    first_to_last: Throughput  # every released line / (first order placed -> last line released)
    steady: SteadyState | None  # None: a supplier had fewer than two POs released while intake ran


def end_to_end(placed: Mapping[str, Sequence[float]], released: Mapping[str, Sequence[float]]) -> EndToEnd:
    """The end-to-end figures from when each backorder line's order was placed and when each of those lines that
    reached a PO was released, by supplier (seconds on one clock; a PO's lines share its moment).

    first→last (every released line over first order placed → last line released) spans the fill at the start
    (no PO before its supplier's minimum is reached) and the drain at the end (the last partial batch of each
    supplier waits up to its max wait after intake stopped), so it understates what the pipeline sustains.

    The steady state takes, for each supplier, the window from its first PO to its last PO released before the
    last order was placed, counts the lines released in it after the first PO and the lines placed in it, divides
    both by the window's length and adds the suppliers' rates up. A supplier's lines are released in bursts, one PO
    at a time; counted from one PO to another, each PO's lines were gathered within the window, so where a window
    cuts a burst does not sway the figure, and the fill (the first PO) and the drain (after intake stopped) are
    left out. Lines released after intake stopped do not count, so a pipeline that falls behind shows its own
    rate, below the rate lines were taken at over the same windows. The sustained rate is the lower of the two.
    """
    every_placed = [moment for lines in placed.values() for moment in lines]
    every_released = [moment for lines in released.values() for moment in lines]
    if not every_placed or not every_released:
        return EndToEnd(Throughput(len(every_released), 0.0), None)
    first_to_last = Throughput(len(every_released), max(every_released) - min(every_placed))
    end = max(every_placed)
    released_rate = taken_rate = windows = 0.0
    lines = 0
    for supplier in placed.keys() | released.keys():
        during = sorted(moment for moment in released.get(supplier, ()) if moment <= end)
        if not during or during[-1] == during[0]:
            return EndToEnd(first_to_last, None)
        first, last = during[0], during[-1]
        counted = sum(1 for moment in during if moment > first)
        released_rate += counted / (last - first)
        taken_rate += sum(1 for moment in placed.get(supplier, ()) if first < moment <= last) / (last - first)
        windows += last - first
        lines += counted
    suppliers = len(placed.keys() | released.keys())
    return EndToEnd(first_to_last, SteadyState(released_rate, taken_rate, lines, windows / suppliers))


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (default: this one) in MiB."""
    return float(psutil.Process(pid or os.getpid()).memory_info().rss) / 2**20


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def machine_line() -> str:
    return f"machine: {load_average()}; python {sys.version.split()[0]}"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, busy + idle) CPU seconds of the whole machine since boot, all CPUs added up, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    busy = user + nice + system + irq + softirq + steal
    return busy / CLOCK_TICKS, (busy + idle + iowait) / CLOCK_TICKS


ProcessFinder = Callable[[], Mapping[int, str]]  # pid -> the label its CPU is counted under


@dataclass(frozen=True)
class CpuReport:
    """The CPU time each label's processes used over a window, and the machine's busy CPU over it."""

    seconds: float
    used: Mapping[str, float]
    machine_busy: float
    cpus: int

    def with_(self, extra: Mapping[str, float]) -> CpuReport:
        """The same window with figures measured elsewhere (a load generator's workers report their own)."""
        return CpuReport(self.seconds, {**self.used, **extra}, self.machine_busy, self.cpus)

    @staticmethod
    def added_up(reports: Sequence[CpuReport]) -> CpuReport:
        """Several windows (the rounds of a ceiling) as one."""
        used: dict[str, float] = {}
        for report in reports:
            for label, seconds in report.used.items():
                used[label] = used.get(label, 0.0) + seconds
        return CpuReport(
            sum(report.seconds for report in reports),
            used,
            sum(report.machine_busy for report in reports),
            reports[0].cpus,
        )

    def lines(self, work: int = 0, unit: str = "line") -> list[str]:
        """One row per label (CPU seconds, share of one core, and per unit of work when given), then the machine."""
        if self.seconds <= 0:
            return ["  (no window)"]
        rows = []
        for label, used in sorted(self.used.items(), key=lambda item: -item[1]):
            per_unit = f"  {1000 * used / work:7.2f} ms per {unit}" if work else ""
            rows.append(f"  {label:<52} {used:7.2f} s CPU {100 * used / self.seconds:5.0f} % of a core{per_unit}")
        ours = sum(self.used.values())
        busy = self.machine_busy / (self.seconds * self.cpus)
        rows.append(
            f"  machine over these {self.seconds:.1f} s: busy {self.machine_busy / self.seconds:.2f} of {self.cpus} "
            f"CPUs ({100 * busy:.0f} % busy, {100 * max(0.0, 1 - busy):.0f} % idle); "
            f"the processes above {ours / self.seconds:.2f} CPUs, the rest (other work on the machine, the kernel) "
            f"{(self.machine_busy - ours) / self.seconds:.2f}"
        )
        return rows


class CpuAccount:
    """The CPU time (user + system) of every process a finder names, over the window of a `with` block, and the
    machine's busy CPU from /proc/stat over the same window. The finder is asked again every `interval` seconds in
    a thread: a process that appears in the window counts from its start, one that ends in it up to its last
    sample (a PostgreSQL backend closed by its pool, say)."""

    def __init__(self, find: ProcessFinder, interval: float = 0.5) -> None:
        self.find = find
        self.interval = interval
        self.report: CpuReport | None = None
        self._seen: dict[int, tuple[str, float, float]] = {}  # pid -> (label, CPU at the start, CPU last seen)
        self._processes: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuAccount:
        self._started = time.monotonic()
        self._started_at = time.time()
        self._machine_before = machine_cpu_seconds()[0]
        self._sample(first=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample(first=False)
        seconds = time.monotonic() - self._started
        used: dict[str, float] = {}
        for label, before, last in self._seen.values():
            used[label] = used.get(label, 0.0) + last - before
        busy = machine_cpu_seconds()[0] - self._machine_before
        self.report = CpuReport(seconds, used, busy, os.cpu_count() or 1)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(first=False)

    def _sample(self, *, first: bool) -> None:
        for pid, label in self.find().items():
            with contextlib.suppress(psutil.Error):
                process = self._processes.get(pid) or self._processes.setdefault(pid, psutil.Process(pid))
                times = process.cpu_times()
                now = times.user + times.system
                if pid in self._seen:
                    self._seen[pid] = (*self._seen[pid][:2], now)
                else:
                    born_in_window = not first and process.create_time() >= self._started_at - 0.1
                    self._seen[pid] = (label, 0.0 if born_in_window else now, now)


def broker_processes() -> dict[int, str]:
    """The local RabbitMQ node (it serves everyone on the machine)."""
    return {
        process.pid: "RabbitMQ (beam.smp; shared, others' traffic too)"
        for process in psutil.process_iter(["name"])
        if process.info["name"] == "beam.smp"
    }


def database_processes(databases: Sequence[str]) -> dict[int, str]:
    """The backends connected to `databases` and the PostgreSQL server's own processes (found by their process
    titles; the server's processes serve everyone on the machine)."""
    found = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        title = " ".join(process.info["cmdline"] or ())
        if process.info["name"] != "postgres" and not title.startswith("postgres:"):
            continue
        if any(f" {database} " in f"{title} " for database in databases):
            found[process.pid] = "PostgreSQL backends of this run"
        elif "(" not in title and "[local]" not in title:  # not a connection: the server's own processes
            found[process.pid] = "PostgreSQL server processes (shared)"
    return found


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


async def databases_named(server_url: str, prefix: str) -> list[str]:
    """The server's databases whose names start with `prefix` (what a run left behind, when it dropped them)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(server_url)
    try:
        async with engine.connect() as connection:
            found = await connection.execute(
                text("SELECT datname FROM pg_database WHERE starts_with(datname, :prefix)"), {"prefix": prefix}
            )
            return sorted(found.scalars())
    finally:
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

    def stop(self) -> bool:
        """End the recording now (py-spy writes what it sampled on SIGINT) rather than at its duration."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.wait()

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


def declared_queues(queues: Sequence[str]) -> Iterator[str]:
    """Every queue a run's services may declare: each queue, its DLQ and its partitions."""
    for name in queues:
        yield from (name, f"{name}.dlq", *(f"{name}.p{number}" for number in range(MAX_PARTITIONS)))


def declared_exchanges(exchange: str, queues: Sequence[str]) -> Iterator[str]:
    yield from (f"{name}.partitions" for name in queues)
    yield from (exchange, f"{exchange}.dlx")


async def delete_topology(amqp_url: str, exchange: str, queues: list[str]) -> None:
    """Remove what a run declared on the shared broker: its queues, their DLQs and partitions (deleting one that
    does not exist is no error), its exchanges. Left behind, each quorum queue keeps file handles of the broker's."""
    connection = await connect_to_cluster(amqp_url)
    try:
        channel = await connection.channel()
        for queue in declared_queues(queues):
            await channel.queue_delete(queue)
        for name in declared_exchanges(exchange, queues):
            await channel.exchange_delete(name)
    finally:
        await connection.close()


async def left_on_broker(amqp_url: str, exchange: str, queues: Sequence[str]) -> list[str]:
    """What of a run's queues and exchanges the broker still has (a passive declare of each on a channel of its
    own: the broker closes the channel when the name is not there)."""
    left = []
    connection = await aio_pika.connect(parse_broker_addresses(amqp_url)[0])
    try:
        for kind, names in (("queue", declared_queues(queues)), ("exchange", declared_exchanges(exchange, queues))):
            for name in names:
                channel = await connection.channel()
                try:
                    if kind == "queue":
                        await channel.declare_queue(name, passive=True)
                    else:
                        await channel.declare_exchange(name, passive=True)
                    left.append(f"{kind} {name}")
                except aio_pika.exceptions.ChannelNotFoundEntity:  # as wanted
                    continue
                await channel.close()
    finally:
        await connection.close()
    return left
