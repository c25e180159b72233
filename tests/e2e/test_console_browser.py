"""The operations console in a real Chromium (Debian's, driven by Playwright; `make browser` installs it) against
the whole system as processes: a batch fills live and its Release button makes a PO, a PO is found by the
customer's email, an exception is resolved from the inbox, a supplier outage shows with its error, markup in a
supplier's name stays text, a line refused by its supplier is re-routed by an operator, and a signed-out visitor
gets the sign-in page. Screenshots of every page go to
test-output/console/."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from dropship_shared.messaging import Broker
from e2e.conftest import SystemFactory
from e2e.test_rerouting import two_suppliers
from support.adversarial_supplier import PROBLEM_DETAILS, serve_adversarial_supplier
from support.infrastructure import BrokerNamespace
from support.tokens import bearer

playwright_api = pytest.importorskip("playwright.async_api")
from playwright.async_api import Browser, Page, expect  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "console"
WAIT_MS = 60_000  # a busy machine is slow, not broken: every wait is for a condition, with a generous deadline
SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}
REROUTE_SECRET = "console-rerouting-secret-0123456789"
MARKUP_NAME = '<img src=x onerror="document.title=\'owned\'">Tom\'s "Tables" & <b>Co</b>'


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (make browser)")
    async with playwright_api.async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    found = await context.new_page()
    errors: list[str] = []
    found.on("pageerror", lambda error: errors.append(str(error)))
    yield found
    await context.close()
    assert not errors, errors


async def shot(page: Page, name: str) -> None:
    """A screenshot of the page, which must fit 1280 px without scrolling sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1280, f"{name} is wider than 1280 px"


async def refreshed(page: Page, times: int = 2) -> None:
    """Wait until the live view has been fetched again `times` times."""
    for _ in range(times):
        before = await page.locator("#live").text_content()
        await expect(page.locator("#live")).not_to_have_text(before or "")


async def sign_in(page: Page, aggregator_url: str) -> None:
    await page.goto(f"{aggregator_url}/dashboard")
    await page.get_by_role("button", name="Development sign-in (operations)").click()
    await expect(page.get_by_role("navigation", name="Console")).to_be_visible()


def order(orders_url: str, email: str, sku: str, quantity: int) -> dict[str, object]:
    body = {"customer_email": email, "ship_to": SHIP_TO, "lines": [{"sku": sku, "quantity": quantity}]}
    with httpx.Client(timeout=30, headers=bearer("storefront")) as client:
        placed = client.post(f"{orders_url}/orders", json=body)
        placed.raise_for_status()
        return dict(placed.json())


async def test_a_signed_out_visitor_gets_the_sign_in_page(make_system: SystemFactory, page: Page) -> None:
    system = make_system()
    system.start("aggregator")
    await page.goto(f"{system.url('aggregator')}/dashboard")
    await expect(page.get_by_role("button", name="Development sign-in (operations)")).to_be_visible()
    await expect(page.get_by_role("navigation", name="Console")).to_have_count(0)
    assert (await page.request.get(f"{system.url('aggregator')}/dashboard/overview")).status == 401
    await shot(page, "sign-in")

    # Signed in, then out again: back to the sign-in page, and the session no longer opens the API.
    await sign_in(page, system.url("aggregator"))
    assert (await page.request.get(f"{system.url('aggregator')}/dashboard/suppliers")).status == 200
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Development sign-in (operations)")).to_be_visible()
    assert (await page.request.get(f"{system.url('aggregator')}/dashboard/suppliers")).status == 401


async def test_an_operator_runs_a_day_from_the_console(make_system: SystemFactory, page: Page) -> None:
    system = make_system(extra_env={"supplier-simulator": {"SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "3600"}})
    system.start()
    system.configure_demo()  # acme: minimum 10 units, max wait an hour
    aggregator, orders = system.url("aggregator"), system.url("orders")
    with httpx.Client(timeout=30, headers=system.headers("admin")) as admin:
        admin.put(f"{aggregator}/suppliers/tricky", json={"name": MARKUP_NAME}).raise_for_status()
    await sign_in(page, aggregator)

    # The overview shows, and nothing is wrong yet.
    await expect(page.locator("#alerts")).to_contain_text("Nothing needs attention")
    await expect(page.locator("#charts svg")).to_have_count(4)

    # A batch fills while the operator watches the suppliers page, without a reload.
    await page.get_by_role("link", name="Suppliers", exact=True).click()
    acme = page.locator('#suppliers tr[data-key="acme"]')
    await expect(acme).to_contain_text("0 / 10")
    await expect(acme).to_contain_text("no minimum")  # acme has no value minimum
    ann = order(orders, "ann@example.com", "TABLE-OAK", 3)
    await expect(acme).to_contain_text("3 / 10")
    order(orders, "bob@example.com", "TABLE-OAK", 2)
    await expect(acme).to_contain_text("5 / 10")
    await expect(acme.locator(".countdown").first).to_contain_text(re.compile(r"in \d+ min"))

    # Markup in a supplier's name is shown as the text it is.
    tricky = page.locator('#suppliers tr[data-key="tricky"]')
    await expect(tricky).to_contain_text(MARKUP_NAME)
    assert await tricky.locator("img, b").count() == 0
    assert await page.title() != "owned"
    await shot(page, "suppliers")

    # Live updates never replace the button holding the keyboard focus; the keyboard works the buttons.
    hold = acme.get_by_role("button", name="Hold")
    await hold.focus()
    await hold.evaluate("button => { button.dataset.marked = 'yes' }")
    order(orders, "bob@example.com", "CHAIR-OAK", 3)  # 2 in stock, 1 backordered: the row changes under the focus
    await expect(acme).to_contain_text("6 / 10")
    await refreshed(page)
    assert await page.evaluate("document.activeElement.dataset.marked") == "yes"
    await page.keyboard.press("Enter")
    await expect(acme.get_by_role("button", name="Resume")).to_be_visible()
    await expect(acme.locator(".badge.held")).to_have_count(1)
    await acme.get_by_role("button", name="Resume").press("Enter")
    await expect(acme.get_by_role("button", name="Hold")).to_be_visible()

    # Release makes a purchase order.
    await acme.get_by_role("button", name="Release now").click()
    await expect(page.locator(".toast").filter(has_text=re.compile(r"Released acme: PO\d+"))).to_have_count(1)
    await expect(acme).to_contain_text("0 / 10")
    await acme.get_by_role("link", name="ACME Furniture (simulated)").click()
    await expect(page.locator("#supplier-pos")).to_contain_text("operator")
    await expect(page.locator("#versions")).to_contain_text("v1")
    await shot(page, "supplier")

    # The PO is found by a customer's email, and its page shows the customer lines it serves.
    await page.get_by_role("link", name="Purchase orders", exact=True).click()
    await page.get_by_label("Search PO, customer email, order or SKU").fill("ann@example.com")
    await page.get_by_role("button", name="Search").click()
    rows = page.locator("#pos tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("acme")
    await expect(rows.first).to_contain_text(re.compile("sent|acknowledged|requested"))
    await shot(page, "purchase-orders")
    search = page.get_by_label("Search PO, customer email, order or SKU")
    for query in (str(ann["order_id"]), "CHAIR-OAK", "po00000001"):  # by order, SKU, PO number (any case)
        await search.fill(query)
        await page.get_by_role("button", name="Search").click()
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("PO00000001")
    await search.fill("nobody@example.com")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#pager")).to_contain_text("No purchase orders match.")
    await search.fill("")
    await page.get_by_label("Supplier").select_option("tricky")
    # The pager already says "No purchase orders match." (the search before): wait for the view this search
    # builds (a new form, its pager filled by its own refresh), or the next steps act on the form it replaces.
    await page.locator("#po-filters").evaluate("form => { form.dataset.replaced = 'yes' }")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#po-filters:not([data-replaced])")).to_have_count(1)
    await expect(page.locator("#pager")).to_contain_text("No purchase orders match.")
    await page.get_by_label("Supplier").select_option("acme")
    await search.fill("ann@example.com")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(1)
    await rows.first.get_by_role("link").first.click()
    await expect(page.locator("#po-lines")).to_contain_text("ann@example.com")
    await expect(page.locator("#po-lines")).to_contain_text("bob@example.com")
    await expect(page.locator("#po-history")).to_contain_text("sent")
    await shot(page, "purchase-order")

    # The supplier refuses the next PO: it lands in the exceptions inbox and is resolved from there.
    with httpx.Client(timeout=30) as simulator:
        simulator.post(
            f"{system.url('supplier-simulator')}/admin/faults",
            json={"reject_next": 1, "reject_reason": "discontinued <item>"},
        ).raise_for_status()
    order(orders, "cy@example.com", "TABLE-OAK", 1)
    await page.get_by_role("link", name="Suppliers", exact=True).click()
    await expect(acme).to_contain_text("1 / 10")  # the backorder reached the batch
    await acme.get_by_role("button", name="Release now").click()
    await page.get_by_role("link", name="Exceptions", exact=True).click()
    refused = page.locator("#exceptions tbody tr").filter(has_text="purchase order refused")
    await expect(refused).to_have_count(1)
    await expect(refused).to_contain_text("discontinued <item>")
    await shot(page, "exceptions")
    await refused.get_by_placeholder("what was decided").fill("customer offered the walnut table instead")
    await refused.get_by_role("button", name="Resolve").click()
    await expect(page.locator("#exceptions tbody tr").filter(has_text="purchase order refused")).to_have_count(0)
    await page.get_by_label("Show").select_option("false")
    await page.get_by_role("button", name="Filter").click()
    resolved = page.locator("#exceptions tbody tr").filter(has_text="purchase order refused")
    await expect(resolved).to_contain_text("by dev-operator")
    await expect(resolved).to_contain_text("walnut")

    # A policy change shows as what it changed.
    with httpx.Client(timeout=30, headers=system.headers("admin")) as admin:
        admin.put(
            f"{aggregator}/suppliers/acme/policy",
            json={
                "min_units": 8,
                "max_wait_seconds": 3600,
                "on_deadline": "release",
                "sku_rules": {"AC-TB-200": {"case_pack": 4, "min_qty": 2}},
            },
        ).raise_for_status()
    order(orders, "gus@example.com", "TABLE-OAK", 1)
    await page.goto(f"{aggregator}/dashboard#/suppliers/acme")
    await expect(page.locator('#versions tr[data-key="2"]')).to_contain_text("min units: 10 → 8")
    await expect(page.locator('#minimums tr[data-key="case-AC-TB-200"]')).to_contain_text("1 / 4")  # gus's table
    await expect(page.locator('#minimums tr[data-key="sku-AC-TB-200"]')).to_contain_text("1 / 2")
    await expect(page.locator('#minimums tr[data-key="value"]')).to_contain_text("no minimum")
    await expect(page.locator('#versions tr[data-key="1"]')).to_contain_text("first version")

    # Customers at risk: a line waiting in the batch says what it waits for.
    order(orders, "fay@example.com", "TABLE-OAK", 1)
    await page.get_by_role("link", name="Customers at risk", exact=True).click()
    await page.get_by_label("Promised date past or within").select_option("30")
    await page.get_by_role("button", name="Show").click()
    fay = page.locator("#at-risk tbody tr").filter(has_text="fay@example.com")
    await expect(fay).to_contain_text("waiting in ACME Furniture (simulated)'s batch for min units")
    await expect(fay).to_contain_text("AC-TB-200: case pack")
    await expect(fay).to_contain_text("backorder placed (email)")
    await expect(page.locator("#at-risk tbody tr").filter(has_text="ann@example.com")).to_contain_text("PO00000001")
    await shot(page, "customers")

    # Who did what.
    await page.get_by_role("link", name="Activity", exact=True).click()
    await expect(page.locator("#activity")).to_contain_text("exception.resolve")
    await expect(page.locator("#activity")).to_contain_text("batch.release")
    await page.get_by_role("link", name="Overview", exact=True).click()
    acme_figures = page.locator('#figures tr[data-key="acme"]')
    await expect(acme_figures).to_contain_text("81.8 %")  # 9 of the 11 units ordered were backordered
    await expect(acme_figures).to_contain_text("0-7d: 5")
    await shot(page, "overview")


async def test_a_supplier_outage_shows_with_its_error_within_seconds(
    make_system: SystemFactory, broker_namespace: BrokerNamespace, page: Page
) -> None:
    system = make_system(extra_env={"supplier-gateway": {"SUPPLIER_MAX_ATTEMPTS": "1"}})
    system.start()
    system.configure_demo()
    aggregator = system.url("aggregator")
    with httpx.Client(timeout=30, headers=system.headers("admin")) as admin:
        admin.put(
            f"{aggregator}/suppliers/acme/policy", json={"min_units": 1, "max_wait_seconds": 3600}
        ).raise_for_status()
    with httpx.Client(timeout=30) as simulator:
        simulator.post(
            f"{system.url('supplier-simulator')}/admin/faults", json={"fail_next": 1000, "status": 503}
        ).raise_for_status()
    await sign_in(page, aggregator)
    await expect(page.locator("#alerts")).to_contain_text("Nothing needs attention")

    # An event the aggregator cannot read is dead-lettered: red on the overview, replayable from its page.
    publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
    await publisher.connect()
    await publisher.publish_raw("backorder.created", b'{"type": "backorder.created"}', "bad-1", "c1")
    await publisher.close()
    dead = page.locator("#alerts li.critical").filter(has_text="dead letter(s) in aggregator")
    await expect(dead).to_contain_text("1 dead letter(s) in aggregator")
    await expect(page.locator(".tile.bad .dead")).to_contain_text("aggregator: 1")
    await dead.get_by_role("link", name="look").click()
    section = page.locator('section[data-service="aggregator"]')
    await expect(section.locator("tbody tr")).to_contain_text("invalid envelope")
    await expect(section.locator("h3 .dead")).to_contain_text("1 dead letter(s)")
    await shot(page, "dead-letters")
    await section.get_by_role("button", name="Replay aggregator's dead letters").click()
    await expect(page.locator(".toast").filter(has_text="Replayed 1 message(s) of aggregator")).to_have_count(1)
    await page.get_by_role("link", name="Overview", exact=True).click()

    order(system.url("orders"), "dee@example.com", "TABLE-OAK", 1)
    alert = page.locator("#alerts li.critical").filter(has_text="is down")
    await expect(alert).to_contain_text("ACME Furniture (simulated)")
    await expect(alert).to_contain_text("503")
    await shot(page, "outage")
    await page.get_by_role("link", name="Suppliers", exact=True).click()
    acme = page.locator('#suppliers tr[data-key="acme"]')
    await expect(acme).to_contain_text("down")
    await expect(acme).to_contain_text("1 PO(s) waiting")

    # The supplier is back: the operator sends the waiting PO now.
    with httpx.Client(timeout=30) as simulator:
        simulator.delete(f"{system.url('supplier-simulator')}/admin/faults").raise_for_status()
    await acme.get_by_role("button", name="Send waiting POs now").click()
    await expect(page.locator(".toast").filter(has_text="Sending 1 waiting PO(s) to acme now")).to_have_count(1)
    await expect(acme.locator(".badge.ok")).to_have_count(1)

    # The PO ships: its page shows the customer's shipment with the carrier and tracking number.
    await page.get_by_role("link", name="Purchase orders", exact=True).click()
    await page.locator("#pos tbody tr").first.get_by_role("link").first.click()
    await expect(page.locator("#po-lines")).to_contain_text("dee@example.com")
    await expect(page.locator("#po-lines")).to_contain_text(re.compile(r"1 shipped by \S+, tracking \S+"))
    await expect(page.locator("#po-facts")).to_contain_text("shipped")


async def test_an_operator_reroutes_a_refused_line_from_the_console(make_system: SystemFactory, page: Page) -> None:
    """REROUTE=operator: the first supplier refuses the PO; the line waits on the Re-routing page with its offers,
    dates and costs; the operator sends it to the second supplier with one click, and the activity says who."""
    system = make_system(extra_env={"orders": {"REROUTE": "operator"}})
    system.start("orders", "aggregator", "supplier-gateway")
    aggregator_url, orders_url, gateway_url = (
        system.url(name) for name in ("aggregator", "orders", "supplier-gateway")
    )
    with (
        serve_adversarial_supplier(REROUTE_SECRET) as (double, double_url),
        httpx.Client(timeout=30, headers=bearer()) as admin,
        httpx.Client(base_url=gateway_url, timeout=30, headers=bearer()) as gateway,
        httpx.Client(base_url=aggregator_url, timeout=30, headers=bearer()) as aggregator,
        httpx.Client(base_url=orders_url, timeout=30, headers=bearer()) as orders,
    ):
        two_suppliers(gateway, aggregator, orders, double_url, REROUTE_SECRET)
        double.script("first").placements.append(PROBLEM_DETAILS)
        placed = order(orders_url, "ann@example.com", "SOFA", 1)
        order_id = str(placed["order_id"])

        await sign_in(page, aggregator_url)
        await page.get_by_role("link", name="Re-routing").click()
        row = page.locator(f'#awaiting tr[data-key="{order_id}-1"]')
        await expect(row).to_contain_text("first")  # refused by
        await expect(row).to_contain_text("refused")
        await expect(row).to_contain_text("42.00")  # the second offer's cost, with its lead time and date
        await expect(row).to_contain_text("5 d lead time")
        await expect(row.get_by_role("button", name="Re-route to first")).to_have_count(0)  # not back to it
        await shot(page, "rerouting")

        await row.get_by_role("button", name="Reject").click()  # no reason yet: nothing is sent
        await expect(page.locator("#toasts")).to_contain_text("reason the customer will be told")
        await row.get_by_role("button", name="Re-route to second").click()
        await expect(page.locator("#toasts")).to_contain_text(f"{order_id} / 1: sent to second")
        await expect(row).to_have_count(0)
        line = admin.get(f"{orders_url}/orders/{order_id}").json()["lines"][0]
        assert (line["supplier_id"], line["awaits_operator"], line["tried_suppliers"]) == (
            "second",
            False,
            ["first", "second"],
        )

        await page.get_by_role("link", name="Activity").click()
        done = page.locator("#activity tbody tr", has_text="line.reroute")
        await expect(done).to_contain_text(f"{order_id}-1-r1")
        await expect(done).to_contain_text("orders")
