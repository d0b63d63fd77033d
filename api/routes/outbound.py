"""Outbound webhooks: the tenant's endpoints and their deliveries."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Response

from adapters.outbound import Endpoint
from api.auth import Historian, Owner
from api.deps import ContainerDep, Cursor, Limit
from api.problems import ProblemError, documented
from api.schemas import (
    WebhookDeliveriesPublic,
    WebhookDeliveryPublic,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointPublic,
    WebhookEndpointsPublic,
)
from application.outbound import check_endpoint_url
from projections.pages import decode_cursor, encode_cursor

router = APIRouter()


def _public(endpoint: Endpoint) -> WebhookEndpointPublic:
    return WebhookEndpointPublic(
        id=endpoint.id,
        url=endpoint.url,
        events=endpoint.events,
        created_at=endpoint.created_at,
    )


def _not_found(endpoint_id: UUID) -> ProblemError:
    return ProblemError(404, f"webhook endpoint {endpoint_id} not found")


@router.post(
    "/v1/webhook-endpoints",
    status_code=201,
    tags=["webhook-endpoints"],
    responses=documented(400, 401, 403, 409, 422),
)
def create_endpoint(
    body: WebhookEndpointCreate, caller: Owner, container: ContainerDep
) -> WebhookEndpointCreated:
    """Register an endpoint; the answer is the only time its secret is shown."""
    url = check_endpoint_url(
        body.url, allow_local=container.settings.outbound_local_allowed
    )
    events = list(dict.fromkeys(body.events))  # each type once, in the given order
    head = container.ledger.recorder.max_notification_id() or 0
    endpoint, secret = container.outbound.create_endpoint(
        caller.reseller_id, url, events, head
    )
    return WebhookEndpointCreated(**_public(endpoint).model_dump(), secret=secret)


@router.get(
    "/v1/webhook-endpoints",
    tags=["webhook-endpoints"],
    responses=documented(401, 403),
)
def list_endpoints(
    caller: Historian, container: ContainerDep
) -> WebhookEndpointsPublic:
    """The tenant's endpoints, oldest first."""
    endpoints = container.outbound.endpoints(caller.reseller_id)
    return WebhookEndpointsPublic(items=[_public(e) for e in endpoints])


@router.delete(
    "/v1/webhook-endpoints/{endpoint_id}",
    status_code=204,
    tags=["webhook-endpoints"],
    responses=documented(401, 403, 404),
)
def delete_endpoint(
    endpoint_id: UUID, caller: Owner, container: ContainerDep
) -> Response:
    """Stop delivering to an endpoint and forget its deliveries."""
    if not container.outbound.delete_endpoint(caller.reseller_id, endpoint_id):
        raise _not_found(endpoint_id)
    return Response(status_code=204)


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}/deliveries",
    tags=["webhook-endpoints"],
    responses=documented(401, 403, 404, 422),
)
def list_deliveries(
    endpoint_id: UUID,
    caller: Historian,
    container: ContainerDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> WebhookDeliveriesPublic:
    """The endpoint's deliveries, newest event first."""
    if container.outbound.endpoint(caller.reseller_id, endpoint_id) is None:
        raise _not_found(endpoint_id)
    before = None if cursor is None else int(decode_cursor(cursor, 1)[0])
    rows = container.outbound.deliveries(endpoint_id, limit + 1, before)
    page, more = rows[:limit], len(rows) > limit
    return WebhookDeliveriesPublic(
        items=[WebhookDeliveryPublic.model_validate(row) for row in page],
        next_cursor=encode_cursor(page[-1]["position"]) if more else None,
    )
