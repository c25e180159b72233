"""Supplier gateway settings (environment variables, see the README's configuration table)."""

from __future__ import annotations

import uuid

from pydantic import Field

from dropship_shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    service_name: str = "supplier-gateway"
    http_port: int = 8003
    # this replica's name on PO leases (unique per process unless set)
    instance_id: str = Field(default_factory=lambda: f"gateway-{uuid.uuid4().hex[:8]}")

    # dispatcher: how often due POs are looked for, how long a replica holds one, retries of a down supplier
    dispatch_interval_seconds: float = 1.0
    # a PO's lease, renewed every third of it while it is being sent: a dead replica's POs wait this long; also
    # the (unrenewed) lease of a line cancellation or an X12 acknowledgement being sent
    dispatch_lease_seconds: float = 30.0
    dispatch_batch_size: int = 20
    dispatch_concurrency_per_supplier: int = 4
    dispatch_retry_base_seconds: float = 2.0
    dispatch_retry_max_seconds: float = 300.0
    dispatch_give_up_attempts: int = 20  # sending attempts before a PO of a down supplier fails
    dispatch_give_up_seconds: float = 86400.0  # or age of the PO

    # calls to suppliers (HTTP/JSON and X12 transport)
    supplier_timeout_seconds: float = 10.0
    supplier_max_attempts: int = 5
    supplier_backoff_base_seconds: float = 0.5
    supplier_backoff_max_seconds: float = 30.0
    supplier_retry_after_cap_seconds: float = 60.0
    circuit_failure_threshold: int = 5
    circuit_reset_seconds: float = 30.0

    # the key(s) sealing suppliers' signing secrets in the database: comma-separated Fernet keys, the current one
    # first (older ones still open what they sealed). Required: without it the gateway does not start.
    supplier_secrets_key: str = ""

    # inbound supplier messages: accepted clock skew of signed requests
    callback_tolerance_seconds: int = 300
    # inbound X12: the largest POST accepted (read in a worker thread, so the event loop keeps serving)
    edi_max_body_bytes: int = 10_000_000
    # our 997s/TA1s to partners with an acknowledgement endpoint: how often waiting ones are sent, and how
    # long after a failed send one is tried again
    x12_acknowledgement_interval_seconds: float = 2.0
    x12_acknowledgement_retry_seconds: float = 30.0

    # polling-mode suppliers and the cancellation loop
    polling_interval_seconds: float = 30.0
    cancellation_interval_seconds: float = 2.0

    # late shipments: a line past its acknowledged ship date by this many days without a notice
    late_shipment_grace_days: int = 2
    late_shipment_check_seconds: float = 3600.0

    # our own X12 identity (ISA05/06 and GS02 of what we send)
    x12_isa_qualifier: str = "ZZ"
    x12_isa_id: str = "DROPSHIPBUYER"
    x12_gs_id: str = "DROPSHIPBUYER"
    x12_buyer_name: str = "Dropship Merchant"
    x12_usage_indicator: str = "P"
