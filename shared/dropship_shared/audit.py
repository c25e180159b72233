"""The audit log of operator actions (release, hold, resume, retry, replay, policy, catalog and supplier changes):
who did it (the token's subject), when, to what; each service keeps its own and serves it at GET /admin/audit."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.events import utcnow

ON_BEHALF_OF = "X-On-Behalf-Of"


class OperatorActionOut(BaseModel):
    occurred_at: datetime
    subject: str
    action: str
    target: str
    details: dict[str, Any]
    correlation_id: str


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], table: Table) -> None:
        self._sessions = sessions
        self._table = table

    async def record(self, request: Request, action: str, target: str, details: dict[str, Any] | None = None) -> None:
        """Record what the request's caller just did (after the change committed). A service acting for a
        person (the operations console) names them in `X-On-Behalf-Of`: kept beside the caller, who vouches."""
        details = dict(details or {})
        if acting_for := request.headers.get(ON_BEHALF_OF):
            details["on_behalf_of"] = acting_for[:200]
        async with self._sessions() as session, session.begin():
            await session.execute(
                insert(self._table).values(
                    occurred_at=utcnow(),
                    subject=request.state.caller.subject,
                    action=action,
                    target=target[:200],
                    details=json.dumps(details, default=str),
                    correlation_id=str(getattr(request.state, "correlation_id", "-")),
                )
            )

    async def recent(self, limit: int, offset: int, subject: str | None, action: str | None) -> list[OperatorActionOut]:
        query = select(self._table).order_by(self._table.c.id.desc()).limit(limit).offset(offset)
        if subject:
            query = query.where(self._table.c.subject == subject)
        if action:
            query = query.where(self._table.c.action == action)
        async with self._sessions() as session:
            rows = (await session.execute(query)).mappings().all()
        return [
            OperatorActionOut(
                occurred_at=row["occurred_at"],
                subject=row["subject"],
                action=row["action"],
                target=row["target"],
                details=json.loads(row["details"]),
                correlation_id=row["correlation_id"],
            )
            for row in rows
        ]


def audit_log(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit_log
    return log


Audit = Annotated[AuditLog, Depends(audit_log)]


def install_audit_log(app: FastAPI, sessions: async_sessionmaker[AsyncSession], table: Table) -> None:
    app.state.audit_log = AuditLog(sessions, table)
    router = APIRouter(tags=["operations"])

    @router.get("/admin/audit", summary="Operator actions, newest first: who did what to which target, and when")
    async def list_operator_actions(
        audit: Audit,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        subject: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[str | None, Query(max_length=60)] = None,
    ) -> list[OperatorActionOut]:
        return await audit.recent(limit, offset, subject, action)

    app.include_router(router)
