"""The command-line parser of ``score`` and ``serve``: a mistake is one line.

The CLI's own parser lives in ``tools``, which ``serving`` cannot import; this
is its small equivalent with the same rules:

* a mistake in the command line (an unknown option, a bad value) is one line on
  stderr, ``streaming <cmd>: <problem> (see streaming <cmd> --help)``, and exit
  status 2 (argparse's own ``error`` prints the usage block too);
* the description is plain text, and every option's help ends with its default.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, NoReturn

from streaming.serving.errors import USAGE


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; every option's help ends with its default (unless
    the help already says it, or the option is a flag, off unless given)."""

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


class ServingParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose mistakes are one line, with ``-v/--verbose``."""

    def __init__(self, prog: str, description: str, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(prog=prog, description=description, **kwargs)
        self.add_argument(
            "-v", "--verbose", action="store_true", help="on an error, show the traceback"
        )

    def error(self, message: str) -> NoReturn:
        line = " ".join(message.split())
        self.exit(USAGE, f"{self.prog}: {line} (see {self.prog} --help)\n")


# -- argument types (argparse turns ArgumentTypeError into the one line) ------------


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
