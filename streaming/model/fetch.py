"""Fetch a model directory from ``s3://bucket/prefix/`` into Lambda's writable temp dir.

Only ``metadata.json`` and the weights file it names are downloaded; the
weights are checked against the sha256 in the metadata before they are used,
and a cached copy whose sha256 still matches is reused, so a warm container
(or a second init in the same sandbox) does not download again. The S3
endpoint follows boto3's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
which is how tests point it at an emulator.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from streaming.model.contract import METADATA_FILE, ModelLoadError, read_metadata, sha256_file


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ("bucket", "a/b/"); the prefix always ends with "/" if set."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri}")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def cache_dir_for(uri: str, root: Path | None = None) -> Path:
    """One cache directory per bucket + prefix (``.../v1`` and ``.../v1/`` are the same)."""
    bucket, prefix = parse_s3_uri(uri)
    root = root or Path(os.environ.get("MODEL_CACHE_DIR") or tempfile.gettempdir())
    key = hashlib.sha256(f"{bucket}/{prefix}".encode()).hexdigest()[:16]
    return root / "ride-duration-model" / key


def fetch_model(uri: str, *, s3_client: object | None = None, root: Path | None = None) -> Path:
    """Download the model at ``uri`` (if not cached) and return the local directory."""
    bucket, prefix = parse_s3_uri(uri)
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    target = cache_dir_for(uri, root)
    target.mkdir(parents=True, exist_ok=True)
    _download(s3_client, bucket, prefix + METADATA_FILE, target / METADATA_FILE, uri)
    metadata = read_metadata(target, uri)
    weights = metadata["weights"]
    local = target / weights["file"]
    if local.is_file() and sha256_file(local) == weights["sha256"]:
        return target
    _download(s3_client, bucket, prefix + weights["file"], local, uri)
    return target


def _download(client: object, bucket: str, key: str, dest: Path, uri: str) -> None:
    # Write to a temp name and rename, so a crash mid-download never leaves a
    # truncated file under the real name.
    part = dest.with_name(dest.name + ".part")
    try:
        client.download_file(bucket, key, str(part))  # type: ignore[attr-defined]
    except Exception as exc:
        part.unlink(missing_ok=True)
        raise ModelLoadError(f"cannot load model from {uri}: s3://{bucket}/{key}: {exc}") from None
    part.replace(dest)
