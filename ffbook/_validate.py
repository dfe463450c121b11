"""Argument checks shared by ffbook's public functions: one home for the ``isinstance`` idioms.

Standard library and NumPy only (no framework import), so any module may use it. Each check
returns the cleaned value, or raises ``TypeError`` (the wrong kind of thing) or ``ValueError``
(the right kind, a wrong value) with a message that names the argument and says what was expected:

    epochs = check_int("epochs", epochs, min=1)
    h = check_real("h", h, positive=True)
    x = check_array("x", x, ndim=2, nonempty=True)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence

import numpy as np

__all__ = [
    "check_array",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_device",
    "check_int",
    "check_int_sequence",
    "check_real",
    "check_seed",
    "check_str_or_number",
    "native_array",
    "scaled_norm",
    "small_seed",
]

MAX_SEED = 2**63 - 1
"""The largest seed: every seed in ffbook is an int in [0, 2**63 - 1] (``torch.Generator.manual_seed``'s range)."""


def _kind(value) -> str:
    return type(value).__name__


def check_bool(name: str, value) -> bool:
    """``value`` if it is a bool (NumPy's included); a TypeError otherwise (1 and "yes" are refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {_kind(value)}")
    return bool(value)


def check_int(name: str, value, *, min: int | None = None, max: int | None = None) -> int:  # noqa: A002
    """``value`` as an ``int``: Python and NumPy integers; bools, floats (even 3.0) and strings are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {_kind(value)} {value!r}")
    value = int(value)
    if min is not None and value < min:
        raise ValueError(f"{name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{name} must be <= {max}, got {value}")
    return value


def check_seed(name: str, value) -> int:
    """``value`` as an ``int`` seed, ffbook's one seed rule: a Python or NumPy int in [0, 2**63 - 1]."""
    return check_int(name, value, min=0, max=MAX_SEED)


def check_device(device):
    """``device`` (a string or ``torch.device``) as a ``torch.device`` that this machine has (imports torch)."""
    import torch

    if isinstance(device, str):
        try:
            device = torch.device(device)
        except RuntimeError as error:
            raise ValueError(f"device must name a torch device such as 'cpu' or 'cuda', got {device!r}") from error
    if not isinstance(device, torch.device):
        raise TypeError(f"device must be a string or torch.device, got {_kind(device)}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but PyTorch sees no CUDA device here")
    return device


def small_seed(seed: int, bits: int) -> int:
    """A seed below ``2**bits`` for a generator that takes no larger ones, derived from ``seed``.

    ``seed`` itself when it is small enough (so small seeds mean what they always meant); else the
    first ``bits`` bits of ``numpy.random.SeedSequence(seed)``'s first word: reproducible, and
    different large seeds rarely meet. NumPy's global generator takes 32 bits, Keras'
    ``SeedGenerator`` 31 on the PyTorch backend, and PyTorch's CPU generator uses the low 32 bits of
    any seed (``torch.manual_seed(2**32)`` draws what ``torch.manual_seed(0)`` draws).
    """
    seed = check_seed("seed", seed)
    if seed < 2**bits:
        return seed
    return int(np.random.SeedSequence(seed).generate_state(1, dtype=np.uint64)[0]) >> (64 - bits)


def check_real(
    name: str,
    value,
    *,
    finite: bool = True,
    positive: bool = False,
    nonnegative: bool = False,
    min: float | None = None,  # noqa: A002
    max: float | None = None,  # noqa: A002
    hint: str = "",
) -> float:
    """``value`` as a ``float``: ints, floats, their NumPy kinds and 0-d real arrays.

    Refused with a TypeError: bools, complex numbers, strings, None. With a ValueError: NaN and
    infinities (unless ``finite=False``), values <= 0 with ``positive``, < 0 with ``nonnegative``,
    and values outside ``[min, max]``. ``hint`` is added to the TypeError's message.
    """
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        shown = f"an array of shape {value.shape}" if isinstance(value, np.ndarray) else f"{_kind(value)} {value!r}"
        raise TypeError(f"{name} must be a real number{hint}, got {shown}")
    value = float(value)
    wanted = ("a finite number" if finite else "a number") + (" > 0" if positive else " >= 0" if nonnegative else "")
    if (
        math.isnan(value)
        or (finite and math.isinf(value))
        or (positive and not value > 0)
        or (nonnegative and not value >= 0)
    ):
        raise ValueError(f"{name} must be {wanted}, got {value}")
    if min is not None and value < min:
        raise ValueError(f"{name} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{name} must be <= {max}, got {value}")
    return value


def check_str_or_number(name: str, value) -> str | int | float:
    """``value`` if it is a str, an int or a finite real number (NumPy's as Python's); bools are refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return check_real(name, value, hint=" or a str")


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """``value`` if it is one of the strings ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {choices}, got {_kind(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_callable(name: str, value) -> Callable:
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {_kind(value)}")
    return value


def check_int_sequence(name: str, value, *, min: int | None = None, nonempty: bool = True) -> tuple[int, ...]:  # noqa: A002
    """A sequence (list, tuple, range, 1-D array) of ints, each checked with :func:`check_int`, as a tuple."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name} must be a list or tuple of ints, got {_kind(value)}")
    if nonempty and len(value) == 0:
        raise ValueError(f"{name} must list at least one int, got {value!r}")
    return tuple(check_int(f"{name}[{i}]", item, min=min) for i, item in enumerate(value))


def check_array(
    name: str,
    value,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    nonempty: bool = True,
    finite: bool = True,
    integer: bool = False,
    allow_bool: bool = False,
    dtype=np.float64,
) -> np.ndarray:
    """``value`` as a new array of ``dtype`` (a copy: the caller's array is never changed).

    Accepts real numbers and rectangular array-likes of them. Refused with a TypeError: None,
    strings, bools (unless ``allow_bool``), complex numbers, objects;
    with a ValueError: ragged nesting, another number of dimensions than ``ndim``, a shape that
    differs from ``shape`` (``None`` entries match any length), no entries (with ``nonempty``),
    NaN or infinities (with ``finite``), and non-integers (with ``integer``).
    """
    expected = "a real number or a rectangular array (ndarray, nested lists or tuples) of real numbers"
    if value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be {expected}, got {_kind(value)}")
    try:
        array = np.asarray(value)
    except ValueError as exc:  # NumPy refuses ragged nesting
        raise ValueError(f"{name} must be {expected}, got a ragged sequence (rows of different lengths)") from exc
    if array.dtype.kind not in ("biuf" if allow_bool else "iuf"):
        raise TypeError(f"{name} must be {expected}, got {_kind(value)} of dtype {array.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if array.ndim not in allowed:
            wanted = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {wanted}, got shape {array.shape}")
    if shape is not None and (
        array.ndim != len(shape)
        or any(want is not None and want != got for want, got in zip(shape, array.shape, strict=True))
    ):
        wanted = str(tuple("any" if s is None else s for s in shape)).replace("'", "")
        raise ValueError(f"{name} must have shape {wanted}, got {array.shape}")
    if nonempty and array.size == 0:
        raise ValueError(f"{name} must have at least one entry, got an empty array of shape {array.shape}")
    result = np.array(array, dtype=dtype, copy=True)
    if finite and result.dtype.kind == "f" and not np.all(np.isfinite(result)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    if integer and array.dtype.kind == "f" and not np.all(np.equal(np.mod(array, 1), 0)):
        raise ValueError(f"{name} must hold whole numbers, got non-integer values")
    return result


def native_array(array: np.ndarray) -> np.ndarray:
    """``array`` as frameworks can share it: itself when it has native byte order and no negative
    strides, else a C-contiguous, native-order copy of the same values and dtype.

    ``torch.from_numpy`` refuses a reversed view (``x[::-1]``) and a big-endian array
    (``x.astype(">f4")``); both are ordinary NumPy arrays, so they are copied instead.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected a numpy array, got {_kind(array)}")
    if array.dtype.isnative and all(stride >= 0 for stride in array.strides):
        return array
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))


def scaled_norm(array) -> float:
    """The 2-norm (Frobenius for a matrix) of all entries, without overflow or underflow.

    Computed as $s \\sqrt{\\sum (x_i / s)^2}$ with $s = \\max |x_i|$, in float64: the squares of
    large weights (about 1e160 and up in float64, 1e19 in float32) no longer overflow to inf.
    """
    values = np.abs(np.asarray(array, dtype=np.float64)).ravel()
    if values.size == 0:
        return 0.0
    scale = float(values.max())
    if scale == 0.0 or not math.isfinite(scale):
        return scale
    return scale * math.sqrt(float(np.sum(np.square(values / scale))))
