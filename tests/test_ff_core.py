"""ffbook.ff.core: overlay, negative labels, goodness, loss and normalisation against NumPy; the
check-free versions the training step uses against the checked ones; devices."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ffbook._validate import check_device
from ffbook.ff import (
    FFLayer,
    FFNet,
    as_features,
    as_labels,
    ff_loss,
    goodness,
    hard_negative_labels,
    normalize,
    overlay_labels,
    random_wrong_labels,
)
from ffbook.ff.core import _ff_loss_formula, overlay_one_hot


def _np_softplus(u):
    return np.log1p(np.exp(u))


def test_overlay_writes_one_hot_times_sample_max_and_keeps_other_pixels():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(5, 4, 4)).astype(np.float32)
    x[2] *= 3.0  # a sample with a different maximum
    labels = np.array([0, 3, 9, 5, 1])
    out = overlay_labels(torch.from_numpy(x), torch.from_numpy(labels), num_classes=10).numpy()
    flat = x.reshape(5, -1)
    for n in range(5):
        expected = np.zeros(10, dtype=np.float32)
        expected[labels[n]] = flat[n].max()
        np.testing.assert_array_equal(out[n, :10], expected)
        np.testing.assert_array_equal(out[n, 10:], flat[n, 10:])
    assert out.shape == (5, 16)


def test_overlay_constant_on_value_and_input_untouched():
    x = torch.full((3, 12), 0.25)
    out = overlay_labels(x, torch.tensor([1, 0, 2]), num_classes=3, on_value=1.0)
    np.testing.assert_array_equal(out[:, :3].numpy(), np.eye(3)[[1, 0, 2]])
    assert torch.all(x == 0.25)  # the caller's tensor is not modified


def test_random_wrong_labels_are_never_true_and_uniform_over_wrong_ones():
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(10).repeat(9000)  # 90,000 draws, 9,000 per true label
    negatives = random_wrong_labels(labels, 10, generator)
    assert not torch.any(negatives == labels)
    assert negatives.min() >= 0 and negatives.max() <= 9
    counts = torch.zeros(10, 10)
    counts.index_put_((labels, negatives), torch.ones(len(labels)), accumulate=True)
    off_diagonal = counts[~torch.eye(10, dtype=torch.bool)]
    # 1000 expected per (true, wrong) pair; 5 standard deviations is about 150
    assert off_diagonal.min() > 850 and off_diagonal.max() < 1150


def test_random_wrong_labels_is_seeded():
    labels = torch.randint(0, 10, (1000,), generator=torch.Generator().manual_seed(0))
    a = random_wrong_labels(labels, 10, torch.Generator().manual_seed(7))
    b = random_wrong_labels(labels, 10, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_hard_negatives_never_true_and_follow_the_scores():
    generator = torch.Generator().manual_seed(3)
    labels = torch.zeros(20000, dtype=torch.long)
    scores = torch.tensor([[100.0, 2.0, 0.0, -50.0]]).repeat(20000, 1)
    negatives = hard_negative_labels(scores, labels, temperature=1.0, generator=generator)
    assert not torch.any(negatives == 0)
    share = torch.bincount(negatives, minlength=4).float() / 20000
    expected = np.exp([2.0, 0.0, -50.0]) / np.exp([2.0, 0.0, -50.0]).sum()
    np.testing.assert_allclose(share[1:].numpy(), expected, atol=0.01)


@pytest.mark.parametrize("kind", ["mean", "sum"])
def test_goodness_and_loss_match_numpy(kind):
    rng = np.random.default_rng(2)
    h_pos, h_neg = rng.normal(size=(6, 7)), rng.normal(size=(4, 7))
    g_pos = goodness(torch.tensor(h_pos), kind).numpy()
    g_neg = goodness(torch.tensor(h_neg), kind).numpy()
    reduce = np.mean if kind == "mean" else np.sum
    np.testing.assert_allclose(g_pos, reduce(h_pos**2, axis=1), rtol=1e-12)
    np.testing.assert_allclose(g_neg, reduce(h_neg**2, axis=1), rtol=1e-12)
    threshold = 1.5
    loss = ff_loss(torch.tensor(g_pos), torch.tensor(g_neg), threshold).item()
    expected = np.mean(_np_softplus(np.concatenate([threshold - g_pos, g_neg - threshold])))
    np.testing.assert_allclose(loss, expected, rtol=1e-12)


def test_loss_hand_value():
    # G_pos = 1.5 = theta and G_neg = 1.5: both terms are softplus(0) = log 2
    loss = ff_loss(torch.tensor([1.5]), torch.tensor([1.5]), 1.5).item()
    assert loss == pytest.approx(np.log(2.0))


def test_sharpness_scales_the_logit():
    # G_pos = 2, G_neg = 1 against theta = 1.5: with slope k both terms are softplus(-0.5 k)
    for k in (1.0, 4.0, 10.0):
        loss = ff_loss(torch.tensor([2.0]), torch.tensor([1.0]), 1.5, sharpness=k).item()
        assert loss == pytest.approx(np.log1p(np.exp(-0.5 * k)), rel=1e-6)


def test_sum_of_squares_is_the_mean_with_sharpness_equal_to_the_width():
    # sigma(sum h^2 - theta H) = sigma(H (mean h^2 - theta)): the two spellings give one loss
    h_pos, h_neg = torch.rand(5, 8, dtype=torch.float64), torch.rand(3, 8, dtype=torch.float64)
    as_sum = ff_loss(goodness(h_pos, "sum"), goodness(h_neg, "sum"), 0.3 * 8)
    as_mean = ff_loss(goodness(h_pos, "mean"), goodness(h_neg, "mean"), 0.3, sharpness=8)
    torch.testing.assert_close(as_sum, as_mean, rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", ["l2", "rms"])
def test_normalize_matches_numpy(kind):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 8))
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    if kind == "rms":
        norm = norm / np.sqrt(8)
    np.testing.assert_allclose(normalize(torch.tensor(x), kind, eps=1e-4).numpy(), x / (norm + 1e-4), rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: overlay_labels(torch.rand(3, 9), torch.tensor([0, 1, 2]), num_classes=10), ValueError, "num_classes"),
        (lambda: overlay_labels(torch.rand(3, 20), torch.tensor([0, 1, 10])), ValueError, r"labels must lie"),
        (lambda: overlay_labels(torch.rand(3, 20), torch.tensor([0, -1, 2])), ValueError, r"labels must lie"),
        (lambda: overlay_labels(torch.rand(3, 20), torch.tensor([0.0, 1.0, 2.0])), TypeError, "integers"),
        (lambda: overlay_labels(torch.rand(3, 20), torch.tensor([0, 1])), ValueError, "one entry per sample"),
        (lambda: overlay_labels(torch.rand(0, 20), torch.tensor([], dtype=torch.long)), ValueError, "empty"),
        (lambda: overlay_labels(torch.tensor([[float("nan")] * 20]), torch.tensor([1])), ValueError, "NaN"),
        (lambda: overlay_labels(torch.tensor([[float("inf")] * 20]), torch.tensor([1])), ValueError, "infinite"),
        (lambda: overlay_labels(torch.zeros(2, 20, dtype=torch.uint8), torch.tensor([1, 2])), TypeError, "floating"),
        (lambda: overlay_labels(torch.rand(20), torch.tensor([1])), ValueError, "shape"),
        (lambda: overlay_labels([[0.0] * 20], torch.tensor([1])), TypeError, "torch.Tensor"),
        (lambda: overlay_labels(torch.rand(2, 20), torch.tensor([1, 2]), on_value="min"), ValueError, "on_value"),
        (lambda: overlay_labels(torch.rand(2, 20), torch.tensor([1, 2]), on_value=-1.0), ValueError, "on_value"),
        (lambda: random_wrong_labels(torch.tensor([0, 1]), num_classes=1), ValueError, "num_classes"),
        (lambda: random_wrong_labels(torch.tensor([0, 5]), num_classes=5), ValueError, "labels must lie"),
        (lambda: goodness(torch.rand(3, 4), "max"), ValueError, "goodness kind"),
        (lambda: normalize(torch.rand(3, 4), "l1"), ValueError, "norm kind"),
        (lambda: ff_loss(torch.rand(0), torch.rand(3), 1.0), ValueError, "empty"),
        (lambda: hard_negative_labels(torch.rand(3, 4), torch.tensor([0, 1, 2]), temperature=0), ValueError, "temp"),
        (lambda: hard_negative_labels(torch.tensor([[0.0, float("nan")]]), torch.tensor([0])), ValueError, "NaN"),
        # on_value="max" needs a positive maximum in every sample, or the label is lost or inverted
        (lambda: overlay_labels(torch.zeros(2, 20), torch.tensor([1, 2])), ValueError, "no positive value"),
        (lambda: overlay_labels(-torch.rand(2, 20), torch.tensor([1, 2])), ValueError, "lost or inverted"),
        (lambda: normalize(torch.rand(2, 3, 4)), ValueError, "2-D"),
        (lambda: normalize(torch.rand(3, 4), eps=0.0), ValueError, "eps"),
        (lambda: goodness(torch.rand(3, 4, dtype=torch.complex64)), TypeError, "real floating"),
        (lambda: goodness(torch.rand(3, 0)), ValueError, "D >= 1"),
        (lambda: ff_loss(torch.rand(3), torch.rand(3), float("nan")), ValueError, "threshold"),
        (lambda: ff_loss(torch.rand(3), torch.rand(3), -1.0), ValueError, "threshold"),
        (lambda: ff_loss(torch.rand(3), torch.rand(3), 1.0, sharpness=0.0), ValueError, "sharpness"),
        (lambda: FFLayer(10, 5, sharpness=float("nan")), ValueError, "sharpness"),
        (lambda: FFLayer(10, 5, eps=0.0), ValueError, "eps"),
        (lambda: FFLayer(10, 5, threshold=float("inf")), ValueError, "threshold"),
        (lambda: FFNet([20, 8, 8], first_scored_layer=1.5), TypeError, "first_scored_layer"),
        (lambda: FFNet([20, 8, 8], first_scored_layer=True), TypeError, "first_scored_layer"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_overlay_keeps_the_label_of_standardised_images_with_a_constant_on_value():
    """Mean/std-normalised pixels are negative in the background: a constant on value still marks the label."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 30, generator=generator) - 0.8) / 0.3  # mostly negative, as standardised MNIST is
    out = overlay_labels(x, torch.tensor([0, 3, 9, 3]), on_value=2.0)
    assert torch.equal(out[:, :10].argmax(dim=1), torch.tensor([0, 3, 9, 3]))
    assert torch.equal(out[:, 10:], x[:, 10:])


# ---------------------------------------------------------------- large values, half precision, NaN goodness


@pytest.mark.parametrize("kind", ["l2", "rms"])
def test_normalize_rows_with_large_values_do_not_overflow(kind):
    # In float32 the squares of 1e30 overflow to inf, and x / inf gave a row of zeros.
    big = np.array([[1e30, 2e30, -2e30], [3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    lengths = np.array([[3e30], [5.0], [0.0]])  # by hand: sqrt(1 + 4 + 4) = 3, sqrt(9 + 16) = 5
    if kind == "rms":
        lengths = lengths / np.sqrt(3.0)
    out = normalize(torch.tensor(big, dtype=torch.float32), kind).numpy()
    np.testing.assert_allclose(out, big / (lengths + 1e-4), rtol=1e-6, atol=0)


@pytest.mark.parametrize("kind", ["l2", "rms"])
def test_normalize_gradient_is_the_plain_formulas(kind):
    # The overflow-safe length has its own backward: it must give what autograd gives for the plain formula.
    x = torch.tensor(np.random.default_rng(5).normal(size=(4, 6)), requires_grad=True)
    x_zero = torch.zeros(1, 6, dtype=torch.float64, requires_grad=True)  # an all-zero row: gradient 1 / eps
    weights = torch.tensor(np.random.default_rng(6).normal(size=(5, 6)))
    (normalize(torch.cat([x, x_zero]), kind) * weights).sum().backward()
    plain_x = x.detach().clone().requires_grad_(True)
    length = plain_x.norm(dim=1, keepdim=True) / (6**0.5 if kind == "rms" else 1.0)
    (plain_x / (length + 1e-4) * weights[:4]).sum().backward()
    torch.testing.assert_close(x.grad, plain_x.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x_zero.grad, weights[4:] / 1e-4, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("kind", "expected"), [("mean", 300.0**2), ("sum", 4 * 300.0**2)])
def test_goodness_of_half_precision_activities_does_not_overflow(kind, expected):
    # 300**2 = 90000 is above float16's largest value (65504): squares in float16 are inf.
    g = goodness(torch.full((2, 4), 300.0, dtype=torch.float16), kind)
    assert g.dtype == torch.float32
    assert g.tolist() == [expected, expected]
    assert goodness(torch.full((1, 4), 300.0, dtype=torch.bfloat16), kind).dtype == torch.float32
    assert goodness(torch.ones(1, 4, dtype=torch.float64), kind).dtype == torch.float64


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("which", ["g_pos", "g_neg"])
def test_ff_loss_refuses_nan_or_infinite_goodness(bad, which):
    g = {"g_pos": torch.tensor([2.0, 1.0]), "g_neg": torch.tensor([0.5, 1.0])}
    g[which][1] = bad
    with pytest.raises(ValueError, match=f"{which} contains NaN or infinite"):
        ff_loss(g["g_pos"], g["g_neg"], 1.5)


# ---------------------------------------------------------------- NumPy arrays torch cannot share


def _awkward_arrays(array: np.ndarray) -> dict:
    """The same values in layouts that torch.from_numpy refuses: reversed rows, big-endian bytes."""
    reversed_view = np.flip(np.flip(array, 0).copy(), 0)  # the original order, as a negative-stride view
    assert any(stride < 0 for stride in reversed_view.strides)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    assert not big_endian.dtype.isnative
    return {"reversed": reversed_view, "big-endian": big_endian}


@pytest.mark.parametrize("layout", ["reversed", "big-endian"])
def test_numpy_inputs_torch_cannot_share_are_copied_not_refused(layout):
    rng = np.random.default_rng(8)
    x = rng.uniform(0.1, 1.0, size=(4, 12)).astype(np.float32)
    labels = np.array([3, 0, 9, 5])
    x_awkward, labels_awkward = _awkward_arrays(x)[layout], _awkward_arrays(labels)[layout]
    np.testing.assert_array_equal(as_features(x_awkward).numpy(), x)
    np.testing.assert_array_equal(as_labels(labels_awkward, 10).numpy(), labels)
    expected = x.copy()
    expected[:, :10] = 0
    expected[np.arange(4), labels] = x.max(axis=1)
    np.testing.assert_array_equal(overlay_labels(x_awkward, labels_awkward).numpy(), expected)
    scores = rng.normal(size=(4, 10)).astype(np.float32)
    generator = torch.Generator().manual_seed(1)
    negatives = hard_negative_labels(_awkward_arrays(scores)[layout], labels_awkward, generator=generator)
    assert not torch.any(negatives == torch.from_numpy(labels))


def test_a_numpy_array_torch_can_share_is_not_copied():
    x = np.random.default_rng(9).uniform(size=(3, 5)).astype(np.float32)
    assert as_features(x).data_ptr() == x.ctypes.data


# ---------------------------------------------------------------- integer scores, blank samples


def test_hard_negatives_accept_integer_scores():
    # The same draw as the float test above, from int64 scores: p(c) ~ exp(s_c) over the wrong labels.
    generator = torch.Generator().manual_seed(3)
    labels = torch.zeros(20000, dtype=torch.long)
    scores = torch.tensor([[100, 2, 0, -50]]).repeat(20000, 1)
    negatives = hard_negative_labels(scores, labels, temperature=1.0, generator=generator)
    assert not torch.any(negatives == 0)
    share = torch.bincount(negatives, minlength=4).float() / 20000
    expected = np.exp([2.0, 0.0, -50.0]) / np.exp([2.0, 0.0, -50.0]).sum()
    np.testing.assert_allclose(share[1:].numpy(), expected, atol=0.01)


@pytest.mark.parametrize(
    ("scores", "error", "match"),
    [
        (torch.ones(2, 3, dtype=torch.bool), TypeError, "real numbers"),
        (torch.ones(2, 3, dtype=torch.complex64), TypeError, "real numbers"),
        ([[0.0, 1.0], [1.0, 0.0]], TypeError, "torch.Tensor or numpy array"),
        (torch.ones(2), ValueError, r"shape \(N, num_classes\)"),
        (torch.ones(2, 1), ValueError, "num_classes >= 2"),
    ],
)
def test_hard_negatives_refuse_scores_that_are_not_a_real_matrix(scores, error, match):
    with pytest.raises(error, match=match):
        hard_negative_labels(scores, torch.tensor([0, 0]))


def test_one_blank_image_in_a_batch_is_refused_with_on_value_max():
    # One all-zero sample among normal ones would carry its label as 0: the same input for every label.
    x = torch.rand(5, 20, generator=torch.Generator().manual_seed(0)) + 0.1
    x[2] = 0.0
    with pytest.raises(ValueError, match=r"1 sample\(s\) \(the first is sample 2\) have no positive value"):
        overlay_labels(x, torch.tensor([0, 1, 2, 3, 4]), on_value="max")
    out = overlay_labels(x, torch.tensor([0, 1, 2, 3, 4]), on_value=1.0)  # a constant on value keeps it
    assert out[2, 2] == 1.0 and out[2].sum() == 1.0


# ---------------------------------------------------------------- the check-free versions inside a training step


@pytest.mark.parametrize("on_value", ["max", 4.0])
def test_overlay_one_hot_is_overlay_labels_and_label_num_classes_writes_none(on_value):
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(6, 20, generator=generator)
    labels = torch.tensor([0, 3, 9, 5, 10, 1])  # 10 == num_classes: "no label" (Hinton's choosefrom chose none)
    before = x.clone()
    out = overlay_one_hot(x, labels, 10, on_value)
    assert torch.equal(x, before)  # the caller's tensor is not modified
    keep = labels < 10
    torch.testing.assert_close(out[keep], overlay_labels(x[keep], labels[keep], 10, on_value), rtol=0, atol=0)
    assert not out[4, :10].any() and torch.equal(out[4, 10:], x[4, 10:])
    on = float(x[0].max()) if on_value == "max" else 4.0
    assert out[0, 0] == on and out[0, 1:10].sum() == 0


def test_the_step_s_loss_formula_is_ff_loss():
    generator = torch.Generator().manual_seed(5)
    g_pos, g_neg = 3 * torch.rand(7, generator=generator), 3 * torch.rand(4, generator=generator)
    for threshold, sharpness in ((1.5, 1.0), (1.0, 1000.0), (2.0, 10.0)):
        torch.testing.assert_close(
            _ff_loss_formula(g_pos, g_neg, threshold, sharpness), ff_loss(g_pos, g_neg, threshold, sharpness)
        )


def test_check_device_accepts_what_the_machine_has_and_refuses_the_rest(monkeypatch):
    assert check_device("cpu") == torch.device("cpu")
    assert check_device(torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="name a torch device"):
        check_device("tpu0")
    with pytest.raises(TypeError, match="string or torch.device"):
        check_device(0.5)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA device"):
        check_device("cuda")
