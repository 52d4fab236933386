"""The argument parser every command uses: a mistake is one line, the help is plain.

* A mistake in the command line (an unknown option, a bad value) is one line on
  stderr, ``streaming <cmd>: <problem> (see streaming <cmd> --help)``, and exit 2
  (argparse's own ``error`` prints the usage block too: two lines or more).
* The description is plain text (no RST markup) and every option's help ends
  with its default.
* Argument types raise ``argparse.ArgumentTypeError``, which argparse turns into
  that one line.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any, NoReturn

from streaming.commandline.errors import USAGE


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; every option's help ends with its default.

    An option whose help already says ``default`` keeps its own wording (for a
    default that needs words, such as an environment variable); flags are off
    unless given and say nothing more."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (
            "default" in text.lower()
            or action.default is None
            or action.default is False
            or action.default is argparse.SUPPRESS
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with the CLI's rules.

    * A mistake in the command line is one line on stderr,
      ``streaming <cmd>: <problem> (see streaming <cmd> --help)``, and exit 2
      (argparse's own ``error`` prints the usage block too: two lines or more).
    * The description is plain text (``plain_text``: no RST markup) and every
      option's help shows its default (``HelpFormatter``).
    * ``-v/--verbose`` is there (``errors.run_command`` shows the traceback of
      a failure with it); ``verbose=False`` for a command that defines its own.
    """

    def __init__(self, prog: str, description: str, *, verbose: bool = True, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(prog=prog, description=plain_text(description), **kwargs)
        if verbose:
            self.add_argument(
                "-v", "--verbose", action="store_true", help="on an error, show the traceback"
            )

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(USAGE, f"{self.prog}: {line} (see {self.prog} --help)\n")


def plain_text(doc: str) -> str:
    """A module docstring as help text: RST's ``literal`` and **strong** marks removed."""
    return re.sub(r"\*\*(.+?)\*\*", r"\1", doc.replace("``", "")).strip() + "\n"


# -- argument types ----------------------------------------------------------------


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {value}")
    return value


def port_or_any(text: str) -> int:
    """A TCP port to listen on, 1-65535, or 0: any free one (the server says which)."""
    return 0 if text.strip() == "0" else port_number(text)


def seconds_up_to(limit: float) -> Any:
    """An argument type: a number of seconds more than 0 and at most ``limit``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not (math.isfinite(value) and 0 < value <= limit):
            raise argparse.ArgumentTypeError(
                f"must be more than 0 and at most {limit:g} seconds, got {text}"
            )
        return value

    return parse
