"""Every error as ``application/problem+json`` (RFC 9457), from one place.

Domain errors map to HTTP by family: invalid input 422, not found 404, conflict 409.
FastAPI's own validation errors become 422 with an ``errors`` list (400 when the
body is not JSON at all); unknown routes and methods are problems too, and an
unexpected exception is a 500 that shows nothing of its cause. A request that prefers
Portuguese (``Accept-Language: pt``) gets title, detail and messages in Portuguese.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import portuguese
from domain.errors import ConflictError, DomainError, InvalidInputError, NotFoundError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPES = "https://revenda-ledger.dev/problems/"


class ProblemError(Exception):
    """Raise from a route to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.errors = errors


def problem(
    status: int,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
    request: Request | None = None,
) -> JSONResponse:
    """A problem response; in Portuguese when ``request`` prefers ``pt``."""
    title = HTTPStatus(status).phrase
    content: dict[str, Any] = {
        "type": f"{PROBLEM_TYPES}{title.lower().replace(' ', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        content["errors"] = errors
    if request is not None and portuguese.prefers_portuguese(
        request.headers.get("accept-language")
    ):
        content["title"] = portuguese.title(status, title)
        content["detail"] = portuguese.detail(status, detail)
        for item in errors or []:
            item["msg"] = portuguese.message(
                item["msg"], item.pop("type", None), item.pop("ctx", None)
            )
    for item in errors or []:
        item.pop("type", None)
        item.pop("ctx", None)
    return JSONResponse(
        content, status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def _loc(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered so
    issues = error.errors()
    if any(issue.get("type") == "json_invalid" for issue in issues):
        return problem(400, "the request body is not valid JSON", request=request)
    errors = [
        {
            "loc": _loc(issue.get("loc", ())),
            "msg": str(issue.get("msg", "")),
            # For the translation; ``problem`` takes them out of the answer.
            "type": issue.get("type"),
            "ctx": issue.get("ctx"),
        }
        for issue in issues
    ]
    return problem(422, "the request is invalid", errors=errors, request=request)


def _domain(request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, InvalidInputError):
        return problem(
            422,
            str(error),
            errors=[{"loc": ["body", error.field], "msg": error.message}],
            request=request,
        )
    if isinstance(error, NotFoundError):
        return problem(404, str(error), request=request)
    if isinstance(error, ConflictError):
        return problem(409, str(error), request=request)
    return problem(400, str(error), request=request)


def _problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)  # noqa: S101 - registered so
    errors = [dict(item) for item in error.errors] if error.errors else error.errors
    return problem(
        error.status,
        error.detail,
        headers=error.headers,
        errors=errors,
        request=request,
    )


def _http(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered so
    detail = (
        error.detail
        if isinstance(error.detail, str)
        else HTTPStatus(error.status_code).phrase
    )
    if error.status_code == 404 and detail == "Not Found":  # noqa: PLR2004
        detail = "no such resource"
    return problem(
        error.status_code,
        detail,
        headers=dict(error.headers or {}),
        request=request,
    )


def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error(
        "unexpected error on %s %s", request.method, request.url.path, exc_info=error
    )
    return problem(
        500, "an unexpected error occurred; it has been logged", request=request
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(ProblemError, _problem)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)


class ProblemItem(BaseModel):
    """Where a request is invalid, and why."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None


def _self_contained(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its nested models written in place.

    OpenAPI resolves a ``$ref`` against the whole document, where the ``$defs`` of a
    schema embedded in a response do not exist (ReDoc refuses such a document).
    """
    schema = model.model_json_schema(ref_template="{model}")
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:  # noqa: ANN401 - any part of a JSON schema
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    result: dict[str, Any] = inline(schema)
    return result


_PROBLEM_SCHEMA = _self_contained(Problem)
_DESCRIPTIONS = {
    400: "Malformed body.",
    401: "No or invalid credentials.",
    403: "Authenticated but not allowed.",
    404: "Not found (or another tenant's).",
    409: "Conflict with the current state.",
    413: "Body over 1 MiB.",
    422: "Invalid input.",
    429: "Too many attempts; retry after the given seconds.",
    501: "Not implemented yet.",
    503: "The views are behind; retry after the given seconds.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problems a route can answer."""
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}},
        }
        for status in statuses
    }
