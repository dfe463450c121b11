"""ffbook._validate: the shared argument checks (here: seeds and NumPy arrays for frameworks)."""

from __future__ import annotations

import numpy as np
import pytest

from ffbook._validate import check_seed, native_array, small_seed


@pytest.mark.parametrize("seed", [0, 3, np.int64(3), np.uint64(2**63 - 1), np.int8(7), 2**63 - 1])
def test_a_seed_is_any_python_or_numpy_int_from_0_to_2_to_the_63_minus_1(seed):
    value = check_seed("seed", seed)
    assert type(value) is int and value == int(seed)


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (-1, ValueError, "seed must be >= 0, got -1"),
        (2**63, ValueError, "seed must be <= 9223372036854775807, got 9223372036854775808"),
        (np.uint64(2**63), ValueError, "seed must be <= "),
        (1.0, TypeError, "seed must be an int"),
        (True, TypeError, "seed must be an int"),
        (np.bool_(True), TypeError, "seed must be an int"),
        ("3", TypeError, "seed must be an int"),
        (None, TypeError, "seed must be an int"),
    ],
)
def test_anything_else_is_not_a_seed(seed, error, match):
    with pytest.raises(error, match=match):
        check_seed("seed", seed)


def test_small_seed_keeps_small_seeds_and_derives_large_ones_reproducibly():
    assert small_seed(5, 32) == 5 and small_seed(2**32 - 1, 32) == 2**32 - 1 and small_seed(2**31 - 1, 31) == 2**31 - 1
    derived = [small_seed(seed, 31) for seed in (2**31, 2**31 + 1, 2**40, 2**63 - 1)]
    assert all(0 <= d < 2**31 for d in derived)
    assert len(set(derived)) == 4  # different seeds, different derived seeds (not seed mod 2**31)
    assert derived[0] != 0 and derived[1] != 1
    assert small_seed(2**40, 31) == derived[2]  # the same every time
    with pytest.raises(ValueError, match="seed must be <= "):
        small_seed(2**63, 31)


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a[::-1],
        lambda a: a[:, ::-2],
        lambda a: a.astype(a.dtype.newbyteorder(">")),
        lambda a: a.astype(a.dtype.newbyteorder(">"))[::-1],
    ],
    ids=["reversed rows", "reversed columns, step 2", "big-endian", "big-endian and reversed"],
)
@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8"])
def test_native_array_copies_what_frameworks_cannot_share(make, dtype):
    array = make(np.arange(24, dtype=dtype).reshape(4, 6))
    out = native_array(array)
    np.testing.assert_array_equal(out, array)  # the same values, in the same order
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert all(stride > 0 for stride in out.strides)


def test_native_array_shares_what_frameworks_can_share():
    array = np.arange(24.0).reshape(4, 6)
    for shared in (array, array[:, ::2], array.T, array[1:3]):
        assert native_array(shared) is shared
    with pytest.raises(TypeError, match="numpy array"):
        native_array([1.0, 2.0])
