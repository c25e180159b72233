"""scripts/mail_sink.py, the benchmarks' mailbox, run as the benchmarks run it (its own process, on uvloop when
installed): orders' own email channel delivers to it over real SMTP and every message is accepted once, whatever
its body (a line that is a lone dot, dot-stuffed lines, a long body arriving in several reads)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from dropship_shared.events import utcnow
from orders.adapters.channels import EmailChannel
from orders.service_layer.ports import OutgoingMessage
from support.servers import free_port

SINK = Path(__file__).resolve().parents[3] / "scripts" / "mail_sink.py"
BODIES = [
    "Hello Ann,\n\nyour table is on its way.\n",
    ".\n..\n. a line starting with a dot\n.",  # dot-stuffed by the client, never the end of the data
    "x" * 200_000,  # several reads, and quoted-printable lines
    "",
]


async def test_every_message_is_accepted_once() -> None:
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(SINK), "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        await _listening(port)
        channel = EmailChannel("127.0.0.1", port, "orders@shop.example.com", connections=2)
        messages = [
            OutgoingMessage(
                n, f"o{n}:placed", "backorder_placed", f"o{n}", None, "ann@example.com", "Hi", body, {}, utcnow()
            )
            for n, body in enumerate(BODIES * 3)
        ]
        try:
            outcomes = await channel.send_many(messages)
        finally:
            await channel.close()
    finally:
        sink.send_signal(signal.SIGTERM)
        printed, _ = sink.communicate(timeout=30)

    assert [type(outcome).__name__ for outcome in outcomes] == ["datetime"] * len(messages)  # none failed
    assert f"mail sink: {len(messages)} messages accepted" in printed


async def _listening(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise AssertionError(f"the mail sink never listened on {port}")
