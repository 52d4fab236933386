"""How ``score`` and ``serve`` fail: one line on stderr naming the problem and the fix,
a non-zero exit status, and the traceback only with ``-v``.

``serving`` cannot import ``tools`` (the CLI, with its own error path), so its
errors carry their ``exit_code`` (``tools.errors.run_command`` reads it), and
``report`` prints the line when ``score`` or ``serve`` runs on its own (the web
image runs ``python -m streaming.serving.serve``).
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

#: A mistake in how the command was called (bad option, missing file): fix and rerun.
USAGE = 2
#: The command was called right, but failed (an endpoint down, a bucket missing, ...).
FAILURE = 1


class ServingError(Exception):
    """A failure the user can act on; the message is the whole line (problem and fix)."""

    exit_code = USAGE


class ScoreError(ServingError):
    """The run cannot go on (a whole-file problem, never one bad row): the message is one
    line naming the problem and the fix. Nothing is written."""


class ServeError(ServingError):
    """The web service cannot start (port in use, no model): one line, nothing started."""


def one_line(value: Any, limit: int = 300) -> str:
    """``value`` as text on one line, at most ``limit`` characters."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report(prog: str, exc: BaseException, verbose: bool) -> int:
    """Print ``exc`` as the command's one line (after its traceback if ``verbose``);
    -> the exit status."""
    if verbose:
        traceback.print_exception(exc)
    print(f"{prog}: {one_line(exc, 500)}", file=sys.stderr)
    code = getattr(exc, "exit_code", None)
    return code if isinstance(code, int) and code != 0 else USAGE
