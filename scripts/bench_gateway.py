"""Supplier-gateway benchmark (a script that prints figures, not a timed test).

Printed:
- 850s generated per second: build_850_document (build the set, envelope, serialise) for a
  `--po-lines`-line purchase order with a ship-to per line (drop-ship), one interchange each;
- 856s parsed per second: one `--asn-lines`-line ASN (several POs, cartons, items) built with
  build_856 and serialised once, then read_interchanges + validate_interchange + parse_856
  repeatedly;
- POs placed per second against the supplier double (the simulator run as its own process,
  `python -m supplier_simulator`, served by uvicorn over real HTTP, auto-ship off), through
  HttpSupplierClient.place_purchase_order with `--concurrency` calls in flight, each PO of
  `--placement-lines` lines: throughput, latency p50/p99, the CPU each side used;
- resident memory of this process and of the simulator, and the machine's load average.

    .venv/bin/python scripts/bench_gateway.py
    options: --seconds 5 (per codec figure) --po-lines 20 --asn-lines 500
             --pos 3000 --concurrency 16 --placement-lines 5 --profile (py-spy the client)

The client's per-supplier rate limit (10 requests/s by default) is switched off here: the figure
is what the client and the double can do, not the throttle.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import psutil
from bench_support import Profile, latency_line, load_average, machine_line, rss_mb

from devstack import free_port
from dropship_x12 import (
    INBOUND_SETS,
    Carrier,
    Package,
    Partners,
    PurchaseOrder850,
    PurchaseOrderLine850,
    ShipNotice,
    ShippedItem,
    ShipTo,
    build_850_document,
    build_856,
    envelope,
    parse_850,
    parse_856,
    read_interchanges,
    serialize_interchange,
    validate_interchange,
)
from supplier_gateway.adapters.http_supplier import HttpSupplierClient, HttpSupplierConfig, SupplierLimits

PARTNERS = Partners("ZZ", "DROPSHIPCO", "ZZ", "ACMESUPPLY")
SHIP_TO = {
    "name": "Jane Customer",
    "address_lines": ["12 Elm Street", "Apt 4"],
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62704",
    "country": "US",
}


def timed_loop(work: Callable[[int], object], seconds: float) -> tuple[int, float, list[float], float]:
    """Call work(i) for about `seconds`; (calls, elapsed, per-call seconds, CPU ms per call)."""
    calls, durations = 0, []
    started, cpu = time.perf_counter(), time.process_time()
    while (now := time.perf_counter()) - started < seconds:
        work(calls)
        durations.append(time.perf_counter() - now)
        calls += 1
    return calls, time.perf_counter() - started, durations, (time.process_time() - cpu) * 1000 / calls


def purchase_order_850(lines: int) -> PurchaseOrder850:
    return PurchaseOrder850(
        po_number="PO00012345",
        po_date=date(2025, 1, 15),
        currency="USD",
        buyer_id="DROPSHIPCO",
        buyer_name="Dropship Co",
        lines=tuple(
            PurchaseOrderLine850(
                line_no=n,
                quantity=1 + n % 4,
                unit_price=Decimal("61.50"),
                buyer_part_number=f"CHAIR-OAK-{n}",
                vendor_part_number=f"AC-CH-{100 + n}",
                ship_to=ShipTo(
                    name=f"Customer {n}",
                    address_lines=(f"{n} Main Street",),
                    city="Springfield",
                    region="IL",
                    postal_code="62704",
                    country="US",
                    phone="2175550100",
                ),
                customer_ref=f"ORD-{n:06d}",
                description="Oak dining chair",
            )
            for n in range(1, lines + 1)
        ),
    )


def bench_850(lines: int, seconds: float) -> None:
    po = purchase_order_850(lines)
    prepared_at = datetime(2025, 1, 15, 12, 30, tzinfo=UTC)

    def one(i: int) -> str:
        number = i % 999_999_999 + 1
        return build_850_document(
            po,
            partners=PARTNERS,
            interchange_control_number=number,
            group_control_number=number,
            set_control_number=number % 9999 + 1,
            prepared_at=prepared_at,
        )

    sample = one(0)
    read_back = parse_850(read_interchanges(sample)[0].groups[0].transactions[0])
    assert read_back.po_number == po.po_number and len(read_back.lines) == lines, "850 does not read back"
    calls, elapsed, durations, cpu_ms = timed_loop(one, seconds)
    print(
        f"850 generation ({lines} lines, one ship-to per line, {len(sample)} bytes): {calls / elapsed:.0f} 850s/s "
        f"({calls * lines / elapsed:.0f} PO lines/s); {latency_line('per 850', durations).split(': ', 1)[1]}; "
        f"CPU {cpu_ms:.2f} ms per 850"
    )


def asn_856(lines: int, orders: int = 5, items_per_carton: int = 10) -> str:
    """One 856 with `lines` items: `orders` POs, cartons of `items_per_carton` (SSCC + tracking)."""
    per_order = lines // orders
    notices = []
    for o in range(orders):
        items = [
            ShippedItem(
                line_no=n + 1,
                quantity=Decimal(1 + n % 3),
                product_ids=(("BP", f"CHAIR-OAK-{n}"), ("VP", f"AC-CH-{100 + n}")),
            )
            for n in range(per_order if o < orders - 1 else lines - per_order * (orders - 1))
        ]
        packages = tuple(
            Package(
                items=tuple(items[first : first + items_per_carton]),
                carton_ids=(f"00{o:04d}{first:012d}",),
                tracking_number=f"1Z999AA1{o:02d}{first:08d}",
            )
            for first in range(0, len(items), items_per_carton)
        )
        notices.append(
            ShipNotice(
                shipment_id="SHIP-000777",
                po_number=f"PO{o + 1:08d}",
                shipped_date=date(2025, 1, 20),
                carrier=Carrier(scac="UPSN", name="UPS", service_level="GR"),
                tracking_number="1Z999AA10123456784",
                packages=packages,
            )
        )
    created_at = datetime(2025, 1, 20, 16, 5, tzinfo=UTC)
    interchange = envelope(
        [build_856(notices, 1, created_at)],
        partners=PARTNERS.reply(),
        functional_id="SH",
        interchange_control_number=4242,
        group_control_number=4242,
        prepared_at=created_at,
    )
    return serialize_interchange(interchange)


def bench_856(lines: int, seconds: float) -> None:
    text = asn_856(lines)

    def one(_: int) -> int:
        items = 0
        for interchange in read_interchanges(text):
            report = validate_interchange(interchange, INBOUND_SETS)
            if not report.accepted:
                raise AssertionError(f"the ASN does not validate: {report.all_issues()[:3]}")
            for group in interchange.groups:
                for transaction in group.transactions:
                    items += sum(len(notice.items) for notice in parse_856(transaction))
        return items

    assert one(0) == lines, "the ASN does not parse back to its lines"
    segments = text.count("~")
    calls, elapsed, durations, cpu_ms = timed_loop(one, seconds)
    print(
        f"856 parsing ({lines} item lines, {segments} segments, {len(text)} bytes; read + validate + parse): "
        f"{calls / elapsed:.1f} 856s/s ({calls * lines / elapsed:.0f} item lines/s); "
        f"{latency_line('per 856', durations).split(': ', 1)[1]}; CPU {cpu_ms:.1f} ms per 856"
    )


def start_simulator(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "SIMULATOR_PORT": str(port),
        "SIMULATOR_SUPPLIER_ID": "bench",
        "SIMULATOR_SECRET": "bench-secret",
        "SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "-1",
        "SIMULATOR_LOG_LEVEL": "warning",
    }
    log = (workdir / "supplier-simulator.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "supplier_simulator"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"simulator exited with {process.returncode}; see {workdir / 'supplier-simulator.log'}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise TimeoutError("simulator not ready after 30 s")


def placement_body(run: str, n: int, lines: int) -> dict[str, object]:
    return {
        "po_number": f"PO-{run}-{n:07d}",
        "currency": "USD",
        "lines": [
            {
                "line_no": line_no,
                "sku": f"AC-CH-{100 + line_no}",
                "qty": 1 + line_no % 3,
                "unit_cost": "61.50",
                "ship_to": SHIP_TO,
                "customer_ref": f"ORD-{n:07d}-{line_no}",
            }
            for line_no in range(1, lines + 1)
        ],
    }


async def bench_placement(
    url: str, simulator_pid: int, count: int, concurrency: int, lines: int, profile: Path | None
) -> None:
    run = uuid.uuid4().hex[:6]
    config = HttpSupplierConfig(limits=SupplierLimits(requests_per_second=None))
    latencies: list[float] = []
    replays = 0
    semaphore = asyncio.Semaphore(concurrency)
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency))
    async with http, HttpSupplierClient(http, config=config) as client:

        async def place(n: int, record: bool) -> None:
            nonlocal replays
            async with semaphore:
                started = time.perf_counter()
                result = await client.place_purchase_order(url, placement_body(run, n, lines), supplier_id="bench")
                if record:
                    latencies.append(time.perf_counter() - started)
                    replays += result.replayed

        await asyncio.gather(*(place(n, False) for n in range(min(200, count))))  # warm-up: connections, imports
        simulator, me = psutil.Process(simulator_pid), psutil.Process()
        cpu_before = (sum(simulator.cpu_times()[:2]), sum(me.cpu_times()[:2]))
        profiler = Profile(os.getpid(), 10, profile) if profile else None
        started = time.perf_counter()
        await asyncio.gather(*(place(n, True) for n in range(200, 200 + count)))
        elapsed = time.perf_counter() - started
        cpu_after = (sum(simulator.cpu_times()[:2]), sum(me.cpu_times()[:2]))
    if replays:
        raise AssertionError(f"{replays} placements were answered as replays: PO numbers collided")
    print(
        f"PO placement over HTTP ({count} POs of {lines} lines, {concurrency} in flight): "
        f"{count / elapsed:.0f} POs/s; {latency_line('per PO', latencies).split(': ', 1)[1]}"
    )
    simulator_cpu, client_cpu = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
    print(
        f"  CPU while placing: simulator {simulator_cpu / elapsed:.0%} of a core ({simulator_cpu * 1000 / count:.1f} ms"
        f" per PO), client (this process) {client_cpu / elapsed:.0%} ({client_cpu * 1000 / count:.1f} ms per PO); "
        f"simulator RSS {rss_mb(simulator_pid):.0f} MB"
    )
    if profiler is not None and profiler.wait():
        print("client profile during placement: " + profiler.summary(12))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each codec measurement")
    parser.add_argument("--po-lines", type=int, default=20)
    parser.add_argument("--asn-lines", type=int, default=500)
    parser.add_argument("--pos", type=int, default=3000, help="POs placed in the measured placement run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--placement-lines", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="py-spy this process for 10 s while placing")
    args = parser.parse_args()
    print(machine_line(), flush=True)
    bench_850(args.po_lines, args.seconds)
    bench_856(args.asn_lines, args.seconds)
    print(f"this process after the codec runs: RSS {rss_mb():.0f} MB; {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="dropship-bench-gateway-") as workdir:
        process, url = start_simulator(Path(workdir))
        try:
            profile = Path(workdir) / "client.pyspy.txt" if args.profile else None
            await bench_placement(url, process.pid, args.pos, args.concurrency, args.placement_lines, profile)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    print(f"this process at the end: RSS {rss_mb():.0f} MB; {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
