"""``streaming dashboard``: serve the monitoring database as a live page.

    streaming dashboard --db sqlite:///monitoring.db
    streaming dashboard --db postgresql://monitor@db.internal:5432/monitoring --port 8050

The page (``streaming.dashboard``) shows volume, drift against the training
reference, RMSE/MAE of finished rides, dead letters by reason and the champion
against the shadow, per window, with a table of the latest windows, and
refreshes itself. It needs nothing from the network: the chart library ships
with the project. It listens on 127.0.0.1 unless ``--host`` says otherwise.
"""

from __future__ import annotations

import sys

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import CommandParser, non_negative_float, port_or_any
from streaming.tools.common import safe_url

DEFAULT_DB = "sqlite:///monitoring.db"


def build_parser() -> CommandParser:
    p = CommandParser("streaming dashboard", __doc__ or "")
    p.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="URL",
        help=f"the monitoring database: sqlite:///FILE or postgresql://... (default: {DEFAULT_DB})",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--port", type=port_or_any, default=8050, help="port, 0 for any free one (default: 8050)"
    )
    p.add_argument(
        "--hours",
        type=non_negative_float,
        default=24.0,
        help="show the windows of the last N hours, 0 for all (default: 24)",
    )
    p.add_argument(
        "--refresh",
        type=int,
        default=15,
        metavar="SECONDS",
        help="the page refreshes itself every SECONDS, 2-3600 (default: 15)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not 2 <= args.refresh <= 3600:
        raise usage_error(f"--refresh {args.refresh}: give 2-3600 seconds")
    server = start(args.db, args.host, args.port, hours=args.hours, refresh_s=args.refresh)
    print(f"streaming dashboard: {server.url} (database {safe_url(args.db)}; Ctrl-C stops)")
    sys.stdout.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def start(db: str, host: str, port: int, *, hours: float = 24.0, refresh_s: int = 15):
    """Open (and migrate) the database, bind the server; raise ``CommandError`` with the
    fix when either cannot be done. The caller runs ``serve_forever``."""
    from sqlalchemy.exc import SQLAlchemyError

    from streaming.dashboard.server import DashboardServer
    from streaming.monitoring.store import StoreError, open_store

    try:
        engine = open_store(db)
    except StoreError as exc:
        raise usage_error(str(exc)) from exc
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
        raise CommandError(
            f"cannot open the monitoring database {safe_url(db)}: {first} (is it running, and "
            "is the URL right?)"
        ) from exc
    try:
        return DashboardServer((host, port), engine, hours=hours, refresh_s=refresh_s)
    except OSError as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc} (choose another --port)"
        ) from exc
