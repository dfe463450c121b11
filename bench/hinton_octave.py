"""Run Hinton's original ``ffnew.m`` under GNU Octave, batch by batch, from a given state.

The reference side of proving a port of ``ffnew.m`` equal to the original: same state in, same
state out, after every batch. ``run_original`` runs the ORIGINAL script (``original/ffnew.m`` of
Hinton's released code, kept unmodified in ``../shared/ffcode/original``; ``$FFBOOK_FFCODE`` names
another ``ffcode`` folder) in one Octave session, one call of the script per batch, with the random
numbers of its negative-label draw given from outside, and returns the state after every batch.
``numpy_reference_step`` is a second, independent reading of one batch of ``ffnew.m`` in NumPy
(float32), used to check the harness itself (orientation, order of operations).

    python bench/hinton_octave.py fixture     # writes tests/data/hinton_matlab_fixture.npz (Octave)
    python bench/hinton_octave.py check       # NumPy reference vs the fixture, max differences
    python bench/hinton_octave.py selfcheck   # the harness at full width 1000 on 3 batches (Octave)

``selfcheck`` draws its own state and numbers (``default_rng(7)``), runs MNIST training images 0-299 at
784-1000-1000-1000, prints the time and, per batch, how much the weights moved, whether a negative
label ever equals the true one or is missing, and the NumPy reference's differences from the same state.

How one batch is run (all in one Octave session; ``hoct_*`` names are the harness' own):

- The state is set in Octave's workspace as single-precision arrays (``weights{2..4}`` in x out,
  ``biases{2..4}``, ``meanstates{2..4}`` rows, ``supweightsfrom{3..4}`` width x 10, and the smoothed
  gradients ``weightsgrad``, ``biasesgrad``, ``supweightsfromgrad``), and so is the data: the
  original converts data to single only when ``restart == 1``, and after its first batch its state
  is single too (double weights plus single gradients), so single in and single out is the
  original's own steady state. The harness checks every array is still single after each batch.
  Unused cells are filled as ``restart == 1`` would leave them in kind: ``biases{5}`` (the softmax
  bias, never updated) zeros, ``supweightsfrom{2}``/``supweightsfromgrad{2}`` zeros (``minlevelsup``
  is 3), ``weights{5}`` zeros (drawn by the original's initialisation but never used).
- ``batchdata``/``batchtargets`` hold batch k alone (100 x 784 x 1, one-hot targets built here from
  the labels); ``validbatchdata`` and ``finaltestbatchdata`` are that same batch, so the tests the
  script runs (``ffenergytest``/``ffsoftmaxtest``: every 5 epochs and at its end) are cheap. They
  only print; they change no state.
- ``restart = 0``, ``maxepoch = M`` and ``epoch = M``: the script's ``for epoch=epoch:maxepoch``
  then runs exactly one epoch (one batch), with the gain of the last epoch of an M-epoch run:
  ``epsgain = (1 + 2*(M - M))/M = 1/M`` (for M = 1 that is 1; the original's ``epoch <= maxepoch/2``
  branch, gain 1, is never taken for epoch = M >= 1). The gain each batch ran with is read back from
  Octave and checked.
- The negative label: ``choosefrom.m`` in the harness' working folder, put ahead of ``original/``
  on Octave's path, replaces the original's. It is the original's code line for line except that
  ``r = rand(1,1)`` becomes the next of the given numbers (``uniforms[k, n]`` for case n); it counts
  its calls and keeps what it returned. The harness checks that Octave resolves ``choosefrom`` to
  this file and that it was called exactly once per batch. The rule is the original's: running sum
  of the probabilities over labels 1..10, the first label whose running sum exceeds r, none if r is
  not below the total. Note that the running sum is single (the probabilities are) and that Octave
  compares a double with a single in single precision: ``r`` is in effect rounded to float32.

Edits of ``ffnew.m``: none to the file in ``original/``. The script run is a copy,
``ffnew_harness.m`` in the working folder, with exactly these line replacements (each checked to
match once): ``histfreq = freq;`` becomes ``histfreq = 1e9; % no figures headless`` (as in run.sh:
no activity histograms, which need a display; they draw and change nothing); and only when
``widths`` is not (1000, 1000, 1000), ``layernums = {numvis 1000 1000 1000 numlab};`` names those
widths (the goodness threshold ``layernums{l}`` follows them, as it would in the original). No line
of the algorithm is touched. ``softmax.m`` (``../shared/ffcode/softmax.m``, the plain helper the
original calls) is copied next to it.

State dicts (inputs and outputs of ``run_original`` and ``numpy_reference_step``), float32 NumPy:
``weights`` [3 arrays (784, w1), (w1, w2), (w2, w3)] (Matlab ``weights{2..4}``, in x out);
``biases`` [3 (w,)]; ``meanstates`` [3 (w,)]; ``supweights`` [2 (w2, 10), (w3, 10)] (Matlab
``supweightsfrom{3}``, ``supweightsfrom{4}``: hidden layers 2 and 3 feed the softmax);
``weightsgrad``, ``biasesgrad``, ``supweightsgrad``: the smoothed gradients, same shapes (zeros at
the start of a run, as the original initialises them). ``supweights``/``supweightsgrad`` may also be
given as a dict keyed by the Matlab index {3: ..., 4: ...}. Outputs add ``negative_labels``: int64
(100,), the label 0..9 ``choosefrom`` picked for each case, -1 where it picked none.

The fixture ``tests/data/hinton_matlab_fixture.npz`` (``python bench/hinton_octave.py fixture``):
784-24-24-24 (width 24: the copy's ``layernums`` line says 24), the first 400 MNIST training images
(``ffbook.data.load_mnist()``, pixels / 255 as float32) in 4 batches of 100 in index order, initial
weights N(0, 1/fan_in), then the uniforms, both drawn from ``np.random.default_rng(20221227)`` in
that order; batches 1-3 with maxepoch 1 (gain 1), batch 4 with maxepoch 4 (gain 0.25). Keys:

- ``widths`` int64 (3,); ``image_indices`` int64 (4, 100): MNIST training indices of each batch
  (reload MNIST for the pixels); ``labels`` int64 (4, 100); ``uniforms`` float64 (4, 100);
  ``maxepoch`` int64 (4,): the maxepoch each batch ran with; ``epsgain`` float64 (4,): the gain
  Octave reported for it (1/maxepoch);
- ``init_<key>`` for the initial state, and ``after<k>_<key>`` for k = 1..4, the state after batch k
  as Octave left it, where ``<key>`` is ``weights<i>``, ``biases<i>``, ``meanstates<i>``,
  ``weightsgrad<i>``, ``biasesgrad<i>`` for i = 0, 1, 2 (hidden layers 1-3) and ``supweights<j>``,
  ``supweightsgrad<j>`` for j = 0, 1 (hidden layers 2, 3), all float32; ``after<k>_negative_labels``
  int64 (100,);
- ``choice_probs`` float32 (4, 100, 10): the probabilities ``choosefrom`` was given, batch by batch;
- ``octave_version``, ``created``, ``command``: strings. ``load_fixture`` turns the file back into
  state dicts.

What ffnew.m does that a port must copy (read from the code, and seen in these runs):

- If ``choosefrom`` picks no label (r not below the single-precision total of the masked softmax, e.g.
  an r that rounds to 1.0 in single), the negative case keeps label pixels of all zeros: no label at
  all, not the neutral 0.1s. It then still goes through the negative pass. The true label is never
  picked: its probability after the -1000 is exactly 0 in single (exp underflows below about -104),
  unless its logit led all others by more than about 900.
- ``epsgain`` is 1 for ``epoch <= maxepoch/2``, then ``(1 + 2*(maxepoch - epoch))/maxepoch``: it starts
  the decay at (M-1)/M (M even) and ends at 1/M in the last epoch, never 0; for M = 1 it is 1 (from the
  second formula). For odd M the first decayed epoch has gain 1 too (M = 5: 1, 1, 1, 0.6, 0.2).
- Per batch: positive pass (each layer's meanstates updated, then its peer term
  ``lambdamean*(mean(meanstates) - meanstates)`` added to every case's gradient, ungated by the ReLU);
  neutral pass; softmax update (on neutral activities of hidden layers 2-3, before the negatives);
  negatives drawn from the softmax of the logits computed BEFORE that update, true label at -1000;
  negative pass; then, layer by layer, smoothed gradients (delay 0.9, positive + negative, / 100),
  ``biases += gain*eps*biasesgrad`` (no cost), ``weights += gain*eps*(weightsgrad - wc*weights)``.
  The forward weights all update after the negative pass, so the negative pass uses the old weights.
- The softmax bias ``biases{5}`` is never updated (its gradient is computed and dropped), and
  ``weights{5}`` is drawn in the initialisation (consuming random numbers after the three hidden
  layers' weights) but never used.
- The label goes in pixels 1-10 of the image (overwritten, value ``labelstrength`` = 1), before the
  row normalisation; every layer's input is its row divided by (exp(-100) + root mean square).

Octave 7 prints "error: ignoring const execution_exception& while preparing to exit" when it exits:
a quirk, harmless; the harness judges a run by the files it wrote and a marker written last.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
FFCODE = pathlib.Path(os.environ.get("FFBOOK_FFCODE", ROOT.parent / "shared" / "ffcode"))
FIXTURE = ROOT / "tests" / "data" / "hinton_matlab_fixture.npz"
FIXTURE_SEED = 20221227
FIXTURE_WIDTH = 24
FIXTURE_MAXEPOCHS = (1, 1, 1, 4)
CHECK_REL = 1e-5  # `check`: every array within this fraction of its largest element, negative labels equal

NUMVIS, NUMLAB, NUMCASES = 784, 10, 100
STATE_KEYS = ("weights", "biases", "meanstates", "supweights", "weightsgrad", "biasesgrad", "supweightsgrad")
# Python key -> (Matlab cell, Matlab indices)
_MATLAB = {
    "weights": ("weights", (2, 3, 4)),
    "biases": ("biases", (2, 3, 4)),
    "meanstates": ("meanstates", (2, 3, 4)),
    "weightsgrad": ("weightsgrad", (2, 3, 4)),
    "biasesgrad": ("biasesgrad", (2, 3, 4)),
    "supweights": ("supweightsfrom", (3, 4)),
    "supweightsgrad": ("supweightsfromgrad", (3, 4)),
}

# The hyperparameters ffnew.m sets at its top (read there; the reference below uses them).
LABELSTRENGTH = 1.0
WC, SUPWC = 0.001, 0.003
EPSILON, EPSILONSUP = 0.01, 0.1
DELAY = 0.9
LAMBDAMEAN = 0.03
TEMP = 1.0
TINY_NORM = np.exp(-100)  # ffnormrows.m


def epsgain(epoch: int, maxepoch: int) -> float:
    """The learning-rate gain ffnew.m uses in ``epoch`` of a ``maxepoch``-epoch run (its own formula)."""
    if epoch <= maxepoch / 2:
        return 1.0
    return (1 + 2 * (maxepoch - epoch)) / maxepoch


# --------------------------------------------------------------------------------------------
# State handling


def _seq(state: Mapping, key: str) -> list[np.ndarray]:
    value = state[key]
    indices = _MATLAB[key][1]
    if isinstance(value, Mapping):
        if set(value) != set(indices):
            raise ValueError(f"state[{key!r}] as a dict must be keyed by the Matlab indices {indices}")
        value = [value[i] for i in indices]
    if len(value) != len(indices):
        raise ValueError(f"state[{key!r}] must hold {len(indices)} arrays, got {len(value)}")
    return [np.array(v, dtype=np.float32) for v in value]


def normalize_state(state: Mapping) -> dict[str, list[np.ndarray]]:
    """A copy of ``state`` as lists of float32 arrays, shapes checked; widths are those of the weights."""
    out = {key: _seq(state, key) for key in STATE_KEYS}
    widths = [w.shape[1] for w in out["weights"]]
    fan_in = [NUMVIS, *widths[:2]]
    for i, (n_in, n_out) in enumerate(zip(fan_in, widths, strict=True)):
        for key in ("weights", "weightsgrad"):
            if out[key][i].shape != (n_in, n_out):
                raise ValueError(f"{key}[{i}] has shape {out[key][i].shape}, expected {(n_in, n_out)}")
        for key in ("biases", "meanstates", "biasesgrad"):
            out[key][i] = out[key][i].reshape(-1)
            if out[key][i].shape != (n_out,):
                raise ValueError(f"{key}[{i}] has shape {out[key][i].shape}, expected {(n_out,)}")
    for j, w in enumerate(widths[1:]):
        for key in ("supweights", "supweightsgrad"):
            if out[key][j].shape != (w, NUMLAB):
                raise ValueError(f"{key}[{j}] has shape {out[key][j].shape}, expected {(w, NUMLAB)}")
    return out


def onehot(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= NUMLAB:
        raise ValueError("labels must be 0..9")
    return np.eye(NUMLAB, dtype=np.float32)[labels]


# --------------------------------------------------------------------------------------------
# The Octave harness

_CHOOSEFROM = """\
function [postchoiceprobs] = choosefrom(probs);
% The harness' replacement for original/choosefrom.m: the original's code line for line, except
% that r is the next pre-drawn number (global hoct_u) instead of rand(1,1). Counts its calls and
% keeps what it was given and what it returned.
global hoct_u hoct_calls hoct_chosen hoct_probs
hoct_calls = hoct_calls + 1;
hoct_probs = probs;

[numcases, numlab] = size(probs);
if numel(hoct_u) ~= numcases
  error('hoct: choosefrom got %d cases but holds %d numbers', numcases, numel(hoct_u));
end;

postchoiceprobs=zeros(size(probs));
for n=1:numcases
  r=hoct_u(n);
  used=0;
  sumsofar=0;
  for lab=1:numlab
    sumsofar= sumsofar+probs(n,lab);
    if r<sumsofar & used==0
      used=1;
      postchoiceprobs(n,lab)=1;
      break;
    end;
  end;
end;
hoct_chosen = postchoiceprobs;
hoct_u = [];  % used up: a second call in the same batch fails
"""

_DRIVER = """\
warning('off', 'all');
try
  addpath('{original}');
  addpath(pwd);  % ahead of original/: the harness' choosefrom.m
  global hoct_u hoct_calls hoct_chosen hoct_probs
  hoct_which = which('choosefrom');
  if ~strcmp(hoct_which, fullfile(pwd, 'choosefrom.m'))
    error('hoct: choosefrom resolves to %s, not the harness copy', hoct_which);
  end;
  hoct_fid = fopen('octave_version.txt', 'w'); fprintf(hoct_fid, '%s', version()); fclose(hoct_fid);
  hoct_K = {K};
  hoct_dims = [{numvis} {w1} {w2} {w3} {numlab}];
  hoct_maxepochs = hoct_read('in_maxepoch.bin', [1 hoct_K], 'double');
  hoct_U = hoct_read('in_uniforms.bin', [{numcases} hoct_K], 'double');
  hoct_X = hoct_read('in_x.bin', [{numcases}*hoct_K {numvis}], 'single');
  hoct_T = hoct_read('in_targets.bin', [{numcases}*hoct_K {numlab}], 'single');
  weights = cell(1, 5); biases = cell(1, 5); weightsgrad = cell(1, 5); biasesgrad = cell(1, 5);
  meanstates = cell(1, 4); supweightsfrom = cell(1, 4); supweightsfromgrad = cell(1, 4);
  for hoct_l = 2:4
    hoct_a = hoct_dims(hoct_l-1); hoct_b = hoct_dims(hoct_l);
    weights{{hoct_l}} = hoct_read(sprintf('in_weights%d.bin', hoct_l), [hoct_a hoct_b], 'single');
    weightsgrad{{hoct_l}} = hoct_read(sprintf('in_weightsgrad%d.bin', hoct_l), [hoct_a hoct_b], 'single');
    biases{{hoct_l}} = hoct_read(sprintf('in_biases%d.bin', hoct_l), [1 hoct_b], 'single');
    biasesgrad{{hoct_l}} = hoct_read(sprintf('in_biasesgrad%d.bin', hoct_l), [1 hoct_b], 'single');
    meanstates{{hoct_l}} = hoct_read(sprintf('in_meanstates%d.bin', hoct_l), [1 hoct_b], 'single');
  end;
  supweightsfrom{{2}} = zeros(hoct_dims(2), {numlab}, 'single');
  supweightsfromgrad{{2}} = zeros(hoct_dims(2), {numlab}, 'single');
  for hoct_l = 3:4
    hoct_b = hoct_dims(hoct_l);
    supweightsfrom{{hoct_l}} = hoct_read(sprintf('in_supweightsfrom%d.bin', hoct_l), [hoct_b {numlab}], 'single');
    supweightsfromgrad{{hoct_l}} = hoct_read(sprintf('in_supweightsfromgrad%d.bin', hoct_l), ...
                                             [hoct_b {numlab}], 'single');
  end;
  biases{{5}} = zeros(1, {numlab}, 'single');  % the softmax bias: ffnew.m never updates it
  weights{{5}} = zeros(hoct_dims(4), {numlab}, 'single');  % drawn by restart==1 but never used
  for hoct_k = 1:hoct_K
    hoct_rows = (hoct_k-1)*{numcases}+1:hoct_k*{numcases};
    batchdata = hoct_X(hoct_rows, :);
    batchtargets = hoct_T(hoct_rows, :);
    validbatchdata = batchdata; validbatchtargets = batchtargets;
    finaltestbatchdata = batchdata; finaltestbatchtargets = batchtargets;
    hoct_u = hoct_U(:, hoct_k);
    hoct_calls = 0; hoct_chosen = []; hoct_probs = [];
    maxepoch = hoct_maxepochs(hoct_k);
    epoch = maxepoch;
    restart = 0;
    fprintf(1, '== hoct batch %d of %d, maxepoch %d\\n', hoct_k, hoct_K, maxepoch);
    ffnew_harness;
    if hoct_calls ~= 1
      error('hoct: choosefrom was called %d times in batch %d (expected once)', hoct_calls, hoct_k);
    end;
    hoct_p = sprintf('out%d_', hoct_k);
    for hoct_l = 2:4
      hoct_write([hoct_p sprintf('weights%d.bin', hoct_l)], weights{{hoct_l}});
      hoct_write([hoct_p sprintf('weightsgrad%d.bin', hoct_l)], weightsgrad{{hoct_l}});
      hoct_write([hoct_p sprintf('biases%d.bin', hoct_l)], biases{{hoct_l}});
      hoct_write([hoct_p sprintf('biasesgrad%d.bin', hoct_l)], biasesgrad{{hoct_l}});
      hoct_write([hoct_p sprintf('meanstates%d.bin', hoct_l)], meanstates{{hoct_l}});
    end;
    for hoct_l = 3:4
      hoct_write([hoct_p sprintf('supweightsfrom%d.bin', hoct_l)], supweightsfrom{{hoct_l}});
      hoct_write([hoct_p sprintf('supweightsfromgrad%d.bin', hoct_l)], supweightsfromgrad{{hoct_l}});
    end;
    hoct_write([hoct_p 'probs.bin'], hoct_probs);
    hoct_fid = fopen([hoct_p 'chosen.bin'], 'w'); fwrite(hoct_fid, hoct_chosen', 'double'); fclose(hoct_fid);
    hoct_fid = fopen([hoct_p 'epsgain.bin'], 'w'); fwrite(hoct_fid, epsgain, 'double'); fclose(hoct_fid);
    if any(biases{{5}} ~= 0) || any(supweightsfrom{{2}}(:) ~= 0)
      error('hoct: an unused cell changed');
    end;
  end;
  hoct_fid = fopen('done.txt', 'w'); fprintf(hoct_fid, 'ok'); fclose(hoct_fid);
catch hoct_err
  fprintf(2, 'hoct error: %s\\n', hoct_err.message);
  for hoct_i = 1:numel(hoct_err.stack)
    fprintf(2, '  at %s line %d\\n', hoct_err.stack(hoct_i).name, hoct_err.stack(hoct_i).line);
  end;
  exit(3);
end;
exit(0);
"""

_READ = """\
function x = hoct_read(name, shape, prec)
% Reads a raw little-endian file written by NumPy in C order as the transpose, so that a NumPy
% array of shape (r, c) arrives as an r x c matrix.
fid = fopen(name, 'r', 'ieee-le');
if fid < 0 error('hoct: cannot open %s', name); end;
x = fread(fid, fliplr(shape), [prec '=>' prec])';
fclose(fid);
if ~isequal(size(x), shape) error('hoct: %s has the wrong size', name); end;
"""

_WRITE = """\
function hoct_write(name, x)
% Writes a matrix in C (row-major) order, single precision; fails unless it is single already.
if ~isa(x, 'single') error('hoct: %s is %s, not single', name, class(x)); end;
fid = fopen(name, 'w', 'ieee-le');
fwrite(fid, x', 'single');
fclose(fid);
"""


def _harness_copy(ffnew_text: str, widths: Sequence[int]) -> str:
    """The copy of ffnew.m the harness runs: histfreq off, and the widths when not 1000."""

    def replace_line(text: str, old: str, new: str) -> str:
        pattern = re.compile(rf"^{re.escape(old)}[^\n]*$", re.MULTILINE)
        if len(pattern.findall(text)) != 1:
            raise RuntimeError(f"ffnew.m: expected exactly one line starting {old!r}")
        return pattern.sub(new, text)

    text = replace_line(ffnew_text, "histfreq = freq;", "histfreq = 1e9; % no figures headless (harness)")
    if tuple(widths) != (1000, 1000, 1000):
        w1, w2, w3 = (int(w) for w in widths)
        text = replace_line(
            text,
            "layernums = {numvis 1000 1000 1000 numlab};",
            f"layernums = {{numvis {w1} {w2} {w3} numlab}}; % widths set by the harness",
        )
    return text


def octave_version() -> str:
    out = subprocess.run(["octave-cli", "--version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0].strip()


def run_original(
    state: Mapping,
    batches_x: np.ndarray,
    batches_y: np.ndarray,
    uniforms: np.ndarray,
    *,
    maxepoch: int | Sequence[int] = 1,
    widths: Sequence[int] = (1000, 1000, 1000),
    workdir: str | os.PathLike | None = None,
    diagnostics: bool = False,
    timeout: float | None = None,
) -> list[dict]:
    """Run the original ffnew.m under Octave on K batches from ``state``; the state after every batch.

    ``batches_x`` (K, 100, 784) pixels in [0, 1] (the first 10 are overwritten by ffnew.m with the
    label), ``batches_y`` (K, 100) labels 0..9, ``uniforms`` (K, 100) in [0, 1): what the original's
    ``choosefrom`` would draw with ``rand(1,1)``, case by case. ``maxepoch`` (one int, or one per batch):
    each batch runs as the last epoch of a ``maxepoch``-epoch run, gain ``1/maxepoch`` (1 for 1).
    ``widths`` must match the weights. ``workdir``: where the Octave files go (kept); by default a
    temporary folder, removed afterwards. ``diagnostics=True`` adds ``epsgain`` (float),
    ``choice_probs`` (100, 10, what choosefrom was given) and ``octave_version`` to each dict.
    ``timeout``: seconds for the Octave process. Returns K dicts with the keys of ``state`` (lists
    of float32 arrays) plus ``negative_labels`` (int64 (100,), -1 where none was chosen).
    """
    st = normalize_state(state)
    widths = tuple(int(w) for w in widths)
    got = tuple(w.shape[1] for w in st["weights"])
    if got != widths:
        raise ValueError(f"the weights have widths {got}, but widths={widths}")
    x = np.asarray(batches_x, dtype=np.float32)
    y = np.asarray(batches_y)
    u = np.asarray(uniforms, dtype=np.float64)
    k = x.shape[0]
    if x.shape != (k, NUMCASES, NUMVIS) or y.shape != (k, NUMCASES) or u.shape != (k, NUMCASES):
        raise ValueError(f"expected (K, 100, 784), (K, 100), (K, 100); got {x.shape}, {y.shape}, {u.shape}")
    if not np.all((u >= 0) & (u < 1)):
        raise ValueError("uniforms must lie in [0, 1)")
    maxepochs = np.broadcast_to(np.asarray(maxepoch, dtype=np.int64), (k,)).astype(np.float64)
    if np.any(maxepochs < 1):
        raise ValueError("maxepoch must be >= 1")
    if shutil.which("octave-cli") is None:
        raise RuntimeError("GNU Octave (octave-cli) is not installed: apt-get install -y octave")
    original = FFCODE / "original"
    if not (original / "ffnew.m").is_file():
        raise FileNotFoundError(f"{original / 'ffnew.m'} not found; set FFBOOK_FFCODE to the ffcode folder")

    own_tmp = workdir is None
    wd = pathlib.Path(tempfile.mkdtemp(prefix="hinton_octave_") if own_tmp else workdir).resolve()
    wd.mkdir(parents=True, exist_ok=True)
    try:
        (wd / "ffnew_harness.m").write_text(_harness_copy((original / "ffnew.m").read_text(), widths))
        shutil.copy(FFCODE / "softmax.m", wd / "softmax.m")
        (wd / "choosefrom.m").write_text(_CHOOSEFROM)
        (wd / "hoct_read.m").write_text(_READ)
        (wd / "hoct_write.m").write_text(_WRITE)
        for name in wd.glob("out*_*.bin"):
            name.unlink()
        (wd / "done.txt").unlink(missing_ok=True)

        # inputs: C order, little endian; hoct_read transposes back
        x.astype("<f4").tofile(wd / "in_x.bin")  # K*100 rows of 784
        onehot(y).astype("<f4").tofile(wd / "in_targets.bin")  # K*100 rows of 10
        u.T.astype("<f8").tofile(wd / "in_uniforms.bin")  # (100, K) in Octave
        maxepochs.astype("<f8").tofile(wd / "in_maxepoch.bin")
        for key, (cell, indices) in _MATLAB.items():
            for arr, idx in zip(st[key], indices, strict=True):
                arr.astype("<f4").tofile(wd / f"in_{cell}{idx}.bin")
        driver = _DRIVER.format(
            original=str(original).replace("'", "''"),
            K=k,
            numvis=NUMVIS,
            numlab=NUMLAB,
            numcases=NUMCASES,
            w1=widths[0],
            w2=widths[1],
            w3=widths[2],
        )
        (wd / "hoct_driver.m").write_text(driver)
        proc = subprocess.run(
            ["octave-cli", "--no-gui", "--norc", "-q", "--eval", "hoct_driver"],
            cwd=wd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        (wd / "octave_stdout.txt").write_text(proc.stdout)
        (wd / "octave_stderr.txt").write_text(proc.stderr)
        if proc.returncode != 0 or not (wd / "done.txt").is_file():
            raise RuntimeError(
                f"Octave failed (exit {proc.returncode}) in {wd}:\n{proc.stderr[-4000:]}\n{proc.stdout[-4000:]}"
            )

        shapes = {
            "weights": [(NUMVIS, widths[0]), (widths[0], widths[1]), (widths[1], widths[2])],
            "weightsgrad": [(NUMVIS, widths[0]), (widths[0], widths[1]), (widths[1], widths[2])],
            "biases": [(w,) for w in widths],
            "biasesgrad": [(w,) for w in widths],
            "meanstates": [(w,) for w in widths],
            "supweights": [(w, NUMLAB) for w in widths[1:]],
            "supweightsgrad": [(w, NUMLAB) for w in widths[1:]],
        }
        results = []
        for b in range(1, k + 1):
            out: dict = {}
            for key, (cell, indices) in _MATLAB.items():
                out[key] = [
                    _read_f4(wd / f"out{b}_{cell}{idx}.bin", shape)
                    for idx, shape in zip(indices, shapes[key], strict=True)
                ]
            chosen = np.fromfile(wd / f"out{b}_chosen.bin", dtype="<f8").reshape(NUMCASES, NUMLAB)
            if not np.all((chosen == 0) | (chosen == 1)) or np.any(chosen.sum(1) > 1):
                raise RuntimeError("choosefrom returned something other than one-hot rows or zero rows")
            out["negative_labels"] = np.where(chosen.sum(1) > 0, chosen.argmax(1), -1).astype(np.int64)
            gain = float(np.fromfile(wd / f"out{b}_epsgain.bin", dtype="<f8")[0])
            expected = epsgain(int(maxepochs[b - 1]), int(maxepochs[b - 1]))
            if gain != expected:
                raise RuntimeError(f"batch {b}: Octave ran with epsgain {gain}, expected {expected}")
            if diagnostics:
                out["epsgain"] = gain
                out["choice_probs"] = _read_f4(wd / f"out{b}_probs.bin", (NUMCASES, NUMLAB))
            results.append(out)
        if diagnostics:
            for out in results:
                out["octave_version"] = (wd / "octave_version.txt").read_text().strip()
        return results
    finally:
        if own_tmp:
            shutil.rmtree(wd, ignore_errors=True)


def _read_f4(path: pathlib.Path, shape: tuple) -> np.ndarray:
    arr = np.fromfile(path, dtype="<f4")
    if arr.size != int(np.prod(shape)):
        raise RuntimeError(f"{path.name}: {arr.size} numbers, expected {shape}")
    return arr.reshape(shape).astype(np.float32)


def octave_choosefrom(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The harness' choosefrom.m run under Octave on single-precision ``probs`` (n, 10) with numbers
    ``u`` (n,): the labels it picks (-1 for none). For checking ``choose_negative`` against it."""
    probs = np.asarray(probs, dtype=np.float32)
    u = np.asarray(u, dtype=np.float64)
    with tempfile.TemporaryDirectory(prefix="hinton_octave_choose_") as tmp:
        wd = pathlib.Path(tmp)
        (wd / "choosefrom.m").write_text(_CHOOSEFROM)
        (wd / "hoct_read.m").write_text(_READ)
        probs.astype("<f4").tofile(wd / "probs.bin")
        u.astype("<f8").tofile(wd / "u.bin")
        n, m = probs.shape
        script = (
            f"global hoct_u hoct_calls hoct_chosen hoct_probs; hoct_calls = 0;"
            f" p = hoct_read('probs.bin', [{n} {m}], 'single'); hoct_u = hoct_read('u.bin', [{n} 1], 'double');"
            f" c = choosefrom(p); fid = fopen('chosen.bin', 'w'); fwrite(fid, c', 'double'); fclose(fid); exit(0);"
        )
        subprocess.run(["octave-cli", "--no-gui", "--norc", "-q", "--eval", script], cwd=wd, capture_output=True)
        chosen = np.fromfile(wd / "chosen.bin", dtype="<f8").reshape(n, m)
    return np.where(chosen.sum(1) > 0, chosen.argmax(1), -1).astype(np.int64)


# --------------------------------------------------------------------------------------------
# An independent NumPy reading of one batch of ffnew.m (float32 throughout, as the original)


def _normrows(a: np.ndarray) -> np.ndarray:
    """ffnormrows.m: divide each row by (tiny + its root mean square)."""
    return a / (np.float32(TINY_NORM) + np.sqrt(np.mean(a * a, axis=1, dtype=np.float32)))[:, None]


def _logistic(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1) / (np.float32(1) + np.exp(-x))


def choose_negative(probs: np.ndarray, u: np.ndarray) -> np.ndarray:
    """choosefrom.m with given numbers: first label whose float32 running sum exceeds r, else -1.

    Octave compares the double r with the single running sum in single precision, so r is rounded
    to float32 here too.
    """
    probs = np.asarray(probs, dtype=np.float32)
    r32 = np.asarray(u, dtype=np.float64).astype(np.float32)
    out = np.full(probs.shape[0], -1, dtype=np.int64)
    for n in range(probs.shape[0]):
        s = np.float32(0)
        for lab in range(probs.shape[1]):
            s = np.float32(s + probs[n, lab])
            if r32[n] < s:
                out[n] = lab
                break
    return out


def numpy_reference_step(
    state: Mapping, x: np.ndarray, y: np.ndarray, u: np.ndarray, gain: float, *, return_info: bool = False
) -> dict:
    """One batch of ffnew.m in NumPy: the state after it, plus ``negative_labels``.

    ``x`` (100, 784) pixels, ``y`` (100,) labels, ``u`` (100,) the numbers choosefrom draws, ``gain``
    the epsgain of the batch. Order as in ffnew.m: positive pass (meanstates updated there, before
    the peer term uses it); neutral-label pass and the softmax's logits; the softmax update; the
    negative label drawn from the softmax of the PRE-update logits with the true label masked by
    -1000; negative pass; then the smoothed gradients and the updates of the forward weights (weight
    cost outside the smoothing, none on biases). The softmax bias is zero and never updated.
    ``return_info`` adds ``choice_probs`` (what choosefrom was given).
    """
    st = normalize_state(state)
    f32 = np.float32
    x = np.asarray(x, dtype=f32)
    targets = onehot(y)
    n = x.shape[0]
    widths = [w.shape[1] for w in st["weights"]]
    W, b, m = st["weights"], st["biases"], st["meanstates"]
    S = st["supweights"]
    Wg, bg, Sg = st["weightsgrad"], st["biasesgrad"], st["supweightsgrad"]

    # positive pass: the true label in pixels 1..10
    data = x.copy()
    data[:, :NUMLAB] = f32(LABELSTRENGTH) * targets
    h = _normrows(data)
    pos_dw, pos_db = [], []
    for i in range(3):
        totin = h @ W[i] + b[i]
        s = np.maximum(f32(0), totin)
        h_next = _normrows(s)
        p = _logistic((np.sum(s * s, axis=1) - f32(widths[i])) / f32(TEMP))
        dc = (f32(1) - p)[:, None] * s
        m[i] = f32(0.9) * m[i] + f32(0.1) * s.mean(axis=0, dtype=f32)
        dc = dc + f32(LAMBDAMEAN) * (m[i].mean(dtype=f32) - m[i])  # peer term, not gated by the ReLU
        pos_dw.append(h.T @ dc)
        pos_db.append(dc.sum(axis=0))
        h = h_next

    # neutral label (0.1 in each of pixels 1..10): the softmax input
    data[:, :NUMLAB] = f32(LABELSTRENGTH / NUMLAB)
    h = _normrows(data)
    neutral = []
    for i in range(3):
        h = _normrows(np.maximum(f32(0), h @ W[i] + b[i]))
        neutral.append(h)
    labin = np.zeros((n, NUMLAB), dtype=f32)  # the softmax bias biases{5}: zero, never updated
    for j in range(2):  # minlevelsup = 3: hidden layers 2 and 3
        labin = labin + neutral[j + 1] @ S[j]
    labin = labin - labin.max(axis=1, keepdims=True)
    e = np.exp(labin)
    predictions = e / e.sum(axis=1, keepdims=True)
    dc_out = targets - predictions
    for j in range(2):
        dS = neutral[j + 1].T @ dc_out
        Sg[j] = f32(DELAY) * Sg[j] + f32(1 - DELAY) * dS / f32(n)
        S[j] = S[j] + f32(gain * EPSILONSUP) * (Sg[j] - f32(SUPWC) * S[j])

    # negative label: from the pre-update logits, the true label pushed down by 1000
    others = labin - f32(1000) * targets
    others = others - others.max(axis=1, keepdims=True)  # softmax.m
    e = np.exp(others)
    probs = e / e.sum(axis=1, keepdims=True)
    neg = choose_negative(probs, u)
    negdata = data.copy()  # the neutral-label data...
    negdata[:, :NUMLAB] = 0
    chosen = neg >= 0
    negdata[np.flatnonzero(chosen), neg[chosen]] = f32(LABELSTRENGTH)  # ...with the label, or none at all
    h = _normrows(negdata)
    for i in range(3):
        s = np.maximum(f32(0), h @ W[i] + b[i])
        h_next = _normrows(s)
        q = _logistic((np.sum(s * s, axis=1) - f32(widths[i])) / f32(TEMP))
        dc = -q[:, None] * s
        neg_dw = h.T @ dc
        neg_db = dc.sum(axis=0)
        Wg[i] = f32(DELAY) * Wg[i] + f32(1 - DELAY) * (pos_dw[i] + neg_dw) / f32(n)
        bg[i] = f32(DELAY) * bg[i] + f32(1 - DELAY) * (pos_db[i] + neg_db) / f32(n)
        h = h_next
    for i in range(3):
        b[i] = b[i] + f32(gain * EPSILON) * bg[i]
        W[i] = W[i] + f32(gain * EPSILON) * (Wg[i] - f32(WC) * W[i])

    out = {key: st[key] for key in STATE_KEYS}
    out["negative_labels"] = neg
    if return_info:
        out["choice_probs"] = probs
    return out


# --------------------------------------------------------------------------------------------
# Fixture


def initial_state(widths: Sequence[int], rng: np.random.Generator) -> dict:
    """ffnew.m's initial state at these widths: weights N(0, 1/fan_in) from ``rng``, biases 0, means 0.5."""
    dims = [NUMVIS, *widths]
    weights = [(rng.standard_normal((dims[i], dims[i + 1])) / np.sqrt(dims[i])).astype(np.float32) for i in range(3)]
    return {
        "weights": weights,
        "biases": [np.zeros(w, np.float32) for w in widths],
        "meanstates": [np.full(w, 0.5, np.float32) for w in widths],
        "supweights": [np.zeros((w, NUMLAB), np.float32) for w in widths[1:]],
        "weightsgrad": [np.zeros_like(w) for w in weights],
        "biasesgrad": [np.zeros(w, np.float32) for w in widths],
        "supweightsgrad": [np.zeros((w, NUMLAB), np.float32) for w in widths[1:]],
    }


def flatten_state(state: Mapping, prefix: str) -> dict[str, np.ndarray]:
    out = {}
    for key in STATE_KEYS:
        for i, arr in enumerate(state[key]):
            out[f"{prefix}_{key}{i}"] = np.asarray(arr, dtype=np.float32)
    if "negative_labels" in state:
        out[f"{prefix}_negative_labels"] = np.asarray(state["negative_labels"], dtype=np.int64)
    return out


def unflatten_state(z: Mapping, prefix: str) -> dict:
    out = {}
    for key in STATE_KEYS:
        count = len(_MATLAB[key][1])
        out[key] = [np.asarray(z[f"{prefix}_{key}{i}"]) for i in range(count)]
    if f"{prefix}_negative_labels" in z:
        out["negative_labels"] = np.asarray(z[f"{prefix}_negative_labels"])
    return out


def mnist_batches(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels / 255 (float32, (K, 100, 784)) and labels of the given MNIST training indices."""
    from ffbook.data import load_mnist

    (xtr, ytr), _ = load_mnist()
    idx = np.asarray(indices)
    x = (xtr[idx.reshape(-1)].reshape(*idx.shape, NUMVIS) / 255).astype(np.float32)
    return x, ytr[idx].astype(np.int64)


def load_fixture(path: str | os.PathLike = FIXTURE, *, with_pixels: bool = True) -> dict:
    """The fixture as ``init`` (state), ``after`` (list of K states with ``negative_labels``), ``x``
    (K, 100, 784) float32 (reloaded from MNIST when ``with_pixels``), ``labels``, ``uniforms``,
    ``maxepoch``, ``epsgain``, ``widths``, ``choice_probs``, ``octave_version``."""
    with np.load(path) as z:
        k = z["uniforms"].shape[0]
        out = {
            "init": unflatten_state(z, "init"),
            "after": [unflatten_state(z, f"after{b}") for b in range(1, k + 1)],
            "labels": z["labels"],
            "uniforms": z["uniforms"],
            "maxepoch": z["maxepoch"],
            "epsgain": z["epsgain"],
            "widths": tuple(int(w) for w in z["widths"]),
            "image_indices": z["image_indices"],
            "choice_probs": z["choice_probs"],
            "octave_version": str(z["octave_version"]),
        }
    if with_pixels:
        x, labels = mnist_batches(out["image_indices"])
        if not np.array_equal(labels, out["labels"]):
            raise ValueError("MNIST's labels differ from the fixture's")
        out["x"] = x
    return out


def compare_states(a: Mapping, b: Mapping) -> dict[str, tuple[float, float]]:
    """Per array: (max |a - b|, max |a - b| / max |b|) over every array of the state."""
    out = {}
    for key in STATE_KEYS:
        for i, (x, y) in enumerate(zip(a[key], b[key], strict=True)):
            diff = float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
            scale = float(np.max(np.abs(y)))
            out[f"{key}{i}"] = (diff, diff / scale if scale > 0 else (0.0 if diff == 0 else np.inf))
    return out


def choice_margin(probs: np.ndarray, u: np.ndarray) -> float:
    """How close the draw came to picking differently: min over cases and labels of |float32(r) - running sum|."""
    cums = np.cumsum(np.asarray(probs, dtype=np.float64), axis=-1)
    r = np.asarray(u, dtype=np.float64).astype(np.float32).astype(np.float64)
    return float(np.min(np.abs(cums - r[..., None])))


def check_fixture(fx: Mapping, *, verbose: bool = True) -> dict:
    """The NumPy reference vs Octave on every batch of the fixture, two ways: each batch from Octave's
    state before it (``step``), and chained from the initial state (``chain``). Max differences."""
    k = len(fx["after"])
    report = {"step": [], "chain": []}
    prev_octave = fx["init"]
    chained = fx["init"]
    for b in range(k):
        args = (fx["x"][b], fx["labels"][b], fx["uniforms"][b], float(fx["epsgain"][b]))
        for mode, start in (("step", prev_octave), ("chain", chained)):
            ref = numpy_reference_step(start, *args)
            diffs = compare_states(ref, fx["after"][b])
            same_neg = bool(np.array_equal(ref["negative_labels"], fx["after"][b]["negative_labels"]))
            report[mode].append({"diffs": diffs, "negative_labels_equal": same_neg})
            if mode == "chain":
                chained = ref
        prev_octave = fx["after"][b]
    if verbose:
        for mode in ("step", "chain"):
            print(f"-- NumPy reference vs Octave, {mode} ({'from Octave state' if mode == 'step' else 'chained'})")
            for b, rec in enumerate(report[mode], 1):
                worst_abs = max(rec["diffs"].items(), key=lambda kv: kv[1][0])
                worst_rel = max(rec["diffs"].items(), key=lambda kv: kv[1][1])
                print(
                    f"batch {b}: negative labels equal {rec['negative_labels_equal']}; max abs {worst_abs[1][0]:.3e}"
                    f" ({worst_abs[0]}), max abs / max|x| {worst_rel[1][1]:.3e} ({worst_rel[0]})"
                )
                for name, (d, r) in rec["diffs"].items():
                    print(f"    {name:18s} max abs {d:.3e}, / max|x| {r:.3e}")
    return report


def make_fixture(path: pathlib.Path = FIXTURE) -> dict:
    widths = (FIXTURE_WIDTH,) * 3
    rng = np.random.default_rng(FIXTURE_SEED)
    init = initial_state(widths, rng)
    k = len(FIXTURE_MAXEPOCHS)
    uniforms = rng.random((k, NUMCASES))
    indices = np.arange(k * NUMCASES, dtype=np.int64).reshape(k, NUMCASES)
    x, labels = mnist_batches(indices)
    t0 = time.perf_counter()
    after = run_original(init, x, labels, uniforms, maxepoch=list(FIXTURE_MAXEPOCHS), widths=widths, diagnostics=True)
    seconds = time.perf_counter() - t0
    version = after[0]["octave_version"]
    arrays: dict[str, np.ndarray] = {
        "widths": np.array(widths, np.int64),
        "image_indices": indices,
        "labels": labels,
        "uniforms": uniforms,
        "maxepoch": np.array(FIXTURE_MAXEPOCHS, np.int64),
        "epsgain": np.array([a["epsgain"] for a in after]),
        "choice_probs": np.stack([a["choice_probs"] for a in after]).astype(np.float32),
        "octave_version": np.array(f"GNU Octave {version}"),
        "created": np.array(datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")),
        "command": np.array("python bench/hinton_octave.py fixture"),
    }
    arrays.update(flatten_state(init, "init"))
    for b, a in enumerate(after, 1):
        arrays.update(flatten_state(a, f"after{b}"))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB); Octave {version}, {seconds:.1f} s")
    for b, a in enumerate(after, 1):
        none = int(np.sum(a["negative_labels"] < 0))
        same = int(np.sum(a["negative_labels"] == labels[b - 1]))
        print(f"batch {b}: epsgain {a['epsgain']}, no label drawn {none}, label equal to the true one {same}")
    print(f"closest draw to a boundary: {choice_margin(arrays['choice_probs'], uniforms):.2e}")
    return arrays


def selfcheck(batches: int = 3) -> None:
    widths = (1000, 1000, 1000)
    rng = np.random.default_rng(7)
    init = initial_state(widths, rng)
    uniforms = rng.random((batches, NUMCASES))
    indices = np.arange(batches * NUMCASES, dtype=np.int64).reshape(batches, NUMCASES)
    x, labels = mnist_batches(indices)
    t0 = time.perf_counter()
    after = run_original(init, x, labels, uniforms, maxepoch=1, widths=widths, diagnostics=True)
    seconds = time.perf_counter() - t0
    print(f"Octave {after[0]['octave_version']}: {batches} batches at 784-1000-1000-1000 in {seconds:.1f} s")
    prev = init
    for b, a in enumerate(after):
        dw = [float(np.max(np.abs(a["weights"][i] - prev["weights"][i]))) for i in range(3)]
        ds = [float(np.max(np.abs(a["supweights"][j] - prev["supweights"][j]))) for j in range(2)]
        neg = a["negative_labels"]
        print(
            f"batch {b + 1}: epsgain {a['epsgain']}; max |dW| {', '.join(f'{d:.2e}' for d in dw)};"
            f" max |dS| {', '.join(f'{d:.2e}' for d in ds)}; negative == true label: {int(np.sum(neg == labels[b]))},"
            f" none drawn: {int(np.sum(neg < 0))};"
            f" mean meanstates {[round(float(m.mean()), 4) for m in a['meanstates']]}"
        )
        assert all(d > 0 for d in dw + ds), "a weight matrix did not change"
        assert not np.any(neg == labels[b]), "a negative label equals the true one"
        ref = numpy_reference_step(prev, x[b], labels[b], uniforms[b], a["epsgain"])
        diffs = compare_states(ref, a)
        worst = max(diffs.items(), key=lambda kv: kv[1][1])
        print(
            f"    NumPy reference from the same state: negative labels equal "
            f"{bool(np.array_equal(ref['negative_labels'], neg))}, max rel {worst[1][1]:.2e} ({worst[0]}),"
            f" max abs {max(d for d, _ in diffs.values()):.2e}"
        )
        prev = a


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("fixture", help="run Octave and write the fixture, then check it against NumPy")
    p.add_argument("--out", type=pathlib.Path, default=FIXTURE)
    p = sub.add_parser("check", help="NumPy reference vs the fixture (no Octave)")
    p.add_argument("--path", type=pathlib.Path, default=FIXTURE)
    p = sub.add_parser("selfcheck", help="the harness at width 1000 on a few batches (Octave)")
    p.add_argument("--batches", type=int, default=3)
    args = parser.parse_args(argv)
    if args.cmd in ("fixture", "check"):
        path = args.out if args.cmd == "fixture" else args.path
        if args.cmd == "fixture":
            make_fixture(path)
        fx = load_fixture(path)
        gains = [float(g) for g in fx["epsgain"]]
        print(f"fixture made with {fx['octave_version']}, widths {fx['widths']}, gains {gains}")
        report = check_fixture(fx)
        recs = report["step"] + report["chain"]
        worst = max(r for rec in recs for _, r in rec["diffs"].values())
        agree = all(rec["negative_labels_equal"] for rec in recs) and worst <= CHECK_REL
        print(f"{'AGREE' if agree else 'DISAGREE'}: worst max abs / max|x| {worst:.2e} (bound {CHECK_REL:g})")
        return 0 if agree else 1
    selfcheck(args.batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
