"""Alembic environment of the orders database."""

from dropship_shared.migrations import run_env
from orders.adapters.orm import metadata

run_env(metadata)
