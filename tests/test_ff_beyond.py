"""Beyond Hinton's recipe: random pixel shifts of the training images and dropout between layers."""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
import torch
from ff_toy import toy_data

from ffbook.ff import FFConfig, FFNetSpec, History, build_net, fit
from ffbook.ff.core import overlay_labels, shift_images

train_module = importlib.import_module("ffbook.ff.train")

# Hinton's recipe on 7x7 toy images (square, so they can move).
SPEC = FFNetSpec(
    dims=(49, 32, 32, 32),
    threshold=1.0,
    sharpness=32.0,
    norm="rms",
    on_value=1.0,
    first_scored_layer=1,
    readout="zero",
    init="normal",
)
CONFIG = FFConfig(
    epochs=3,
    batch_size=20,
    seed=5,
    batch_order="fixed",
    optimizer="sgd",
    lr=0.01,
    readout_lr=0.1,
    weight_cost=0.001,
    readout_weight_cost=0.003,
    lr_schedule="hinton",
    negatives="hard_readout",
    redraw="batch",
    peer=0.03,
)


def test_shift_images_moves_pixels_as_drawn_by_hand():
    image = torch.arange(1.0, 10.0)[None]  # 1 2 3 / 4 5 6 / 7 8 9
    cases = {
        (1, 0): [0, 0, 0, 1, 2, 3, 4, 5, 6],  # one row down
        (0, -1): [2, 3, 0, 5, 6, 0, 8, 9, 0],  # one column left
        (-1, 1): [0, 4, 5, 0, 7, 8, 0, 0, 0],  # up and right
        (0, 0): list(range(1, 10)),
        (2, 2): [0, 0, 0, 0, 0, 0, 0, 0, 1],
    }
    for (rows, cols), expected in cases.items():
        moved = shift_images(image, torch.tensor([[rows, cols]]))
        assert moved.tolist() == [[float(v) for v in expected]], (rows, cols)


def test_shift_images_matches_a_numpy_loop_for_a_batch():
    rng = np.random.default_rng(0)
    images = rng.random((12, 5, 5))
    offsets = rng.integers(-2, 3, size=(12, 2))
    expected = np.zeros_like(images)
    for n, (dr, dc) in enumerate(offsets):
        for i in range(5):
            for j in range(5):
                if 0 <= i - dr < 5 and 0 <= j - dc < 5:
                    expected[n, i, j] = images[n, i - dr, j - dc]
    moved = shift_images(torch.tensor(images), torch.tensor(offsets))
    np.testing.assert_array_equal(moved.numpy(), expected.reshape(12, 25))


@pytest.mark.parametrize(
    ("images", "offsets", "error", "match"),
    [
        (torch.rand(2, 10), torch.zeros(2, 2, dtype=torch.long), ValueError, "square"),
        (torch.rand(2, 9), torch.zeros(2, 2), TypeError, "integers"),
        (torch.rand(2, 9), torch.zeros(3, 2, dtype=torch.long), ValueError, r"shape \(2, 2\)"),
        (torch.rand(2, 9), torch.full((2, 2), 3), ValueError, r"\(-3, 3\)"),
        (torch.rand(2, 9), [[0, 0], [0, 0]], TypeError, "offsets"),
    ],
)
def test_shift_images_refuses_what_it_cannot_move(images, offsets, error, match):
    with pytest.raises(error, match=match):
        shift_images(images, offsets)


def _record_step_images(monkeypatch):
    seen = []
    real = train_module.train_step

    def recording(*args, **kwargs):  # (net, optimizer, config, images, labels, draws, ...)
        seen.append(args[3].clone())
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_step", recording)
    return seen


def test_fit_trains_every_epoch_on_new_shifted_copies_of_every_image(monkeypatch):
    """Each image a step sees is one training image moved by at most one pixel; every image once per
    epoch; the moves are drawn anew each epoch and cover all nine; the caller's data is untouched."""
    x, y = toy_data(n=60, d=49)
    original = x.clone()
    seen = _record_step_images(monkeypatch)
    fit(build_net(SPEC, seed=1), CONFIG.replace(shift=1), x, y, progress=False, step="eager")
    assert torch.equal(x, original)
    moves = [(r, c) for r in (-1, 0, 1) for c in (-1, 0, 1)]
    candidates = torch.stack([shift_images(x, torch.tensor([move] * 60)) for move in moves])  # (9, 60, 49)
    per_epoch = []
    for epoch in range(3):
        images = torch.cat(seen[3 * epoch : 3 * epoch + 3])
        match = (images[None, None] == candidates[:, :, None]).all(dim=-1)  # (9 moves, 60 samples, 60 seen)
        assert torch.equal(match.sum(dim=(0, 1)), torch.ones(60, dtype=torch.long))  # each seen image: one source
        move_of_sample = match.any(dim=2).float().argmax(dim=0)
        assert torch.equal(match.any(dim=(0, 2)), torch.ones(60, dtype=torch.bool))  # every sample seen
        per_epoch.append(move_of_sample)
    assert all(len(set(moves.tolist())) == 9 for moves in per_epoch)
    assert not torch.equal(per_epoch[0], per_epoch[1]) and not torch.equal(per_epoch[1], per_epoch[2])


def test_dropout_thins_what_a_layer_passes_on_but_not_its_own_goodness():
    torch.manual_seed(0)
    net = build_net(SPEC, seed=2)
    x, y = toy_data(n=64, d=49)
    x_pos, x_neg = overlay_labels(x, y, 10, 1.0), overlay_labels(x, (y + 1) % 10, 10, 1.0)
    inputs, second_layer_terms = [], net.layers[1].ff_terms

    def recording(h, *args):  # what the second layer receives, recorded on its way in
        inputs.append(h.detach().clone())
        return second_layer_terms(h, *args)

    net.layers[1].ff_terms = recording
    plain = net.ff_terms(x_pos, x_neg, same_images=True)[1].loss
    thinned = net.ff_terms(x_pos, x_neg, same_images=True, dropout=0.25)[1].loss
    first_activity = net.layers[0](torch.cat([x_pos, x_neg])).detach()
    torch.testing.assert_close(inputs[0], first_activity)  # no dropout: layer 2 sees layer 1's activities
    assert thinned[0] == plain[0] and thinned[1] != plain[1]  # layer 1's own loss sees them all
    dropped, active = inputs[1] == 0, first_activity > 0
    torch.testing.assert_close(inputs[1][~dropped], first_activity[~dropped] / 0.75)  # the rest scaled up
    fraction = (dropped & active).sum() / active.sum()  # about 2,000 active units: 0.25 +- 0.03 at 3 sigma
    assert 0.22 < float(fraction) < 0.28
    with pytest.raises(ValueError, match="dropout"):
        net.ff_terms(x_pos, x_neg, dropout=1.0)


def test_dropout_and_shifts_are_seeded_resumable_and_leave_torchs_generator_alone():
    x, y = toy_data(n=60, d=49)
    config = CONFIG.replace(shift=1, dropout=0.2)

    def run(net_seed, config, **kwargs):
        net = build_net(SPEC, seed=net_seed)
        history = fit(net, config, x, y, progress=False, step="eager", **kwargs)
        return net, history

    torch.manual_seed(123)
    before = torch.get_rng_state()
    whole_net, whole = run(4, config)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's draws are not consumed
    torch.manual_seed(999)  # the draws come from the config's seed, not from the caller's generator
    again = run(4, config)[1]
    assert again.layer_loss == whole.layer_loss
    assert not run(4, config.replace(seed=6))[1].layer_loss == whole.layer_loss
    assert not run(4, config.replace(dropout=0.0))[1].layer_loss == whole.layer_loss
    assert not run(4, config.replace(shift=0))[1].layer_loss == whole.layer_loss

    saved = {}

    def stop_after_two(epoch, net, history, optimizer):
        if epoch == 1:
            saved.update(net=copy.deepcopy(net.state_dict()), opt=copy.deepcopy(optimizer.state_dict()))
            saved["history"] = copy.deepcopy(history.to_dict())
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(4, config, callback=stop_after_two)
    resumed_net = build_net(SPEC, seed=99)
    resumed_net.load_state_dict(saved["net"])
    resumed = fit(
        resumed_net,
        config,
        x,
        y,
        progress=False,
        step="eager",
        history=History.from_dict(saved["history"]),
        optimizer_state=saved["opt"],
    )
    assert resumed.layer_loss == whole.layer_loss
    for a, b in zip(whole_net.state_dict().values(), resumed_net.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_shift_and_dropout_are_checked():
    with pytest.raises(ValueError, match="shift"):
        FFConfig(shift=-1)
    with pytest.raises(TypeError, match="shift"):
        FFConfig(shift=0.5)
    with pytest.raises(ValueError, match="dropout"):
        FFConfig(dropout=1.0)
    x, y = toy_data(n=20, d=40)
    spec_40 = FFNetSpec(dims=(40, 16), threshold=2.0, norm="rms", on_value=4.0)
    with pytest.raises(ValueError, match="config.shift.*square"):
        fit(build_net(spec_40), FFConfig(epochs=1, shift=1), x, y, progress=False)
    x, y = toy_data(n=20, d=49)
    spec_49 = FFNetSpec(dims=(49, 16), threshold=2.0, norm="rms", on_value=4.0)
    with pytest.raises(ValueError, match=r"config.shift \(7\)"):
        fit(build_net(spec_49), FFConfig(epochs=1, shift=7), x, y, progress=False)
