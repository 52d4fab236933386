"""Reading ``model.npz`` as data, with every size bounded before it is read.

``np.load`` decompresses as far as a member's header asks (a 2 MB deflated
file expanded to 436 MB before failing) and returns raw bytes for a member that
is not an array. Here the zip directory is checked before anything is
decompressed, each ``.npy`` header is parsed and its shape x itemsize must
equal the member's size, exactly that many bytes are read, and nothing is ever
unpickled (object dtypes are refused).
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

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


class NpzFormatError(ValueError):
    """``model.npz`` is not a zip of exactly the expected plain ``.npy`` arrays."""


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
