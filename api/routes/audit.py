"""The tenant's audit feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import Historian
from api.deps import LedgerDep, ViewsDep, wait_after
from api.problems import documented
from api.schemas import AuditEvent, AuditPublic, AuditVerification
from application.chain import audit_tenant

router = APIRouter()


@router.get(
    "/v1/audit/events", tags=["audit"], responses=documented(401, 403, 422, 503)
)
def audit_events(
    caller: Historian,
    views: ViewsDep,
    ledger: LedgerDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AuditPublic:
    """The tenant's events in log order, after position ``after``."""
    wait_after(views, ledger.recorder.max_notification_id() or 0)
    rows = views.audit.query(caller.reseller_id, after=after, limit=limit)
    items = [
        AuditEvent(
            position=row["position"],
            aggregate_id=row["aggregate_id"],
            aggregate_type=row["aggregate_type"],
            version=row["version"],
            type=row["type"],
            recorded_at=row["recorded_at"],
            actor=row["actor"] or {"type": "unknown"},
            data=row["data"],
            hash=row["hash"],
        )
        for row in rows
    ]
    next_after = items[-1].position if len(items) == limit else None
    return AuditPublic(items=items, next_after=next_after)


@router.get("/v1/audit/verify", tags=["audit"], responses=documented(401, 403, 503))
def audit_verify(caller: Historian, ledger: LedgerDep) -> AuditVerification:
    """Recompute the tenant's hash chain from the stored events.

    ``first_bad_position`` names the first event whose stored bytes or order no
    longer match what was written (edited, deleted, moved or inserted by hand).
    """
    verification = audit_tenant(ledger.recorder, ledger.mapper, caller.reseller_id)
    return AuditVerification(
        ok=verification.ok,
        events=verification.events,
        head=verification.head,
        first_bad_position=verification.first_bad_position,
    )
