"""Who may call each aggregator route: operations watch and steer the batches; only admins register suppliers
and change their policies."""

from __future__ import annotations

from dropship_shared.auth import ADMIN, OPERATIONS, PUBLIC, AccessPolicy

AGGREGATOR_ACCESS: AccessPolicy = {
    "PUT /suppliers/{supplier_id}": ADMIN,
    "PUT /suppliers/{supplier_id}/policy": ADMIN,
    "GET /suppliers": OPERATIONS,
    "GET /suppliers/{supplier_id}": OPERATIONS,
    "GET /suppliers/{supplier_id}/lines": OPERATIONS,
    "GET /suppliers/{supplier_id}/policy": OPERATIONS,
    "GET /suppliers/{supplier_id}/policy/versions": OPERATIONS,
    "POST /suppliers/{supplier_id}/release": OPERATIONS,
    "POST /suppliers/{supplier_id}/hold": OPERATIONS,
    "POST /suppliers/{supplier_id}/resume": OPERATIONS,
    "GET /purchase-orders": OPERATIONS,
    "GET /purchase-orders/{po_number}": OPERATIONS,
    "GET /dashboard": PUBLIC,  # the sign-in page, or the page of the signed-in operator (its data: protected calls)
    "GET /dashboard/sign-in": PUBLIC,
    "GET /dashboard/callback": PUBLIC,
    "POST /dashboard/dev-sign-in": PUBLIC,
    "POST /dashboard/sign-out": OPERATIONS,
    "GET /dashboard/overview": OPERATIONS,
    "GET /dashboard/suppliers": OPERATIONS,
    "GET /dashboard/suppliers/{supplier_id}": OPERATIONS,
    "GET /dashboard/purchase-orders": OPERATIONS,
    "GET /dashboard/purchase-orders/{po_number}": OPERATIONS,
    "GET /dashboard/exceptions": OPERATIONS,
    "GET /dashboard/customers-at-risk": OPERATIONS,
    "GET /dashboard/dead-letters": OPERATIONS,
    "GET /dashboard/activity": OPERATIONS,
    "POST /dashboard/dead-letters/{service_name}/replay": OPERATIONS,
    "POST /dashboard/purchase-orders/{po_number}/retry": OPERATIONS,
    "POST /dashboard/purchase-orders/{po_number}/fail": OPERATIONS,
    "POST /dashboard/purchase-orders/{po_number}/cancel": OPERATIONS,
    "POST /dashboard/suppliers/{supplier_id}/send-now": OPERATIONS,
    "POST /dashboard/exceptions/{exception_id}/resolve": OPERATIONS,
    "GET /dashboard/lines-awaiting-operator": OPERATIONS,
    "POST /dashboard/order-lines/{order_id}/{line_no}/reroute": OPERATIONS,
    "POST /dashboard/order-lines/{order_id}/{line_no}/reject": OPERATIONS,
}
