"""What the command-line tools share: where the project's files are, the argument
parser every command uses (one-line mistakes, defaults in the help), argument
types, where Kinesis is and which region, and the boto3 session and clients."""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streaming.commandline.errors import USAGE, CommandError, usage_error

#: The repository root (the supported install is the editable one `make venv`
#: makes): commands find the project's own files (lambda_function.py, models/,
#: data/) here, whatever the current directory.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: The TLC files' folder, and how help texts name it (never this machine's path).
DATA_DIR = PROJECT_ROOT / "data"
DATA_DIR_HELP = "TLC files (default: data/ of the project, whatever the current directory)"


# -- argument types (argparse turns ArgumentTypeError into the one usage line) ----


def month_arg(text: str) -> str:
    """A month as ``YYYY-MM`` (01-12), as TLC names its files."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"not a month: {text!r} (give YYYY-MM, e.g. 2023-02)")
    return text


def timestamp_arg(text: str) -> datetime:
    """An argument given as epoch seconds or ISO 8601 (naive = UTC) -> an aware datetime."""
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (give epoch seconds or ISO 8601, e.g. 2026-11-01T08:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# -- the project's files ----------------------------------------------------------


def existing_file(path: Path, option: str) -> Path:
    """``path`` if it is a file; else a usage error naming ``option``."""
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise usage_error(f"{option} {path}: {what} (give an existing file)")
    return path


def tlc_month_file(data_dir: Path | None, month: str) -> Path:
    """The TLC file of ``month`` in ``data_dir`` (None: the project's data/); it must exist."""
    from streaming.training import tlc

    folder = DATA_DIR if data_dir is None else data_dir
    path = tlc.month_path(folder, month)
    if not path.is_file():
        raise usage_error(
            f"no TLC file for {month}: {path} does not exist (download "
            f"{path.name} from the NYC TLC trip record data into {folder}, or give --data-dir)"
        )
    return path


def load_tlc_trips(path: Path, option: str = "--file") -> Any:
    """The clean trips of a TLC green-taxi file (``tlc.load_trips``), or a one-line error."""
    from streaming.training import tlc

    existing_file(path, option)
    try:
        tlc.month_of(path)
    except ValueError:
        raise usage_error(
            f"{option} {path}: the file name must contain its month as YYYY-MM, as TLC "
            "names them (e.g. green_tripdata_2023-02.parquet)"
        ) from None
    try:
        trips, _ = tlc.load_trips(path)
    except Exception as exc:
        text = " ".join(str(exc).split())[:200]
        raise CommandError(
            f"{option} {path}: cannot read it as a TLC green-taxi parquet file "
            f"({type(exc).__name__}: {text})",
            USAGE,
        ) from exc
    return trips


def import_project_module(name: str) -> Any:
    """The project's own top-level module ``name`` (``lambda_function``), from PROJECT_ROOT.

    The editable install puts the ``streaming`` package on the path, not the
    repository root, and the ``streaming`` script's directory is not the
    project's: the file is loaded from the root, whatever the current directory."""
    import importlib.util

    if name in sys.modules:
        return sys.modules[name]
    path = PROJECT_ROOT / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise CommandError(f"{path.name} is missing from the project root: reinstall the project")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def import_from_cwd(spec: str, option: str) -> Any:
    """``module:function`` (or ``module.function``) resolved from the current directory
    first, as Lambda resolves a handler from its task root; a usage error if it is not there."""
    import importlib

    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise usage_error(f"{option} {spec!r}: give module:function")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise usage_error(
            f"{option} {spec}: cannot import {module_name!r} ({exc}); the module must be "
            "in the current directory or on PYTHONPATH"
        ) from exc
    function = getattr(module, attr, None)
    if not callable(function):
        raise usage_error(f"{option} {spec}: {module_name} has no function {attr!r}")
    return function


# -- AWS ---------------------------------------------------------------------------


def add_aws_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("KINESIS_ENDPOINT_URL") or None,
        help="Kinesis endpoint, e.g. http://127.0.0.1:4566 for LocalStack (default: "
        "KINESIS_ENDPOINT_URL, else boto3's AWS_ENDPOINT_URL_KINESIS / AWS_ENDPOINT_URL, "
        "else AWS itself)",
    )
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION, else us-east-1)",
    )


def session(args: argparse.Namespace) -> Any:
    import boto3

    return boto3.session.Session(region_name=args.region)


def kinesis_client(args: argparse.Namespace) -> Any:
    """A Kinesis client for the tools (botocore's standard retries, patient timeouts)."""
    from streaming.consumer.kinesis_client import TOOLS, make_kinesis_client

    return make_kinesis_client(args.endpoint_url, profile=TOOLS, session=session(args))


def where(args: argparse.Namespace) -> str:
    """How a message names the endpoint: the URL given, or AWS in the region."""
    return args.endpoint_url or f"AWS ({args.region})"


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(the given URL)"
