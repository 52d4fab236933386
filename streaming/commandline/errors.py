"""Every command fails the same way: one line on stderr naming the problem and the fix,
and a non-zero exit. ``-v`` / ``--verbose`` adds the traceback. No failure exits 0.

Commands raise ``CommandError`` (``serving``'s ``ScoreError`` and ``ServeError``
are ones) with a message that says what went wrong and what to do. Errors from
boto3 that every command meets (no region, no credentials, an endpoint that does
not answer, a stream that does not exist) are translated here once. Anything
else is a bug or an unforeseen failure: it still gets one line, naming the
exception, and exit 1.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

#: A mistake in how the command was called (bad option, missing file): fix and rerun.
USAGE = 2
#: The command was called right, but failed (an endpoint down, a stream missing, ...).
FAILURE = 1
#: Interrupted with Ctrl-C (128 + SIGINT).
INTERRUPTED = 130


class CommandError(Exception):
    """A failure the user can act on; the message is the whole line (problem and fix)."""

    def __init__(self, message: str, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def usage_error(message: str) -> CommandError:
    return CommandError(message, USAGE)


def run_command(name: str, main: Callable[[list[str]], Any], argv: Sequence[str]) -> int:
    """Run ``main(argv)``; turn any exception into one line on stderr and its exit code."""
    verbose = any(a in ("-v", "--verbose") for a in argv)
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: it printed its own usage line
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        print(f"streaming {name}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:  # e.g. `streaming evaluate --json | head`: the reader left
        _silence_stdout()
        return FAILURE
    except BaseException as exc:
        message, code = describe(exc)
        if verbose:
            traceback.print_exc()
        print(f"streaming {name}: {message}", file=sys.stderr)
        return code
    return _exit_code(code)


def describe(exc: BaseException) -> tuple[str, int]:
    """(one-line message, exit code) for any exception."""
    code = getattr(exc, "exit_code", None)
    if isinstance(code, int) and code != 0:
        return one_line(str(exc)), code
    aws = _aws_message(exc)
    if aws is not None:
        return aws, FAILURE
    text = one_line(f"{type(exc).__name__}: {exc}")
    return f"unexpected error {text} (run with -v for the traceback)", FAILURE


def _aws_message(exc: BaseException) -> str | None:
    """The botocore errors every command can meet, said once, with their fix."""
    name = type(exc).__name__
    if name == "NoRegionError":
        return "no AWS region: give --region, or set AWS_DEFAULT_REGION"
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return (
            "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile "
            "(an emulator accepts any values, e.g. testing/testing)"
        )
    if name in ("EndpointConnectionError", "ConnectTimeoutError"):
        url = getattr(exc, "kwargs", {}).get("endpoint_url", "the endpoint")
        return f"cannot reach {url}: is the emulator running? (check --endpoint-url)"
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code, text = error.get("Code", ""), one_line(str(error.get("Message", "")))
        if code == "ResourceNotFoundException":
            return f"{text or 'not found'}: create it first, or check the name and --endpoint-url"
        if code in ("UnrecognizedClientException", "InvalidSignatureException"):
            return f"{code}: the credentials were refused ({text})"
        if code:
            return f"{code}: {text}"
    return None


def one_line(value: Any, limit: int = 500) -> str:
    """``value`` as text on one line, at most ``limit`` characters."""
    line = " ".join(str(value).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def report(prog: str, exc: BaseException, verbose: bool) -> int:
    """Print ``exc`` as the command's one line (after its traceback if ``verbose``), for a
    command run on its own rather than through ``run_command``; -> the exit status."""
    message, code = describe(exc)
    if verbose:
        traceback.print_exception(exc)
    print(f"{prog}: {message}", file=sys.stderr)
    return code


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return FAILURE  # sys.exit("message"): Python printed the message


def _silence_stdout() -> None:
    """After a broken pipe, stop Python's own flush at exit from raising again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
