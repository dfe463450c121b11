"""Tests of ffbook.ff.keras (FFDense, FFNetwork) on the active Keras backend.

Run once per backend: ``KERAS_BACKEND=tensorflow pytest tests/keras`` and ``KERAS_BACKEND=torch ...``.
References are NumPy re-computations written here, the PyTorch ``ffbook.ff.FFLayer`` (one Adam step
from identical weights) and the chapter's own step-by-step code.
"""

from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pytest
from keras import ops

from ffbook.ff.keras import (
    DEFAULT_THRESHOLD,
    FFDense,
    FFNetwork,
    ff_loss,
    l2_normalize,
    mean_goodness,
)

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "book" / "08_ff_keras.ipynb"


def numpy_softplus(z):
    return np.logaddexp(0.0, z)


def numpy_layer(x, kernel, bias):
    x_hat = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-4)
    return np.maximum(x_hat @ kernel + bias, 0.0)


def set_layer_weights(layer: FFDense, kernel: np.ndarray, bias: np.ndarray) -> None:
    if not layer.built:
        layer.build((None, kernel.shape[0]))
    layer.dense.kernel.assign(kernel)
    layer.dense.bias.assign(bias)


def random_weights(rng, fan_in, fan_out):
    return (
        rng.normal(0, 0.1, (fan_in, fan_out)).astype("float32"),
        rng.normal(0, 0.05, fan_out).astype("float32"),
    )


# ---------------------------------------------------------------- the maths, against NumPy


def test_l2_normalize_gives_unit_rows_and_matches_numpy():
    x = np.array([[3.0, 4.0], [0.0, 2.0]], dtype="float32")
    got = ops.convert_to_numpy(l2_normalize(x))
    np.testing.assert_allclose(got, [[3 / 5.0001, 4 / 5.0001], [0.0, 2 / 2.0001]], rtol=1e-6)


def test_mean_goodness_is_mean_of_squares():
    h = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 3.0]], dtype="float32")
    np.testing.assert_allclose(ops.convert_to_numpy(mean_goodness(h)), [3.0, 3.0], rtol=1e-6)


def test_ff_loss_matches_the_examples_formula_and_survives_large_goodness():
    g_pos = np.array([0.5, 2.0, 1.5], dtype="float32")
    g_neg = np.array([0.1, 3.0], dtype="float32")
    expected = np.mean(np.log(1 + np.exp(np.concatenate([-g_pos + 1.5, g_neg - 1.5]))))
    assert float(ops.convert_to_numpy(ff_loss(g_pos, g_neg, 1.5))) == pytest.approx(expected, rel=1e-6)
    # log(1 + exp(200)) overflows float32; softplus gives (200 - 1.5) / 2 for one huge negative.
    huge = float(ops.convert_to_numpy(ff_loss(np.array([1e3], "float32"), np.array([200.0], "float32"), 1.5)))
    assert huge == pytest.approx((0.0 + 198.5) / 2, rel=1e-5)


def test_ff_loss_sharpness_scales_the_logistics_argument():
    # By hand: G_pos = 2.5, G_neg = 1.0, theta = 2, k = 10: softplus(-5) and softplus(-10).
    g_pos, g_neg = np.array([2.5], "float32"), np.array([1.0], "float32")
    expected = (np.log1p(np.exp(-5.0)) + np.log1p(np.exp(-10.0))) / 2
    assert float(ops.convert_to_numpy(ff_loss(g_pos, g_neg, 2.0, sharpness=10.0))) == pytest.approx(expected, rel=1e-5)
    assert float(ops.convert_to_numpy(ff_loss(g_pos, g_neg, 2.0))) == pytest.approx(
        (np.log1p(np.exp(-0.5)) + np.log1p(np.exp(-1.0))) / 2, rel=1e-6
    )


def test_dense_call_is_normalise_dense_relu():
    rng = np.random.default_rng(0)
    kernel, bias = random_weights(rng, 12, 5)
    layer = FFDense(5)
    set_layer_weights(layer, kernel, bias)
    x = rng.normal(size=(7, 12)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), numpy_layer(x, kernel, bias), atol=1e-6)


# ---------------------------------------------------------------- labels: overlay and negatives


def test_overlay_writes_one_hot_times_row_max_and_keeps_the_rest():
    net = FFNetwork([16, 4])
    x = np.arange(2 * 4 * 4, dtype="float32").reshape(2, 4, 4) / 10  # images, flattened inside
    out = ops.convert_to_numpy(net.overlay_y_on_x(x, np.array([3, 0])))
    flat = x.reshape(2, 16)
    expected = flat.copy()
    expected[:, :10] = 0.0
    expected[0, 3] = flat[0].max()
    expected[1, 0] = flat[1].max()
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_wrong_labels_are_never_true_cover_all_other_classes_and_repeat_with_the_seed():
    y = np.repeat(np.arange(10, dtype="int32"), 900)
    draws = ops.convert_to_numpy(FFNetwork([784, 8], seed=3).wrong_labels(y))
    assert not np.any(draws == y)
    for label in range(10):
        counts = np.bincount(draws[y == label], minlength=10)
        others = np.delete(counts, label)
        # 900 draws over 9 classes: 100 expected each; 5 sigma is about +-50.
        assert others.min() > 50 and others.max() < 150, counts
    again = ops.convert_to_numpy(FFNetwork([784, 8], seed=3).wrong_labels(y))
    np.testing.assert_array_equal(draws, again)


# ---------------------------------------------------------------- one local step, against PyTorch


@pytest.mark.parametrize(("use_bias", "sharpness"), [(True, 1.0), (False, 1.0), (True, 10.0)])
def test_one_adam_step_equals_pytorch_fflayer(use_bias, sharpness):
    torch = pytest.importorskip("torch")
    from ffbook.ff import FFLayer

    rng = np.random.default_rng(1)
    kernel, bias = random_weights(rng, 30, 20)
    x_pos = rng.random((40, 30)).astype("float32")
    x_neg = rng.random((25, 30)).astype("float32")
    lr, beta_2, keras_eps = 0.03, 0.999, 1e-7

    layer = FFDense(
        20,
        init_optimizer=lambda: keras.optimizers.Adam(lr, epsilon=keras_eps),
        num_epochs=1,
        use_bias=use_bias,
        sharpness=sharpness,
    )
    layer.build((None, 30))
    layer.dense.kernel.assign(kernel)
    if use_bias:
        layer.dense.bias.assign(bias)
    _, _, keras_loss = layer.forward_forward(x_pos, x_neg)

    reference = FFLayer(30, 20, threshold=DEFAULT_THRESHOLD, sharpness=sharpness)
    with torch.no_grad():
        reference.linear.weight.copy_(torch.from_numpy(kernel.T))
        reference.linear.bias.copy_(torch.from_numpy(bias) if use_bias else torch.zeros(20))
    reference.linear.bias.requires_grad_(use_bias)  # no bias: held at zero, no gradient, no Adam step
    # Keras adds epsilon to sqrt(v) before bias correction, PyTorch after: at step 1 they agree
    # when PyTorch's epsilon is Keras' divided by sqrt(1 - beta_2).
    optimizer = torch.optim.Adam(reference.parameters(), lr=lr, eps=keras_eps / np.sqrt(1 - beta_2))
    torch_loss = reference.loss(torch.from_numpy(x_pos), torch.from_numpy(x_neg))
    optimizer.zero_grad()
    torch_loss.backward()
    optimizer.step()

    assert float(ops.convert_to_numpy(keras_loss)) == pytest.approx(torch_loss.item(), abs=1e-5)
    new_kernel = ops.convert_to_numpy(layer.dense.kernel)
    assert np.abs(new_kernel - kernel).max() > 1e-3  # the step did move the weights
    np.testing.assert_allclose(new_kernel, reference.linear.weight.detach().numpy().T, atol=1e-5)
    if use_bias:
        np.testing.assert_allclose(
            ops.convert_to_numpy(layer.dense.bias), reference.linear.bias.detach().numpy(), atol=1e-5
        )


def test_forward_forward_returns_the_trained_layers_outputs_and_lowers_the_loss():
    rng = np.random.default_rng(2)
    x_pos = rng.random((64, 20)).astype("float32")
    x_pos[:, :10] += 2.0  # positives and negatives differ: learnable
    x_neg = rng.random((64, 20)).astype("float32")
    layer = FFDense(16, num_epochs=20)
    first_mean_loss = float(ops.convert_to_numpy(layer.forward_forward(x_pos, x_neg)[2]))
    h_pos, h_neg, mean_loss = layer.forward_forward(x_pos, x_neg)
    np.testing.assert_allclose(ops.convert_to_numpy(h_pos), ops.convert_to_numpy(layer(x_pos)), atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(h_neg), ops.convert_to_numpy(layer(x_neg)), atol=1e-6)
    assert float(ops.convert_to_numpy(mean_loss)) < first_mean_loss - 0.05


def test_regularizers_enter_the_local_loss():
    rng = np.random.default_rng(6)
    kernel, bias = random_weights(rng, 12, 6)
    x_pos, x_neg = rng.random((10, 12)).astype("float32"), rng.random((8, 12)).astype("float32")
    frozen = lambda: keras.optimizers.SGD(learning_rate=0.0)  # noqa: E731  (measure, do not move)
    layer = FFDense(6, init_optimizer=frozen, num_epochs=1, kernel_regularizer=keras.regularizers.L2(0.5))
    set_layer_weights(layer, kernel, bias)
    _, _, loss = layer.forward_forward(x_pos, x_neg)
    g_pos = (numpy_layer(x_pos, kernel, bias) ** 2).mean(axis=1)
    g_neg = (numpy_layer(x_neg, kernel, bias) ** 2).mean(axis=1)
    expected = numpy_softplus(np.concatenate([1.5 - g_pos, g_neg - 1.5])).mean() + 0.5 * np.sum(kernel**2)
    assert float(ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-5)


def test_the_networks_training_step_uses_its_sharpness_in_every_layer():
    """One real ``train_step`` of FFNetwork(sharpness=k) moves each layer as FFDense(sharpness=k) does."""
    rng = np.random.default_rng(9)
    x = rng.random((24, 20)).astype("float32")
    y = rng.integers(0, 10, 24)
    sgd = lambda: keras.optimizers.SGD(learning_rate=0.5)  # noqa: E731
    weights = [random_weights(rng, 20, 12), random_weights(rng, 12, 8)]

    def network_kernels(sharpness):
        net = FFNetwork([20, 12, 8], init_layer_optimizer=sgd, num_epochs=1, seed=3, sharpness=sharpness)
        net.build()
        for layer, (kernel, bias) in zip(net.ff_layers, weights, strict=True):
            set_layer_weights(layer, kernel, bias)
        wrong = ops.convert_to_numpy(FFNetwork([20, 12, 8], seed=3).wrong_labels(y))  # the step's draw
        net.train_step((x, y))
        return net, wrong, [ops.convert_to_numpy(layer.dense.kernel) for layer in net.ff_layers]

    net, wrong, kernels = network_kernels(10.0)
    h_pos, h_neg = net.overlay_y_on_x(x, y), net.overlay_y_on_x(x, wrong)
    for (kernel, bias), got in zip(weights, kernels, strict=True):
        layer = FFDense(kernel.shape[1], init_optimizer=sgd, num_epochs=1, sharpness=10.0)
        set_layer_weights(layer, kernel, bias)
        h_pos, h_neg, _ = layer.forward_forward(h_pos, h_neg)
        np.testing.assert_allclose(got, ops.convert_to_numpy(layer.dense.kernel), atol=1e-5)
    _, _, kernels_at_one = network_kernels(1.0)
    assert np.abs(kernels_at_one[0] - kernels[0]).max() > 1e-3  # the slope changes the step


# ---------------------------------------------------------------- prediction


def test_predict_is_argmax_of_goodness_summed_over_layers_as_numpy_computes_it():
    rng = np.random.default_rng(3)
    net = FFNetwork([30, 12, 8])
    weights = [random_weights(rng, 30, 12), random_weights(rng, 12, 8)]
    for layer, (kernel, bias) in zip(net.ff_layers, weights, strict=True):
        set_layer_weights(layer, kernel, bias)
    x = rng.random((50, 30)).astype("float32")
    scores = np.zeros((50, 10))
    for label in range(10):
        h = x.copy()
        h[:, :10] = 0.0
        h[:, label] = x.max(axis=1)
        for kernel, bias in weights:
            h = numpy_layer(h, kernel, bias)
            scores[:, label] += (h**2).mean(axis=1)
    np.testing.assert_allclose(ops.convert_to_numpy(net.goodness_per_label(x)), scores, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(net.predict(x), scores.argmax(axis=1))
    np.testing.assert_array_equal(net.predict(x, batch_size=7), scores.argmax(axis=1))


# ---------------------------------------------------------------- training


def small_mnist(n_train, n_test):
    from ffbook.data import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist()
    scale = np.float32(255)
    return (
        (x_train[:n_train].reshape(n_train, -1) / scale, y_train[:n_train]),
        (x_test[:n_test].reshape(n_test, -1) / scale, y_test[:n_test]),
    )


@pytest.mark.slow
def test_fit_learns_mnist_well_above_chance():
    (x, y), (x_test, y_test) = small_mnist(1000, 500)
    keras.utils.set_random_seed(0)
    net = FFNetwork([784, 100, 100], num_epochs=50, seed=0)
    net.compile()
    losses = net.fit(x, y, epochs=6, verbose=0).history["FinalLoss"]
    # The example's first outer epoch logs 0.7247; chance-level goodness gives log(2) + a bit.
    assert 0.65 < losses[0] < 0.8
    assert losses[-1] < losses[0] - 0.1
    accuracy = np.mean(net.predict(x_test) == y_test)
    assert accuracy > 0.6, accuracy  # chance is 0.1; about 0.73 when written


def test_fit_is_deterministic_for_a_seed():
    (x, y), _ = small_mnist(200, 1)

    def train(seed):
        keras.utils.set_random_seed(0)  # the same initial weights
        net = FFNetwork([784, 16, 8], num_epochs=3, seed=seed)
        net.compile()
        losses = net.fit(x, y, epochs=2, verbose=0).history["FinalLoss"]
        return losses, [ops.convert_to_numpy(w) for w in net.trainable_weights]

    losses, weights = train(seed=5)
    losses_again, weights_again = train(seed=5)
    np.testing.assert_array_equal(losses, losses_again)
    for a, b in zip(weights, weights_again, strict=True):
        np.testing.assert_array_equal(a, b)
    _, other_weights = train(seed=6)  # other negatives, other weights
    assert not np.array_equal(weights[0], other_weights[0])


def test_shuffled_negatives_are_a_permutation_that_collides_about_one_time_in_ten():
    y = np.repeat(np.arange(10, dtype="int32"), 1000)
    shuffled = ops.convert_to_numpy(FFNetwork([784, 8], negative_labels="shuffled").shuffled_labels(y))
    np.testing.assert_array_equal(np.sort(shuffled), y)
    # Each of 10,000 positions keeps its label with probability 1/10: 1000 +- 5 * 30.
    assert 850 < np.sum(shuffled == y) < 1150


# ---------------------------------------------------------------- bad input


def test_bad_dims_threshold_and_optimizer_are_refused():
    with pytest.raises(ValueError, match="length >= 2"):
        FFNetwork([784])
    with pytest.raises(TypeError, match="dims"):
        FFNetwork(784)
    with pytest.raises(ValueError, match=r"dims\[1\]"):
        FFNetwork([784, 0])
    with pytest.raises(ValueError, match="label overlay"):
        FFNetwork([5, 10])
    with pytest.raises(ValueError, match="threshold"):
        FFDense(4, threshold=0.0)
    with pytest.raises(ValueError, match="sharpness"):
        FFNetwork([784, 8], sharpness=0.0)
    with pytest.raises(TypeError, match="sharpness"):
        FFDense(4, sharpness="10")
    with pytest.raises(ValueError, match="sharpness"):
        ff_loss(np.ones(2, "float32"), np.ones(2, "float32"), 1.5, sharpness=float("nan"))
    with pytest.raises(TypeError, match="init_optimizer"):
        FFDense(4, init_optimizer=keras.optimizers.Adam(0.03))
    with pytest.raises(TypeError, match="loss_metric"):
        FFDense(4, loss_metric="mean")
    with pytest.raises(ValueError, match="negative_labels"):
        FFNetwork([784, 8], negative_labels="random")


def test_overlay_checks_labels_given_as_list_tuple_array_or_backend_tensor():
    net = FFNetwork([20, 8])
    x = np.random.default_rng(6).random((4, 20)).astype("float32")
    labels = [3, 0, 9, 1]
    expected = x.copy()
    expected[:, :10] = 0.0
    expected[np.arange(4), labels] = x.max(axis=1)
    forms = [labels, tuple(labels), np.array(labels), ops.convert_to_tensor(np.array(labels, "int32"))]
    forms.append(ops.convert_to_tensor(np.array(labels, "int64")))
    for form in forms:
        np.testing.assert_allclose(ops.convert_to_numpy(net.overlay_y_on_x(x, form)), expected, rtol=1e-6)
    # Out of range, in every form: an error, never a silent all-zero label part.
    for bad in ([0, 1, 10, 2], [0, -1, 2, 3]):
        for form in (bad, tuple(bad), np.array(bad), ops.convert_to_tensor(np.array(bad, "int32"))):
            with pytest.raises(ValueError, match=r"y must lie in \[0, 9\]"):
                net.overlay_y_on_x(x, form)
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        net.overlay_y_on_x(x, ops.convert_to_tensor(np.array([1, 2, 3], "int32")))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        net.overlay_y_on_x(x, [[1], [2], [3], [4]])
    with pytest.raises(TypeError, match="integer class labels"):
        net.overlay_y_on_x(x, ops.convert_to_tensor(np.array([0.0, 1.0, 2.0, 3.0], "float32")))


def test_an_eager_training_step_refuses_out_of_range_labels_from_a_backend_tensor():
    net = FFNetwork([20, 8], num_epochs=1)
    x = ops.convert_to_tensor(np.random.default_rng(7).random((4, 20)).astype("float32"))
    with pytest.raises(ValueError, match=r"y must lie in \[0, 9\]"):
        net.train_step((x, ops.convert_to_tensor(np.array([0, 1, 12, 2], "int32"))))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tracing with tf.function is TensorFlow's")
def test_inside_traced_code_labels_cannot_be_checked_as_documented():
    import tensorflow as tf

    net = FFNetwork([20, 8])
    x = np.random.default_rng(8).random((3, 20)).astype("float32")
    traced = tf.function(net.overlay_y_on_x)
    out = traced(tf.constant(x), tf.constant([2, 10, 0]))  # symbolic labels inside: no check
    np.testing.assert_array_equal(out.numpy()[1, :10], np.zeros(10))  # the documented all-zero label part
    assert out.numpy()[0, 2] == pytest.approx(x[0].max()) and out.numpy()[2, 0] == pytest.approx(x[2].max())


def test_wrong_width_and_labels_are_refused():
    net = FFNetwork([20, 8])
    x = np.full((4, 20), 0.5, dtype="float32")
    with pytest.raises(ValueError, match="20 features"):
        net.predict(np.zeros((4, 21), dtype="float32"))
    with pytest.raises(ValueError, match="20 features"):
        net.fit(np.zeros((4, 19), dtype="float32"), np.zeros(4, dtype="int64"))
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        net.fit(x, np.array([0, 1, 10, 2]))
    with pytest.raises(ValueError, match=r"\[0, 9\]"):
        net.overlay_y_on_x(x, np.array([0, -1, 2, 3]))
    with pytest.raises(TypeError, match="integer class labels"):
        net.fit(x, np.array([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="shape"):
        net.fit(x, np.zeros(5, dtype="int64"))
    with pytest.raises(ValueError, match="y"):
        net.fit(x)
    layer = FFDense(3)
    layer.build((None, 6))
    with pytest.raises(ValueError, match="6 features"):
        layer.forward_forward(np.zeros((2, 7), "float32"), np.zeros((2, 7), "float32"))


def _fit_data():
    x = np.random.default_rng(10).uniform(0.1, 1.0, (20, 16)).astype("float32")
    return x, np.arange(20) % 10


@pytest.mark.parametrize("form", ["numpy", "backend tensor"])
def test_fit_refuses_a_label_equal_to_num_classes_in_every_form(form):
    # On TensorFlow, tensors went into the traced train_step unchecked: one_hot(10) is all zeros there.
    x, y = _fit_data()
    y[5] = 10
    if form == "backend tensor":
        x, y = ops.convert_to_tensor(x), ops.convert_to_tensor(y.astype("int32"))
    net = FFNetwork([16, 8], num_epochs=1)
    net.compile()
    with pytest.raises(ValueError, match=r"y must lie in \[0, 9\], got values in \[0, 10\]"):
        net.fit(x, y, verbose=0)


def test_fit_trains_on_backend_tensors_as_on_arrays():
    x, y = _fit_data()
    losses = []
    for data in ((x, y), (ops.convert_to_tensor(x), ops.convert_to_tensor(y.astype("int32")))):
        net = FFNetwork([16, 8], num_epochs=2, seed=1)
        net.compile()
        losses.append(net.fit(*data, epochs=2, verbose=0).history["FinalLoss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be >= 1, got 0"),
        ({"epochs": -2}, ValueError, "epochs must be >= 1"),
        ({"epochs": 1.5}, TypeError, "epochs must be an int"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ({"batch_size": -1}, ValueError, "batch_size must be >= 1, got -1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be an int"),
    ],
)
def test_fit_refuses_no_epochs_and_empty_batches_before_training(kwargs, error, match):
    x, y = _fit_data()
    net = FFNetwork([16, 8], num_epochs=1)
    net.compile()
    net.build()
    before = ops.convert_to_numpy(net.ff_layers[0].dense.kernel).copy()
    with pytest.raises(error, match=match):
        net.fit(x, y, verbose=0, **kwargs)
    np.testing.assert_array_equal(ops.convert_to_numpy(net.ff_layers[0].dense.kernel), before)


@pytest.mark.parametrize(
    ("keras_call", "torch_call"),
    [
        (lambda x, y: FFNetwork([16, 8]).fit(x, y, epochs=1.5), lambda: _torch_config(epochs=1.5)),
        (lambda x, y: FFNetwork([16, 8]).fit(x, y, epochs=0), lambda: _torch_config(epochs=0)),
        (lambda x, y: FFNetwork([16, 8]).fit(x, y, batch_size=-4), lambda: _torch_config(batch_size=-4)),
        (lambda x, y: FFNetwork([16, 8]).fit(np.full_like(x, np.nan), y), lambda: _torch_fit_on(np.nan)),
        (lambda x, y: FFNetwork([16, 8], seed=-1), lambda: _torch_config(seed=-1)),
        (lambda x, y: FFNetwork([16, 8], seed=2.0), lambda: _torch_config(seed=2.0)),
        (lambda x, y: FFNetwork([16, 8], threshold=float("nan")), lambda: _torch_net(threshold=float("nan"))),
        (lambda x, y: FFNetwork([16, 8], threshold="2"), lambda: _torch_net(threshold="2")),
        (lambda x, y: FFNetwork([16, 8.0]), lambda: _torch_net(dims=[16, 8.0])),
    ],
    ids=["float epochs", "no epochs", "negative batch", "NaN input", "negative seed", "float seed",
         "NaN threshold", "string threshold", "float width"],
)
def test_the_same_mistake_raises_the_same_error_type_as_pytorch_ff(keras_call, torch_call):
    x, y = _fit_data()
    with pytest.raises((TypeError, ValueError)) as torch_error:
        torch_call()
    with pytest.raises((TypeError, ValueError)) as keras_error:
        keras_call(x, y)
    assert keras_error.type is torch_error.type, (str(keras_error.value), str(torch_error.value))


def _torch_config(**changes):
    from ffbook.ff import FFConfig

    return FFConfig(**changes)


def _torch_net(dims=(16, 8), **kwargs):
    from ffbook.ff import FFNet

    return FFNet(list(dims), **kwargs)


def _torch_fit_on(value):
    from ffbook.ff import FFConfig, fit

    x, y = _fit_data()
    return fit(_torch_net(), FFConfig(epochs=1), np.full_like(x, value), y, progress=False)


def _first_kernel(net: FFNetwork) -> np.ndarray:
    net.build()
    return ops.convert_to_numpy(net.ff_layers[0].dense.kernel)


def test_dims_and_seed_may_be_numpy_values():
    reference = FFNetwork([16, 8, 4], seed=3)
    for dims in (np.array([16, 8, 4]), np.array([16, 8, 4], dtype=np.int32), (16, 8, 4)):
        net = FFNetwork(dims, seed=np.int64(3))
        assert net.dims == [16, 8, 4] and net.seed == 3 and type(net.seed) is int
        np.testing.assert_array_equal(_first_kernel(net), _first_kernel(reference))
    with pytest.raises(TypeError, match=r"dims\[0\] must be an int"):
        FFNetwork(np.array([16.0, 8.0]))


@pytest.mark.parametrize("seed", [2**31, 2**32 + 1, 2**63 - 1])
def test_every_seed_up_to_2_to_the_63_minus_1_builds_and_trains(seed):
    # Keras' SeedGenerator on PyTorch refused seeds from 2**31 on (int32); the label seed is derived.
    x, y = _fit_data()
    nets = [FFNetwork([16, 8], num_epochs=1, seed=seed) for _ in range(2)]
    draws = [ops.convert_to_numpy(net.wrong_labels(ops.convert_to_tensor(y.astype("int32")))) for net in nets]
    np.testing.assert_array_equal(draws[0], draws[1])  # reproducible
    assert not np.any(draws[0] == y)
    nets[0].compile()
    nets[0].fit(x, y, verbose=0)
    FFNetwork([16, 8, 8], seed=seed).build()  # layer 2 draws from seed + 1 (wrapping round past 2**63 - 1)
    with pytest.raises(ValueError, match="seed must be <= 9223372036854775807"):
        FFNetwork([16, 8], seed=2**63)


# ---------------------------------------------------------------- the chapter's own code


def chapter_cells(*markers: str) -> str:
    """Concatenate the chapter's code cells that start with one of the marker comments."""
    cells = json.loads(CHAPTER.read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    chosen = [source for source in sources if source.lstrip().split("\n")[0] in markers]
    assert len(chosen) == len(markers), f"missing chapter cells among {markers}"
    return "\n\n".join(chosen)


@pytest.mark.skipif(not CHAPTER.exists(), reason="chapter notebook not written yet")
def test_chapter_classes_agree_with_the_package_on_the_same_weights():
    from ffbook.ff import keras as ffk

    namespace: dict = {"keras": keras, "ops": ops, "np": np, "ffk": ffk}
    exec(chapter_cells("# chapter: maths", "# chapter: FFDense", "# chapter: FFNetwork"), namespace)
    ChapterNetwork = namespace["FFNetwork"]
    x_check = np.random.default_rng(5).random((9, 4)).astype("float32")
    for name, args in [("l2_normalize", (x_check,)), ("mean_goodness", (x_check,))]:
        np.testing.assert_allclose(
            ops.convert_to_numpy(namespace[name](*args)), ops.convert_to_numpy(getattr(ffk, name)(*args)), rtol=1e-6
        )
    g_pos, g_neg = x_check[:, 0] * 3, x_check[:, 1] * 3
    assert float(ops.convert_to_numpy(namespace["ff_loss"](g_pos, g_neg, 1.5))) == pytest.approx(
        float(ops.convert_to_numpy(ffk.ff_loss(g_pos, g_neg, 1.5))), rel=1e-6
    )
    rng = np.random.default_rng(4)
    x = rng.random((60, 30)).astype("float32")
    y = rng.integers(0, 10, 60)

    chapter = ChapterNetwork([30, 12, 8], num_epochs=3)
    package = FFNetwork([30, 12, 8], num_epochs=3)
    package.build()
    for mine, theirs in zip(chapter.ff_layers, package.ff_layers, strict=True):
        kernel, bias = random_weights(rng, *ops.convert_to_numpy(theirs.dense.kernel).shape)
        set_layer_weights(mine, kernel, bias)
        set_layer_weights(theirs, kernel, bias)
    np.testing.assert_allclose(
        ops.convert_to_numpy(chapter.overlay_y_on_x(x, y)),
        ops.convert_to_numpy(package.overlay_y_on_x(x, y)),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(chapter.predict(x), package.predict(x))
    # The same positive and negative data through both: same losses and weights after 3 steps.
    wrong = (y + 1) % 10
    h_mine = (chapter.overlay_y_on_x(x, y), chapter.overlay_y_on_x(x, wrong))
    h_theirs = h_mine
    for mine, theirs in zip(chapter.ff_layers, package.ff_layers, strict=True):
        *h_mine, loss_mine = mine.forward_forward(*h_mine)
        *h_theirs, loss_theirs = theirs.forward_forward(*h_theirs)
        assert float(ops.convert_to_numpy(loss_mine)) == pytest.approx(
            float(ops.convert_to_numpy(loss_theirs)), abs=1e-5
        )
        np.testing.assert_allclose(
            ops.convert_to_numpy(mine.dense.kernel), ops.convert_to_numpy(theirs.dense.kernel), atol=1e-5
        )


# ---------------------------------------------------------------- inputs that would corrupt training, seeds


def test_the_seed_alone_fixes_the_initial_weights_the_same_on_every_backend():
    """No global seed set: FFNetwork(seed=s) draws its kernels with NumPy from s (Glorot-uniform)."""
    keras.utils.set_random_seed(123)
    first = FFNetwork([784, 16, 8], seed=4)
    first.build()
    keras.utils.set_random_seed(999)  # Keras' own generator moves: the weights must not
    second = FFNetwork([784, 16, 8], seed=4)
    second.build()
    other = FFNetwork([784, 16, 8], seed=5)
    other.build()
    for layer_index, (fan_in, fan_out) in enumerate([(784, 16), (16, 8)]):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        expected = np.random.default_rng(4 + layer_index).uniform(-limit, limit, size=(fan_in, fan_out))
        for net in (first, second):
            kernel = ops.convert_to_numpy(net.ff_layers[layer_index].dense.kernel)
            np.testing.assert_allclose(kernel, expected.astype("float32"), rtol=0, atol=0)
    assert not np.array_equal(
        ops.convert_to_numpy(other.ff_layers[0].dense.kernel), ops.convert_to_numpy(first.ff_layers[0].dense.kernel)
    )


def test_a_nan_pixel_or_a_blank_image_is_refused_before_any_weight_changes():
    (x, y), _ = small_mnist(50, 1)
    net = FFNetwork([784, 16], num_epochs=2, seed=0)
    net.compile()
    net.build()
    before = ops.convert_to_numpy(net.ff_layers[0].dense.kernel).copy()
    bad = x.copy()
    bad[3, 200] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        net.fit(bad, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        net.predict(bad)
    blank = x.copy()
    blank[7] = 0.0  # a blank image: its label pixel would be 0 for every label
    with pytest.raises(ValueError, match="no positive value"):
        net.fit(blank, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="NaN"):
        net.ff_layers[0].forward_forward(bad[:10], x[:10])
    np.testing.assert_array_equal(ops.convert_to_numpy(net.ff_layers[0].dense.kernel), before)


def test_compiled_as_the_keras_io_example_compiles_it():
    """``compile(optimizer=..., loss="mse")`` then ``fit`` (the example's calls) trains exactly as ``compile()``."""
    (x, y), _ = small_mnist(300, 1)
    runs = []
    for options in ({}, {"optimizer": keras.optimizers.Adam(learning_rate=0.03), "loss": "mse", "jit_compile": False}):
        net = FFNetwork([784, 32], num_epochs=10, seed=0)
        net.compile(**options)
        losses = net.fit(x, y, epochs=3, verbose=0).history["FinalLoss"]
        runs.append((losses, ops.convert_to_numpy(net.ff_layers[0].dense.kernel)))
    assert len(runs[1][0]) == 3 and runs[1][0][-1] < runs[1][0][0]
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-6)
    np.testing.assert_allclose(runs[1][1], runs[0][1], rtol=1e-6, atol=1e-7)
