"""The ``ledger`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from api.database import EmbeddedPostgres
from api.settings import Settings, SettingsError


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0 if signum == signal.SIGTERM else 128 + signum)


def serve(settings: Settings, host: str, port: int, workers: int) -> int:
    """Run the HTTP service, on the embedded database when no URL is set."""
    import uvicorn  # noqa: PLC0415 - only the serve command needs it

    embedded: EmbeddedPostgres | None = None
    # uvicorn re-raises the SIGTERM it caught once it has shut down; turning it
    # into SystemExit lets the embedded database below be stopped cleanly.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        settings.check_secrets()
        if settings.database_url is None:
            embedded = EmbeddedPostgres(settings.data_dir)
            # Workers are separate processes that read the URL from the environment.
            os.environ["DATABASE_URL"] = embedded.start()
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )
    except SettingsError as error:
        print(f"ledger: {error}", file=sys.stderr)  # noqa: T201
        return 2
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The argument parser, with defaults from ``settings``."""
    parser = argparse.ArgumentParser(prog="ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the HTTP API")
    serve_parser.add_argument("--host", default=settings.host)
    serve_parser.add_argument("--port", type=int, default=settings.port)
    serve_parser.add_argument("--workers", type=int, default=settings.workers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ledger`` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    settings = Settings()
    args = build_parser(settings).parse_args(argv)
    if args.command == "serve":
        return serve(settings, args.host, args.port, args.workers)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
