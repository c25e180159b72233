"""Who may call each gateway route: suppliers' callbacks and EDI are public but HMAC-signed with the supplier's
secret; operations read, retry, fail and cancel purchase orders and work the exceptions inbox; only admins
manage the supplier registry."""

from __future__ import annotations

from dropship_shared.auth import ADMIN, OPERATIONS, PUBLIC, AccessPolicy

GATEWAY_ACCESS: AccessPolicy = {
    "POST /suppliers/{supplier_id}/callbacks": PUBLIC,
    "POST /suppliers/{supplier_id}/callbacks/{kind}": PUBLIC,
    "POST /suppliers/{supplier_id}/edi": PUBLIC,
    "GET /suppliers/{supplier_id}/edi/interchanges": OPERATIONS,
    "GET /purchase-orders": OPERATIONS,
    "GET /purchase-orders/{po_number}": OPERATIONS,
    "POST /purchase-orders/{po_number}/retry": OPERATIONS,
    "POST /purchase-orders/{po_number}/fail": OPERATIONS,
    "POST /purchase-orders/{po_number}/cancel": OPERATIONS,
    "GET /exceptions": OPERATIONS,
    "GET /exceptions/{exception_id}": OPERATIONS,
    "POST /exceptions/{exception_id}/resolve": OPERATIONS,
    "GET /supplier-health": OPERATIONS,
    "POST /suppliers/{supplier_id}/send-now": OPERATIONS,
    "PUT /suppliers/{supplier_id}": ADMIN,
    "GET /suppliers": ADMIN,
    "GET /suppliers/{supplier_id}": ADMIN,
}
