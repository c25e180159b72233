"""Settings every service reads from its environment (nothing else reads os.environ)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    database_url: str = ""
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchange: str = "dropship"
    # Prefix of this service's queue names: lets test runs and environments share one broker.
    queue_prefix: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Bind HTTP_PORT with SO_REUSEPORT: the processes of a service on one host (scripts/devstack.py --replicas) then
    # listen on the one port, and the kernel spreads new connections over those listening. Off: the port is this
    # process's alone, as usual.
    http_reuse_port: bool = False
    # A second port serving the same API, of this process alone (0: none): with HTTP_REUSE_PORT, the way to reach
    # one replica (its /metrics, /readyz).
    http_replica_port: int = Field(default=0, ge=0)
    log_level: str = "INFO"
    log_json: bool = True
    # A log line for every HTTP request; off, only for those refused or failed (status 400 and up).
    access_log: bool = False
    prefetch: int = 64
    # Deliveries of one message before it is dead-lettered (quorum queue x-delivery-limit).
    delivery_limit: int = 5
    outbox_batch_size: int = 200
    outbox_poll_seconds: float = 0.5
    outbox_linger_seconds: float = 0.01
    # Traces go over OTLP/HTTP when this standard variable names a collector (the exporter reads the other
    # OTEL_EXPORTER_OTLP_* variables itself); empty: tracing is off.
    otel_exporter_otlp_endpoint: str = ""
    # Migrate the database to this code's schema on start (SQLite, one process, development). Off where migrations
    # run once per release on their own (`python -m <service> migrate`, the Kubernetes Job): the service then waits
    # until its database is at its schema, or newer, and never migrates.
    migrate_on_start: bool = True
    # `migrate` also declares the broker topology this service consumes from (exchanges, queues, dead-letter
    # queues, bindings, partitions), so events published before its first replica starts wait in its queues;
    # an unreachable broker fails the command. Off (or AMQP_URL empty): the database only.
    migrate_broker_topology: bool = True
    # PostgreSQL: the connections the requests and event handlers share, and as many more in a burst; the outbox relay,
    # the metrics and (orders) the readers and the customer messages have small pools of their own (docs/sizing.md
    # counts a replica's connections). Lower it to fit many replicas under the server's max_connections.
    database_pool_size: int = Field(default=10, ge=1)

    # Bearer tokens (README "Authentication"): OAuth2 JWTs from this issuer for this audience, verified with the
    # keys of a JWKS URL or with PEM public keys. Neither configured: every protected call is refused.
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_jwks_url: str = ""
    auth_public_keys: str = ""
    auth_algorithms: str = "RS256,ES256"
    # Where the token lists what it may do ("scope", "scp", "roles", "realm_access.roles"), and which of those
    # names grants each role (default: the role's own name).
    auth_roles_claim: str = "scope"
    auth_role_scopes: dict[str, str] = {}
    auth_leeway_seconds: int = 30

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///./var/{self.service_name}.db"

    def queue_name(self, name: str) -> str:
        return f"{self.queue_prefix}{name}"
