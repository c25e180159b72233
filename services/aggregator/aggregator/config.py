"""Aggregator service settings (environment variables, see the README's configuration table)."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from dropship_shared.events import Address
from dropship_shared.settings import ServiceSettings


class AggregatorSettings(ServiceSettings):
    service_name: str = "aggregator"
    http_port: int = 8002
    # How often the deadline/cut-off scheduler looks for batches whose next check is due.
    scheduler_interval_seconds: float = 1.0
    # Backorder events are spread over this many partition queues by supplier, each consumed by one replica at a
    # time (README "Replicas"); at most this many replicas share the work. 0: one plain queue for all.
    supplier_partitions: int = Field(default=8, ge=0, le=256)
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
    # The dashboard's sign-in: the key of its session cookie (any long random string; empty: nobody signs in),
    # the OIDC provider (authorization code + PKCE), and a one-click development sign-in for the local system.
    dashboard_session_key: str = ""
    dashboard_session_hours: float = 8.0
    oidc_authorization_url: str = ""
    oidc_token_url: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scope: str = "openid operations"
    dashboard_dev_sign_in: bool = False
    # The merchant's consolation rule, the same figures orders applies (same variable names, one value for
    # both): the fee rule counts the credits a longer wait would trigger.
    consolation_threshold_days: int = 7
    consolation_percent: Decimal = Decimal("10")
    # Where surplus case-pack units go (the merchant's own warehouse), as a JSON address.
    merchant_warehouse: Address = Address(
        name="Merchant warehouse",
        address_lines=["1 Warehouse Way"],
        city="Springfield",
        region="IL",
        postal_code="62701",
        country="US",
    )
