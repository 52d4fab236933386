"""Bound one call in time: return its result, or give up waiting at a deadline.

A Lambda function that outlives its timeout fails its whole batch, so the
publisher must regain control on time whatever the network does; see
``bounded_call`` for why botocore's own timeouts cannot do it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

_T = TypeVar("_T")


class CallTimedOut(Exception):
    """A bounded call did not return in its time: abandoned, its outcome unknown."""


class CallBound(Protocol):
    """Runs ``fn`` and returns its result, or raises ``CallTimedOut`` after ``timeout_s``.

    ``bounded_call`` is the implementation; tests inject a fake clock's version.
    """

    def __call__(self, fn: Callable[[], _T], timeout_s: float) -> _T: ...


def bounded_call(fn: Callable[[], _T], timeout_s: float) -> _T:
    """Return ``fn()``, or raise ``CallTimedOut`` once ``timeout_s`` seconds have passed.

    Why: botocore cannot bound a call. ``connect_timeout`` and ``read_timeout``
    are set per client (``botocore.config.Config``), and ``read_timeout`` is
    "the time in seconds till a timeout exception is thrown when attempting to
    read from a connection": it bounds each socket read, not the call, so a
    server that answers a byte at a time, a connect timeout followed by a read
    timeout, or DNS, can hold one PutRecords call past any deadline. A Lambda
    function that outlives its timeout fails the whole batch, so the caller
    must regain control on time whatever the network does.

    How: ``fn`` runs on its own daemon thread and the caller waits at most
    ``timeout_s``. Python cannot interrupt a thread blocked on a socket, so a
    late call is *abandoned*, not cancelled: it may still write its records.
    The caller must treat them as not written (report them; a duplicate is
    possible, a loss is not). The abandoned thread ends when botocore's own
    socket timeouts fire; in Lambda it is frozen with the execution
    environment after the handler returns and its late result is discarded.

    Several calls in flight: every call has its own thread and its own wait, so
    nothing is shared but what ``fn`` uses (boto3 clients are thread safe; size
    ``max_pool_connections`` for the calls in flight plus abandoned ones). Give
    each call the time left to one shared deadline, read when it starts, and
    they all end by that deadline.

    A timeout of zero or less (or NaN) starts nothing: no call may start that
    cannot finish. An infinite timeout (no deadline: the CLI tools) runs ``fn``
    on the caller's thread, as there is nothing to bound.
    """
    if not timeout_s > 0:
        raise CallTimedOut(f"no time left ({timeout_s!r} s): call not started")
    if math.isinf(timeout_s):
        return fn()
    done = threading.Event()
    box: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # handed to the waiting caller below
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="bounded-call", daemon=True).start()
    if not done.wait(min(timeout_s, threading.TIMEOUT_MAX)):
        raise CallTimedOut(f"no answer within {timeout_s:.3f} s: abandoned, outcome unknown")
    ok, value = box[0]
    if ok:
        return value
    raise value
