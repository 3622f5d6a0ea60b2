"""Issue 19, property-based (Hypothesis): the shared option types accept exactly their allowed
values and refuse everything else with argparse's error type; the image-set reader, given random
corruptions of a valid file, either returns a valid set or refuses in one line (ImageSetError),
and never returns data from a damaged chunk."""

from __future__ import annotations

import argparse
import math

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ussim import cliargs, examples, imageset

# DECISION: derandomised and without an example database: CI runs the same examples every time (a
# failure reproduces; nothing is written into the checkout's .hypothesis/).
settings.register_profile("issue19", derandomize=True, database=None)
settings.load_profile("issue19")

texts = st.one_of(st.text(max_size=12), st.integers().map(str), st.floats(allow_nan=True).map(str),
                  st.sampled_from(["nan", "NaN", "inf", "-inf", "1e999", "", " ", "0x10", "1_000", "٣"]))


@given(texts, st.integers(-5, 5), st.integers(5, 50))
def test_int_range_gives_an_int_inside_or_refuses(text, low, high):
    parse = cliargs.int_range(low, high)
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(value, int) and low <= value <= high


@given(texts)
def test_seed_is_a_32_bit_unsigned_integer(text):
    try:
        value = cliargs.seed(text)
    except argparse.ArgumentTypeError:
        return
    assert 0 <= value <= 2**32 - 1


@given(st.one_of(texts, st.floats(allow_nan=True, allow_infinity=True).map(repr)),
       st.floats(-10, 0), st.floats(0.5, 10), st.booleans(), st.booleans())
def test_finite_float_is_finite_and_inside(text, low, high, low_open, high_open):
    parse = cliargs.finite_float(low, high, low_open=low_open, high_open=high_open)
    try:
        value = parse(text)
    except argparse.ArgumentTypeError as error:
        assert "\n" not in str(error)
        return
    assert math.isfinite(value) and low <= value <= high
    assert not (low_open and value == low) and not (high_open and value == high)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_probability(value):
    try:
        parsed = cliargs.probability(repr(value))
    except argparse.ArgumentTypeError:
        assert not (0 <= value <= 1)
        return
    assert parsed == value and 0 <= value <= 1


@given(st.integers(1, 10**9))
def test_image_side_respects_the_memory_cap(side):
    parse = cliargs.image_side(8, 100)
    try:
        value = parse(str(side))
    except argparse.ArgumentTypeError:
        assert side < 8 or side > 8192 or side * side * 100 > cliargs.memory_bytes()
        return
    assert 8 <= value <= 8192 and value * value * 100 <= cliargs.memory_bytes()


def test_image_side_refuses_what_this_machine_cannot_hold(monkeypatch):
    monkeypatch.setattr(cliargs, "memory_bytes", lambda: 1 << 30)  # a 1 GiB machine
    parse = cliargs.image_side(8, 200)
    assert parse("2048") == 2048  # 800 MiB
    with pytest.raises(argparse.ArgumentTypeError, match="more than this machine's 1 GiB"):
        parse("4096")


@given(st.sampled_from(["auto", "cpu", "cuda", "cuda:0", "cuda:12", "tpu", "cuda:", "CUDA", "cuda:-1", "mps", ""]))
def test_device(text):
    ok = text in ("auto", "cpu", "cuda", "cuda:0", "cuda:12")
    if ok:
        assert cliargs.device(text) == text
    else:
        with pytest.raises(argparse.ArgumentTypeError):
            cliargs.device(text)


class ValidFile(tuple):
    """(path, its bytes, its data chunks as (offset, size), its global heaps as (start, end)); a short
    repr for Hypothesis's reports."""

    def __repr__(self):
        return f"ValidFile({self[0].name}, {len(self[1])} bytes)"


@pytest.fixture(scope="module")
def valid_file(tmp_path_factory):
    """A valid image set as the writer makes it (checksummed), and where its data chunks lie."""
    path = tmp_path_factory.mktemp("corrupt") / "set.h5"
    imageset.write(examples.toy_imageset(n=3, size=32, seed=5), path)
    chunks = []
    with h5py.File(path, "r") as handle:
        for name in ("image", "label", "envelope"):
            for index in range(handle[name].id.get_num_chunks()):
                info = handle[name].id.get_chunk_info(index)
                chunks.append((info.byte_offset, info.size))
    data = path.read_bytes()
    heaps, at = [], data.find(b"GCOL")
    while at >= 0:  # global heap collections: signature, version, 3 reserved bytes, then the size
        heaps.append((at, at + int.from_bytes(data[at + 8:at + 16], "little")))
        at = data.find(b"GCOL", at + 1)
    return ValidFile((path, data, chunks, heaps))


def _read_all(path):
    with imageset.read(path) as ds:
        for name in ("image", "label", "envelope"):
            np.asarray(ds[name].values)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_reader_on_random_corruptions(valid_file, tmp_path, data):
    """Flipped, zeroed or cut bytes anywhere but in the global heap: a valid set or one ImageSetError
    line, nothing else.

    Known limit (issue 19's report): damage inside HDF5's global heap, where the variable-length
    strings live (sample ids, string attributes), can send the HDF5 library itself into an endless
    loop on reading; no checksum filter covers that heap, so those bytes are left out here.
    """
    path, original, _, heaps = valid_file
    damaged = bytearray(original)
    kind = data.draw(st.sampled_from(["flip", "zero", "cut"]))
    start = data.draw(st.integers(0, len(original) - 1))
    length = data.draw(st.integers(1, 4096))
    assume(kind == "cut" or not any(start < end and begin < start + length for begin, end in heaps))
    if kind == "cut":
        damaged = damaged[:start]
    else:
        for offset in range(start, min(start + length, len(damaged))):
            damaged[offset] = 0 if kind == "zero" else damaged[offset] ^ 0xFF
    target = tmp_path / "damaged.h5"
    target.write_bytes(bytes(damaged))
    try:
        _read_all(target)
    except imageset.ImageSetError as error:
        assert "\n" not in str(error) and str(target) in str(error)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damage_inside_a_data_chunk_is_always_detected(valid_file, tmp_path, data):
    """Any change to the bytes of a pixel chunk is refused: the checksum never lets it through."""
    path, original, chunks, _ = valid_file
    offset, size = data.draw(st.sampled_from(chunks))
    start = data.draw(st.integers(offset, offset + size - 1))
    length = data.draw(st.integers(1, offset + size - start))
    damaged = bytearray(original)
    for at in range(start, start + length):
        damaged[at] ^= data.draw(st.integers(1, 255)) if at == start else 0xFF
    target = tmp_path / "damaged.h5"
    target.write_bytes(bytes(damaged))
    with pytest.raises(imageset.ImageSetError, match="damaged"):
        _read_all(target)
