"""Aggregator service settings (environment variables, see the README's configuration table)."""

from __future__ import annotations

from dropship_shared.events import Address
from dropship_shared.settings import ServiceSettings


class AggregatorSettings(ServiceSettings):
    service_name: str = "aggregator"
    http_port: int = 8002
    # How often the deadline/cut-off scheduler looks for batches whose next check is due.
    scheduler_interval_seconds: float = 1.0
    # The policy of a supplier nobody configured yet: release every backorder at once
    # (no minimum), so an unconfigured supplier never strands a customer.
    default_max_wait_seconds: int = 24 * 3600
    # The other services' public APIs, for the operations dashboard (empty: that part is not shown).
    orders_url: str = ""
    gateway_url: str = ""
    # The dashboard's own credential for those APIs (a role granting operations): a fixed token, or the
    # OAuth2 client-credentials grant against the identity provider's token endpoint.
    peer_token: str = ""
    peer_token_url: str = ""
    peer_client_id: str = ""
    peer_client_secret: str = ""
    peer_scope: str = ""
    # Where surplus case-pack units go (the merchant's own warehouse), as a JSON address.
    merchant_warehouse: Address = Address(
        name="Merchant warehouse",
        address_lines=["1 Warehouse Way"],
        city="Springfield",
        region="IL",
        postal_code="62701",
        country="US",
    )
