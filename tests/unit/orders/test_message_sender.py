"""The customer-message sender of its own (`python -m orders send-messages`, MESSAGE_SENDER=separate): a command
of the orders entrypoint, an app serving only the operational routes, settings every process checks alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from orders.bootstrap import create_sender_app
from orders.config import OrdersSettings


def test_the_orders_entrypoint_takes_the_send_messages_command() -> None:
    done = subprocess.run([sys.executable, "-m", "orders", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "send-messages" in done.stdout


def test_a_message_sender_is_in_process_by_default_or_separate() -> None:
    assert OrdersSettings().message_sender == "in_process"
    assert OrdersSettings(message_sender="separate").message_sender == "separate"
    with pytest.raises(ValidationError):
        OrdersSettings(message_sender="elsewhere")


def test_an_unknown_channel_is_refused_by_every_process_at_start() -> None:
    assert OrdersSettings(notify_channels="email, webhook").channel_names() == ("email", "webhook")
    assert OrdersSettings(notify_channels="").channel_names() == ()
    with pytest.raises(ValidationError, match="unknown notification channel 'pigeon'"):
        OrdersSettings(notify_channels="email,pigeon")


async def test_the_sender_serves_health_readiness_and_its_metrics_and_no_api(tmp_path: Path) -> None:
    app = create_sender_app(OrdersSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/orders.db"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sender") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        not_started = await client.get("/readyz")
        assert not_started.status_code == 503
        assert not_started.json() == {"ready": False, "checks": {"database": True, "schema": False}}
        assert "customer_messages_backlog" in (await client.get("/metrics")).text
        assert (await client.post("/orders", json={})).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
