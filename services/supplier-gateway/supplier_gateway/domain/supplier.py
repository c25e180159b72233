"""A supplier as the gateway knows it: how to reach it, how it reaches us, how hard we may call it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SupplierProtocol(StrEnum):
    HTTP = "http"  # the generic HTTP/JSON supplier API
    X12 = "x12"  # EDI X12 004010 interchanges over HTTP


@dataclass(frozen=True)
class TradingPartner:
    """X12 identities: ISA05/06 (or 07/08) and GS02 (or GS03)."""

    isa_qualifier: str
    isa_id: str
    gs_id: str
    # where our 997s and TA1s are POSTed (signed); None: they are the answer to the partner's POST
    acknowledgement_url: str | None = None


@dataclass(frozen=True)
class Supplier:
    supplier_id: str
    name: str
    protocol: SupplierProtocol
    base_url: str  # HTTP: the supplier API root; X12: where interchanges are POSTed
    signing_secret: str  # HMAC key of what the supplier sends us (callbacks, interchanges)
    polling: bool = False  # the supplier offers no callbacks: we poll its event feed
    requests_per_second: float | None = 10.0
    timeout_seconds: float | None = None  # None: the gateway's default
    x12_partner: TradingPartner | None = None
    active: bool = True
    # when a PO for this supplier stops waiting for it to come back (None: the gateway's defaults)
    give_up_attempts: int | None = None
    give_up_seconds: float | None = None
