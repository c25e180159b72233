"""Turning released backorder lines into drop-ship purchase order drafts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Literal

from aggregator.domain.errors import MinimumNotMetError
from aggregator.domain.line import PendingLine
from aggregator.domain.policy import SkuRule, SupplierPolicy

ReleaseReason = Literal["minimum_met", "deadline", "operator", "fee_cheaper_than_waiting"]
RELEASE_REASONS: tuple[ReleaseReason, ...] = ("minimum_met", "deadline", "operator", "fee_cheaper_than_waiting")


@dataclass(frozen=True)
class PurchaseOrderLine:
    """One PO line: a customer's backorder line shipped to the customer, or surplus stock.

    A surplus line (`surplus=True`, `backorder_line_id=None`) is the case-pack rounding
    shipped to the merchant's own warehouse; `details` is then empty.
    """

    backorder_line_id: str | None
    supplier_sku: str
    sku: str
    quantity: int
    unit_cost: Decimal
    surplus: bool = False
    details: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_cost


@dataclass(frozen=True)
class PurchaseOrderDraft:
    """A purchase order ready to be numbered and sent: part `part` of `parts` of one release.

    `below_minimum` is judged on the whole release as if unsplit (see `build_drafts`):
    a split into several POs is a paper split of one order, dictated by the line limit.
    `release_figures` are the numbers behind a release for the fee (see `WaitingCost.as_record`).
    """

    supplier_id: str
    policy_version: int
    release_reason: ReleaseReason
    below_minimum: bool
    created_at: datetime
    lines: tuple[PurchaseOrderLine, ...]
    part: int = 1
    parts: int = 1
    release_figures: Mapping[str, str] | None = None

    @property
    def total_units(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def total_value(self) -> Decimal:
        return sum((line.value for line in self.lines), Decimal(0))

    @property
    def backorder_line_ids(self) -> tuple[str, ...]:
        return tuple(line.backorder_line_id for line in self.lines if line.backorder_line_id is not None)


@dataclass(frozen=True)
class SkuSelection:
    """The lines of one SKU chosen for a release and the surplus units rounding them up."""

    supplier_sku: str
    lines: tuple[PendingLine, ...]
    surplus: int

    @property
    def customer_units(self) -> int:
        return sum(line.quantity for line in self.lines)


def clean_prefix_length(quantities: Iterable[int], case_pack: int) -> int:
    """How many lines, oldest first, form the longest run whose units fill whole case packs."""
    length, units = 0, 0
    for index, quantity in enumerate(quantities, start=1):
        units += quantity
        if units % case_pack == 0:
            length = index
    return length


def select_for_sku(
    supplier_sku: str, lines: Sequence[PendingLine], rule: SkuRule | None, reason: ReleaseReason
) -> SkuSelection | None:
    """Choose which of a SKU's pending lines (oldest first) a release takes; None holds the SKU.

    Release by minimum:
    - case pack with remainder 'wait': the longest run of lines, oldest first, whose
      units are a whole number of case packs (never a partial line, never skipping an
      older line for a younger one, so no customer is overtaken); nothing if no such run;
    - case pack with remainder 'round_up' (or no case pack): every line, plus surplus
      units up to the next multiple of the case pack;
    - then the SKU is held back entirely if the customers' units chosen are below the
      SKU's `min_qty` (surplus never counts toward it).
    Release by deadline, operator or for the fee: every line, rounded up with surplus to the case
    pack whatever the remainder setting, since the supplier sells nothing else.
    """
    if not lines:
        return None
    case_pack = rule.case_pack if rule is not None else 1
    if reason == "minimum_met" and rule is not None and case_pack > 1 and rule.remainder == "wait":
        chosen = tuple(lines[: clean_prefix_length((line.quantity for line in lines), case_pack)])
    else:
        chosen = tuple(lines)
    units = sum(line.quantity for line in chosen)
    if not chosen or (reason == "minimum_met" and rule is not None and units < rule.min_qty):
        return None
    return SkuSelection(supplier_sku, chosen, -units % case_pack)


def _chunks(selection: SkuSelection, case_pack: int, max_lines: int | None) -> list[SkuSelection]:
    """Split one SKU's selection into pieces that each fit a PO and fill whole case packs.

    A piece ends at the latest line, within the PO's line limit, where the units so far
    fill whole case packs; if there is none, it takes one line fewer than the limit and
    gets its own surplus line. So a split may order more surplus than the unsplit SKU.
    """
    lines = selection.lines
    if max_lines is None or len(lines) + (1 if selection.surplus else 0) <= max_lines:
        return [selection]
    pieces: list[SkuSelection] = []
    start, remaining_units = 0, selection.customer_units
    while start < len(lines):
        remaining = len(lines) - start
        fits_clean = remaining <= max_lines and remaining_units % case_pack == 0
        if fits_clean or remaining <= max_lines - 1:
            end = len(lines)
        else:
            end = start + clean_prefix_length((line.quantity for line in lines[start : start + max_lines]), case_pack)
            if end == start:
                end = start + max_lines - 1
        piece = lines[start:end]
        units = sum(line.quantity for line in piece)
        pieces.append(SkuSelection(selection.supplier_sku, piece, -units % case_pack))
        start, remaining_units = end, remaining_units - units
    return pieces


def _po_lines(piece: SkuSelection, tier_cost: Decimal | None, surplus_cost: Decimal) -> list[PurchaseOrderLine]:
    lines = [
        PurchaseOrderLine(
            backorder_line_id=line.backorder_line_id,
            supplier_sku=line.supplier_sku,
            sku=line.sku,
            quantity=line.quantity,
            unit_cost=tier_cost if tier_cost is not None else line.unit_cost,
            details=line.details,
        )
        for line in piece.lines
    ]
    if piece.surplus:
        lines.append(
            PurchaseOrderLine(
                backorder_line_id=None,
                supplier_sku=piece.supplier_sku,
                sku=piece.lines[-1].sku,
                quantity=piece.surplus,
                unit_cost=tier_cost if tier_cost is not None else surplus_cost,
                surplus=True,
            )
        )
    return lines


def build_drafts(
    policy: SupplierPolicy,
    selections: Sequence[SkuSelection],
    reason: ReleaseReason,
    now: datetime,
) -> list[PurchaseOrderDraft]:
    """Price the selections and pack them into POs.

    The unit cost of a SKU is the tier its ordered quantity in this release (customers'
    units plus surplus, before any split) reaches, else each line's catalog cost; a
    surplus line below every tier costs the catalog cost of the SKU's newest line.
    SKUs keep their order of first arrival and are packed next-fit into POs of at most
    `max_lines_per_po` lines; a SKU is only split when it alone exceeds the limit.
    The minimums are judged on the release before the split: the extra surplus a split
    may add is an artefact of the line limit and never helps reach a minimum (it can
    only raise the totals, so a release that meets them still does after the split).
    Raises MinimumNotMetError for a release by minimum that does not meet them.
    """
    po_line_groups: list[list[PurchaseOrderLine]] = []
    units, value = 0, Decimal(0)
    for selection in selections:
        rule = policy.sku_rules.get(selection.supplier_sku)
        case_pack = rule.case_pack if rule is not None else 1
        tier_cost = rule.tier_cost(selection.customer_units + selection.surplus) if rule is not None else None
        surplus_cost = selection.lines[-1].unit_cost
        unsplit = _po_lines(selection, tier_cost, surplus_cost)
        units += sum(line.quantity for line in unsplit)
        value += sum((line.value for line in unsplit), Decimal(0))
        for piece in _chunks(selection, case_pack, policy.max_lines_per_po):
            po_line_groups.append(_po_lines(piece, tier_cost, surplus_cost))
    if not po_line_groups:
        return []
    below_minimum = not policy.meets_minimums(units, value)
    if below_minimum and reason == "minimum_met":
        raise MinimumNotMetError(
            f"release of {units} units worth {value} is below the minimums of supplier {policy.supplier_id}"
        )
    pos: list[list[PurchaseOrderLine]] = [[]]
    for group in po_line_groups:
        if policy.max_lines_per_po is not None and len(pos[-1]) + len(group) > policy.max_lines_per_po:
            pos.append([])
        pos[-1].extend(group)
    return [
        PurchaseOrderDraft(
            supplier_id=policy.supplier_id,
            policy_version=policy.version,
            release_reason=reason,
            below_minimum=below_minimum,
            created_at=now,
            lines=tuple(po),
            part=number,
            parts=len(pos),
        )
        for number, po in enumerate(pos, start=1)
    ]
