"""ffbook.optimizers on the current Keras backend (run once per backend: KERAS_BACKEND=tensorflow / torch).

Every expected value comes from the NumPy references in tests/test_optimizers_reference.py,
written from the maths independently of the Keras code, or from hand computation.
"""

from __future__ import annotations

import importlib.util
import math
import pathlib

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffbook.optimizers import ConditionalGradient, FrobeniusNormHistory, NormalizedSGD, as_matrix, frobenius_norm


def _load_reference():
    path = pathlib.Path(__file__).resolve().parents[1] / "test_optimizers_reference.py"
    spec = importlib.util.spec_from_file_location("ffbook_optimizers_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

SHAPES = {0: (), 1: (5,), 2: (4, 3), 3: (2, 3, 4), 4: (2, 2, 3, 3)}
BACKEND = keras.backend.backend()


def runtime_error_types() -> tuple[type[BaseException], ...]:
    """What a failed check raises inside model.fit: a ValueError when eager, TensorFlow's op error in a graph."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return (tf.errors.InvalidArgumentError,)
    return (ValueError,)


def to_numpy(variable) -> np.ndarray:
    return np.asarray(variable.numpy(), dtype=np.float64)


def f32(value: float) -> float:
    """Keras keeps a float learning rate in a float32 variable: the reference must use the same number."""
    return float(np.float32(value))


def tiny_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(5, activation="relu"), keras.layers.Dense(3, activation="softmax")]
    )


def tiny_data(seed: int = 0, rows: int = 64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0.5).astype("int32")
    return x, y


# ---------------------------------------------------------------- the update rule


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("ord", ["fro", "nuclear"])
@pytest.mark.parametrize("rank", [0, 1, 2, 3, 4])
def test_each_step_equals_the_numpy_reference(rank, ord, dtype):
    rng = np.random.default_rng(100 + rank)
    shape = SHAPES[rank]
    x = rng.normal(size=shape)
    variable = keras.Variable(x.astype(dtype), dtype=dtype)
    optimizer = ConditionalGradient(learning_rate=0.8, lambda_=1.7, ord=ord)
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    for _ in range(4):
        g = rng.normal(size=shape) * 10.0 ** rng.uniform(-2, 2)
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype(dtype)), variable)])
        # The reference steps from the float value the variable really holds.
        x = ref.reference_step(x.astype(dtype), g.astype(dtype), f32(0.8), 1.7, ord)
        np.testing.assert_allclose(to_numpy(variable), x, rtol=tolerance, atol=tolerance)
        assert keras.backend.standardize_dtype(variable.dtype) == dtype


def test_several_variables_are_updated_independently():
    rng = np.random.default_rng(7)
    xs = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    gs = [rng.normal(size=(3, 2)), rng.normal(size=(2,))]
    variables = [keras.Variable(x.astype("float64"), dtype="float64") for x in xs]
    ConditionalGradient(learning_rate=0.6, lambda_=0.5, ord="fro").apply_gradients(zip(gs, variables, strict=True))
    for x, g, variable in zip(xs, gs, variables, strict=True):
        np.testing.assert_allclose(to_numpy(variable), ref.reference_step(x, g, f32(0.6), 0.5, "fro"), rtol=1e-12)


@pytest.mark.parametrize("ord", ["fro", "nuclear"])
def test_zero_gradient_shrinks_towards_the_centre(ord):
    variable = keras.Variable(np.array([[1.0, -2.0], [3.0, 0.5]]), dtype="float64")
    ConditionalGradient(learning_rate=0.9, lambda_=1.0, ord=ord).apply_gradients([(np.zeros((2, 2)), variable)])
    np.testing.assert_allclose(to_numpy(variable), f32(0.9) * np.array([[1.0, -2.0], [3.0, 0.5]]), rtol=1e-12)


def test_nuclear_step_on_float16_variables_is_computed_in_float32():
    rng = np.random.default_rng(8)
    x, g = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    variable = keras.Variable(x.astype("float16"), dtype="float16")
    ConditionalGradient(learning_rate=0.5, lambda_=1.0, ord="nuclear").apply_gradients(
        [(g.astype("float16"), variable)]
    )
    expected = ref.reference_step(x.astype("float16"), g.astype("float16"), 0.5, 1.0, "nuclear")
    np.testing.assert_allclose(to_numpy(variable), expected, atol=5e-3)


def test_as_matrix_shapes():
    shapes = {(): (1, 1), (5,): (1, 5), (4, 3): (4, 3), (2, 3, 4): (6, 4), (3, 3, 2, 8): (18, 8)}
    for shape, expected in shapes.items():
        assert tuple(as_matrix(keras.ops.zeros(shape)).shape) == expected


def test_learning_rate_schedule_sets_each_step():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[0, 1], values=[0.3, 0.6, 0.9])
    # Keras passes the iteration count (0, 1, 2, ...) to the schedule: rates 0.3, 0.6, 0.9, 0.9.
    rates = [0.3, 0.6, 0.9, 0.9]
    rng = np.random.default_rng(9)
    x = rng.normal(size=(3, 4))
    variable = keras.Variable(x, dtype="float64")
    optimizer = ConditionalGradient(learning_rate=schedule, lambda_=2.0, ord="nuclear")
    for rate in rates:
        g = rng.normal(size=(3, 4))
        optimizer.apply_gradients([(g, variable)])
        x = ref.reference_step(x, g, f32(rate), 2.0, "nuclear")
        np.testing.assert_allclose(to_numpy(variable), x, rtol=1e-12, atol=1e-12)
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == 4


def test_learning_rate_can_be_changed_between_steps():
    variable = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
    optimizer = ConditionalGradient(learning_rate=0.5, lambda_=2.0)
    optimizer.apply_gradients([(np.array([3.0, 4.0]), variable)])
    optimizer.learning_rate = 1.0  # keep the whole point: nothing moves
    optimizer.apply_gradients([(np.array([3.0, 4.0]), variable)])
    np.testing.assert_allclose(to_numpy(variable), [-0.1, 0.2], atol=1e-7)  # hand-computed in the reference tests


# ---------------------------------------------------------------- the ball


def _random_gradients(seed: int, shape, count: int):
    rng = np.random.default_rng(seed)
    gradients = []
    for _ in range(count):
        kind = rng.integers(4)
        if kind == 0:
            gradients.append(np.zeros(shape))
        else:  # any direction, magnitudes from tiny to huge
            gradients.append(rng.normal(size=shape) * 10.0 ** rng.uniform(-6, 6))
    return gradients


# Frobenius-ball feasibility, per dtype: the relative slack the norm may show. In float64 only
# rounding (about 1e-16 per operation) can push a boundary point out. In float32 each step
# rounds every element (about 6e-8 relative), the float32 SVD returns a u1 v1^T whose norm is 1
# only to a few ulps, and six steps add up: 1e-5 is about 170 float32 ulps, far below any real
# violation (a step outside the ball moves the norm by (1 - lr) lambda, at least 1e-2 lambda here).
FEASIBILITY_SLACK = {"float64": 1e-12, "float32": 1e-5}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    rank=st.integers(0, 4),
    ord=st.sampled_from(["fro", "nuclear"]),
    lr=st.floats(0.01, 1.0),
    lambda_=st.floats(1e-3, 1e3),
    start=st.floats(0.0, 1.0),
)
def test_iterates_that_start_inside_the_frobenius_ball_stay_inside(dtype, seed, rank, ord, lr, lambda_, start):
    # Both oracles answer with a point of the Frobenius ball (||g/(||g|| + eps)|| < 1, ||u1 v1^T||_F = 1),
    # so every step is a convex combination of two points of that ball, whatever the gradients.
    rng = np.random.default_rng(seed)
    shape = SHAPES[rank]
    x = rng.normal(size=shape)
    x *= start * lambda_ / np.linalg.norm(x)  # ||x||_F = start * lambda_, on the boundary when start = 1
    variable = keras.Variable(x.astype(dtype), dtype=dtype)
    optimizer = ConditionalGradient(learning_rate=lr, lambda_=lambda_, ord=ord)
    bound = lambda_ * (1 + FEASIBILITY_SLACK[dtype])
    assert np.linalg.norm(to_numpy(variable)) <= bound
    for g in _random_gradients(seed, shape, 6):
        optimizer.apply_gradients([(g.astype(dtype), variable)])
        assert np.linalg.norm(to_numpy(variable)) <= bound


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    rank=st.integers(0, 4),
    lr=st.floats(0.01, 1.0),
    lambda_=st.floats(1e-3, 1e3),
    start=st.floats(0.0, 1.0),
)
def test_nuclear_iterates_that_start_inside_the_nuclear_ball_stay_inside(seed, rank, lr, lambda_, start):
    # The nuclear oracle's answer -lambda u1 v1^T has nuclear norm lambda: the nuclear ball is kept too.
    rng = np.random.default_rng(seed)
    shape = SHAPES[rank]
    x = rng.normal(size=shape)
    x *= start * lambda_ / ref.nuclear_norm(x)
    variable = keras.Variable(x, dtype="float64")
    optimizer = ConditionalGradient(learning_rate=lr, lambda_=lambda_, ord="nuclear")
    for g in _random_gradients(seed, shape, 6):
        optimizer.apply_gradients([(g, variable)])
        assert ref.nuclear_norm(to_numpy(variable)) <= lambda_ * (1 + 1e-10)


def _distance_to_ball(x: np.ndarray, radius: float) -> float:
    return max(0.0, float(np.linalg.norm(x)) - radius)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**31 - 1),
    rank=st.integers(0, 4),
    ord=st.sampled_from(["fro", "nuclear"]),
    lr=st.floats(0.05, 0.999),
    outside=st.floats(1.01, 1e4),
)
def test_distance_to_the_ball_shrinks_at_least_by_the_learning_rate(seed, rank, ord, lr, outside):
    # x_new = lr x + (1 - lr) p with p = -lambda s in the ball, and the ball is convex:
    # dist(x_new) <= lr dist(x), whatever the gradient.
    rng = np.random.default_rng(seed)
    shape, lambda_ = SHAPES[rank], 1.5
    x = rng.normal(size=shape)
    x *= outside * lambda_ / np.linalg.norm(x)
    variable = keras.Variable(x, dtype="float64")
    optimizer = ConditionalGradient(learning_rate=lr, lambda_=lambda_, ord=ord)
    distance = _distance_to_ball(x, lambda_)
    for g in _random_gradients(seed + 1, shape, 5):
        optimizer.apply_gradients([(g, variable)])
        new_distance = _distance_to_ball(to_numpy(variable), lambda_)
        assert new_distance <= f32(lr) * distance + 1e-12 * lambda_ * outside
        distance = new_distance


@pytest.mark.parametrize("ord", ["fro", "nuclear"])
def test_distance_shrinks_exactly_geometrically_when_the_gradient_points_inwards(ord):
    # g = -x makes s = -x/||x|| (a rank-one matrix is its own top singular pair), so
    # ||x_new|| = lr ||x|| + (1 - lr) lambda and dist_new = lr dist, step after step.
    x = np.outer([1.0, -2.0, 2.0], [3.0, 4.0]) * 5.0  # rank one, ||x|| = 75
    lambda_, lr = 2.0, 0.7
    variable = keras.Variable(x, dtype="float64")
    optimizer = ConditionalGradient(learning_rate=lr, lambda_=lambda_, epsilon=1e-12, ord=ord)
    distances = [_distance_to_ball(x, lambda_)]
    for _ in range(8):
        optimizer.apply_gradients([(-to_numpy(variable), variable)])
        distances.append(_distance_to_ball(to_numpy(variable), lambda_))
    np.testing.assert_allclose(distances, (75.0 - lambda_) * f32(lr) ** np.arange(9), rtol=1e-9)


# ---------------------------------------------------------------- a convex problem


@pytest.mark.parametrize("ord", ["fro", "nuclear"])  # for a vector the two balls coincide
def test_least_squares_converges_to_the_constrained_optimum(ord):
    a, b = ref.least_squares_problem(seed=5)
    radius = 2.0
    expected = ref.ball_constrained_least_squares(a, b, radius)
    assert np.linalg.norm(np.linalg.lstsq(a, b, rcond=None)[0]) > 3 * radius
    variable = keras.Variable(np.zeros(a.shape[1]), dtype="float64")
    optimizer = ConditionalGradient(learning_rate=0.5, lambda_=radius, ord=ord)
    for _ in range(60):  # the NumPy reference gets within 1e-6 in about 20 steps
        x = to_numpy(variable)
        optimizer.apply_gradients([(a.T @ (a @ x - b), variable)])
    # The fixed point x = -lambda g / (||g|| + eps) is the KKT point, up to eps.
    np.testing.assert_allclose(to_numpy(variable), expected, atol=1e-6)


def test_classic_frank_wolfe_schedule_converges_too():
    # Step size gamma_k = 2 / (k + 3), i.e. learning rate (k + 1) / (k + 3), from a schedule.
    class FrankWolfeSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            return (step + 1.0) / (step + 3.0)

    a, b = ref.least_squares_problem(seed=6)
    expected = ref.ball_constrained_least_squares(a, b, 1.0)
    variable = keras.Variable(np.zeros(a.shape[1]), dtype="float64")
    optimizer = ConditionalGradient(learning_rate=FrankWolfeSchedule(), lambda_=1.0)
    for _ in range(150):
        x = to_numpy(variable)
        optimizer.apply_gradients([(a.T @ (a @ x - b), variable)])
    np.testing.assert_allclose(to_numpy(variable), expected, atol=5e-4)  # O(1/k): slower than a constant rate here


def test_unshifted_classic_schedule_is_rejected_at_the_first_step():
    # Keras numbers the steps from 0, so gamma_k = 2 / (k + 2) asks for gamma = 1, i.e. learning rate 0, first.
    class UnshiftedSchedule(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            step = keras.ops.cast(step, "float32")
            return step / (step + 2.0)

    variable = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
    optimizer = ConditionalGradient(learning_rate=UnshiftedSchedule(), lambda_=1.0)
    with pytest.raises(ValueError, match=r"learning_rate must be in \(0, 1\]"):
        optimizer.apply_gradients([(np.array([3.0, 4.0]), variable)])
    np.testing.assert_array_equal(to_numpy(variable), [1.0, 2.0])


def test_model_fit_solves_constrained_least_squares():
    a, b = ref.least_squares_problem(seed=7)
    radius = 1.0
    expected = ref.ball_constrained_least_squares(a, b, radius)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((a.shape[1],)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=ConditionalGradient(learning_rate=0.5, lambda_=radius), loss="mse", jit_compile=False)
    # One epoch of 60 identical full batches = 60 full-batch steps with a single fit call.
    repeats = 60
    model.fit(np.tile(a, (repeats, 1)), np.tile(b, repeats), batch_size=len(b), shuffle=False, verbose=0)
    kernel = to_numpy(model.layers[0].kernel)[:, 0]
    np.testing.assert_allclose(kernel, expected, atol=1e-5)


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"ord": "l2"}, ValueError, "ord"),
        ({"ord": None}, TypeError, "ord"),
        ({"lambda_": 0.0}, ValueError, "lambda_"),
        ({"lambda_": -1.0}, ValueError, "lambda_"),
        ({"lambda_": math.inf}, ValueError, "lambda_"),
        ({"lambda_": math.nan}, ValueError, "lambda_"),
        ({"lambda_": "203"}, TypeError, "lambda_"),
        ({"lambda_": True}, TypeError, "lambda_"),
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"learning_rate": 1.5}, ValueError, "learning_rate"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": math.nan}, ValueError, "learning_rate"),
        ({"learning_rate": True}, TypeError, "learning_rate must be a real number"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-7}, ValueError, "epsilon"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, words):
    arguments = {"learning_rate": 0.9, "lambda_": 1.0, **kwargs}
    with pytest.raises(error, match=words):
        ConditionalGradient(**arguments)


def test_learning_rate_of_one_is_allowed_and_keeps_the_point():
    variable = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
    ConditionalGradient(learning_rate=1.0, lambda_=1.0).apply_gradients([(np.array([5.0, -1.0]), variable)])
    np.testing.assert_array_equal(to_numpy(variable), [1.0, 2.0])


def test_schedule_leaving_the_unit_interval_is_caught_at_the_step():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[0], values=[0.5, 1.5])
    variable = keras.Variable(np.array([1.0, 2.0]), dtype="float64")
    optimizer = ConditionalGradient(learning_rate=schedule, lambda_=1.0)
    optimizer.apply_gradients([(np.array([1.0, 1.0]), variable)])
    before = to_numpy(variable)
    with pytest.raises(ValueError, match=r"learning_rate must be in \(0, 1\]"):
        optimizer.apply_gradients([(np.array([1.0, 1.0]), variable)])
    np.testing.assert_array_equal(to_numpy(variable), before)


def test_non_finite_gradient_raises_and_changes_nothing():
    first = keras.Variable(np.array([1.0, 2.0]), dtype="float64", name="first")
    second = keras.Variable(np.array([3.0]), dtype="float64", name="second")
    optimizer = ConditionalGradient(learning_rate=0.5, lambda_=1.0)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="non-finite gradient.*second"):
            optimizer.apply_gradients([(np.array([1.0, 1.0]), first), (np.array([bad]), second)])
        np.testing.assert_array_equal(to_numpy(first), [1.0, 2.0])
        np.testing.assert_array_equal(to_numpy(second), [3.0])


def test_non_finite_gradient_inside_model_fit_stops_training_before_any_update():
    model = tiny_model()
    model.compile(ConditionalGradient(0.9, lambda_=5.0), "sparse_categorical_crossentropy", jit_compile=False)
    before = [to_numpy(w) for w in model.trainable_weights]
    x, y = tiny_data()
    x[:, 2] = np.nan  # every batch has a NaN input, so every gradient is NaN
    with pytest.raises(runtime_error_types(), match="non-finite gradient"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for weight, old in zip(model.trainable_weights, before, strict=True):
        np.testing.assert_array_equal(to_numpy(weight), old)


@pytest.mark.parametrize("ord", ["fro", "nuclear"])
def test_update_step_keeps_the_variable_when_it_cannot_check(ord):
    # What runs where apply() cannot raise (XLA, JAX jit): update_step alone, on any backend.
    rng = np.random.default_rng(11)
    x, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    variables = [keras.Variable(x, dtype="float64") for _ in range(4)]
    optimizer = ConditionalGradient(learning_rate=0.5, lambda_=2.0, ord=ord)
    optimizer.build(variables)
    bad = g.copy()
    bad[1, 2] = np.nan
    worse = np.full_like(g, np.inf)
    rate = keras.ops.convert_to_tensor(0.5, dtype="float32")
    optimizer.update_step(keras.ops.convert_to_tensor(bad), variables[0], rate)
    optimizer.update_step(keras.ops.convert_to_tensor(worse), variables[1], rate)
    optimizer.update_step(keras.ops.convert_to_tensor(g), variables[2], keras.ops.convert_to_tensor(1.5))
    optimizer.update_step(keras.ops.convert_to_tensor(g), variables[3], rate)
    for variable in variables[:3]:
        np.testing.assert_array_equal(to_numpy(variable), x)
    np.testing.assert_allclose(to_numpy(variables[3]), ref.reference_step(x, g, 0.5, 2.0, ord), rtol=1e-12, atol=1e-12)


def _regression_model(seed: int = 4) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])


# On PyTorch the check happens in Python before any update, whatever the ord, and each torch.compile costs ~25 s.
@pytest.mark.parametrize("ord", ["fro"] if BACKEND == "torch" else ["fro", "nuclear"])
def test_non_finite_gradient_under_jit_compile_never_reaches_the_weights(ord):
    # Batches of 16: good, NaN target (every gradient NaN: the layers are linear), good.
    rng = np.random.default_rng(12)
    x = rng.normal(size=(48, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0])).astype("float32")
    y_bad = y.copy()
    y_bad[16:32] = np.nan
    good = np.r_[0:16, 32:48]

    def fit(inputs, targets, jit_compile):
        model = _regression_model()
        model.compile(ConditionalGradient(0.9, lambda_=3.0, ord=ord), "mse", jit_compile=jit_compile)
        assert model.jit_compile is jit_compile
        return model, model.fit(inputs, targets, batch_size=16, shuffle=False, verbose=0)

    if BACKEND == "torch":
        # torch.compile runs the checks in Python (a graph break): the error stays, after the first good batch.
        model, _ = fit(x[:16], y[:16], jit_compile=False)
        expected = [to_numpy(w) for w in model.trainable_weights]
        model = _regression_model()
        model.compile(ConditionalGradient(0.9, lambda_=3.0, ord=ord), "mse", jit_compile=True)
        assert model.jit_compile is True
        with pytest.raises(ValueError, match="non-finite gradient"):
            model.fit(x, y_bad, batch_size=16, shuffle=False, verbose=0)
    else:
        # XLA (TensorFlow) and JAX's jit cannot raise: the NaN step is skipped and training goes on.
        model, history = fit(x, y_bad, jit_compile=True)
        assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 3
        assert np.isnan(history.history["loss"][0])  # the NaN batch was seen, not silently dropped by Keras
        expected = [to_numpy(w) for w in fit(x[good], y[good], jit_compile=False)[0].trainable_weights]
    for weight, want in zip(model.trainable_weights, expected, strict=True):
        assert np.all(np.isfinite(to_numpy(weight)))
        np.testing.assert_allclose(to_numpy(weight), want, rtol=1e-5, atol=1e-6)


def test_out_of_range_schedule_inside_model_fit_raises():
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries=[1], values=[0.9, 2.0])
    model = tiny_model()
    model.compile(ConditionalGradient(schedule, lambda_=5.0), "sparse_categorical_crossentropy", jit_compile=False)
    x, y = tiny_data()
    with pytest.raises(runtime_error_types(), match="learning_rate must be in"):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)


# ---------------------------------------------------------------- configuration and saving


def test_config_round_trip():
    optimizer = ConditionalGradient(learning_rate=0.99949, lambda_=203.0, epsilon=1e-6, ord="nuclear", clipnorm=2.0)
    config = optimizer.get_config()
    assert config["lambda_"] == 203.0 and config["epsilon"] == 1e-6 and config["ord"] == "nuclear"
    assert config["learning_rate"] == pytest.approx(0.99949)
    clone = ConditionalGradient.from_config(config)
    assert clone.get_config() == config
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, ConditionalGradient) and restored.get_config() == config


def test_config_round_trip_with_a_schedule():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.9, decay_steps=10, decay_rate=1.05)
    clone = ConditionalGradient.from_config(ConditionalGradient(learning_rate=schedule, lambda_=3.0).get_config())
    assert isinstance(clone.learning_rate, keras.optimizers.schedules.ExponentialDecay) or clone.get_config()[
        "learning_rate"
    ] == keras.optimizers.schedules.serialize(schedule)


def test_saved_model_loads_and_keeps_training_identically(tmp_path):
    x, y = tiny_data(rows=96)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.9, decay_steps=3, decay_rate=1.02)  # rate depends on step
    model = tiny_model(seed=1)
    model.compile(ConditionalGradient(schedule, lambda_=4.0, ord="nuclear"), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    path = tmp_path / "cg_model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.optimizer, ConditionalGradient)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 6
    for model_now in (model, loaded):
        model_now.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for original, reloaded in zip(model.trainable_weights, loaded.trainable_weights, strict=True):
        np.testing.assert_allclose(to_numpy(reloaded), to_numpy(original), rtol=1e-6, atol=1e-7)
    assert int(keras.ops.convert_to_numpy(loaded.optimizer.iterations)) == 12


# ---------------------------------------------------------------- the norm and its callback


def test_frobenius_norm_by_hand():
    # 3^2 + 4^2 + 12^2 = 169
    assert frobenius_norm([np.array([[3.0, 4.0]]), np.array([12.0])]) == pytest.approx(13.0, abs=1e-12)
    assert frobenius_norm((keras.Variable(np.array([[1.0, 2.0], [2.0, 4.0]])),)) == pytest.approx(5.0, abs=1e-6)
    assert frobenius_norm([np.array(-2.0)]) == 2.0


@pytest.mark.parametrize(
    "weights, error",
    [(np.ones(3), TypeError), ([], ValueError), ([np.array(["a", "b"])], TypeError), (None, TypeError)],
)
def test_frobenius_norm_rejects_bad_input(weights, error):
    with pytest.raises(error, match="weights"):
        frobenius_norm(weights)


def test_norm_callback_records_every_epoch_and_cg_keeps_each_variable_in_its_ball():
    lambda_ = 0.5
    model = tiny_model(seed=2)
    for weight in model.trainable_weights:  # start inside each variable's ball
        value = to_numpy(weight)
        norm = np.linalg.norm(value)
        weight.assign((value * (0.5 * lambda_ / norm) if norm > 0 else value).astype("float32"))
    model.compile(ConditionalGradient(0.9, lambda_=lambda_), "sparse_categorical_crossentropy")
    callback = FrobeniusNormHistory()
    x, y = tiny_data()
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[callback])
    assert len(callback.norms) == 3
    assert history.history["weight_norm"] == callback.norms
    assert callback.norms[-1] == pytest.approx(frobenius_norm(model.trainable_weights), rel=1e-12)
    for weight in model.trainable_weights:
        assert np.linalg.norm(to_numpy(weight)) <= lambda_ * (1 + 1e-6)
    # four variables, each within lambda_: the total norm is at most 2 lambda_
    assert max(callback.norms) <= math.sqrt(len(model.trainable_weights)) * lambda_ * (1 + 1e-6)


def test_norm_callback_rejects_a_bad_key():
    with pytest.raises(TypeError, match="key"):
        FrobeniusNormHistory(key="")


@pytest.mark.skipif(
    BACKEND != "tensorflow", reason="XLA through jit_compile=True is TensorFlow's (Keras' default on GPUs)"
)
@pytest.mark.parametrize("ord", ["nuclear"])  # the SVD is the part XLA could get wrong
def test_xla_compiled_training_matches_the_graph(ord):
    x, y = tiny_data()
    weights = {}
    for jit_compile in (False, True):
        model = tiny_model(seed=3)
        model.compile(
            ConditionalGradient(0.9, lambda_=2.0, ord=ord), "sparse_categorical_crossentropy", jit_compile=jit_compile
        )
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        assert model.jit_compile is jit_compile
        weights[jit_compile] = [to_numpy(w) for w in model.trainable_weights]
    for graph, xla in zip(weights[False], weights[True], strict=True):
        np.testing.assert_allclose(xla, graph, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- no overflow to a silent zero step


@pytest.mark.parametrize("ord", ["fro", "nuclear"])
def test_a_huge_float32_gradient_still_gives_a_unit_direction(ord):
    # Squaring 1e30 overflows float32 (max 3.4e38): a plain norm would be inf and the step 0.
    g = np.array([[3e30, -4e30], [0.0, 0.0]], dtype=np.float32)
    optimizer = ConditionalGradient(lambda_=1.0, ord=ord)
    direction = keras.ops.convert_to_numpy(optimizer.direction(keras.ops.convert_to_tensor(g)))
    # By hand: the Frobenius direction is g / 5e30 = [[0.6, -0.8], [0, 0]]; g has rank 1, so its top
    # singular pair (u = e1, v = [0.6, -0.8]) gives the same matrix.
    np.testing.assert_allclose(direction, [[0.6, -0.8], [0.0, 0.0]], atol=1e-6)


def test_a_huge_float32_gradient_moves_the_variable():
    variable = keras.Variable(np.zeros((1, 2), dtype=np.float32))
    optimizer = ConditionalGradient(learning_rate=0.5, lambda_=2.0, ord="fro")
    optimizer.apply_gradients([(np.array([[3e30, 4e30]], dtype=np.float32), variable)])
    # x <- 0.5 * 0 - 0.5 * 2 * [0.6, 0.8]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), [[-0.6, -0.8]], rtol=1e-6)


def test_frobenius_norm_of_large_float64_weights_does_not_overflow():
    weights = [np.full((3, 3), 1e200), np.array([4e200])]
    # sqrt(9 * 1e400 + 16e400) = 5e200 (by hand; squaring 1e200 in float64 gives inf)
    assert frobenius_norm(weights) == pytest.approx(math.sqrt(9 + 16) * 1e200, rel=1e-12)
    assert frobenius_norm([np.full((2,), 1e-200)]) == pytest.approx(math.sqrt(2) * 1e-200, rel=1e-12)


# ---------------------------------------------------------------- NormalizedSGD (the control for the normalised step)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normalized_sgd_step_equals_numpy(dtype):
    rng = np.random.default_rng(11)
    start, gradient = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    variable = keras.Variable(start, dtype=dtype)
    NormalizedSGD(learning_rate=0.25, epsilon=1e-7).apply_gradients([(gradient.astype(dtype), variable)])
    expected = start - f32(0.25) * gradient / (np.linalg.norm(gradient) + 1e-7)
    tolerance = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(to_numpy(variable), expected, rtol=tolerance, atol=tolerance)
    # the step has length learning_rate whatever the size of the gradient, and a zero gradient does not move x
    np.testing.assert_allclose(np.linalg.norm(to_numpy(variable) - start), f32(0.25), rtol=1e-5)
    NormalizedSGD(learning_rate=0.25).apply_gradients([(np.zeros((4, 3), dtype=dtype), variable)])
    np.testing.assert_allclose(to_numpy(variable), expected, rtol=tolerance, atol=tolerance)


def test_normalized_sgd_matches_the_decay_free_part_of_conditional_gradient():
    rng = np.random.default_rng(12)
    start, gradient = rng.normal(size=(5,)), rng.normal(size=(5,)) * 1e3
    eta, radius = 0.75, 2.0
    normalized, conditional = keras.Variable(start, dtype="float64"), keras.Variable(start, dtype="float64")
    NormalizedSGD(learning_rate=(1 - eta) * radius).apply_gradients([(gradient, normalized)])
    ConditionalGradient(learning_rate=eta, lambda_=radius).apply_gradients([(gradient, conditional)])
    # CG's step is the normalised step plus the decay -(1 - eta) x
    np.testing.assert_allclose(to_numpy(conditional), to_numpy(normalized) - (1 - eta) * start, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"learning_rate": 0.0}, ValueError, "learning_rate"),
        ({"learning_rate": -0.1}, ValueError, "learning_rate"),
        ({"learning_rate": math.inf}, ValueError, "learning_rate"),
        ({"learning_rate": math.nan}, ValueError, "learning_rate"),
        ({"epsilon": 0.0}, ValueError, "epsilon"),
        ({"epsilon": -1e-7}, ValueError, "epsilon"),
        ({"epsilon": "1e-7"}, TypeError, "epsilon"),
        ({"epsilon": True}, TypeError, "epsilon"),
        ({"learning_rate": True}, TypeError, "learning_rate must be a real number"),
    ],
)
def test_normalized_sgd_rejects_bad_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        NormalizedSGD(**{"learning_rate": 0.1, **kwargs})


def test_normalized_sgd_config_round_trip():
    optimizer = NormalizedSGD(learning_rate=0.1035, epsilon=1e-6)
    config = optimizer.get_config()
    assert config["epsilon"] == 1e-6 and config["learning_rate"] == pytest.approx(0.1035)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, NormalizedSGD) and restored.get_config() == config
