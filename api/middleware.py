"""ASGI middleware: body limit, idempotency keys, security headers, logs, metrics."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio
from prometheus_client import Counter, Histogram

from adapters.idempotency import IdempotencyStore
from api.problems import problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1024 * 1024
MAX_KEY_LENGTH = 255
WAIT_FOR_TWIN_SECONDS = 10.0

access_log = logging.getLogger("ledger.access")

REQUESTS = Counter(
    "ledger_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
LATENCY = Histogram(
    "ledger_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


async def _send_problem(
    send: Send, status: int, detail: str, errors: list[dict[str, Any]] | None = None
) -> None:
    response = problem(status, detail, errors=errors)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


class BodyLimit:
    """Refuse bodies over 1 MiB with 413, without reading them whole."""

    def __init__(self, app: ASGIApp, limit_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, then count what arrives."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > self.limit_bytes
        ):
            await _send_problem(send, 413, "the request body is over 1 MiB")
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit_bytes:
                    raise _TooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLargeError:
            if not started:
                await _send_problem(send, 413, "the request body is over 1 MiB")


class _TooLargeError(Exception):
    pass


class AccessLog:
    """One JSON log line and the metrics of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its outcome."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(seconds)
            state = scope.get("state") or {}
            access_log.info(
                json.dumps(
                    {
                        "method": method,
                        "route": route,
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "tenant": state.get("tenant"),
                    }
                )
            )


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
    "img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PAGES = ("/docs", "/redoc")
"""fastapi-offline's pages start Swagger UI and ReDoc with inline scripts."""


class SecurityHeaders:
    """Headers that keep browsers from sniffing, framing or caching our answers.

    Every response gets the content security policy (no scripts at all but on the
    docs pages), ``nosniff``, no framing and no referrer; everything under ``/v1``
    (tenant data, invoices and boletos as documents) is ``no-store``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        docs = path in DOCS_PAGES or path.startswith("/docs/")
        added = [
            (
                b"content-security-policy",
                (
                    DOCS_CONTENT_SECURITY_POLICY if docs else CONTENT_SECURITY_POLICY
                ).encode(),
            ),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if path.startswith("/v1/"):
            added.append((b"cache-control", b"no-store"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in added if name not in present),
                ]
            await send(message)

        await self.app(scope, receive, with_headers)


_KEY_ERROR = [{"loc": ["header", "Idempotency-Key"], "msg": "conflicts with its use"}]
KEPT_HEADERS = {"content-type", "ledger-position", "location"}


class Idempotency:
    """``Idempotency-Key`` on POST: same key and body replay the first response."""

    def __init__(
        self,
        app: ASGIApp,
        store: Callable[[], IdempotencyStore],
        caller_scope: Callable[[Scope], str | None],
    ) -> None:
        self.app = app
        self.store = store
        self.caller_scope = caller_scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Claim, replay or refuse, around the request."""
        key = _header(scope, b"idempotency-key")
        if scope["type"] != "http" or scope["method"] != "POST" or key is None:
            await self.app(scope, receive, send)
            return
        owner = self.caller_scope(scope)
        if owner is None:  # not authenticated: the route answers 401 itself
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            await _send_problem(
                send, 422, "Idempotency-Key must have 1 to 255 chars", _KEY_ERROR
            )
            return
        body, more = await _read_body(receive)
        digest = hashlib.sha256(
            scope["method"].encode() + b" " + scope["path"].encode() + b"\n" + body
        ).hexdigest()
        store = self.store()
        stored = await anyio.to_thread.run_sync(store.claim, owner, key, digest)
        if stored is not None and not await self._answer_twin(
            send=send,
            store=store,
            owner=owner,
            key=key,
            digest=digest,
            stored=stored,
        ):
            return
        await self._run_first(
            scope=scope,
            send=send,
            store=store,
            claim=(owner, key),
            body=body,
            more=more,
        )

    async def _answer_twin(  # noqa: PLR0913 - the parts of a stored key
        self,
        *,
        send: Send,
        store: IdempotencyStore,
        owner: str,
        key: str,
        digest: str,
        stored: tuple[Any, ...] | None,
    ) -> bool:
        """Answer as the first request with this key did, or claim the key.

        ``True`` when the first let go of the key (it failed or was refused) and
        this request claimed it: it runs as the first then.
        """
        deadline = time.monotonic() + WAIT_FOR_TWIN_SECONDS
        while stored is not None and stored[1] is None and time.monotonic() < deadline:
            await anyio.sleep(0.02)  # the first request with this key is running
            stored = await anyio.to_thread.run_sync(store.claim, owner, key, digest)
        if stored is None:
            return True
        if stored[1] is None:
            detail = "a request with this Idempotency-Key is still being processed"
            await _send_problem(send, 409, detail)
            return False
        request_hash, status, headers, body = stored
        if request_hash != digest:
            detail = "this Idempotency-Key was used with another request"
            await _send_problem(send, 422, detail, _KEY_ERROR)
            return False
        raw = [(name.encode(), value.encode()) for name, value in headers]
        raw.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": bytes(body)})
        return False

    async def _run_first(  # noqa: PLR0913 - the parts of one request
        self,
        *,
        scope: Scope,
        send: Send,
        store: IdempotencyStore,
        claim: tuple[str, str],
        body: bytes,
        more: Receive,
    ) -> None:
        status = 500
        headers: list[list[str]] = []
        chunks: list[bytes] = []
        replayed = released = False

        async def replay_body() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await more()

        async def capture(message: Message) -> None:
            nonlocal status, released
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:  # noqa: PLR2004 - free before the caller can retry
                    await anyio.to_thread.run_sync(store.release, *claim)
                    released = True
                headers.extend(
                    [name.decode(), value.decode()]
                    for name, value in message.get("headers", [])
                    if name.decode().lower() in KEPT_HEADERS
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_body, capture)
        finally:
            # A failure is not a result to replay, and a refusal (4xx) leaves the
            # key free for the corrected request (API.md, Idempotency-Key).
            if status >= 400 and not released:  # noqa: PLR2004
                await anyio.to_thread.run_sync(store.release, *claim)
            elif not released:
                await anyio.to_thread.run_sync(
                    store.complete, *claim, status, headers, b"".join(chunks)
                )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks), receive
