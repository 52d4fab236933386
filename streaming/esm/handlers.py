"""Loading the function's handler as Lambda does: ``module.function`` from the task root.

Importing the module is the function's init: an exception there is an init
failure (Lambda: ``Runtime.InitError``), reported apart from a handler that
does not exist, so the command line can tell a mistake from a failing init.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any], Any], Any]


class HandlerError(Exception):
    """The handler cannot be loaded. ``kind``: "spec" (not module:function),
    "missing" (no such module, or no such function in it) or "init" (importing
    its module raised: the function's init failed)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_handler(spec: str) -> tuple[str, str]:
    """``module:function`` or Lambda's ``module.function`` -> (module, function)."""
    module_name, _, attr = spec.partition(":") if ":" in spec else spec.rpartition(".")
    if not module_name or not attr or not attr.isidentifier():
        raise HandlerError(
            f"handler must be module:function or module.function, got {spec!r}", "spec"
        )
    return module_name, attr


def load_handler(spec: str) -> Handler:
    """Import the handler's module (the function's init, as Lambda does it) and return
    the function; ``HandlerError`` says which of the three ways it failed."""
    import importlib

    module_name, attr = parse_handler(spec)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise HandlerError(f"no module named {module_name!r}", "missing") from exc
        raise HandlerError(f"importing {module_name} failed: {exc}", "init") from exc
    except Exception as exc:  # the module's own init raised
        raise HandlerError(
            f"its init (importing {module_name}) failed: {type(exc).__name__}: {exc}",
            "init",
        ) from exc
    handler = getattr(module, attr, None)
    if handler is None:
        where = getattr(module, "__file__", None) or module_name
        raise HandlerError(f"{module_name} ({where}) has no function {attr!r}", "missing")
    if not callable(handler):
        raise HandlerError(f"{spec} is not callable", "missing")
    return handler
