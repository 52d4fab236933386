"""The model directory format: weights file + ``metadata.json`` holding its sha256.

A model is a directory (local, or ``s3://bucket/prefix/`` fetched by
``fetch.py``) containing:

* ``metadata.json`` - name, version, format, feature list, training figures,
  and ``weights: {"file": ..., "sha256": ...}``;
* the weights: ``model.npz`` for ``tree-tables/1`` (plain arrays, read with
  ``allow_pickle=False``) or ``model.skops`` for ``skops/1`` (a generic
  scikit-learn regressor, loaded only with an explicit trusted-type list).

Nothing here unpickles: whatever ``MODEL_LOCATION`` points at is data, and
the sha256 in the metadata is checked before the weights are parsed.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from streaming.features import FEATURES
from streaming.model import tree_tables
from streaming.model.tree_tables import TableFormatError, TreeTables

METADATA_FILE = "metadata.json"
NPZ_FILE = "model.npz"
SKOPS_FORMAT = "skops/1"
SKOPS_FILE = "model.skops"

#: Largest ``metadata.json`` read: the shipped one is ~4 KB.
MAX_METADATA_BYTES = 1 << 20
#: Largest weights file read into memory (either format). The shipped model is
#: ~1 MB; Lambda's default memory is 1 GB and its /tmp 512 MB.
MAX_WEIGHTS_BYTES = 256 << 20
#: Largest total *uncompressed* size of ``model.npz``'s members, checked in
#: the zip directory before anything is decompressed (a 2 MB deflated file
#: can otherwise expand to hundreds of MB).
MAX_NPZ_UNCOMPRESSED_BYTES = 256 << 20
#: Largest zip central directory: nine members need under 1 KB. ``zipfile``
#: builds one object per entry while it opens an archive, so this bounds the
#: memory of a file of many tiny members before they can even be counted.
MAX_ZIP_DIRECTORY_BYTES = 64 << 10
#: ``.npy`` versions 1.0 and 2.0 hold plain arrays; 3.0 only adds UTF-8 field names.
_NPY_HEADERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
#: Zip end-of-central-directory record and the ZIP64 locator that would precede it.
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
#: Errors of decompression or of the zip container (as opposed to the .npy inside).
_ZIP_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, zlib.error)


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message names the location and the reason."""


class NpzFormatError(ValueError):
    """``model.npz`` is not a zip of exactly the expected plain ``.npy`` arrays."""


class Predictor(Protocol):
    """What the handler needs from a model: a batch of feature rows -> minutes."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class LoadedModel:
    predictor: Predictor
    metadata: Mapping[str, Any]
    location: str

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def name(self) -> str:
        return str(self.metadata.get("name", "ride_duration_prediction_model"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(location: str | Path) -> LoadedModel:
    """Load a model directory or ``s3://`` prefix; raise ``ModelLoadError`` on any problem."""
    location = str(location)
    try:
        if location.startswith("s3://"):
            from streaming.model.fetch import fetch_model

            directory = fetch_model(location)
        else:
            directory = Path(location)
        return _load_directory(directory, location)
    except ModelLoadError:
        raise
    except Exception as exc:  # any other failure still names the location
        raise ModelLoadError(f"cannot load model from {location}: {exc}") from exc


def read_metadata(directory: Path, location: str) -> dict[str, Any]:
    """Read and check ``metadata.json`` (shape only; the weights are checked on load)."""
    path = directory / METADATA_FILE
    if not path.is_file():
        raise ModelLoadError(f"cannot load model from {location}: no {METADATA_FILE} there")
    size = path.stat().st_size
    if size > MAX_METADATA_BYTES:
        raise ModelLoadError(
            f"cannot load model from {location}: {METADATA_FILE} is {size} bytes, "
            f"more than {MAX_METADATA_BYTES}"
        )
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelLoadError(
            f"cannot load model from {location}: {METADATA_FILE} is not JSON ({exc})"
        ) from None
    weights = metadata.get("weights") if isinstance(metadata, dict) else None
    if not isinstance(weights, dict) or not all(
        isinstance(weights.get(k), str) for k in ("file", "sha256")
    ):
        raise ModelLoadError(
            f"cannot load model from {location}: {METADATA_FILE} lacks weights.file/sha256"
        )
    if "/" in weights["file"] or "\\" in weights["file"] or weights["file"].startswith("."):
        raise ModelLoadError(
            f"cannot load model from {location}: weights.file must be a plain file name"
        )
    for key in ("version", "format"):
        if not isinstance(metadata.get(key), str):
            raise ModelLoadError(f"cannot load model from {location}: metadata has no {key!r}")
    if list(metadata.get("features", [])) != list(FEATURES):
        raise ModelLoadError(
            f"cannot load model from {location}: it expects features "
            f"{metadata.get('features')}, this service computes {list(FEATURES)}"
        )
    return metadata


def _load_directory(directory: Path, location: str) -> LoadedModel:
    metadata = read_metadata(directory, location)
    weights_path = directory / metadata["weights"]["file"]
    if not weights_path.is_file():
        raise ModelLoadError(f"cannot load model from {location}: {weights_path.name} is missing")
    _check_weights_size(weights_path, location)
    data = weights_path.read_bytes()
    actual = sha256_bytes(data)
    if actual != metadata["weights"]["sha256"]:
        raise ModelLoadError(
            f"cannot load model from {location}: sha256 of {weights_path.name} is {actual}, "
            f"metadata says {metadata['weights']['sha256']} (corrupt or tampered)"
        )
    fmt = metadata["format"]
    if fmt == tree_tables.FORMAT:
        predictor: Predictor = _tree_tables_from_npz(data, location)
    elif fmt == SKOPS_FORMAT:
        from streaming.model.skops_format import load_skops

        predictor = load_skops(data, location)
    else:
        raise ModelLoadError(f"cannot load model from {location}: unknown format {fmt!r}")
    return LoadedModel(predictor=predictor, metadata=metadata, location=location)


def _check_weights_size(path: Path, location: str) -> None:
    """Refuse an oversized weights file before reading or hashing it.

    (``weights.bytes`` in the metadata is informational: the sha256 already
    catches a truncated or different file.)
    """
    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise ModelLoadError(
            f"cannot load model from {location}: {path.name} is {size} bytes, "
            f"more than {MAX_WEIGHTS_BYTES}"
        )


def _tree_tables_from_npz(data: bytes, location: str) -> TreeTables:
    try:
        return TreeTables(**read_npz(data, tree_tables.ARRAYS))
    except (NpzFormatError, TableFormatError) as exc:
        raise ModelLoadError(f"cannot load model from {location}: bad {NPZ_FILE}: {exc}") from None


def read_npz(data: bytes, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays ``names`` of an ``.npz``, read without ``np.load``; raises ``NpzFormatError``.

    ``np.load`` trusts the archive: it decompresses a member as far as its
    ``.npy`` header asks, and hands back raw bytes for a member that is not
    an array. Here the zip directory is checked first (size, members, sizes,
    compression), then each member's ``.npy`` header is parsed and must
    account for the member's declared size exactly, then exactly that many
    bytes are read. Only plain numeric dtypes are accepted, so nothing here
    can reach pickle.
    """
    _check_zip_directory(data, len(names))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # zipfile raises many types on a malformed archive
        raise NpzFormatError(f"not a zip archive: {_short(exc)}") from None
    with archive:
        members = _expected_members(archive.infolist(), names)
        return {name: _read_member(archive, members[name]) for name in names}


def _check_zip_directory(data: bytes, n_members: int) -> None:
    """Bound the central directory before ``zipfile`` parses it.

    Finds the end record the way ``zipfile`` does (the last 22 bytes, else
    the last signature within a maximal comment's reach). A ZIP64 record
    could claim any directory size, and nine small arrays never need one.
    """
    pos = len(data) - _EOCD.size
    if pos < 0:
        raise NpzFormatError(f"not a zip archive: only {len(data)} bytes")
    if data[pos : pos + 4] != _EOCD_SIGNATURE or data[-2:] != b"\0\0":
        pos = data.rfind(_EOCD_SIGNATURE, max(0, len(data) - (1 << 16) - _EOCD.size))
        if pos < 0 or pos + _EOCD.size > len(data):
            raise NpzFormatError("not a zip archive: no end-of-directory record")
    if pos >= 20 and data[pos - 20 : pos - 16] == _ZIP64_LOCATOR_SIGNATURE:
        raise NpzFormatError("ZIP64 archives are not accepted (nine arrays never need one)")
    fields = _EOCD.unpack_from(data, pos)
    entries, directory_size = fields[4], fields[5]
    # The size is the real bound (zipfile parses entries until it has read that
    # many bytes); a few extra members still get a message that names them.
    if directory_size > MAX_ZIP_DIRECTORY_BYTES or entries > 4 * n_members:
        raise NpzFormatError(
            f"the zip directory lists {entries} members in {directory_size} bytes; "
            f"expected {n_members} arrays"
        )


def _expected_members(
    infos: list[zipfile.ZipInfo], names: Sequence[str]
) -> dict[str, zipfile.ZipInfo]:
    """Exactly one ``<name>.npy`` per array, plain or deflated, within the size caps."""
    counts = Counter(info.filename for info in infos)
    duplicated = sorted(name for name, n in counts.items() if n > 1)
    if duplicated:
        raise NpzFormatError(f"duplicate members {_listing(duplicated)}: ambiguous")
    wanted = {f"{name}.npy": name for name in names}
    missing = sorted(set(wanted) - set(counts))
    extra = sorted(set(counts) - set(wanted))
    if missing or extra:
        raise NpzFormatError(
            f"members differ from the {len(names)} expected arrays: "
            f"missing {_listing(missing)}, unexpected {_listing(extra)}"
        )
    for info in infos:
        _check_member_info(info)
    total = sum(info.file_size for info in infos)
    if total > MAX_NPZ_UNCOMPRESSED_BYTES:
        raise NpzFormatError(
            f"members would expand to {total} bytes, more than {MAX_NPZ_UNCOMPRESSED_BYTES}"
        )
    return {wanted[info.filename]: info for info in infos}


def _check_member_info(info: zipfile.ZipInfo) -> None:
    name = _short(info.filename)
    if info.flag_bits & 0x1:
        raise NpzFormatError(f"member {name!r} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NpzFormatError(
            f"member {name!r} uses compression method {info.compress_type}; "
            "only stored or deflated members are read"
        )
    if info.file_size > MAX_NPZ_UNCOMPRESSED_BYTES:
        raise NpzFormatError(
            f"member {name!r} declares {info.file_size} bytes uncompressed, "
            f"more than {MAX_NPZ_UNCOMPRESSED_BYTES}"
        )


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """Header first, then exactly the bytes it accounts for, then end of member."""
    name = _short(info.filename)
    try:
        with archive.open(info) as fp:
            shape, fortran_order, dtype = _npy_header(fp, name)
            nbytes = _payload_bytes(name, shape, dtype, info.file_size - fp.tell())
            body = fp.read(nbytes)
            if len(body) != nbytes or fp.read(1):
                raise NpzFormatError(
                    f"member {name!r} holds {len(body)} bytes of data, its header {nbytes}"
                )
    except NpzFormatError:
        raise
    except Exception as exc:  # CRC, truncated deflate stream, bad local header...
        raise NpzFormatError(f"member {name!r} cannot be read: {_short(exc)}") from None
    return _as_native_array(name, body, shape, fortran_order, dtype)


def _npy_header(fp: io.BufferedIOBase, name: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """``(shape, fortran_order, dtype)`` of a ``.npy`` stream, or an error naming the member."""
    try:
        version = np.lib.format.read_magic(fp)
        read_header = _NPY_HEADERS.get(version)
        if read_header is None:
            raise ValueError(f".npy version {version} is not supported")
        return read_header(fp)
    except _ZIP_READ_ERRORS:
        raise
    except Exception as exc:  # a bad header raises ValueError, SyntaxError, TypeError...
        raise NpzFormatError(f"member {name!r} is not a .npy array: {_short(exc)}") from None


def _payload_bytes(name: str, shape: tuple[int, ...], dtype: np.dtype, available: int) -> int:
    """Bytes the header's shape and dtype need; they must fill the member exactly."""
    if dtype.hasobject:
        raise NpzFormatError(
            f"member {name!r} holds Python objects ({dtype}); reading them would need pickle"
        )
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in "iuf":
        raise NpzFormatError(f"member {name!r} has dtype {dtype}, not a plain integer or float")
    if any(n < 0 for n in shape):
        raise NpzFormatError(f"member {name!r} has a negative dimension in shape {shape}")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes != available:
        raise NpzFormatError(
            f"member {name!r}: its header declares {_short(shape)} {dtype} = {nbytes} bytes, "
            f"the member holds {available}"
        )
    return nbytes


def _as_native_array(
    name: str, body: bytes, shape: tuple[int, ...], fortran_order: bool, dtype: np.dtype
) -> np.ndarray:
    """A C-ordered array in native byte order (big-endian files are converted, once).

    Read-only: it is a view of ``body``, and a served model is never modified.
    """
    try:
        array = np.frombuffer(body, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")
    except ValueError as exc:  # e.g. more dimensions than numpy supports
        raise NpzFormatError(f"member {name!r} cannot be shaped {_short(shape)}: {exc}") from None
    if not dtype.isnative:
        array = array.astype(dtype.newbyteorder("="))
    # not np.ascontiguousarray: it would turn a 0-d array into a 1-d one
    return array if array.flags.c_contiguous else array.copy(order="C")


def _listing(names: list[str], limit: int = 5) -> str:
    """``['a', 'b']`` or the first few and a count: an archive may hold thousands of names."""
    shown = "[" + ", ".join(repr(_short(n)) for n in names[:limit])
    return shown + (f", ... {len(names) - limit} more]" if len(names) > limit else "]")


def _short(value: object, limit: int = 200) -> str:
    """``str(value)`` cut to ``limit`` characters: hostile names and headers can be long."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def save_tree_tables(
    directory: Path, tables: TreeTables, metadata: dict[str, Any]
) -> dict[str, Any]:
    """Write ``model.npz`` and ``metadata.json``; returns the metadata as written."""
    directory.mkdir(parents=True, exist_ok=True)
    data = npz_bytes(tables.arrays())
    (directory / NPZ_FILE).write_bytes(data)
    return write_metadata(directory, metadata, NPZ_FILE, data, tree_tables.FORMAT)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` whose bytes depend only on the arrays (``np.savez`` stamps the
    current time into the zip), so retraining to the same trees gives the same
    sha256 and version."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def write_metadata(
    directory: Path, metadata: dict[str, Any], weights_file: str, data: bytes, fmt: str
) -> dict[str, Any]:
    """Record format, feature list and the weights' sha256, then write ``metadata.json``."""
    full = dict(metadata)
    full["format"] = fmt
    full["features"] = list(FEATURES)
    full["weights"] = {"file": weights_file, "sha256": sha256_bytes(data), "bytes": len(data)}
    full.setdefault("version", f"{fmt.split('/', maxsplit=1)[0]}-{full['weights']['sha256'][:12]}")
    (directory / METADATA_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    return full
