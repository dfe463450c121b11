"""ffbook.ff.baseline: the backprop network's layer sizes and seed, given as Python or NumPy values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffbook.ff import backprop_mlp


@pytest.mark.parametrize(
    "dims", [np.array([12, 6, 5]), np.array([12, 6, 5], dtype=np.uint16), (12, 6, 5), range(12, 4, -1)]
)
def test_dims_may_be_a_numpy_array_or_any_sequence(dims):
    model = backprop_mlp(dims, num_classes=3, seed=np.int64(2))
    widths = [int(d) for d in dims]
    linears = [layer for layer in model if isinstance(layer, torch.nn.Linear)]
    assert [(lin.in_features, lin.out_features) for lin in linears] == list(zip(widths, [*widths[1:], 3], strict=True))
    reference = backprop_mlp(widths, num_classes=3, seed=2)
    for mine, theirs in zip(model.parameters(), reference.parameters(), strict=True):
        assert torch.equal(mine, theirs)


def test_large_seeds_do_not_act_as_their_low_32_bits():
    # torch's CPU generator keeps only the low 32 bits of a seed: 2**32 would give seed 0's weights.
    first, cut, again = (backprop_mlp([6, 4], seed=seed) for seed in (2**32 + 5, 5, 2**32 + 5))
    assert not torch.equal(first[0].weight, cut[0].weight)
    assert torch.equal(first[0].weight, again[0].weight)
    with pytest.raises(ValueError, match="seed must be <= 9223372036854775807"):
        backprop_mlp([6, 4], seed=2**63)


@pytest.mark.parametrize(
    ("dims", "error", "match"),
    [
        (np.array([12]), ValueError, "at least two"),
        (np.array([12.0, 6.0]), TypeError, r"dims\[0\] must be an int"),
        (np.array([12, 0]), ValueError, r"dims\[1\] must be >= 1"),
        (np.array([[12, 6]]), TypeError, "dims must be a list or tuple"),
        ("12, 6", TypeError, "dims must be a list or tuple"),
    ],
)
def test_bad_dims_are_refused(dims, error, match):
    with pytest.raises(error, match=match):
        backprop_mlp(dims)
