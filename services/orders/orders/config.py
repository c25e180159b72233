"""Orders service settings (environment variables, see the README's configuration table)."""

from __future__ import annotations

from dropship_shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    service_name: str = "orders"
    http_port: int = 8001
