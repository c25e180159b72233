"""Who may call each orders route: the storefront places, reads and cancels orders; operations read the catalog
and the figures; only admins change the catalog."""

from __future__ import annotations

from dropship_shared.auth import ADMIN, OPERATIONS, STOREFRONT, AccessPolicy

ORDERS_ACCESS: AccessPolicy = {
    "POST /orders": STOREFRONT,
    "GET /orders/{order_id}": STOREFRONT,
    "GET /orders/{order_id}/history": STOREFRONT,
    "GET /orders/{order_id}/payments": STOREFRONT,
    "GET /orders/{order_id}/messages": STOREFRONT,
    "POST /orders/{order_id}/cancel": STOREFRONT,
    "POST /orders/{order_id}/lines/{line_no}/cancel": STOREFRONT,
    "POST /orders/{order_id}/lines/{line_no}/delivered": STOREFRONT,
    "GET /products/{sku}/availability": STOREFRONT,
    "GET /products/{sku}": OPERATIONS,
    "POST /products/{sku}/receipts": OPERATIONS,
    "GET /metrics/backorders": OPERATIONS,
    "GET /order-lines": OPERATIONS,
    "GET /order-lines/at-risk": OPERATIONS,
    "POST /order-lines/{order_id}/{line_no}/reroute": OPERATIONS,
    "POST /order-lines/{order_id}/{line_no}/reject": OPERATIONS,
    "PUT /products": ADMIN,
    "GET /products/{sku}/offers": OPERATIONS,
    "PUT /products/{sku}/offers/{supplier_id}": ADMIN,
    "DELETE /products/{sku}/offers/{supplier_id}": ADMIN,
}
