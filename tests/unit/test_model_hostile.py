"""Hostile model files: whatever ``model.npz`` holds, loading either gives a model whose
predictions are finite or raises ``ModelLoadError`` naming the problem; it never
unpickles, never raises anything else and never expands a member past its caps.

The metadata is rewritten with the weights' real sha256 each time, so the bytes
are actually parsed (the sha256 check would otherwise refuse them first).
"""

from __future__ import annotations

import _pickle
import itertools
import math
import pickle
import struct
import tracemalloc
import warnings
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given, note
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from streaming.model import ModelLoadError, load_model
from streaming.model import artifact as artifact_module
from streaming.model import npz as npz_module
from streaming.model.contract import NPZ_FILE
from streaming.model.tree_tables import ARRAYS, FORMAT, TreeTables
from streaming.training.artifact_writer import npz_bytes, write_metadata
from tests.conftest import MODELS
from tests.support.budget import examples

STORED, DEFLATED, BZIP2 = 0, 8, 12
MASKS = ("masks_pu", "masks_do", "masks_distance", "masks_time")
FLOATS = ("distance_thresholds", "leaf_values", "baseline")

#: Feature rows a loaded model must predict finitely: ordinary, unknown zones,
#: extreme distances, every hour/weekday corner.
ROWS = np.array(
    [
        [130, 205, 3.66, 8, 2],
        [0, -1, 0.0, 0, 0],
        [1e12, 264, 1e300, 23, 6],
        [74, 75, 2.5, 12, 3],
        [3.5, 2.0**63, 1e-300, 0, 6],
    ],
    dtype=np.float64,
)


# ---------------------------------------------------------------- building models


@cache
def small_arrays() -> dict[str, np.ndarray]:
    """The shipped model cut to its first three trees: a valid, fast model."""
    with np.load(MODELS / NPZ_FILE, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in ARRAYS}
    for name in MASKS:
        arrays[name] = np.ascontiguousarray(arrays[name][:, :3])
    arrays["leaf_values"] = np.ascontiguousarray(arrays["leaf_values"][:3])
    return arrays


def arrays_copy() -> dict[str, np.ndarray]:
    return {name: a.copy() for name, a in small_arrays().items()}


def npy(array: np.ndarray) -> bytes:
    """``array`` as ``.npy`` bytes, keeping its byte order and memory order."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def raw_npy(descr: object, shape: object, body: bytes = b"", *, fortran: object = False) -> bytes:
    """A ``.npy`` with any header at all (version 1.0), for headers numpy would not write."""
    header = repr({"descr": descr, "fortran_order": fortran, "shape": shape}).encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + body


@dataclass(frozen=True)
class Member:
    name: str
    data: bytes
    method: int = STORED
    #: what the zip headers claim (default: the truth)
    declared_size: int | None = None
    compressed: bytes | None = None
    flags: int = 0
    crc: int | None = None


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def zip_bytes(members: Sequence[Member], *, zip64_locator: bool = False) -> bytes:
    """A zip written by hand, so it can say anything (duplicates, lying sizes, any flag)."""
    local, central = bytearray(), bytearray()
    for m in members:
        name = m.name.encode("utf-8")
        flags = m.flags | (0x800 if not name.isascii() else 0)
        if m.compressed is not None:
            payload = m.compressed
        elif m.method == DEFLATED:
            payload = deflate(m.data)
        elif m.method == BZIP2:
            import bz2

            payload = bz2.compress(m.data)
        else:
            payload = m.data
        size = len(m.data) if m.declared_size is None else m.declared_size
        crc = zlib.crc32(m.data) if m.crc is None else m.crc
        fields = (flags, m.method, 0, 0x21, crc, len(payload), size, len(name))
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, *fields, 0) + name + payload
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, *fields, 0, 0, 0, 0, 0, offset)
        central += name
    tail = b""
    if zip64_locator:
        tail = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(central), 1)
    n = len(members) & 0xFFFF
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(local), 0)
    return bytes(local + central + tail + eocd)


def members_of(arrays: dict[str, np.ndarray], method: int = STORED) -> list[Member]:
    return [Member(f"{name}.npy", npy(a), method) for name, a in arrays.items()]


def write_model(directory: Path, weights: bytes) -> Path:
    """A model directory whose metadata carries the weights' real sha256."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / NPZ_FILE).write_bytes(weights)
    write_metadata(directory, {"name": "hostile"}, NPZ_FILE, weights, FORMAT)
    return directory


class Unpickled(BaseException):
    """Raised by the patched pickle: a BaseException, so no ``except Exception`` hides it."""


@contextmanager
def no_pickle() -> Iterator[list[str]]:
    """Make every unpickling entry point fail loudly and record that it was called."""
    calls: list[str] = []

    def refuse(name: str):
        def call(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise Unpickled(name)

        return call

    with pytest.MonkeyPatch.context() as mp:
        for module in (pickle, _pickle):
            for attr in ("load", "loads", "Unpickler"):
                mp.setattr(module, attr, refuse(f"{module.__name__}.{attr}"))
        yield calls
    assert not calls, f"loading a model unpickled: {calls}"


def outcome(directory: Path) -> str:
    """'refused' (ModelLoadError) or 'loaded' (and then every prediction is finite)."""
    with no_pickle():
        try:
            model = load_model(directory)
        except ModelLoadError as exc:
            if currently_in_test_context():  # a hypothesis example: show why
                note(f"refused: {exc}")
            return "refused"
        minutes = model.predictor.predict(ROWS)
    assert minutes.shape == (len(ROWS),)
    assert np.isfinite(minutes).all(), minutes
    return "loaded"


def refusal(directory: Path) -> str:
    """The ModelLoadError message (and fail if the model loads)."""
    with no_pickle(), pytest.raises(ModelLoadError) as info:
        load_model(directory)
    return str(info.value)


@pytest.fixture
def model_of(tmp_path):
    """``model_of(weights_bytes)`` -> a model directory holding them."""
    counter = iter(range(1_000_000))
    return lambda weights: write_model(tmp_path / f"m{next(counter)}", weights)


def with_array(name: str, array: np.ndarray) -> bytes:
    arrays = arrays_copy()
    arrays[name] = array
    return zip_bytes(members_of(arrays))


# ------------------------------------------------------ 1. non-finite and wrong dtypes


def test_the_small_model_loads_and_predicts_like_its_tables(model_of):
    """The harness is sound: unmodified arrays load (so refusals below mean something)."""
    directory = model_of(npz_bytes(small_arrays()))
    assert outcome(directory) == "loaded"
    expected = TreeTables(**small_arrays()).predict(ROWS)
    np.testing.assert_array_equal(load_model(directory).predictor.predict(ROWS), expected)


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(model_of, name, value):
    array = small_arrays()[name].copy()
    # the last element, so an increasing threshold list stays increasing with +inf
    array.flat[-1 if value > 0 else 0] = value
    message = refusal(model_of(with_array(name, array)))
    assert f"{name} has 1 non-finite value" in message


def test_several_non_finite_values_are_counted(model_of):
    leaves = small_arrays()["leaf_values"].copy()
    leaves[0, :3] = np.nan
    assert "leaf_values has 3 non-finite values" in refusal(
        model_of(with_array("leaf_values", leaves))
    )


@pytest.mark.parametrize(
    "name,array,message",
    [
        ("zone_rows_pu", lambda a: a.astype(np.float64), "zone_rows_pu must be a native integer"),
        ("zone_rows_do", lambda a: np.where(a > 3, a, np.nan), "zone_rows_do must be a native int"),
        ("zone_rows_pu", lambda a: a.astype(bool), "has dtype bool, not a plain integer"),
        ("masks_pu", lambda a: a.astype(np.int64), "masks must be uint32 or uint64"),
        ("masks_time", lambda a: a.astype(np.float64), "masks must be uint32 or uint64"),
        ("leaf_values", lambda a: a.astype(np.float32), "leaf_values must be float64"),
        ("distance_thresholds", lambda a: a.astype(np.float32), "distance_thresholds must be f"),
        ("baseline", lambda a: a.astype(np.int64), "baseline must be float64"),
        ("baseline", lambda a: a.astype(np.complex128), "not a plain integer or float"),
        ("baseline", lambda a: a.reshape(()), "baseline must be a 1-d array, got 0-d"),
        ("distance_thresholds", lambda a: a[:1].reshape(()), "must be a 1-d array, got 0-d"),
        ("zone_rows_pu", lambda a: a[None, :], "zone_rows_pu must be a 1-d array, got 2-d"),
        ("leaf_values", lambda a: a.ravel(), "leaf_values must be a 2-d array, got 1-d"),
        ("baseline", lambda a: np.concatenate([a, a]), "baseline must hold one value"),
    ],
)
def test_wrong_dtypes_and_dimensions_are_refused(model_of, name, array, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NaN cast to int, complex cast
        changed = array(small_arrays()[name])
    assert message in refusal(model_of(with_array(name, changed)))


@pytest.mark.parametrize(
    "descr,message",
    [
        ("|O", "holds Python objects"),
        ([("a", "<f8")], "not a plain integer or float"),
        (("<f8", (1,)), "not a plain integer or float"),
        ("<U3", "not a plain integer or float"),
        ("<M8[s]", "not a plain integer or float"),
    ],
)
def test_object_structured_and_non_numeric_dtypes_are_refused(model_of, descr, message):
    """An object array's data is a pickle: it must be refused from its header alone."""
    evil = pickle.dumps([{"evil": "payload"}])
    members = members_of(arrays_copy())
    members[-1] = Member("baseline.npy", raw_npy(descr, (1,), evil))
    got = refusal(model_of(zip_bytes(members)))
    assert "member 'baseline.npy'" in got and message in got


def test_big_endian_and_fortran_order_files_load_and_predict_the_same(model_of):
    """Decided: a big-endian or Fortran-ordered file is a valid .npz; the loader
    converts it once to native C order (which ``predict`` is fastest on)."""
    arrays = {
        name: a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a
        for name, a in arrays_copy().items()
    }
    arrays["leaf_values"] = np.asfortranarray(arrays["leaf_values"])
    directory = model_of(zip_bytes(members_of(arrays)))
    model = load_model(directory)
    tables = model.predictor
    assert all(getattr(tables, n).dtype.isnative for n in ARRAYS)
    assert tables.leaf_values.flags.c_contiguous
    np.testing.assert_array_equal(tables.predict(ROWS), TreeTables(**small_arrays()).predict(ROWS))


def test_leaves_whose_sum_overflows_are_refused(model_of):
    """Every leaf finite, but three trees of 9e307 sum past the float64 range."""
    leaves = np.full_like(small_arrays()["leaf_values"], 9e307)
    assert "predictions could reach inf" in refusal(model_of(with_array("leaf_values", leaves)))


def test_a_partial_sum_that_overflows_is_refused(model_of):
    """+1.7e308, +1.7e308, -1.7e308: the total is finite, adding the first two is not."""
    leaves = np.empty_like(small_arrays()["leaf_values"])
    leaves[:2], leaves[2] = 1.7e308, -1.7e308
    assert "predictions could reach" in refusal(model_of(with_array("leaf_values", leaves)))


def test_large_but_safe_leaves_still_load(model_of):
    leaves = np.full_like(small_arrays()["leaf_values"], 1e300)
    assert outcome(model_of(with_array("leaf_values", leaves))) == "loaded"


def test_masks_that_lead_past_leaf_values_are_refused(model_of):
    """Cutting leaf_values to 8 columns leaves masks that select leaf 62: ``predict``
    would read the next tree's leaves, or index past the end."""
    leaves = np.ascontiguousarray(small_arrays()["leaf_values"][:, :8])
    assert "keep no leaf below 8" in refusal(model_of(with_array("leaf_values", leaves)))


def test_masks_whose_and_can_be_zero_are_refused(model_of):
    """Each row keeps a leaf, but one pickup row and one drop-off row share none."""
    arrays = arrays_copy()
    arrays["masks_pu"][0] = 0b01
    arrays["masks_do"][0] = 0b10
    assert "some rows would reach no leaf" in refusal(model_of(zip_bytes(members_of(arrays))))


# ------------------------------------------------------------------ 2. size caps


@cache
def zero_bomb(megabytes: int, name: str = "leaf_values.npy") -> Member:
    """A ``.npy`` of ``megabytes`` MiB of zeros, deflated to ~1 KB per MiB, honest
    in every header (sizes and CRC): only its size gives it away."""
    chunk = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)  # no back-references: repeatable
    header = raw_npy("<f8", (megabytes << 17,))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = zlib.crc32(header)
    for _ in range(megabytes):
        crc = zlib.crc32(chunk, crc)
    return Member(
        name,
        b"",
        DEFLATED,
        declared_size=len(header) + (megabytes << 20),
        compressed=head + piece * megabytes + end,
        crc=crc,
    )


def peak_bytes(directory: Path) -> tuple[str, int]:
    """The refusal message and the peak memory traced while loading."""
    tracemalloc.start()
    try:
        message = refusal(directory)
        return message, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_deflate_bomb_is_refused_from_the_zip_directory(model_of):
    """The issue's case: ~0.5 MB on disk declaring 436 MiB of leaves."""
    members = members_of(arrays_copy())
    members[7] = zero_bomb(436)
    weights = zip_bytes(members)
    assert len(weights) < 1 << 20
    message, peak = peak_bytes(model_of(weights))
    assert peak < 16 << 20, f"peak {peak >> 20} MiB"
    assert "member 'leaf_values.npy' declares" in message and "uncompressed" in message


def test_members_each_within_the_cap_are_refused_in_total(model_of, monkeypatch):
    monkeypatch.setattr(npz_module, "MAX_NPZ_UNCOMPRESSED_BYTES", 4 << 20)
    members = members_of(arrays_copy())
    members[7] = zero_bomb(3)
    members[2] = zero_bomb(3, "masks_pu.npy")
    assert "members would expand to" in refusal(model_of(zip_bytes(members)))


def test_a_lying_zip_header_is_caught_by_the_bounded_read(model_of):
    """The directory declares 1 KB, the deflate stream holds 8 MiB: only the declared
    bytes are ever decompressed, and the CRC then fails."""
    arrays = arrays_copy()
    honest = npy(arrays["leaf_values"])
    big = honest + bytes(8 << 20)
    members = members_of(arrays)
    members[7] = Member(
        "leaf_values.npy", big, DEFLATED, declared_size=len(honest), compressed=deflate(big)
    )
    message, peak = peak_bytes(model_of(zip_bytes(members)))
    assert peak < 4 << 20, f"peak {peak >> 20} MiB"
    assert "member 'leaf_values.npy' cannot be read" in message


def test_a_header_that_does_not_match_the_member_size_is_refused(model_of):
    members = members_of(arrays_copy())
    members[7] = Member("leaf_values.npy", raw_npy("<f8", (1_000_000, 1000), bytes(64)))
    assert "its header declares (1000000, 1000) float64 = 8000000000 bytes" in refusal(
        model_of(zip_bytes(members))
    )


def test_trailing_bytes_after_the_array_are_refused(model_of):
    members = members_of(arrays_copy())
    members[8] = Member("baseline.npy", npy(np.array([12.0])) + b"junk")
    assert "the member holds 12" in refusal(model_of(zip_bytes(members)))


def test_oversized_weights_file_is_refused_before_it_is_read(model_of, monkeypatch):
    monkeypatch.setattr(artifact_module, "MAX_WEIGHTS_BYTES", 1000)
    assert "model.npz is" in refusal(model_of(npz_bytes(small_arrays())))


def test_oversized_metadata_is_refused_before_it_is_read(model_of):
    directory = model_of(npz_bytes(small_arrays()))
    meta = (directory / "metadata.json").read_text()
    (directory / "metadata.json").write_text(meta[:-2] + " " * (2 << 20) + meta[-2:])
    assert "metadata.json is" in refusal(directory)


def test_deeply_nested_metadata_is_not_json(model_of):
    directory = model_of(npz_bytes(small_arrays()))
    (directory / "metadata.json").write_text("[" * 100_000)
    assert "metadata.json is not JSON" in refusal(directory)


# ------------------------------------------------- 3. members that are not arrays


@pytest.mark.parametrize(
    "data,message",
    [
        (b"hello", "is not a .npy array: EOF"),
        (b"\x93NUMPY\x03\x00" + bytes(100), ".npy version (3, 0) is not supported"),
        (raw_npy("<f8", (-1,)), "negative dimension"),
        (raw_npy("<f8", "(1,)"), "shape is not valid"),
        (raw_npy("nonsense", (1,)), "is not a .npy array"),
        (raw_npy("<f8", (1,), fortran="yes"), "is not a .npy array"),
        (raw_npy("<f8", (1,) * 100, bytes(8)), "cannot be shaped"),
    ],
)
def test_a_member_that_is_not_an_array_is_named(model_of, data, message):
    members = members_of(arrays_copy())
    members[7] = Member("leaf_values.npy", data)
    got = refusal(model_of(zip_bytes(members)))
    assert "bad model.npz: member 'leaf_values.npy'" in got and message in got


# ------------------------------------------------------------ 4. the zip container


def test_missing_and_extra_members_are_named(model_of):
    members = members_of(arrays_copy())
    members[0] = Member("evil.npy", npy(np.zeros(1)))
    got = refusal(model_of(zip_bytes(members)))
    assert "missing ['zone_rows_pu.npy'], unexpected ['evil.npy']" in got


def test_a_member_without_the_npy_suffix_is_unexpected(model_of):
    members = members_of(arrays_copy())
    members[8] = Member("baseline", members[8].data)
    assert "unexpected ['baseline']" in refusal(model_of(zip_bytes(members)))


def test_duplicate_member_names_are_refused(model_of):
    """np.load silently takes the last of two same-named members."""
    members = [*members_of(arrays_copy()), Member("baseline.npy", npy(np.array([1e6])))]
    assert "duplicate members ['baseline.npy']" in refusal(model_of(zip_bytes(members)))


def test_many_members_are_refused_before_zipfile_parses_them(model_of):
    members = [Member(f"{i}.npy", b"") for i in range(20_000)]
    got = refusal(model_of(zip_bytes(members)))
    assert "lists 20000 members" in got and len(got) < 500


def test_a_zip64_end_record_is_refused(model_of):
    weights = zip_bytes(members_of(arrays_copy()), zip64_locator=True)
    assert "ZIP64" in refusal(model_of(weights))


@pytest.mark.parametrize("keep", [0, 10, 21, 100, 5000, -23, -1])
def test_a_truncated_zip_is_refused(model_of, keep):
    weights = npz_bytes(small_arrays())
    assert "bad model.npz" in refusal(model_of(weights[:keep]))


def test_bytes_cut_from_the_middle_are_refused(model_of):
    weights = npz_bytes(small_arrays())
    assert "bad model.npz" in refusal(model_of(weights[:1000] + weights[2000:]))


def test_encrypted_and_bzip2_members_are_refused(model_of):
    members = members_of(arrays_copy())
    members[8] = Member("baseline.npy", members[8].data, flags=0x1)
    assert "'baseline.npy' is encrypted" in refusal(model_of(zip_bytes(members)))
    members[8] = Member("baseline.npy", npy(np.array([12.0])), BZIP2)
    assert "compression method 12" in refusal(model_of(zip_bytes(members)))


def test_a_deflated_npz_from_numpy_loads(model_of):
    """np.savez_compressed's output (deflated, ZIP64 extra fields) is still accepted."""
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **small_arrays())
    assert outcome(model_of(buffer.getvalue())) == "loaded"


# --------------------------------------------------------------- 5. properties


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Iterator[Path]:
    """A fresh directory per example (hypothesis forbids the per-test tmp_path).

    Fresh, not rewritten: truncating an existing file can cost milliseconds.
    """
    root = tmp_path_factory.mktemp("hostile")
    return (root / str(i) for i in itertools.count())


@examples(100)
@given(
    st.one_of(
        st.binary(max_size=4096),
        st.binary(max_size=512).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=512).map(lambda b: b + b"PK\x05\x06" + bytes(18)),
    )
)
def test_arbitrary_bytes_are_refused(scratch, weights):
    assert outcome(write_model(next(scratch), weights)) == "refused"


FLOAT_VALUES = [np.nan, np.inf, -np.inf, 1e308, -1e308, 1e300, 0.0, -1.0, 3.5, 1e-310]
INT_VALUES = [0, 1, -1, 2, 238, 239, 10_000, 2**31, 2**63, 2**64 - 1]
DTYPES = [
    "<f8",
    ">f8",
    "<f4",
    "<f2",
    "<i8",
    ">i8",
    "<i4",
    "<u8",
    ">u8",
    "<u4",
    "|u1",
    "|b1",
    "<c16",
]
RESHAPES = ["scalar", "add_axis", "transpose", "ravel", "empty", "drop_row", "drop_col", "twice"]


@st.composite
def mutation(draw) -> tuple:
    """One change to one array, as data so a failing example reads clearly."""
    name = draw(st.sampled_from(ARRAYS))
    kind = draw(st.sampled_from(["value", "value", "dtype", "shape", "member"]))
    if kind == "value":
        where = draw(st.floats(0, 1, exclude_max=True))
        pool = st.sampled_from(FLOAT_VALUES + INT_VALUES)
        value = draw(st.one_of(pool, st.integers(0, 2**64 - 1), st.floats()))
        return ("value", name, where, value)
    if kind == "dtype":
        return ("dtype", name, draw(st.sampled_from(DTYPES)))
    if kind == "shape":
        return ("shape", name, draw(st.sampled_from(RESHAPES)))
    return ("member", name, draw(st.sampled_from(["drop", "duplicate", "rename", "extra"])))


def reshape(a: np.ndarray, how: str) -> np.ndarray:
    if how == "scalar":
        return a.reshape(-1)[:1].reshape(()) if a.size else a.reshape(-1)
    b = np.atleast_1d(a)  # the rest need an axis, even after an earlier "scalar"
    return {
        "add_axis": lambda: a[None],
        "transpose": lambda: a.T,
        "ravel": a.ravel,
        "empty": lambda: b[:0],
        "drop_row": lambda: b[1:],
        "drop_col": lambda: b[..., :-1],
        "twice": lambda: np.concatenate([b, b]),
    }[how]()


def set_value(a: np.ndarray, where: float, value: float | int) -> np.ndarray:
    """``a`` with one element replaced; widened to float64 if the value does not fit."""
    if a.size == 0:
        return a
    a = a.copy()
    try:
        a.flat[int(where * a.size)] = value
        if a.flat[int(where * a.size)] != value and not _is_nan(value):
            raise OverflowError
    except (OverflowError, ValueError, TypeError):
        a = a.astype(np.float64)
        a.flat[int(where * a.size)] = float(value)
    return a


def _is_nan(value: float | int) -> bool:
    return isinstance(value, float) and math.isnan(value)


def apply(arrays: dict[str, np.ndarray], mutations: list[tuple]) -> list[Member]:
    """The mutated arrays as zip members (member-level mutations change the list)."""
    arrays = dict(arrays)
    renamed: dict[str, str] = {}
    dropped: set[str] = set()
    extra: list[Member] = []
    for kind, name, *args in mutations:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if kind == "value":
                arrays[name] = set_value(arrays[name], *args)
            elif kind == "dtype":
                arrays[name] = arrays[name].astype(args[0])
            elif kind == "shape":
                arrays[name] = reshape(arrays[name], args[0])
            elif args[0] == "drop":
                dropped.add(name)
            elif args[0] == "rename":
                renamed[name] = name.upper() + ".npy"
            else:
                extra.append(Member(f"{name}.npy" if args[0] == "duplicate" else "x.npy", b""))
    members = [
        Member(renamed.get(name, f"{name}.npy"), npy(a))
        for name, a in arrays.items()
        if name not in dropped
    ]
    return members + extra


@examples(100)
@given(st.lists(mutation(), min_size=0, max_size=3), st.sampled_from([STORED, DEFLATED]))
def test_mutated_tables_load_only_if_every_prediction_is_finite(scratch, mutations, method):
    members = [Member(m.name, m.data, method) for m in apply(small_arrays(), mutations)]
    result = outcome(write_model(next(scratch), zip_bytes(members)))
    event(f"{result}{' (unmutated)' if not mutations else ''}")


@st.composite
def member(draw) -> Member:
    """A member with a likely or random name and a valid, random or crafted .npy body."""
    name = draw(st.one_of(st.sampled_from([f"{n}.npy" for n in ARRAYS]), st.text(max_size=12)))
    stem = name.removesuffix(".npy")
    content = draw(st.sampled_from(["valid", "bytes", "crafted", "array"]))
    if content == "valid" and stem in ARRAYS:
        data = npy(small_arrays()[stem])
    elif content == "crafted":
        descr = draw(st.sampled_from(["<f8", ">u8", "|O", "<i4", "<U2", [("a", "<f8")], "x"]))
        shape = draw(st.lists(st.integers(-2, 300), max_size=3).map(tuple))
        data = raw_npy(descr, shape, draw(st.binary(max_size=256)))
    elif content == "array":
        dtype = draw(st.sampled_from(DTYPES))
        values = draw(st.lists(st.sampled_from(FLOAT_VALUES), max_size=20))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            data = npy(np.array(values, dtype=np.float64).astype(dtype))
    else:
        data = draw(st.binary(max_size=256))
    method = draw(st.sampled_from([STORED, DEFLATED, BZIP2]))
    return Member(name, data, method)


@st.composite
def zip_members(draw) -> list[Member]:
    """Either any members at all, or the valid ones (any order) with a few edits:
    one replaced, inserted or removed, or a byte of one flipped."""
    if draw(st.booleans()):
        return draw(st.lists(member(), max_size=11))
    members = draw(st.permutations(members_of(small_arrays())))
    methods = draw(st.lists(st.sampled_from([STORED, DEFLATED]), min_size=9, max_size=9))
    members = [Member(m.name, m.data, method) for m, method in zip(members, methods, strict=True)]
    for _ in range(draw(st.integers(0, 3))):
        edit = draw(st.sampled_from(["replace", "insert", "remove", "flip"]))
        i = draw(st.integers(0, max(len(members) - 1, 0)))
        if edit == "insert" or not members:
            members.insert(i, draw(member()))
        elif edit == "replace":
            members[i] = draw(member())
        elif edit == "remove":
            del members[i]
        elif members[i].data:
            data = bytearray(members[i].data)
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
            members[i] = Member(members[i].name, bytes(data), members[i].method)
    return members


@examples(100)
@given(zip_members())
def test_arbitrary_small_zips_load_only_if_every_prediction_is_finite(scratch, members):
    event(outcome(write_model(next(scratch), zip_bytes(members))))
