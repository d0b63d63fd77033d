"""The ``ledger`` command line: serve the API, run and maintain the views."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from types import FrameType

import psycopg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TimeRemainingColumn,
)
from rich.table import Table

from api import cli_webhooks
from api.bootstrap import (
    build_container,
    build_ledger,
    daily_jobs,
    mail_follower,
    outbound_events,
    processes,
    reader_of,
)
from api.children import (
    Child,
    ledger_command,
    lower_priority,
    stop_at_end_of_input,
)
from api.database import EmbeddedPostgres
from api.settings import Settings, SettingsError
from application.actors import Actor, set_actor
from application.chain import audit_all
from application.processes import run_daily
from projections import maintenance, set_aside
from projections.followers import retry_process
from projections.outbox import retry_queuer
from projections.reader import EventReader
from projections.view import View

console = Console()


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0 if signum == signal.SIGTERM else 128 + signum)


def _wait_until(stopped: threading.Event) -> None:
    """Wait for ``stopped``, waking now and then.

    Python runs signal handlers in the main thread between bytecodes; a signal that
    the kernel delivers to another thread would wait forever behind a wait without
    a timeout (seen: ``ledger project`` ignoring SIGTERM while it mailed).
    """
    while not stopped.wait(0.5):
        pass


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The database URL: ``DATABASE_URL``, or an embedded server for the duration."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        url = embedded.start()
        # Worker processes (uvicorn --workers) read the URL from the environment.
        os.environ["DATABASE_URL"] = url
        os.environ["LEDGER_EMBEDDED"] = "true"
        yield url
    finally:
        embedded.stop()


@contextmanager
def mail_worker(settings: Settings, url: str, *, wanted: bool) -> Iterator[bool]:
    """A supervised ``ledger mail`` child for the block, if ``wanted``.

    Yields whether the child mails, that is whether this process must not (the
    setting ``mailer_elsewhere``; its app reads it from ``LEDGER_MAILER_ELSEWHERE``).
    Used inside ``database``: the child reads the URL from the environment.
    """
    if not wanted:
        yield False
        return
    # The ledger's tables first: the child and this process would create them at
    # once on a new database, and PostgreSQL can refuse one of two concurrent
    # CREATE TABLE IF NOT EXISTS.
    build_ledger(settings, url).close()
    mailer = Child("mail worker", ledger_command("mail", "--supervised"))
    os.environ["LEDGER_MAILER_ELSEWHERE"] = "true"
    mailer.start()
    try:
        yield True
    finally:
        mailer.stop()


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run the HTTP service (with the views' runner unless told otherwise)."""
    import uvicorn  # noqa: PLC0415 - only the serve command needs it

    settings.check_secrets()
    # The app (in this or in worker processes) reads its own address from these.
    os.environ["LEDGER_HOST"] = host
    os.environ["LEDGER_PORT"] = str(port)
    with database(settings) as url:
        shown = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host  # noqa: S104
        console.print(
            f"Painel de Revenda e ERP: http://{shown}:{port}/entrar\n"
            f"API (OpenAPI): http://{shown}:{port}/docs",
            soft_wrap=True,
        )
        with mail_worker(
            settings, url, wanted=settings.run_projections and settings.mail_worker
        ):
            uvicorn.run(
                "api.app:create_app",
                factory=True,
                host=host,
                port=port,
                workers=workers,
                log_level="info",
            )
    return 0


def mail(settings: Settings, *, supervised: bool) -> int:
    """Render and mail the invoices' notices, at low priority (``ledger mail``).

    ``ledger serve`` and ``ledger project`` run one as their child
    (``--supervised``: it stops when its input, a pipe from its parent, ends). One
    mails at a time across processes (its follower's advisory lock); another waits
    on standby.
    """
    # A PDF per notice is CPU that requests and the views should get first.
    lower_priority(10, settings.mail_session_niceness)
    with database(settings) as url:
        ledger = build_ledger(settings, url)
        follower = mail_follower(ledger, settings, url)
        stopped = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        if supervised:
            stop_at_end_of_input(stopped)
        follower.start()
        logging.getLogger(__name__).info("mail worker running (pid %s)", os.getpid())
        _wait_until(stopped)
        follower.stop()
        ledger.close()
    return 0


def project(settings: Settings) -> int:
    """Run the views, the processes and the sweep (hot standby if another runs).

    The invoice mailer runs in a ``ledger mail`` child, as in ``ledger serve``,
    unless ``LEDGER_MAIL_WORKER=false``.
    """
    with (
        database(settings) as url,
        mail_worker(settings, url, wanted=settings.mail_worker) as elsewhere,
    ):
        update = {
            "database_url": url,
            "mailer_elsewhere": settings.mailer_elsewhere or elsewhere,
        }
        container = build_container(
            settings.model_copy(update=update), run_projections=True
        )
        stopped = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        container.start()
        console.log("views, processes and sweep running")
        _wait_until(stopped)
        container.close()
    return 0


def tick(settings: Settings, today: date | None = None) -> int:
    """Run the day's work once for every reseller (``api.bootstrap.daily_jobs``).

    Automatic billing (when ``today`` is a reseller's billing day), the overdue
    sweep and dunning, judged by ``today`` (default: the São Paulo today of the
    business clock). Exits 1 when the views are behind or a job failed.
    """
    with database(settings) as url:
        container = build_container(
            settings.model_copy(update={"database_url": url}), run_projections=False
        )
        try:
            container.read_models.watcher.start()
            head = container.ledger.recorder.max_notification_id() or 0
            if not container.read_models.wait_for(head, 30):
                console.print("[red]the views are behind; run `ledger project`[/red]")
                return 1
            day = today or container.ledger.today()
            results = run_daily(daily_jobs(container), day)
        finally:
            container.started = True
            container.close()
    console.print(f"day {day.isoformat()}")
    for name, result in results.items():
        console.print(_tick_line(name, result))
    return 1 if None in results.values() else 0


def _tick_line(name: str, result: object) -> str:
    """What a daily job did, in words."""
    if result is None:
        return f"[red]{name} failed (see the log)[/red]"
    if name == "overdue_sweep":
        return f"{result} invoice(s) marked overdue"
    if name == "notice_sweep":
        return f"{result} notice(s) due"
    if name == "automatic_billing":
        return f"{result} invoice(s) issued by automatic billing"
    if name == "dunning" and isinstance(result, dict):
        return (
            f"{result['suspended']} contract(s) suspended for overdue debts, "
            f"{result['reinstated']} reinstated"
        )
    return f"{name}: {result}"


def projections(settings: Settings, action: str, names: Sequence[str]) -> int:
    """``ledger projections status|rebuild|verify|retry [VIEW...]``."""
    views = maintenance.views_named(names)
    with database(settings) as url:
        if action == "retry":
            return _retry(settings.model_copy(update={"database_url": url}))
        ledger = build_ledger(settings, url)
        reader = reader_of(ledger)
        try:
            if action == "status":
                return _status(url, reader)
            if action == "rebuild":
                return _rebuild(url, reader, views)
            return _verify(url, reader, views)
        finally:
            ledger.close()


def _status(url: str, reader: EventReader) -> int:
    table = Table("view", "position", "head", "lag")
    for row in maintenance.status(url, reader):
        table.add_row(row.name, str(row.position), str(row.head), str(row.lag))
    console.print(table)
    with psycopg.connect(url, autocommit=True) as conn:
        found = set_aside.listed(conn)
    if not found:
        console.print("no event set aside")
        return 0
    aside = Table(
        "view or process",
        "position",
        "tenant",
        "aggregate",
        "attempts",
        "error",
        title=f"{len(found)} event(s) set aside (`ledger projections retry`)",
    )
    for item in found:
        aside.add_row(
            item.follower,
            str(item.position),
            str(item.reseller_id or "-"),
            str(item.aggregate_id or "-"),
            str(item.attempts),
            item.error,
        )
    console.print(aside)
    return 0


def _retry(settings: Settings) -> int:
    """Apply every set-aside event again: views here, processes with their wiring."""
    container = build_container(settings, run_projections=False)
    try:
        reader = reader_of(container.ledger)
        url = container.database_url
        results = maintenance.retry(url, reader)
        for reactor in processes(container):
            results[reactor.name] = retry_process(reader, url, reactor)
        queuer = outbound_events(container)
        results[queuer.name] = retry_queuer(reader, url, queuer)
    finally:
        container.close()
    still = 0
    for name, result in results.items():
        console.print(
            f"{name}: {len(result.applied)} applied, {len(result.failed)} still failing"
            + (
                f", {len(result.superseded)} with later events"
                f" (`ledger projections rebuild {name}`)"
                if result.superseded
                else ""
            )
        )
        still += len(result.failed) + len(result.superseded)
    if not results:
        console.print("no event set aside")
    return 1 if still else 0


def _progress() -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )


def _rebuild(url: str, reader: EventReader, views: Sequence[type[View]]) -> int:
    names = ", ".join(view.name for view in views)
    with _progress() as progress:
        task = progress.add_task(f"rebuild {names}", total=reader.head() or 1)

        def advance(done: int, head: int) -> None:
            progress.update(task, completed=done, total=head)

        position = maintenance.rebuild(url, reader, views, advance)
        progress.update(task, completed=position, total=max(position, 1))
    console.print(f"rebuilt {names} up to position {position}")
    return 0


def _verify(url: str, reader: EventReader, views: Sequence[type[View]]) -> int:
    failed = False
    for view in views:
        differences = maintenance.verify(url, reader, view)
        if differences.count == 0:
            console.print(f"{view.name}: equal at position {differences.position}")
            continue
        failed = True
        console.print(
            f"[red]{view.name}: {differences.count} rows differ "
            f"at position {differences.position}[/red]"
        )
        for label, found in (
            ("only in the live view", differences.only_live),
            ("only in the replay", differences.only_replayed),
        ):
            for table_name, rows in found.items():
                for row in rows:
                    console.print(f"  {table_name} {label}: {row}")
    return 1 if failed else 0


def audit(settings: Settings) -> int:
    """``ledger audit verify``: recompute every tenant's chain; 1 if one is broken."""
    with database(settings) as url:
        ledger = build_ledger(settings, url)
        try:
            results = audit_all(ledger.recorder, ledger.mapper)
        finally:
            ledger.close()
    broken = {t: v for t, v in results.items() if not v.ok}
    for tenant, verification in broken.items():
        console.print(
            f"[red]tenant {tenant}: first bad event at position "
            f"{verification.first_bad_position}: {verification.problem}[/red]"
        )
    events = sum(v.events for v in results.values())
    console.print(
        f"{len(results)} tenant chain(s), {events} event(s): "
        + (f"{len(broken)} broken" if broken else "all verify")
    )
    return 1 if broken else 0


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser, with defaults from ``settings``."""
    parser = argparse.ArgumentParser(prog="ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the HTTP API")
    serve_parser.add_argument("--host", default=settings.host)
    serve_parser.add_argument("--port", type=int, default=settings.port)
    serve_parser.add_argument("--workers", type=int, default=settings.workers)
    commands.add_parser("project", help="run the views, processes and sweep")
    mail_parser = commands.add_parser(
        "mail", help="render and mail the invoices' notices (low priority)"
    )
    mail_parser.add_argument(
        "--supervised",
        action="store_true",
        help="stop when standard input ends (how `ledger serve` and `project` run it)",
    )
    tick_parser = commands.add_parser(
        "tick",
        help="run the day's work once: automatic billing, overdue sweep, dunning",
    )
    tick_parser.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the São Paulo date to judge by (default: today)",
    )
    views_parser = commands.add_parser("projections", help="inspect and repair views")
    views_parser.add_argument(
        "action", choices=["status", "rebuild", "verify", "retry"]
    )
    views_parser.add_argument("views", nargs="*", metavar="VIEW")
    cli_webhooks.add_parser(commands)
    audit_parser = commands.add_parser("audit", help="check the tenants' hash chains")
    audit_parser.add_argument("action", choices=["verify"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one per command
    """Entry point of the ``ledger`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        settings = Settings()
    except (SettingsError, ValueError) as error:
        print(f"ledger: {error}", file=sys.stderr)  # noqa: T201
        return 2
    args = build_parser(settings).parse_args(argv)
    # uvicorn re-raises the SIGTERM it caught once it has shut down; turning it
    # into SystemExit lets an embedded database be stopped cleanly.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # Whatever a command records, it records as itself (the server's requests and
    # processes say who they act for in their own contexts).
    set_actor(Actor.system(f"ledger {args.command}"))
    try:
        if args.command == "serve":
            return serve(settings, args.host, args.port, args.workers)
        if args.command == "project":
            return project(settings)
        if args.command == "mail":
            return mail(settings, supervised=args.supervised)
        if args.command == "tick":
            return tick(settings, args.today)
        if args.command == "webhooks":
            with database(settings) as url:
                return cli_webhooks.run(settings, url, args)
        if args.command == "projections":
            return projections(settings, args.action, args.views)
        return audit(settings)
    except (SettingsError, ValueError) as error:
        print(f"ledger: {error}", file=sys.stderr)  # noqa: T201
        return 2


if __name__ == "__main__":
    sys.exit(main())
