"""A fake Asaas (API v3) written from its public documentation, over real HTTP.

It keeps its own customers and payments, authenticates the ``access_token``
header, answers the calls the adapter makes (customers, payments,
``identificationField``, ``pixQrCode``, DELETE) with the documented shapes and
``{"errors": [{code, description}]}`` refusals, and delivers webhooks as Asaas
does: ``{id, event, dateCreated, payment}`` POSTed with the configured token in
``asaas-access-token``, retried until answered 200. Tests inject failures (5xx,
timeouts, 4xx on the next N calls) and pay, receive in cash, undo or refund a
payment, which makes the fake deliver the events Asaas would.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx

from domain.boleto import Boleto
from domain.pix import PixCode

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
BANK_CODE = "461"
MIN_VALUE = Decimal("5.00")


@dataclass
class Fault:
    """Make the next ``times`` calls matching ``path`` fail this way."""

    times: int
    status: int = 500
    delay: float = 0.0
    """Seconds to wait, once the call is done, before answering it (longer than
    the client's timeout: the client cannot tell whether it happened)."""
    path: str = ""
    method: str = ""
    description: str = "Falha simulada"


@dataclass
class Delivery:
    """One webhook the fake sends, and how its attempts went."""

    body: dict[str, Any]
    statuses: list[int] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class FakeAsaas:
    """The fake server: start it with ``running()``; its URL ends in ``/v3``."""

    def __init__(
        self,
        api_key: str = "$aact_test_key",
        webhook_token: str = "whsec-asaas-token-for-tests",  # noqa: S107 - a test's
        *,
        webhook_url: str = "",
        retry_seconds: float = 0.05,
        max_attempts: int = 8,
    ) -> None:
        self.api_key = api_key
        self.webhook_token = webhook_token
        self.webhook_url = webhook_url
        self.retry_seconds = retry_seconds
        self.max_attempts = max_attempts
        self.customers: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, int]] = []
        """Every request as ``(method, path, status answered)``."""
        self.faults: list[Fault] = []
        self.deliveries: list[Delivery] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._numbers = iter(range(1, 10**9))

    # -- running ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API's base URL, as ``LEDGER_ASAAS_BASE_URL``."""
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v3"

    @contextmanager
    def running(self) -> Iterator[FakeAsaas]:
        """Serve on a free port in a thread for the duration."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: without this, Nagle and the
            # client's delayed ACK add 40 ms to every call.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                fake.handle(self, "GET")

            def do_POST(self) -> None:
                fake.handle(self, "POST")

            def do_DELETE(self) -> None:
                fake.handle(self, "DELETE")

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    # -- failure injection ----------------------------------------------------------

    def fail(self, times: int, status: int = 500, **kwargs: Any) -> None:
        """The next ``times`` matching calls answer ``status``."""
        self.faults.append(Fault(times, status, **kwargs))

    def hang(self, times: int, seconds: float, **kwargs: Any) -> None:
        """The next ``times`` matching calls answer only after ``seconds``."""
        self.faults.append(Fault(times, 200, delay=seconds, **kwargs))

    def _fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if (
                    fault.times > 0
                    and path.startswith(fault.path)
                    and fault.method in {"", method}
                ):
                    fault.times -= 1
                    return fault
        return None

    def count(self, method: str, path: str) -> int:
        """How many calls were made to exactly ``method path``."""
        return sum(1 for m, p, _ in self.calls if (m, p) == (method, path))

    # -- HTTP ---------------------------------------------------------------------

    def handle(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        path = parts.path.removeprefix("/v3")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(request.headers.get("content-length") or 0)
        raw = request.rfile.read(length) if length else b""
        status, body = self._answer(request, method, path, query, raw)
        payload = json.dumps(body, default=str).encode()
        try:
            request.send_response(status)
            request.send_header("content-type", "application/json")
            request.send_header("content-length", str(len(payload)))
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout it was told to have)

    def _answer(
        self,
        request: BaseHTTPRequestHandler,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
    ) -> tuple[int, Any]:
        fault = self._fault(method, path)
        status, body = self._result(request, method, path, query, raw, fault)
        with self.lock:
            self.calls.append((method, path, status))
        if fault is not None and fault.delay:
            # Done, but answered after the client's timeout: did it happen?
            time.sleep(fault.delay)
        return status, body

    def _result(  # noqa: PLR0913, PLR0917 - the parts of one request
        self,
        request: BaseHTTPRequestHandler,
        method: str,
        path: str,
        query: dict[str, str],
        raw: bytes,
        fault: Fault | None,
    ) -> tuple[int, Any]:
        if request.headers.get("access_token") != self.api_key:
            return 401, _errors("invalid_access_token", "Chave de API inválida")
        if fault is not None and not fault.delay:
            return fault.status, _errors("simulated", fault.description)
        try:
            body = json.loads(raw, parse_float=Decimal) if raw else {}
        except ValueError:
            return 400, _errors("invalid_json", "JSON inválido")
        segments = [s for s in path.split("/") if s]
        with self.lock:
            return self._route(method, segments, query, body)

    def _route(  # noqa: PLR0911 - one answer per documented endpoint
        self,
        method: str,
        segments: list[str],
        query: dict[str, str],
        body: dict[str, Any],
    ) -> tuple[int, Any]:
        match method, segments:
            case "GET", ["customers"]:
                found = [
                    c
                    for c in self.customers.values()
                    if query.get("cpfCnpj") in {None, c["cpfCnpj"]}
                ]
                return 200, _page(found)
            case "POST", ["customers"]:
                return self._create_customer(body)
            case "GET", ["payments"]:
                found = [
                    p
                    for p in self.payments.values()
                    if query.get("externalReference") in {None, p["externalReference"]}
                ]
                return 200, _page(found)
            case "POST", ["payments"]:
                return self._create_payment(body)
            case "GET", ["payments", payment_id]:
                payment = self.payments.get(payment_id)
                if payment is None:
                    return 404, _errors("not_found", "Cobrança não encontrada")
                return 200, payment
            case "GET", ["payments", payment_id, "identificationField"]:
                return self._identification(payment_id)
            case "GET", ["payments", payment_id, "pixQrCode"]:
                return self._pix(payment_id)
            case "DELETE", ["payments", payment_id]:
                return self._delete(payment_id)
        return 404, _errors("not_found", "Recurso não encontrado")

    def _create_customer(self, body: dict[str, Any]) -> tuple[int, Any]:
        document = str(body.get("cpfCnpj") or "")
        if not body.get("name"):
            return 400, _errors("invalid_name", "O nome do cliente é obrigatório")
        if len(document) not in {11, 14} or not document.isdigit():
            return 400, _errors("invalid_cpfCnpj", "O CPF/CNPJ informado é inválido")
        customer = {
            "object": "customer",
            "id": f"cus_{uuid4().hex[:12]}",
            "name": body["name"],
            "cpfCnpj": document,
            "email": body.get("email"),
            "notificationDisabled": bool(body.get("notificationDisabled")),
            "deleted": False,
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def _create_payment(self, body: dict[str, Any]) -> tuple[int, Any]:
        if body.get("customer") not in self.customers:
            return 400, _errors("invalid_customer", "Cliente inexistente")
        if body.get("billingType") not in {"BOLETO", "PIX", "UNDEFINED"}:
            return 400, _errors("invalid_billingType", "Forma de pagamento inválida")
        value = body.get("value")
        if not isinstance(value, Decimal | int) or Decimal(value) < MIN_VALUE:
            return 400, _errors("invalid_value", "O valor mínimo para boleto é R$ 5,00")
        try:
            due = date.fromisoformat(str(body.get("dueDate")))
        except ValueError:
            return 400, _errors("invalid_dueDate", "Data de vencimento inválida")
        number = next(self._numbers)
        payment = {
            "object": "payment",
            "id": f"pay_{uuid4().hex[:16]}",
            "dateCreated": datetime.now(SAO_PAULO).date().isoformat(),
            "customer": body["customer"],
            "value": Decimal(value),
            "netValue": Decimal(value),
            "originalValue": None,
            "interestValue": None,
            "description": body.get("description"),
            "billingType": body["billingType"],
            "status": "PENDING",
            "dueDate": due.isoformat(),
            "originalDueDate": due.isoformat(),
            "paymentDate": None,
            "clientPaymentDate": None,
            "confirmedDate": None,
            "externalReference": body.get("externalReference"),
            "nossoNumero": f"{number:08d}",
            "invoiceNumber": f"{number:08d}",
            "deleted": False,
            "fine": body.get("fine") or {"value": 0, "type": "PERCENTAGE"},
            "interest": body.get("interest") or {"value": 0, "type": "PERCENTAGE"},
            "discount": {"value": 0, "dueDateLimitDays": 0, "type": "FIXED"},
        }
        self.payments[payment["id"]] = payment
        self._queue("PAYMENT_CREATED", payment)
        return 200, payment

    def _live(self, payment_id: str) -> dict[str, Any] | None:
        payment = self.payments.get(payment_id)
        return None if payment is None or payment["deleted"] else payment

    def boleto(self, payment: dict[str, Any]) -> Boleto:
        """The payment's boleto: the fake's bank, its nosso número, its value."""
        cents = int(Decimal(payment["value"]) * 100)
        free_field = f"{payment['nossoNumero']:0>25}"
        due = date.fromisoformat(payment["dueDate"])
        return Boleto.create(BANK_CODE, due, cents, free_field)

    def _identification(self, payment_id: str) -> tuple[int, Any]:
        payment = self._live(payment_id)
        if payment is None:
            return 404, _errors("not_found", "Cobrança não encontrada")
        boleto = self.boleto(payment)
        line = boleto.digitable_line.replace(".", "").replace(" ", "")
        return 200, {
            "identificationField": line,
            "nossoNumero": payment["nossoNumero"],
            "barCode": boleto.barcode,
        }

    def _pix(self, payment_id: str) -> tuple[int, Any]:
        payment = self._live(payment_id)
        if payment is None:
            return 404, _errors("not_found", "Cobrança não encontrada")
        payload = PixCode(
            key="asaas-fake-pix-key@example.com",
            merchant_name="ASAAS FAKE",
            merchant_city="JOINVILLE",
            amount_cents=int(Decimal(payment["value"]) * 100),
            txid=payment["id"].replace("_", "")[:25],
        ).encode()
        return 200, {
            "encodedImage": "iVBORw0KGgo=",
            "payload": payload,
            "expirationDate": f"{payment['dueDate']} 23:59:59",
        }

    def _delete(self, payment_id: str) -> tuple[int, Any]:
        payment = self._live(payment_id)
        if payment is None:
            return 404, _errors("not_found", "Cobrança não encontrada")
        if payment["status"] in {"RECEIVED", "CONFIRMED", "RECEIVED_IN_CASH"}:
            return 400, _errors(
                "invalid_action", "Não é possível remover uma cobrança recebida"
            )
        payment["deleted"] = True
        self._queue("PAYMENT_DELETED", payment)
        return 200, {"deleted": True, "id": payment_id}

    # -- what the payer (or Asaas) does ---------------------------------------------

    def payment_for(self, invoice_id: str) -> dict[str, Any]:
        """The live payment whose ``externalReference`` is ``invoice_id``."""
        with self.lock:
            return next(
                p
                for p in self.payments.values()
                if p["externalReference"] == invoice_id and not p["deleted"]
            )

    def pay(
        self,
        payment_id: str,
        *,
        value: Decimal | None = None,
        billing_type: str = "BOLETO",
        events: tuple[str, ...] = ("PAYMENT_CONFIRMED", "PAYMENT_RECEIVED"),
    ) -> list[Delivery]:
        """The payer pays: ``value`` (interest and fine included) defaults to the
        payment's; Asaas then confirms and receives it, one webhook each."""
        with self.lock:
            payment = self.payments[payment_id]
            today = datetime.now(SAO_PAULO).date().isoformat()
            original = Decimal(payment["value"])
            paid = original if value is None else value
            payment.update(
                billingType=billing_type,
                value=paid,
                originalValue=original if paid != original else None,
                interestValue=paid - original if paid != original else None,
                paymentDate=today,
                clientPaymentDate=today,
                confirmedDate=today,
            )
            sent = []
            for name in events:
                payment["status"] = name.removeprefix("PAYMENT_")
                sent.append(self._queue(name, payment))
            return sent

    def send(self, name: str, payment_id: str) -> Delivery:
        """Asaas reports ``name`` about the payment (its state unchanged)."""
        with self.lock:
            return self._queue(name, self.payments[payment_id])

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Deliver the same event again (Asaas delivers at least once)."""
        with self.lock:
            again = Delivery(dict(delivery.body))
            self.deliveries.append(again)
        self._start(again)
        return again

    def _queue(self, name: str, payment: dict[str, Any]) -> Delivery:
        delivery = Delivery(
            {
                "id": f"evt_{uuid4().hex}&{next(self._numbers)}",
                "event": name,
                "dateCreated": datetime.now(SAO_PAULO).strftime("%Y-%m-%d %H:%M:%S"),
                "payment": json.loads(json.dumps(payment, default=str)),
            }
        )
        self.deliveries.append(delivery)
        self._start(delivery)
        return delivery

    def _start(self, delivery: Delivery) -> None:
        if not self.webhook_url:
            delivery.done.set()
            return
        threading.Thread(target=self._deliver, args=(delivery,), daemon=True).start()

    def _deliver(self, delivery: Delivery) -> None:
        """POST until answered 200 (Asaas counts anything else as a failure)."""
        content = json.dumps(delivery.body).encode()
        headers = {
            "content-type": "application/json",
            "asaas-access-token": self.webhook_token,
            "user-agent": "Asaas_Hmlg/3.0",
        }
        delay = self.retry_seconds
        with httpx.Client(timeout=10) as client:
            for _ in range(self.max_attempts):
                try:
                    status = client.post(
                        self.webhook_url, content=content, headers=headers
                    ).status_code
                except httpx.HTTPError:
                    status = 0
                delivery.statuses.append(status)
                if status == 200:
                    break
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
        delivery.done.set()


def _errors(code: str, description: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "description": description}]}


def _page(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "hasMore": False,
        "totalCount": len(items),
        "limit": 10,
        "offset": 0,
        "data": items,
    }
