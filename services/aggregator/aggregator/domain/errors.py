"""Errors the batching domain raises when a rule or an input is broken."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the operation; the service layer maps it to a 4xx."""


class PolicyError(DomainError):
    """A supplier policy value is invalid; `field` names the offending setting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class InvalidLineError(DomainError):
    """A backorder line cannot enter a batch (bad quantity, cost or timestamp)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SupplierMismatchError(DomainError):
    """A policy or line of one supplier was applied to another supplier's batch."""


class BatchHeldError(DomainError):
    """The supplier is on hold: nothing is released until an operator resumes it."""


class MinimumNotMetError(DomainError):
    """A release by minimum was asked for while the batch does not meet the minimums."""
