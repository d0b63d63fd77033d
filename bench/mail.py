"""B7: e-mail backlog: invoices registered per second that also get their PDF mailed.

A real server without SMTP settings (its ``FileSender`` writes ``.eml`` files under
the data directory) is sent ``--invoices`` invoices as fast as one client can; the
clock runs until the last one is registered and until the last one is mailed (one
``.eml`` file per invoice: a registered invoice gets one notice). Report only: the
goal is that the backlog never slows B2 or B4, which those benchmarks show.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import record, scratch_database, show
from tests.e2e.conftest import SECRETS, new_tenant
from tests.e2e.server import server_process

MAIL_TIMEOUT_SECONDS = 600.0


def mailed(data: Path) -> int:
    """How many messages the mail process has written (``FileSender``)."""
    return len(list(data.rglob("*.eml")))


def run(invoices: int, tmp: Path) -> dict[str, Any]:
    """Issue ``invoices`` over HTTP; time registration and mailing of all of them."""
    data = tmp / "data"
    with scratch_database() as url:
        env = {"DATABASE_URL": url, **SECRETS, "LEDGER_DATA_DIR": str(data)}
        with server_process(env, tmp / "serve.log") as (base_url, _process):
            session = new_tenant(base_url)
            client = session.billable_client()
            already = mailed(data)
            started = time.perf_counter()
            ids = [
                session.ok(session.invoice(client["id"]), 201)["id"]
                for _ in range(invoices)
            ]
            issued = time.perf_counter() - started
            for invoice_id in ids:
                session.wait_registered(invoice_id, timeout=120)
            registered = time.perf_counter() - started
            deadline = time.monotonic() + MAIL_TIMEOUT_SECONDS
            while mailed(data) < already + invoices:
                if time.monotonic() > deadline:
                    msg = f"{invoices} invoices not mailed in {MAIL_TIMEOUT_SECONDS}s"
                    raise TimeoutError(msg)
                time.sleep(0.05)
            done = time.perf_counter() - started
    eml = len(list(data.rglob("*.eml")))
    figures = {
        "value": round(invoices / done, 1),
        "unit": "invoices registered and mailed/s",
        "invoices": invoices,
        "issued_per_s": round(invoices / issued, 1),
        "registered_per_s": round(invoices / registered, 1),
        "mail_lag_s": round(done - registered, 2),
        "eml_files": eml,
    }
    show(
        f"B7 e-mail backlog ({invoices} invoices, PDF to .eml)",
        [
            ("mailed/s", f"{figures['value']}", "-", "-"),
            ("issued/s (1 client)", f"{figures['issued_per_s']}", "-", "-"),
            ("registered/s", f"{figures['registered_per_s']}", "-", "-"),
            (
                "last mail after last registration, s",
                f"{done - registered:.1f}",
                "-",
                "-",
            ),
        ],
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.mail [--invoices N]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        record("B7", run(args.invoices, Path(tmp)))


if __name__ == "__main__":
    main()
