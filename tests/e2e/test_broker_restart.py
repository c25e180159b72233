"""The broker restarts mid-flow: the services reconnect by themselves, nothing accepted is lost and
nothing is applied twice (every backorder line still ends in exactly one purchase order)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import httpx
import pytest

from e2e.conftest import SystemFactory
from e2e.test_aggregator_crash import SUPPLIERS, place_orders
from support.polling import until_stalled
from support.released import ReleasedLines
from support.tokens import bearer

pytestmark = pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl to restart the broker")


def restart_broker() -> None:
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True, timeout=120)
    time.sleep(1)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True, timeout=120)
    subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True, timeout=120)


async def test_services_survive_a_broker_restart(make_system: SystemFactory) -> None:
    system = make_system(extra_env={"aggregator": {"SCHEDULER_INTERVAL_SECONDS": "0.2"}})
    system.start("orders", "aggregator")
    with httpx.Client(timeout=10, headers=bearer()) as client:
        for supplier in SUPPLIERS:
            client.put(f"{system.url('aggregator')}/suppliers/{supplier}", json={"name": supplier}).raise_for_status()
            client.put(
                f"{system.url('aggregator')}/suppliers/{supplier}/policy",
                json={"min_units": 5, "max_wait_seconds": 5},
            ).raise_for_status()
        client.put(
            f"{system.url('orders')}/products",
            json=[
                {
                    "sku": f"SKU-{s}",
                    "name": s,
                    "supplier_id": s,
                    "supplier_sku": f"S-{s}",
                    "price": "10",
                    "cost": "4",
                    "on_hand": 0,
                }
                for s in SUPPLIERS
            ],
        ).raise_for_status()

    before = await place_orders(system.url("orders"), 60)
    restart = asyncio.create_task(asyncio.to_thread(restart_broker))
    await asyncio.sleep(1.0)
    during = await place_orders(system.url("orders"), 60)  # accepted while the broker is away
    await restart
    for name in ("orders", "aggregator"):
        system.services[name].wait_ready(timeout=90)
    after = await place_orders(system.url("orders"), 60)

    expected = set(before + during + after)
    released = await until_stalled(ReleasedLines(system.url("aggregator")), lambda seen: len(expected - set(seen)))
    assert set(released) == expected, f"missing: {sorted(expected - set(released))[:10]}"
    assert [line for line, times in released.items() if times > 1] == []
