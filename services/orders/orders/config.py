"""Orders service settings (environment variables, see the README's configuration table)."""

from __future__ import annotations

import socket
from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator

from dropship_shared.settings import ServiceSettings
from orders.domain.promise import PromiseRules
from orders.domain.routing import RoutingMode, RoutingPolicy
from orders.service_layer.unit_of_work import RoutingSetup

KNOWN_CHANNELS = ("email", "webhook")


class OrdersSettings(ServiceSettings):
    service_name: str = "orders"
    http_port: int = 8001

    # Promise dates and consolation
    transit_days: int = 3
    default_batch_wait_days: int = 3
    quick_ship_days: int = 3
    consolation_threshold_days: int = 7
    consolation_percent: Decimal = Decimal("10")
    slip_tolerance_days: int = 1
    # Receiving surplus into the warehouse: after its shipment notice plus this delay; looked at this often.
    receiving_delay_seconds: float = 2 * 86400
    receiving_interval_seconds: float = 60

    # Routing a backorder among a product's offers (issue 12): the earliest delivery within a cost tolerance
    # over the cheapest offer, or the cheapest delivering within the promise; a day's wait priced (optional);
    # a line its supplier refuses moves on at once ("automatic") or waits for an operator ("operator").
    routing_mode: RoutingMode = "earliest_within_tolerance"
    routing_tolerance_percent: Decimal = Field(default=Decimal("10"), ge=0, le=1000)
    routing_promise_days: int = Field(default=14, ge=0, le=365)
    routing_delay_cost_per_line_day: Decimal | None = Field(default=None, ge=0)
    reroute: Literal["automatic", "operator"] = "automatic"

    @field_validator("routing_delay_cost_per_line_day", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        """`ROUTING_DELAY_COST_PER_LINE_DAY=` (empty, as in an env file) means no delay cost, as unset does."""
        return None if isinstance(value, str) and not value.strip() else value

    # Customer messages: comma-separated channels among "email" and "webhook" (empty: none)
    notify_channels: str = "email"
    shop_name: str = "Drop-ship Demo Shop"
    tracking_url_template: str = "https://track.example.com/{carrier}/{tracking_number}"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "orders@shop.example.com"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    notify_webhook_url: str = ""
    notify_webhook_secret: str = ""
    notify_poll_seconds: float = 1.0
    # Who sends the customer messages: this process ("in_process": it stores and sends them), or a process of
    # their own (`python -m orders send-messages`; "separate": this one only stores them, and takes orders
    # without sharing its interpreter with the sending). The sender learns of new messages by PostgreSQL's
    # LISTEN/NOTIFY, or on SQLite by looking every MESSAGE_SENDER_POLL_SECONDS while it has nothing to send.
    message_sender: Literal["in_process", "separate"] = "in_process"
    message_sender_poll_seconds: float = Field(default=0.05, gt=0)
    notify_first_retry_seconds: float = 2.0
    # Messages sent at once per channel: open SMTP connections, webhook requests in flight.
    notify_concurrency: int = 8
    # This process's name on the messages it is sending; the same after a restart, so that the restarted
    # process sends again at once what it was sending when it stopped. Default: host and HTTP port, the replica's
    # own (HTTP_REPLICA_PORT) when it has one, since processes sharing HTTP_PORT (HTTP_REUSE_PORT) need distinct names.
    instance_id: str = ""

    @field_validator("notify_channels")
    @classmethod
    def _known_channels(cls, value: str) -> str:
        """Every process refuses an unknown channel at start, the one storing messages as the one sending them."""
        unknown = [name.strip() for name in value.split(",") if name.strip() not in {"", *KNOWN_CHANNELS}]
        if unknown:
            raise ValueError(f"unknown notification channel {unknown[0]!r} (known: {', '.join(KNOWN_CHANNELS)})")
        return value

    def message_claimant(self) -> str:
        port = self.http_replica_port or self.http_port
        return self.instance_id or f"{self.service_name}@{socket.gethostname()}:{port}"

    def promise_rules(self) -> PromiseRules:
        return PromiseRules(
            transit_days=self.transit_days,
            default_batch_wait_days=self.default_batch_wait_days,
            quick_ship_days=self.quick_ship_days,
            consolation_threshold_days=self.consolation_threshold_days,
            consolation_percent=self.consolation_percent,
            slip_tolerance_days=self.slip_tolerance_days,
            receiving_delay=timedelta(seconds=self.receiving_delay_seconds),
        )

    def routing_setup(self) -> RoutingSetup:
        policy = RoutingPolicy(
            self.routing_mode,
            self.routing_tolerance_percent,
            self.routing_promise_days,
            self.routing_delay_cost_per_line_day,
        )
        return RoutingSetup(policy, automatic=self.reroute == "automatic")

    def channel_names(self) -> tuple[str, ...]:
        return tuple(name.strip() for name in self.notify_channels.split(",") if name.strip())
