"""How much a training step keeps for its backward pass: backpropagation against Forward-Forward.

Method. Autograd stores, for every operation that needs them, the tensors its backward formula
will read (a matrix product keeps its input, a ReLU its output, a norm its input and result...).
``torch.autograd.graph.saved_tensors_hooks`` lets us see every one of them as it is stored and
notice when it is released: the pack hook wraps the tensor in a small handle, and the handle is
destroyed when autograd frees that part of the graph (after ``backward``, or when the loss is
dropped). We count each *storage* once (several saved tensors are often views of one buffer, e.g.
a ReLU's output that the next matrix product also keeps), leave out the parameters (they exist
whatever the training method), and record the largest total alive at any moment of the step:

$$\\text{peak} = \\max_t \\sum_{s \\in S(t)} \\text{bytes}(s),$$

where $S(t)$ holds the storages saved and still alive at time $t$, parameters excluded.

This is exactly the memory a method spends on "activities kept for the backward pass". It is a
lower bound on the step's whole peak (it leaves out parameters, gradients, optimizer state and
short-lived temporaries), it does not depend on the allocator, and it is deterministic, so the
same numbers come out on any CPU.

Three ways of training the same stack of ``FFLayer`` s (normalise, linear, ReLU) for one step on
a batch of ``rows`` rows:

* ``"backprop"``: the layers plus a linear softmax head, one cross-entropy loss at the top, one
  backward pass through every layer (all layers' saved tensors are alive at the peak);
* ``"ff_layerwise"``: Forward-Forward, one layer at a time: a layer's loss, its backward pass,
  its update, then its output (detached) goes to the next layer, so only one layer's graph is
  ever alive;
* ``"ff_summed"``: Forward-Forward with the layer losses summed and one ``backward`` call (the
  inputs are still detached, so no derivative crosses a layer), which keeps every layer's graph
  alive until that call, like backprop.

FF's rows are half positive, half negative (``rows // 2`` images, each with a true and a wrong
label); backprop's rows are ``rows`` labelled images. Every layer sees the same number of rows,
so a layer stores the same tensors in all three methods and only *how many layers at once* differs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ffbook._validate import check_choice, check_int, check_seed
from ffbook.ff import FFLayer

__all__ = ["METHODS", "SavedTensorMeter", "peak_saved_bytes"]

METHODS = ("backprop", "ff_layerwise", "ff_summed")


class _Handle:
    """What autograd keeps in place of a saved tensor; its destruction marks the release."""

    __slots__ = ("meter", "key", "tensor", "__weakref__")

    def __init__(self, meter: SavedTensorMeter, tensor: torch.Tensor) -> None:
        self.meter, self.tensor = meter, tensor
        self.key = tensor.untyped_storage().data_ptr()
        meter._acquire(self.key, tensor.untyped_storage().nbytes())

    def __del__(self) -> None:
        self.meter._release(self.key)


class SavedTensorMeter:
    """Context manager counting the bytes of the storages autograd keeps alive for backward.

    ``current`` is the total now, ``peak`` the largest total seen; storages in ``exclude``
    (e.g. the parameters) are not counted.
    """

    def __init__(self, exclude: list[torch.Tensor] | tuple = ()) -> None:
        self._excluded = {t.untyped_storage().data_ptr() for t in exclude}
        self._alive: dict[int, list[int]] = {}  # storage -> [bytes, number of handles]
        self.current = 0
        self.peak = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, tensor: torch.Tensor):
        if tensor.untyped_storage().data_ptr() in self._excluded:
            return tensor
        return _Handle(self, tensor)

    @staticmethod
    def _unpack(packed):
        return packed.tensor if isinstance(packed, _Handle) else packed

    def _acquire(self, key: int, nbytes: int) -> None:
        entry = self._alive.setdefault(key, [nbytes, 0])
        if entry[1] == 0:
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        entry[1] += 1

    def _release(self, key: int) -> None:
        entry = self._alive[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._alive[key]

    def __enter__(self) -> SavedTensorMeter:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)


def _batch(rows: int, in_features: int, num_classes: int, seed: int, dtype: torch.dtype):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(rows, in_features, generator=generator, dtype=dtype)
    y = torch.randint(0, num_classes, (rows,), generator=generator)
    return x, y


def peak_saved_bytes(
    method: str,
    depth: int,
    width: int = 1000,
    rows: int = 1000,
    in_features: int = 784,
    num_classes: int = 10,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> int:
    """Peak bytes saved for backward during one training step of ``depth`` layers of ``width`` units.

    ``method`` is one of ``METHODS`` (see the module's docstring). The step is a real one: losses,
    backward passes and SGD updates. Returns the peak of the saved-tensor total, in bytes.
    """
    check_choice("method", method, METHODS)
    depth = check_int("depth", depth, min=1)
    width = check_int("width", width, min=1)
    rows = check_int("rows", rows, min=2)
    in_features = check_int("in_features", in_features, min=1)
    num_classes = check_int("num_classes", num_classes, min=2)
    if rows % 2:
        raise ValueError(f"rows must be even (FF splits it into positive and negative halves), got {rows}")
    seed = check_seed("seed", seed)
    torch.manual_seed(seed)
    dims = [in_features] + [width] * depth
    layers = nn.ModuleList(FFLayer(a, b) for a, b in zip(dims[:-1], dims[1:], strict=True)).to(dtype)
    head = nn.Linear(width, num_classes).to(dtype)
    params = [*layers.parameters(), *head.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01)
    x, y = _batch(rows, in_features, num_classes, seed, dtype)
    half = rows // 2
    meter = SavedTensorMeter(exclude=params)
    with meter:
        optimizer.zero_grad()
        if method == "backprop":
            h = x
            for layer in layers:
                h = layer(h)
            F.cross_entropy(head(h), y).backward()
            optimizer.step()
        elif method == "ff_layerwise":
            h = x
            for layer in layers:
                out, terms, _ = layer.ff_terms(h, half)
                terms.loss.backward()
                optimizer.step()  # only this layer has a gradient so far
                h = out.detach()
                del out, terms  # drop the graph: this layer's saved tensors are released here
        else:  # ff_summed
            h, total = x, 0.0
            for layer in layers:
                out, terms, _ = layer.ff_terms(h, half)
                total = total + terms.loss
                h = out.detach()
            total.backward()
            optimizer.step()
    return meter.peak
