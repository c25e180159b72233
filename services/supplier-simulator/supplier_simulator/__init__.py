"""Supplier simulator: a test double of an outside drop-ship supplier over real HTTP."""

from supplier_simulator.app import create_app
from supplier_simulator.settings import SimulatorSettings

__all__ = ["SimulatorSettings", "create_app"]
