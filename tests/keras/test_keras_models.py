"""ffbook.keras_models on the current Keras backend (run once per backend via KERAS_BACKEND)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ffbook.data import four_pixel_camera
from ffbook.keras_models import (
    CAMERA_ACTIVATIONS,
    HAND_SET_CAMERA_WEIGHTS,
    LECTURE_MNIST_EXPERIMENTS,
    CleanTrainingMetrics,
    EpochTimer,
    StopAtAccuracy,
    TqdmProgress,
    camera_network,
    compile_like_lecture,
    dense_classifier,
    dense_forward,
    hand_set_camera_network,
)

# The lecture's hand-set kernels, typed here from the document (all biases are zero).
LECTURE_KERNELS = [
    [[1, 0, 1, 0], [0, 1, 0, 1], [1, 0, -1, 0], [0, 1, 0, -1]],
    [[1, -1, 0, 0], [1, 1, 0, 0], [0, 0, 1, -1], [0, 0, -1, -1]],
    [
        [1, -1, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, -1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, -1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, -1],
    ],
    [[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]],
]


def dense_parameter_count(sizes):
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True))


# --- MNIST networks ---------------------------------------------------------------------------------------------


def test_lecture_parameter_counts():
    counts = {experiment.name: experiment.build().count_params() for experiment in LECTURE_MNIST_EXPERIMENTS}
    assert counts == {"relu_dropout": 669_706, "relu_no_dropout": 669_706, "deep_tanh": 11_972_510}
    assert counts["deep_tanh"] == dense_parameter_count([784, 2500, 2000, 1500, 1000, 500, 10])


def test_lecture_experiments_match_the_document():
    table = {
        e.name: (e.hidden_units, e.activation, e.dropout, e.epochs, e.batch_size) for e in LECTURE_MNIST_EXPERIMENTS
    }
    assert table == {
        "relu_dropout": ((512, 512), "relu", 0.2, 5, 128),
        "relu_no_dropout": ((512, 512), "relu", None, 5, 128),
        "deep_tanh": ((2500, 2000, 1500, 1000, 500), "tanh", None, 10, 128),
    }
    assert [e.lecture_test_accuracy for e in LECTURE_MNIST_EXPERIMENTS] == [0.9785, 0.9825, 0.9736]


def test_dense_classifier_layers():
    model = dense_classifier((7, 5), "tanh", dropout=0.3, input_dim=6, num_classes=3)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3, 0.3]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [7, 5, 3]
    assert [layer.activation.__name__ for layer in dense] == ["tanh", "tanh", "softmax"]
    assert model.count_params() == dense_parameter_count([6, 7, 5, 3])
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in dense_classifier((4,), dropout=None).layers)


def test_dense_classifier_outputs_probabilities():
    keras.utils.set_random_seed(0)
    model = dense_classifier((8,), "relu", input_dim=5, num_classes=4)
    probabilities = model.predict(np.random.default_rng(0).normal(size=(6, 5)).astype("float32"), verbose=0)
    assert probabilities.shape == (6, 4)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"hidden_units": (512, 0)}, ValueError, r"hidden_units\[1\] must be >= 1, got 0"),
        ({"hidden_units": (0,)}, ValueError, r"hidden_units\[0\] must be >= 1, got 0"),
        ({"hidden_units": (512, 2.5)}, TypeError, r"hidden_units\[1\] must be an int, got float"),
        ({"hidden_units": "512"}, TypeError, "hidden_units must be a list or tuple of ints, got str"),
        ({"hidden_units": (8,), "activation": "swish2"}, ValueError, "activation must be one of"),
        ({"hidden_units": (8,), "dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"hidden_units": (8,), "dropout": -0.1}, ValueError, r"dropout must be >= 0.0"),
        ({"hidden_units": (8,), "dropout": "0.2"}, TypeError, "dropout must be a real number"),
        ({"hidden_units": (8,), "dropout": float("nan")}, ValueError, "dropout must be a finite number"),
        ({"hidden_units": (8,), "input_dim": 0}, ValueError, "input_dim must be >= 1, got 0"),
        ({"hidden_units": (8,), "num_classes": 1.5}, TypeError, "num_classes must be an int, got float"),
        ({"hidden_units": (8,), "num_classes": 1}, ValueError, "num_classes must be >= 2, got 1"),
    ],
)
def test_dense_classifier_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        dense_classifier(**kwargs)


def test_compile_like_lecture_uses_rmsprop_and_categorical_cross_entropy():
    model = compile_like_lecture(dense_classifier((4,), input_dim=3, num_classes=2))
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert model.optimizer.get_config()["learning_rate"] == pytest.approx(0.001)
    assert model.loss == "categorical_crossentropy"
    with pytest.raises(TypeError, match="keras.Model"):
        compile_like_lecture("not a model")


def test_callbacks_record_epoch_time_and_clean_training_metrics():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 10)).astype("float32")
    labels = (x[:, 0] > 0).astype(int)
    y = keras.utils.to_categorical(labels, 2)
    keras.utils.set_random_seed(0)
    model = compile_like_lecture(dense_classifier((16,), "relu", dropout=0.5, input_dim=10, num_classes=2))
    history = model.fit(
        x, y, batch_size=64, epochs=3, verbose=0, callbacks=[EpochTimer(), CleanTrainingMetrics(x, y), TqdmProgress()]
    ).history
    assert len(history["epoch_seconds"]) == 3 and all(seconds > 0 for seconds in history["epoch_seconds"])
    # After the last epoch the clean metrics are those of the final weights with Dropout off.
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert history["clean_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert history["clean_accuracy"][-1] == pytest.approx(accuracy)
    predicted = model.predict(x, verbose=0).argmax(axis=1)
    assert history["clean_accuracy"][-1] == pytest.approx(np.mean(predicted == labels))


def test_clean_training_metrics_rejects_mismatched_data():
    with pytest.raises(ValueError, match="same length"):
        CleanTrainingMetrics(np.zeros((3, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="at least one"):
        CleanTrainingMetrics(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        CleanTrainingMetrics(np.zeros((3, 2)), np.zeros((3, 2)), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        CleanTrainingMetrics(np.zeros((3, 2)), np.zeros((3, 2)), batch_size=None)


def _separable_problem():
    # Two well-separated clusters: a small network classifies them all correctly after a few epochs.
    rng = np.random.default_rng(4)
    labels = np.arange(200) % 2
    x = (rng.normal(scale=0.3, size=(200, 2)) + np.where(labels[:, None] == 1, 2.0, -2.0)).astype("float32")
    return x, keras.utils.to_categorical(labels, 2), labels


def test_stop_at_accuracy_stops_at_the_first_epoch_that_reaches_the_target():
    x, y, labels = _separable_problem()
    keras.utils.set_random_seed(0)
    model = compile_like_lecture(dense_classifier((8,), "tanh", input_dim=2, num_classes=2))
    stopper = StopAtAccuracy(1.0)
    history = model.fit(x, y, batch_size=50, epochs=100, validation_data=(x, y), callbacks=[stopper], verbose=0).history
    accuracies = history["val_accuracy"]
    assert stopper.reached_epoch == len(accuracies) < 100  # stopped early, right after reaching 1.0
    assert accuracies[-1] == 1.0 and all(value < 1.0 for value in accuracies[:-1])
    assert np.all(model.predict(x, verbose=0).argmax(axis=1) == labels)


def test_stop_at_accuracy_counts_on_from_initial_epoch():
    x, y, _ = _separable_problem()
    keras.utils.set_random_seed(0)
    model = compile_like_lecture(dense_classifier((8,), "tanh", input_dim=2, num_classes=2))
    stopper = StopAtAccuracy(1.0)
    # As if 5 epochs had been run before: Keras numbers the epochs of this call 5, 6, ... (from 0).
    more = model.fit(
        x, y, batch_size=50, initial_epoch=5, epochs=100, validation_data=(x, y), callbacks=[stopper], verbose=0
    ).history
    assert more["val_accuracy"][-1] == 1.0
    assert stopper.reached_epoch == 5 + len(more["val_accuracy"])


def test_stop_at_accuracy_runs_every_epoch_when_the_target_is_out_of_reach():
    # Identical inputs with two different labels: no classifier gets more than half of them right.
    x = np.zeros((40, 3), dtype="float32")
    y = keras.utils.to_categorical(np.arange(40) % 2, 2)
    keras.utils.set_random_seed(0)
    model = compile_like_lecture(dense_classifier((4,), input_dim=3, num_classes=2))
    stopper = StopAtAccuracy(0.9, monitor="accuracy")
    history = model.fit(x, y, batch_size=20, epochs=3, callbacks=[stopper], verbose=0).history
    assert len(history["accuracy"]) == 3 and max(history["accuracy"]) <= 0.5
    assert stopper.reached_epoch is None


def test_stop_at_accuracy_rejects_bad_input():
    for target, words in ((0.0, "> 0"), (1.5, "<= 1.0"), (-0.2, "> 0"), (float("nan"), "> 0")):
        with pytest.raises(ValueError, match=f"target must be .*{words}"):
            StopAtAccuracy(target)
    with pytest.raises(TypeError, match="target must be a real number"):
        StopAtAccuracy("1.0")
    with pytest.raises(TypeError, match="monitor must be"):
        StopAtAccuracy(1.0, monitor="")
    x, y, _ = _separable_problem()
    model = compile_like_lecture(dense_classifier((4,), input_dim=2, num_classes=2))
    with pytest.raises(ValueError, match="val_accuracy.*validation_data"):
        model.fit(x, y, epochs=1, callbacks=[StopAtAccuracy(1.0)], verbose=0)  # no validation data


# --- The 4-pixel camera --------------------------------------------------------------------------------------------


def test_hand_set_weights_are_the_lecture_matrices():
    assert len(HAND_SET_CAMERA_WEIGHTS) == 4
    for (kernel, bias), expected in zip(HAND_SET_CAMERA_WEIGHTS, LECTURE_KERNELS, strict=True):
        np.testing.assert_array_equal(kernel, np.array(expected, dtype=np.float32))
        np.testing.assert_array_equal(bias, np.zeros(kernel.shape[1]))


def test_camera_network_architecture():
    model = camera_network()
    assert [layer.units for layer in model.layers] == [4, 4, 8, 4]
    assert [layer.activation.__name__ for layer in model.layers] == ["tanh", "tanh", "relu", "softmax"]
    assert model.count_params() == 116 == dense_parameter_count([4, 4, 4, 8, 4])


def test_hand_set_network_classifies_the_test_set_perfectly():
    x, y = four_pixel_camera(1000, seed=1)
    model = hand_set_camera_network()
    model.compile(loss="categorical_crossentropy", metrics=["accuracy"])
    loss, accuracy = model.evaluate(x.reshape(-1, 4), keras.utils.to_categorical(y, 4), verbose=0)
    assert accuracy == 1.0
    # Every example gets probability e^a / (e^a + 3) on its class, a = tanh(2 tanh 2): the lecture's loss.
    a = np.tanh(2 * np.tanh(2.0))
    assert loss == pytest.approx(-np.log(np.exp(a) / (np.exp(a) + 3)), rel=1e-5)
    assert loss == pytest.approx(0.7656148672103882, rel=1e-5)


def test_hand_set_network_output_on_a_horizontal_image_matches_the_lecture():
    probabilities = hand_set_camera_network().predict(np.array([[1.0, 1.0, -1.0, -1.0]]), verbose=0)
    np.testing.assert_allclose(probabilities, [[0.17831734, 0.17831734, 0.17831734, 0.465048]], rtol=1e-5)


def test_numpy_forward_pass_matches_keras():
    x, _ = four_pixel_camera(64, seed=2)
    x = x.reshape(-1, 4)
    keras.utils.set_random_seed(3)
    trained_like = camera_network()  # random weights: a stronger check than the sparse hand-set ones
    weights = [layer.get_weights() for layer in trained_like.layers]
    outputs = dense_forward(weights, CAMERA_ACTIVATIONS, x)
    assert [o.shape for o in outputs] == [(64, 4), (64, 4), (64, 8), (64, 4)]
    np.testing.assert_allclose(outputs[-1], trained_like.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_dense_forward_hidden_layers_by_hand():
    # Layer 2 of the hand-set network on a vertical +1 image: only the "vertical" unit responds,
    # with tanh(-2 tanh 2) (right column minus left column).
    outputs = dense_forward(HAND_SET_CAMERA_WEIGHTS, CAMERA_ACTIVATIONS, np.array([[1.0, -1.0, 1.0, -1.0]]))
    t = np.tanh(2.0)
    np.testing.assert_allclose(outputs[0], [[t, -t, 0, 0]])
    np.testing.assert_allclose(outputs[1], [[0, np.tanh(-2 * t), 0, 0]], atol=1e-12)
    np.testing.assert_allclose(outputs[2], [[0, 0, 0, -np.tanh(-2 * t), 0, 0, 0, 0]], atol=1e-12)


def test_dense_forward_rejects_bad_input():
    with pytest.raises(ValueError, match="one entry per layer"):
        dense_forward(HAND_SET_CAMERA_WEIGHTS, ("tanh",), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="must be one of"):
        dense_forward(HAND_SET_CAMERA_WEIGHTS, ("tanh", "tanh", "gelu", "softmax"), np.zeros((1, 4)))
    with pytest.raises(ValueError, match="do not fit 3 input features"):
        dense_forward(HAND_SET_CAMERA_WEIGHTS, CAMERA_ACTIVATIONS, np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"shape \(n, features\)"):
        dense_forward(HAND_SET_CAMERA_WEIGHTS, CAMERA_ACTIVATIONS, np.zeros(4))


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"epochs": -1}, ValueError, "epochs must be >= 1, got -1"),
        ({"epochs": 2.0}, TypeError, "epochs must be an int"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1, got 0"),
        ({"hidden_units": (0,)}, ValueError, r"hidden_units\[0\] must be >= 1"),
        ({"dropout": 1.5}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"activation": None}, TypeError, "activation must be a string"),
        ({"lecture_test_accuracy": 97.85}, ValueError, "lecture_test_accuracy must be <= 1.0"),
        ({"name": ""}, TypeError, "name must be a non-empty string"),
    ],
)
def test_experiment_records_refuse_settings_that_cannot_run(change, error, message):
    import dataclasses

    from ffbook.keras_models import LECTURE_MNIST_EXPERIMENTS

    with pytest.raises(error, match=message):
        dataclasses.replace(LECTURE_MNIST_EXPERIMENTS[0], **change)


def test_experiment_records_normalise_hidden_units_to_a_tuple():
    from ffbook.keras_models import MNISTExperiment

    record = MNISTExperiment("x", [16, 8], "relu", None, 1, 12_786, 0.5)
    assert record.hidden_units == (16, 8)
    assert record.build().count_params() == (784 + 1) * 16 + (16 + 1) * 8 + (8 + 1) * 10 == 12_786
