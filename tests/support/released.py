"""The backorder lines on the aggregator's released purchase orders, read through its public API."""

from __future__ import annotations

from collections import Counter

import httpx

from support.tokens import bearer


class ReleasedLines:
    """Reads the released POs incrementally: a released PO's lines never change, so each PO is fetched once
    and polling stays cheap however many POs there are (re-reading them all loaded the very service under test).

    Calling it returns how many POs each backorder line is on.
    """

    def __init__(self, aggregator_url: str) -> None:
        self.aggregator_url = aggregator_url
        self._lines_by_po: dict[str, list[str]] = {}

    def __call__(self) -> Counter[str]:
        with httpx.Client(base_url=self.aggregator_url, timeout=60, headers=bearer()) as client:
            offset = 0
            while True:
                page = client.get("/purchase-orders", params={"limit": 500, "offset": offset}).json()
                for po in page:
                    if po["po_number"] not in self._lines_by_po:
                        detail = client.get(f"/purchase-orders/{po['po_number']}").json()
                        self._lines_by_po[po["po_number"]] = [
                            line["backorder_line_id"] for line in detail["lines"] if line["backorder_line_id"]
                        ]
                if len(page) < 500:
                    break
                offset += 500
        return Counter(line for lines in self._lines_by_po.values() for line in lines)
