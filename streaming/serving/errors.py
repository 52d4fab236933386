"""How ``score`` and ``serve`` fail: the CLI's rules (``streaming.commandline.errors``).

Their errors are ``CommandError``s with exit status 2; ``report`` prints the
one line when ``score`` or ``serve`` runs on its own (the web image runs
``python -m streaming.serving.serve``), as ``run_command`` does under the CLI.
"""

from __future__ import annotations

from streaming.commandline.errors import USAGE, CommandError, one_line, report

__all__ = ["USAGE", "ScoreError", "ServeError", "ServingError", "one_line", "report"]


class ServingError(CommandError):
    """A failure the user can act on; the message is the whole line (problem and fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)


class ScoreError(ServingError):
    """The run cannot go on (a whole-file problem, never one bad row): the message is one
    line naming the problem and the fix. Nothing is written."""


class ServeError(ServingError):
    """The web service cannot start (port in use, no model): one line, nothing started."""
