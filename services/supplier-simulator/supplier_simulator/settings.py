"""Environment settings of the supplier simulator (prefix ``SIMULATOR_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    """How one simulated supplier behaves; every field can come from ``SIMULATOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SIMULATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    supplier_id: str = "acme"
    secret: str = Field(min_length=1, description="HMAC secret shared with the gateway")
    callback_url: str | None = Field(
        default=None,
        description=(
            "Where signed acknowledgements / shipment notices are POSTed. May contain "
            "{supplier_id} and {kind} (acknowledgement | shipment). None: polling only."
        ),
    )
    auto_ack: bool = True
    auto_ship_after_seconds: float = Field(default=1.0, description="negative: never auto ship")
    state_file: Path | None = None
    callback_max_attempts: int = Field(default=5, ge=1)
    callback_backoff_seconds: float = Field(default=0.5, ge=0)
    callback_backoff_max_seconds: float = Field(default=10.0, ge=0)
    callback_timeout_seconds: float = Field(default=5.0, gt=0)
    log_level: str = "info"
    # As the services: traces over OTLP/HTTP when the standard variable names a collector (the supplier's side
    # of the trace); empty: off.
    otel_exporter_otlp_endpoint: str = Field(default="", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")

    # EDI X12 mode: POST /edi takes 850s; 997/855/856 go as signed interchanges to callback_url
    protocol: Literal["http", "x12"] = "http"
    x12_isa_qualifier: str = Field(default="ZZ", min_length=2, max_length=2, description="our ISA05")
    x12_isa_id: str = Field(default="SIMSUPPLIER", min_length=1, max_length=15, description="our ISA06")
    x12_gs_id: str = Field(default="SIMSUPPLIER", min_length=2, max_length=15, description="our GS02")
    partner_isa_qualifier: str = Field(default="ZZ", min_length=2, max_length=2, description="the gateway's ISA05")
    partner_isa_id: str = Field(default="DROPSHIPBUYER", min_length=1, max_length=15, description="its ISA06")
    partner_gs_id: str = Field(default="DROPSHIPBUYER", min_length=2, max_length=15, description="its GS02")
    x12_send_997: bool = Field(default=True, description="also POST our 997 to callback_url (not only answer it)")
