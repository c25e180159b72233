"""Strict edges for every API: what a request may carry so that both storage engines can keep it.

PostgreSQL refuses NUL in text and lone surrogates cannot be encoded at all, so both are refused at the
edge (422, the same on SQLite; NUL in a URL is refused by dropship_shared.web). Numbers are finite and fit
the columns they land in; a boolean is not a number and a string is not a quantity.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

MONEY_MAX_DIGITS = 18  # NUMERIC(18, 4): the Money column on PostgreSQL, enforced alike on SQLite
MONEY_DECIMAL_PLACES = 4
MONEY_LIMIT = Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_DECIMAL_PLACES)  # every stored amount is below this
IDENTIFIER = r"^[A-Za-z0-9._-]+$"  # ids that appear in URLs and on the dashboard (supplier ids, SKUs)
NO_NUL = r"^[^\x00]*$"  # a pattern (checked in pydantic-core, cheap on big imports) for free-text fields

Text = Annotated[str, Field(pattern=NO_NUL)]
"""A string without NUL, for list items and mapping keys."""


def plain_amount(value: Decimal) -> Decimal:
    """The amount without trailing zeros and never in exponent form: 19.9900 → 19.99, 4.1E+2 → 410."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


PlainMoney = Annotated[
    Decimal, PlainSerializer(lambda value: str(plain_amount(value)), return_type=str, when_used="json")
]
"""An amount in a response, in the one form the Money column reads back on both engines (19.99, 410, 8990), so
what a write echoes (21.00 given) reads as the GET after it (21)."""
Amount = Annotated[
    Decimal,
    Field(strict=False, ge=0, max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_DECIMAL_PLACES),
]
"""A non-negative amount of money that fits the Money column (strings and numbers accepted, NaN/∞ not)."""


class StrictBody(BaseModel):
    """Base of every request body: no unknown fields, no coercion (`true` is not 1, `"5"` is not 5), finite numbers.

    Free-text fields add `pattern=NO_NUL`; pydantic itself refuses lone surrogates in any string."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
