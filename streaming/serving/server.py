"""Running the web service's ASGI app on gunicorn (a production server), and making sure
it can listen before gunicorn starts.

gunicorn retries a busy port five times, a second apart, with an ERROR line each
time; ``check_listen`` finds that (and a port it may not use, a host that is not
this machine's) at once, as one line. gunicorn's runtime-control socket is off:
its default is one fixed path per user (``$XDG_RUNTIME_DIR/gunicorn.ctl`` or
``~/.gunicorn/gunicorn.ctl``), which every server on the machine would share,
and nothing here uses it.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

from streaming.serving.errors import ServeError

#: gunicorn's ``timeout``: a worker whose event loop is stuck this long is restarted.
GUNICORN_TIMEOUT = 30


def check_listen(host: str, port: int) -> None:
    """``ServeError`` (one line naming the fix) unless a server can listen on host:port.

    Binds as gunicorn does (``SO_REUSEADDR``, IPv6 if the host has a colon) and lets go
    at once; what is left is a race with another program in the second before gunicorn
    binds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except socket.gaierror as exc:
        raise ServeError(
            f"--host {host}: not a known host name or address ({exc.strerror})"
        ) from exc
    except OSError as exc:
        raise ServeError(_bind_problem(exc, host, port, where)) from exc


def _bind_problem(exc: OSError, host: str, port: int, where: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} is in use on {host} (another streaming serve?): stop it, or "
            "choose another --port"
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on {where}: permission denied (choose a --port above 1023)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return (
            f"--host {host} is not an address of this machine (127.0.0.1: this machine "
            "only; 0.0.0.0: every interface)"
        )
    return f"cannot listen on {where}: {exc.strerror or exc}"


def gunicorn_options(host: str, port: int, workers: int, access_log: bool) -> dict[str, Any]:
    """gunicorn's settings for the web service."""
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        # asyncio: a slow client costs a socket, not a thread (README, "Web service")
        "worker_class": "asgi",
        "asgi_lifespan": "off",
        # a silent worker is restarted; also bounds each wait for body bytes
        "timeout": GUNICORN_TIMEOUT,
        "graceful_timeout": 10,
        "keepalive": 5,
        # no runtime-control socket: its default path is shared by every server of the
        # user on the machine (tests run several), and nothing here uses it
        "control_socket_disable": True,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "info",
    }


def run_gunicorn(app: Any, options: dict[str, Any]) -> None:
    """Serve ``app`` (already loaded: the workers share it) until gunicorn stops."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()
