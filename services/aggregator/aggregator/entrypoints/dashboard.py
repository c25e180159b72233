"""The operations console's page: the signed-in operator's single-page console (its data: console_api.py and
the aggregator API), or the sign-in page."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from aggregator.entrypoints.dashboard_sign_in import DASHBOARD_ROLES, PAGE_HEADERS, sessions_of, sign_in_page

router = APIRouter()
STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "dashboard.html"


@router.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    """The page for a signed-in operator (its data comes from protected calls), else the sign-in page."""
    session = sessions_of(request).current(request)
    if session is None or not session.caller.roles & DASHBOARD_ROLES:
        return sign_in_page(request)
    page = (
        PAGE.read_text(encoding="utf-8")
        .replace("{csrf_token}", html.escape(session.csrf_token))
        .replace("{subject}", html.escape(session.caller.subject))
    )
    return HTMLResponse(page, headers=PAGE_HEADERS)
