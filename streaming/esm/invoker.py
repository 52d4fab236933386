"""How the local mapping invokes the function: in this process, or in worker processes.

On Lambda every concurrent invocation runs in its own execution environment:
its own init, its own module globals. This project's handler keeps
per-invocation state at module level that must not be shared between two
invocations in flight: Powertools' ``Metrics`` singleton gathers a batch's
metrics until the handler flushes them (two batches at once would mix and
flush each other's figures), and the handler switches the garbage collector
off for a batch and back on after it (a thread finishing first would switch
it on under the other). Threads would share both, so:

* ``InlineInvoker`` calls the handler in the runner's own thread, one
  invocation at a time (ParallelizationFactor 1, the default: the handler is
  imported once, in this process, as before);
* ``ProcessInvoker`` gives each concurrent invocation a worker process of its
  own - a separate execution environment with its own init (the handler is
  imported in each worker, as Lambda runs init in each new environment), its
  stdout (logs, EMF) appended to the run's log file. A worker is reused for
  later invocations, as Lambda reuses a warm environment.

Both return the same ``Invocation``: the response as JSON would carry it
(Lambda serializes the function's result; one that cannot be is an error),
or the error as Lambda reports it (type and message).
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from streaming.consumer.lambda_context import LocalContext

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class ContextSpec:
    """What the context object of an invocation is made of."""

    function_name: str
    timeout_s: float
    region: str

    def context(self) -> LocalContext:
        return LocalContext(
            function_name=self.function_name, timeout_s=self.timeout_s, region=self.region
        )


@dataclass(frozen=True)
class Invocation:
    """One invocation's result: ``response``, or ``error`` ("Type: message")."""

    response: Any
    error: str | None
    duration_s: float


class Invoker(Protocol):
    def submit(self, event: dict[str, Any], spec: ContextSpec) -> Future[Invocation]: ...

    def close(self) -> None: ...


def call(
    handler: Handler,
    event: dict[str, Any],
    spec: ContextSpec,
    clock: Callable[[], float] = time.monotonic,
) -> Invocation:
    """Invoke ``handler`` once; a raised exception is the function's error (never raised).

    What comes back is what Lambda returns: the JSON of the result. A result that
    is not JSON is the runtime's error (``Runtime.MarshalError``), and the copy
    keeps the caller from holding the function's own objects."""
    started = clock()
    try:
        response = handler(event, spec.context())
    except Exception as exc:  # the function's error, as Lambda reports it
        return Invocation(None, f"{type(exc).__name__}: {exc}", clock() - started)
    elapsed = clock() - started
    try:
        response = json.loads(json.dumps(response))  # as the Python runtime writes it
    except (TypeError, ValueError, RecursionError) as exc:
        return Invocation(None, f"Runtime.MarshalError: {exc}", elapsed)
    return Invocation(response, None, elapsed)


class InlineInvoker:
    """The handler called in the runner's thread: the future is done on return."""

    def __init__(self, handler: Handler, clock: Callable[[], float] = time.monotonic) -> None:
        self.handler = handler
        self.clock = clock  # the mapping's: a test's fake clock times the invocation

    def submit(self, event: dict[str, Any], spec: ContextSpec) -> Future[Invocation]:
        future: Future[Invocation] = Future()
        future.set_result(call(self.handler, event, spec, self.clock))
        return future

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs to become an execution environment of the function."""

    handler_spec: str
    sys_path: tuple[str, ...]
    environment: dict[str, str]
    log_file: str | None
    verbose: bool = False


class ProcessInvoker:
    """Invocations in worker processes, one execution environment each.

    Environments are made as concurrency needs them, up to ``workers`` (Lambda
    starts a new environment - a cold start - for each concurrent invocation it
    has no idle one for), and reused when idle. Each is a spawned interpreter (as
    clean as a new environment) running one invocation at a time. One that dies
    fails only the invocation it was running (Lambda: ``Runtime.ExitError``) and
    is replaced; the others are untouched."""

    def __init__(self, setup: WorkerSetup, workers: int) -> None:
        self.setup = setup
        self.workers = workers
        self._idle: list[ProcessPoolExecutor] = []
        self._busy = 0
        self._waiting: list[tuple[dict[str, Any], ContextSpec, Future[Invocation]]] = []
        self._lock = threading.Lock()
        self.environments_started = 0

    def _environment(self) -> ProcessPoolExecutor:
        self.environments_started += 1
        return ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.setup,),
        )

    def submit(self, event: dict[str, Any], spec: ContextSpec) -> Future[Invocation]:
        outer: Future[Invocation] = Future()
        with self._lock:
            if not self._idle and self._busy >= self.workers:
                self._waiting.append((event, spec, outer))  # every environment is busy
                return outer
            environment = self._idle.pop() if self._idle else self._environment()
            self._busy += 1
        self._run(environment, event, spec, outer)
        return outer

    def _run(
        self,
        environment: ProcessPoolExecutor,
        event: dict[str, Any],
        spec: ContextSpec,
        outer: Future[Invocation],
    ) -> None:
        started = time.monotonic()
        try:
            inner = environment.submit(_invoke_in_worker, event, spec)
        except BrokenProcessPool as exc:
            self._finished(environment, broken=True)
            outer.set_result(Invocation(None, f"Runtime.ExitError: {exc}", 0.0))
            return

        def relay(done: Future[Invocation]) -> None:
            broken = False
            try:
                result = done.result()
            except BrokenProcessPool as exc:
                broken = True
                result = Invocation(None, f"Runtime.ExitError: {exc}", time.monotonic() - started)
            except Exception as exc:  # the result could not come back (pickling)
                result = Invocation(
                    None, f"{type(exc).__name__}: {exc}", time.monotonic() - started
                )
            self._finished(environment, broken=broken)
            outer.set_result(result)

        inner.add_done_callback(relay)

    def _finished(self, environment: ProcessPoolExecutor, *, broken: bool) -> None:
        """An environment is free again (a dead one is dropped); start a waiting call."""
        if broken:
            environment.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._busy -= 1
            if not broken:
                self._idle.append(environment)
            if not self._waiting:
                return
            event, spec, outer = self._waiting.pop(0)
            environment = self._idle.pop() if self._idle else self._environment()
            self._busy += 1
        self._run(environment, event, spec, outer)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for environment in idle:
            environment.shutdown(wait=True, cancel_futures=True)


# -- inside a worker process --------------------------------------------------------

_HANDLER: Handler | None = None
_SETUP: WorkerSetup | None = None


def _init_worker(setup: WorkerSetup) -> None:
    """Become an execution environment: the run's environment and paths, stdout to the
    run's log. The handler's init runs at the first invocation, so that an init that
    fails is that invocation's error (as on Lambda) and is tried again at the next."""
    global _SETUP  # noqa: PLW0603 - one environment per process
    _SETUP = setup
    os.environ.update(setup.environment)
    for entry in reversed(setup.sys_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if setup.log_file:
        log = Path(setup.log_file).open("a", encoding="utf-8", buffering=1)  # noqa: SIM115
        sys.stdout = Tee(log, sys.stderr) if setup.verbose else log


def _invoke_in_worker(event: dict[str, Any], spec: ContextSpec) -> Invocation:
    global _HANDLER  # noqa: PLW0603 - the environment's loaded function
    from streaming.esm.handlers import HandlerError, load_handler

    started = time.monotonic()
    if _HANDLER is None:
        assert _SETUP is not None
        try:
            _HANDLER = load_handler(_SETUP.handler_spec)
        except HandlerError as exc:  # an init failure is the invocation's error
            return Invocation(None, f"Runtime.InitError: {exc}", time.monotonic() - started)
    return call(_HANDLER, event, spec)


class Tee(io.TextIOBase):
    """A text stream that writes to every target: a worker's stdout to the log file
    and to stderr (``-v``); ``streaming run``'s log sink builds on it."""

    def __init__(self, *targets: Any) -> None:
        self._targets = list(targets)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        for target in self._targets:
            target.write(text)
        return len(text)

    def flush(self) -> None:
        for target in self._targets:
            target.flush()
