"""Where ``score`` reads and writes: a local path or an ``s3://bucket/key`` URI.

Which is which, the S3 client (``AWS_ENDPOINT_URL_S3`` for an emulator), whether
two names are the same file, and what failing to read or write one means, said
in one line with its fix (no such file, bucket or key; no credentials; an
endpoint that does not answer).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streaming.serving.errors import ScoreError, one_line


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def s3_client() -> Any:
    import boto3

    return boto3.client("s3")


def io_errors() -> tuple[type[BaseException], ...]:
    """What reading or writing a file (local, parquet, S3) raises when the file (or the
    connection) is the problem, not the code."""
    import pyarrow as pa

    errors: tuple[type[BaseException], ...] = (OSError, pa.ArrowException)
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - only S3 needs boto3
        return errors
    return (*errors, BotoCoreError, ClientError, Boto3Error)


def same_file(a: str, b: str) -> bool:
    """Whether two targets name the same file: S3 URIs compared as written, local paths
    resolved (symbolic links, ``..``) and, when both exist, by identity (hard links)."""
    if is_s3(a) or is_s3(b):
        return a == b
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one does not exist (yet), or a path with a NUL
        return a == b


def problem(exc: BaseException, uri: str, action: str = "read") -> str:
    """``cannot <action> <uri>: <why>``, the why in words with its fix where there is one."""
    return f"cannot {action} {uri}: {explain(exc, uri)}"


#: Local errors, said in words.
_LOCAL = {
    FileNotFoundError: "no such file or directory",
    IsADirectoryError: "it is a directory; name a file",
    PermissionError: "permission denied",
}
_NO_CREDENTIALS = (
    "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile "
    "(an emulator accepts any values, e.g. testing/testing)"
)


def explain(exc: BaseException, uri: str) -> str:
    """Why reading or writing ``uri`` failed, in words (with the fix where there is one)."""
    for kind, words in _LOCAL.items():
        if isinstance(exc, kind):
            return words
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return _NO_CREDENTIALS
    if name in ("EndpointConnectionError", "ConnectTimeoutError", "ConnectionClosedError"):
        url = getattr(exc, "kwargs", {}).get("endpoint_url") or ""
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the S3 endpoint"
        return f"cannot reach {where}: is it running? (check AWS_ENDPOINT_URL_S3)"
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        said = _s3_answer(response.get("Error") or {}, uri)
        if said:
            return said
    return one_line(exc)


#: S3's codes for "not there" (a HEAD's answer has no body: a bare 404).
NOT_FOUND = ("NoSuchKey", "404", "NotFound")


def error_code(exc: BaseException) -> str:
    """The error code of an AWS error answer ("" for any other error)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str((response.get("Error") or {}).get("Code", ""))


def _s3_answer(error: dict[str, Any], uri: str) -> str | None:
    """An S3 error answer (``NoSuchBucket``, a HEAD's bare ``404``, ...) in words."""
    code = str(error.get("Code", ""))
    bucket, key = split_s3(uri) if is_s3(uri) else ("", "")
    if code == "NoSuchBucket":
        return f"no such bucket {bucket!r} (check the name, and AWS_ENDPOINT_URL_S3)"
    if code in NOT_FOUND:
        return f"no such object {key!r} in bucket {bucket!r}"
    if code in ("AccessDenied", "403", "Forbidden"):
        return "access denied (check the credentials and the bucket policy)"
    if code:
        return one_line(f"{code}: {error.get('Message', '')}")
    return None


def reading(items: Iterable[Any], uri: str) -> Iterator[Any]:
    """``items``, with the errors of reading them (a truncated or corrupt file, a dropped
    connection) turned into a one-line ``ScoreError`` naming the file."""
    errors = io_errors()
    iterator = iter(items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except errors as exc:
            raise ScoreError(problem(exc, uri)) from exc
        yield item
