"""The aggregator's pure domain: supplier batching policies, pending batches, PO drafts."""

from aggregator.domain.arrival import ArrivalRate
from aggregator.domain.batch import BatchProgress, Decision, PendingBatch
from aggregator.domain.errors import (
    BatchHeldError,
    DomainError,
    InvalidLineError,
    MinimumNotMetError,
    PolicyError,
    SupplierMismatchError,
)
from aggregator.domain.line import PendingLine
from aggregator.domain.policy import Cutoff, PriceBreak, SkuRule, SupplierPolicy
from aggregator.domain.release import PurchaseOrderDraft, PurchaseOrderLine, ReleaseReason

__all__ = [
    "ArrivalRate",
    "BatchHeldError",
    "BatchProgress",
    "Cutoff",
    "Decision",
    "DomainError",
    "InvalidLineError",
    "MinimumNotMetError",
    "PendingBatch",
    "PendingLine",
    "PolicyError",
    "PriceBreak",
    "PurchaseOrderDraft",
    "PurchaseOrderLine",
    "ReleaseReason",
    "SkuRule",
    "SupplierMismatchError",
    "SupplierPolicy",
]
