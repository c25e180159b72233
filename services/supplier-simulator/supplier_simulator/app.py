"""FastAPI app of the supplier simulator: the supplier API, side effects and the admin API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from dropship_shared.tracing import configure_tracing, instrument_app
from supplier_simulator.edi import enable_x12
from supplier_simulator.models import AckIn, FaultsIn, ShipIn
from supplier_simulator.settings import SimulatorSettings
from supplier_simulator.simulator import IDEMPOTENCY_HEADER, Simulator, SimulatorError, parse_body


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    """Build the simulator app; settings default to the environment."""
    settings = settings or SimulatorSettings()
    configure_tracing(f"supplier-simulator-{settings.supplier_id}", settings.otel_exporter_otlp_endpoint)
    sim = Simulator(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await sim.start()
        try:
            yield
        finally:
            await sim.stop()

    app = FastAPI(title=f"Supplier simulator ({settings.supplier_id})", lifespan=lifespan)
    app.state.simulator = sim
    instrument_app(app)

    @app.exception_handler(SimulatorError)
    async def _simulator_error(_: Request, exc: SimulatorError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status_code)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "supplier_id": settings.supplier_id}

    @app.post("/purchase-orders")
    async def place_purchase_order(request: Request) -> JSONResponse:
        raw = await request.body()
        status, body, headers = await sim.place(request.headers.get(IDEMPOTENCY_HEADER), raw)
        return JSONResponse(body, status_code=status, headers=headers)

    @app.post("/purchase-orders/{po_number}/cancel")
    async def cancel_purchase_order(po_number: str, request: Request) -> JSONResponse:
        raw = await request.body()
        status, body = sim.cancel(po_number, request.headers.get(IDEMPOTENCY_HEADER), raw)
        return JSONResponse(body, status_code=status)

    @app.get("/purchase-orders/{po_number}/events")
    async def purchase_order_events(po_number: str, after: int = Query(default=0, ge=0)) -> dict[str, Any]:
        return sim.events(po_number, after)

    admin = APIRouter(prefix="/admin", tags=["admin"])

    @admin.get("/faults")
    async def get_faults() -> dict[str, Any]:
        return sim.state.faults.model_dump()

    @admin.post("/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        change: FaultsIn = parse_body(FaultsIn, await request.body())
        updates = change.model_dump(include=change.model_fields_set)
        if "delay_seconds" in updates and "delay_next" not in updates:
            updates["delay_next"] = None
        sim.state.faults = sim.state.faults.model_copy(update=updates)
        return sim.state.faults.model_dump()

    @admin.delete("/faults")
    async def clear_faults() -> dict[str, Any]:
        sim.state.faults = type(sim.state.faults)()
        return sim.state.faults.model_dump()

    @admin.get("/purchase-orders")
    async def list_orders() -> dict[str, Any]:
        return {"orders": [o.summary() for o in sim.state.orders.values()]}

    @admin.get("/purchase-orders/{po_number}")
    async def get_order(po_number: str) -> dict[str, Any]:
        return sim._order(po_number).summary()

    @admin.post("/purchase-orders/{po_number}/ship", status_code=201)
    async def ship(po_number: str, request: Request) -> dict[str, Any]:
        return sim.ship(po_number, parse_body(ShipIn, await request.body(), allow_empty=True))

    @admin.post("/purchase-orders/{po_number}/acknowledge", status_code=201)
    async def acknowledge(po_number: str, request: Request) -> dict[str, Any]:
        return sim.acknowledge(po_number, parse_body(AckIn, await request.body(), allow_empty=True))

    @admin.get("/requests")
    async def requests_log() -> dict[str, Any]:
        return {"requests": [r.model_dump() for r in sim.state.requests]}

    @admin.get("/callbacks")
    async def callbacks() -> dict[str, Any]:
        return sim.callbacks.view()

    @admin.post("/callbacks/wait")
    async def wait_callbacks(wait_seconds: float = Query(default=10.0, gt=0)) -> dict[str, Any]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sim.callbacks.wait_idle(), wait_seconds)
        return sim.callbacks.view()

    @admin.post("/callbacks/retry-pending")
    async def retry_pending() -> dict[str, int]:
        return {"queued": sim.callbacks.retry_pending()}

    @admin.post("/callbacks/{event_id}/redeliver", status_code=202)
    async def redeliver(event_id: str) -> dict[str, Any]:
        record = sim.callbacks.redeliver(event_id)
        if record is None:
            raise SimulatorError(404, {"error": "unknown_event", "event_id": event_id})
        return record.model_dump(mode="json")

    @admin.post("/reset")
    async def reset() -> dict[str, str]:
        await sim.reset()
        return {"status": "reset"}

    app.include_router(admin)
    if settings.protocol == "x12":
        enable_x12(app, sim)
    return app
