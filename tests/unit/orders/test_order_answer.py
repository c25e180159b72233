"""POST /orders renders its answer itself (`api.order_answer`): the same status, headers and bytes as FastAPI's
rendering of the `OrderOut` it used to return, over orders of any shape; it reads its Idempotency-Key itself and
documents it as FastAPI documented the `Header` parameter it was."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Annotated

import httpx
from fastapi import FastAPI, Header, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders_factories import catalog, place, shipment

from orders.domain.model import Order, RequestedLine
from orders.entrypoints.api import IDEMPOTENCY_KEY_PARAMETER, order_answer
from orders.entrypoints.schemas import OrderOut

JSON_VALUES = st.none() | st.booleans() | st.integers() | st.text() | st.decimals(allow_nan=False, places=2)


@st.composite
def orders(draw: st.DrawFn) -> Order:
    requested = draw(
        st.lists(
            st.builds(RequestedLine, st.sampled_from(["CHAIR", "TABLE"]), st.integers(1, 10_000)),
            min_size=1,
            max_size=5,
        )
    )
    order = place(requested, catalog(on_hand=draw(st.integers(0, 20))))
    order.customer_email = draw(st.emails())
    # A name the intake accepts: the address refuses NUL, and a copy's update is not validated.
    name = draw(st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=30))
    order.ship_to = order.ship_to.model_copy(update={"name": name})
    for line in order.lines:
        line.unit_price = draw(st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2))
        line.routing = draw(st.none() | st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4))
        line.tried_suppliers = draw(st.lists(st.text(max_size=8), max_size=3))
        line.shipments = [shipment(f"S{n}", 1, days=n) for n in range(draw(st.integers(0, 2)))]
        line.credit = draw(st.none() | st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=2))
    return order


def app_answering(order: Order) -> FastAPI:
    app = FastAPI()

    @app.post("/returned", status_code=201)
    async def returned() -> OrderOut:  # what POST /orders did: FastAPI validates and renders the OrderOut
        return OrderOut.of(order)

    @app.post("/rendered", status_code=201, response_model=OrderOut)
    async def rendered() -> Response:
        return order_answer(order, 201)

    return app


async def both_answers(order: Order) -> tuple[httpx.Response, httpx.Response]:
    transport = httpx.ASGITransport(app=app_answering(order))
    async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
        return await client.post("/returned"), await client.post("/rendered")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=orders())
def test_the_answer_is_the_bytes_fastapi_rendered(order: Order) -> None:
    returned, rendered = asyncio.run(both_answers(order))
    assert (rendered.status_code, rendered.headers.items(), rendered.content) == (
        returned.status_code,
        returned.headers.items(),
        returned.content,
    )


def test_the_idempotency_key_is_documented_as_fastapi_documents_a_header_parameter() -> None:
    app = FastAPI()

    @app.post("/orders")
    async def post_order(
        idempotency_key: Annotated[
            str | None, Header(description="draft-ietf-httpapi-idempotency-key-header: one order per key")
        ] = None,
    ) -> None:
        return None

    assert app.openapi()["paths"]["/orders"]["post"]["parameters"] == [IDEMPOTENCY_KEY_PARAMETER]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=orders())
def test_the_answer_built_unvalidated_is_the_validated_one(order: Order) -> None:
    """`OrderOut.of` builds its models without validating them (`built_from_domain`): what it holds is what
    validation makes of it, in the fields' order, and it is set up as pydantic's `model_construct` sets a model up
    (a pydantic upgrade changing a model's state fails here)."""
    built = OrderOut.of(order)
    validated = OrderOut.model_validate(built.model_dump())
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    for answer in (built, *built.lines):
        assert list(vars(answer)) == list(type(answer).model_fields)
        assert answer.__getstate__() == type(answer).model_construct(**vars(answer)).__getstate__()
