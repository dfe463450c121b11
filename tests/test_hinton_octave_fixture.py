"""The NumPy reading of Hinton's ffnew.m reproduces what the original did under Octave, batch by batch.

tests/data/hinton_matlab_fixture.npz was written by ``python bench/hinton_octave.py fixture``: the
original ffnew.m (784-24-24-24) run under GNU Octave on 4 MNIST batches with pre-drawn numbers for its
negative-label draw, the state saved after every batch. No Octave is needed here.

Tolerance on the states: float32 throughout, and the two sides sum in different orders (Octave's
BLAS vs NumPy's), so elementwise ``|ours - octave| <= RTOL * |octave| + ATOL_REL * max|octave|`` per
array, RTOL = 1e-4 and ATOL_REL = 1e-5. The absolute part is scaled to each array because the arrays
span three orders of magnitude (biases ~1e-3 to 1e-2, weights and gradients ~1e-1 to 1, meanstates ~1)
and an element that is a near-cancelling sum carries the rounding of its terms, not of its value: a
plain atol of 1e-5 would be looser than the biases themselves need (it would pass a bias off by 1e-5,
a thousandth of its size). The differences seen when the fixture was made were at most 2.7e-7
absolute and 2.5e-6 of an array's largest element: a margin of 4x on the worst array. Negative
labels must match exactly (the closest draw in the fixture was 7e-5 from a running sum).

The states move little in one batch, so a mistake that changes an update by 1e-5 of the state is below
any float32 bound on the states themselves (a weight cost on the biases is such a mistake: 1e-5 of
the bias per batch). The updates d = after - before are therefore compared too, from Octave's state
before each batch, per array and normwise: ``max|d_ours - d_octave| <= 1e-5 * max|d_octave| +
8 * eps32 * max|after|``: float32 summation differences in the update itself, plus a few float32 steps
of the state it is added to. The correct reference stays within a tenth of that bound (worst: batch 1,
weights[1], one float32 step of a weight near 0.5); a weight cost on the biases exceeds it 2.4-fold.

The last three tests need GNU Octave and Hinton's code (``../shared/ffcode`` or ``$FFBOOK_FFCODE``) and
are skipped without them: the harness' choosefrom.m is the original's but for r, it picks what
``choose_negative`` picks at the edges (r on a running sum, r rounding to 1.0 in single), and Octave
run now reproduces the fixture.
"""

from __future__ import annotations

import pathlib
import shutil
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))

import hinton_octave as ho  # noqa: E402

RTOL = 1e-4
ATOL_REL = 1e-5
UPDATE_REL = 1e-5
UPDATE_ULPS = 8


@pytest.fixture(scope="module")
def fx():
    return ho.load_fixture(ho.FIXTURE)


def assert_state_close(got: dict, want: dict, where: str) -> None:
    for key in ho.STATE_KEYS:
        assert len(got[key]) == len(want[key])
        for i, (a, b) in enumerate(zip(got[key], want[key], strict=True)):
            assert a.dtype == np.float32 and a.shape == b.shape, f"{where}: {key}[{i}]"
            atol = ATOL_REL * float(np.max(np.abs(b)))
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=atol, err_msg=f"{where}: {key}[{i}]")


def test_fixture_contents(fx):
    assert fx["widths"] == (24, 24, 24)
    assert fx["octave_version"].startswith("GNU Octave")
    k = len(fx["after"])
    assert k == 4 and fx["x"].shape == (k, 100, 784) and fx["uniforms"].shape == (k, 100)
    np.testing.assert_array_equal(fx["maxepoch"], [1, 1, 1, 4])
    # the gain Octave ran each batch with: the last epoch of a maxepoch-epoch run, 1/maxepoch
    np.testing.assert_array_equal(fx["epsgain"], [ho.epsgain(m, m) for m in fx["maxepoch"]])
    np.testing.assert_array_equal(fx["epsgain"], [1, 1, 1, 0.25])
    for b, after in enumerate(fx["after"]):
        neg = after["negative_labels"]
        assert neg.shape == (100,) and neg.min() >= 0 and not np.any(neg == fx["labels"][b])
        for key in ho.STATE_KEYS:
            for a, a0 in zip(after[key], fx["init"][key], strict=True):
                assert a.dtype == np.float32
                assert not np.array_equal(a, a0), key  # every array moved


def test_reference_reproduces_every_batch_from_the_initial_state(fx):
    state = fx["init"]
    for b, want in enumerate(fx["after"]):
        state = ho.numpy_reference_step(
            state, fx["x"][b], fx["labels"][b], fx["uniforms"][b], float(fx["epsgain"][b]), return_info=True
        )
        np.testing.assert_allclose(state["choice_probs"], fx["choice_probs"][b], rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(state["negative_labels"], want["negative_labels"], err_msg=f"batch {b + 1}")
        assert_state_close(state, want, f"batch {b + 1} (chained)")


def test_reference_reproduces_each_batch_from_octaves_state(fx):
    before = fx["init"]
    for b, want in enumerate(fx["after"]):
        got = ho.numpy_reference_step(before, fx["x"][b], fx["labels"][b], fx["uniforms"][b], float(fx["epsgain"][b]))
        np.testing.assert_array_equal(got["negative_labels"], want["negative_labels"])
        assert_state_close(got, want, f"batch {b + 1} (from Octave's state)")
        before = want


def test_reference_updates_match_octaves(fx):
    eps32 = float(np.finfo(np.float32).eps)
    before = fx["init"]
    for b, want in enumerate(fx["after"]):
        got = ho.numpy_reference_step(before, fx["x"][b], fx["labels"][b], fx["uniforms"][b], float(fx["epsgain"][b]))
        for key in ho.STATE_KEYS:
            for i, (a, w, o) in enumerate(zip(got[key], want[key], before[key], strict=True)):
                d_octave = w.astype(np.float64) - o
                err = float(np.max(np.abs((a.astype(np.float64) - o) - d_octave)))
                tol = UPDATE_REL * float(np.max(np.abs(d_octave))) + UPDATE_ULPS * eps32 * float(np.max(np.abs(w)))
                assert err <= tol, f"batch {b + 1}: update of {key}[{i}] off by {err:.3e} (bound {tol:.3e})"
        before = want


def test_choose_negative_is_choosefroms_rule():
    probs = np.array([[0.25, 0.0, 0.5, 0.25], [0.5, 0.5, 0.0, 0.0], [0.2, 0.2, 0.2, 0.2]], np.float32)
    # first label whose running sum exceeds r; r equal to a running sum goes on; none past the total
    np.testing.assert_array_equal(ho.choose_negative(probs, [0.0, 0.5, 0.9]), [0, 1, -1])
    np.testing.assert_array_equal(ho.choose_negative(probs, [0.25, 0.49, 0.79]), [2, 0, 3])


needs_octave = pytest.mark.skipif(
    shutil.which("octave-cli") is None or not (ho.FFCODE / "original" / "ffnew.m").is_file(),
    reason="needs GNU Octave and Hinton's code (../shared/ffcode or $FFBOOK_FFCODE)",
)


@needs_octave
def test_choosefrom_replacement_is_the_original_but_for_r():
    original = (ho.FFCODE / "original" / "choosefrom.m").read_text().splitlines()
    ours = ho._CHOOSEFROM.splitlines()
    kept = [line for line in original if line.strip() and line.strip() != "r=rand(1,1);"]
    it = iter(ours)
    assert all(any(line == other for other in it) for line in kept)  # the original's lines, in order
    assert "  r=rand(1,1);" in original and "  r=hoct_u(n);" in ours


@needs_octave
def test_choose_negative_agrees_with_octave_at_the_edges():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(300, 10)) * 3
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    u = rng.random(300)
    cums = np.cumsum(probs, axis=1, dtype=np.float32)
    u[:20] = cums[np.arange(20), rng.integers(0, 10, 20)]  # exactly on a running sum
    u[20:40] = np.nextafter(u[:20], 0)  # just below one (in double)
    u[40:50] = 1 - 1e-9  # rounds to 1.0 in single: no label
    probs[50:60] = [0.1] * 10  # the float32 total of ten 0.1s is above 1.0
    u[50:60] = np.linspace(0.95, 1 - 1e-12, 10)
    np.testing.assert_array_equal(ho.choose_negative(probs, u), ho.octave_choosefrom(probs, u))


@needs_octave
def test_octave_run_reproduces_the_fixture(fx):
    after = ho.run_original(
        fx["init"], fx["x"], fx["labels"], fx["uniforms"], maxepoch=list(fx["maxepoch"]), widths=fx["widths"]
    )
    for b, (got, want) in enumerate(zip(after, fx["after"], strict=True)):
        np.testing.assert_array_equal(got["negative_labels"], want["negative_labels"])
        assert_state_close(got, want, f"Octave now vs fixture, batch {b + 1}")
