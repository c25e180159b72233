"""Alembic environment of the supplier gateway database."""

from dropship_shared.migrations import run_env
from supplier_gateway.adapters.orm import metadata

run_env(metadata)
