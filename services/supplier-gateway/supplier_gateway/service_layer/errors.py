"""Why a command or a supplier message was refused (the entrypoints map these to HTTP answers)."""

from __future__ import annotations


class GatewayError(Exception):
    pass


class SupplierNotFound(GatewayError):
    pass


class PurchaseOrderNotFound(GatewayError):
    pass


class ReplayedEvent(GatewayError):
    """A supplier event id we applied before arrived again: a replay, refused."""


class ExceptionNotFound(GatewayError):
    pass


class NothingToReplay(GatewayError):
    """A replay was asked of an exception that is no dead letter, or whose message left its dead-letter queue."""
