"""Run the supplier simulator with uvicorn: ``python -m supplier_simulator``."""

from __future__ import annotations

import uvicorn

from supplier_simulator.app import create_app
from supplier_simulator.settings import SimulatorSettings


def main() -> None:
    """Serve the simulator on SIMULATOR_HOST:SIMULATOR_PORT."""
    settings = SimulatorSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=settings.log_level)


if __name__ == "__main__":
    main()
