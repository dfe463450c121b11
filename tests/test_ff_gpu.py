"""The CUDA paths of ffbook.ff: the same numbers as on the CPU and as the eager step (skipped without a GPU).

``make gpu`` runs this file first on the lent GPU machine; ``test_ff_train.py`` holds the CPU
check of the other fast path (``torch.compile``) against the eager step.
"""

from __future__ import annotations

import contextlib
import copy
import io

import pytest
import torch
from ff_toy import toy_data as _toy_data

from ffbook.ff import FFConfig, FFNetSpec, History, build_net, fit, get_preset, lr_factor

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

SPEC = FFNetSpec(dims=(40, 64, 64, 64), threshold=2.0, norm="rms", on_value=4.0, first_scored_layer=1, readout="torch")
# Hinton's recipe at a small width: SmoothedSGD, peer normalisation, negatives drawn inside the step.
HINTON = get_preset("hinton-matlab")
HINTON_SPEC = FFNetSpec(**{**HINTON.net.to_dict(), "dims": (40, 64, 64, 64), "sharpness": 64.0})


@contextlib.contextmanager
def full_fp32_matmuls():
    """CUDA matmuls in full float32 (no TF32) for one test; the global flags are put back afterwards."""
    previous = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = previous



def test_cuda_and_cpu_predict_the_same():
    x, _ = _toy_data()
    net = build_net(SPEC, seed=3)
    with full_fp32_matmuls():
        cpu_scores = net.goodness_per_label(x)
        gpu_net = copy.deepcopy(net).to("cuda")
        gpu_scores = gpu_net.goodness_per_label(x.to("cuda")).cpu()
        gpu_logits = gpu_net.readout_logits(x.to("cuda")).cpu()
    torch.testing.assert_close(gpu_scores, cpu_scores, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gpu_logits, net.readout_logits(x), rtol=1e-4, atol=1e-5)
    top2 = cpu_scores.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 1e-3  # ties may break either way
    assert clear.float().mean() > 0.5
    assert torch.equal(gpu_net.predict(x.to("cuda")).cpu()[clear], net.predict(x)[clear])


CONFIGS = {
    "random": FFConfig(epochs=3, batch_size=32, lr=3e-3, lr_schedule="half_linear", negatives="random", seed=4),
    "hard": FFConfig(epochs=3, batch_size=32, lr=3e-3, lr_schedule="half_linear", negatives="hard", seed=4),
    "hard_readout": FFConfig(
        epochs=3, batch_size=32, lr=3e-3, lr_schedule="half_linear", negatives="hard_readout", seed=4
    ),
    "hinton": HINTON.train.replace(epochs=3, batch_size=32, validation=0, seed=4),
    # hinton-jitter's additions: shifted copies refilled every epoch in one buffer, dropout inside the graph
    "jitter": HINTON.train.replace(epochs=3, batch_size=32, validation=0, seed=4, shift=1, dropout=0.1),
}
# shift moves square images: the jitter recipe trains on the toy data's first 36 features as 6 x 6 images
JITTER_SPEC = FFNetSpec(**{**HINTON_SPEC.to_dict(), "dims": (36, 64, 64, 64)})


@pytest.mark.parametrize("recipe", sorted(CONFIGS))
def test_graph_and_eager_training_agree(recipe):
    """Same seed, same data: the CUDA-graph step and the eager step give the same weights and statistics.

    200 images in batches of 32: 6 full batches (3 eager warm-up steps, a capture, replays) and a
    partial one per epoch, over 3 epochs with the learning-rate cool-down.
    """
    x, y = _toy_data()
    config, spec = CONFIGS[recipe], {"hinton": HINTON_SPEC, "jitter": JITTER_SPEC}.get(recipe, SPEC)
    if recipe == "jitter":
        x = x[:, :36].contiguous()
    runs = {}
    with full_fp32_matmuls():
        for step in ("eager", "graph"):
            net = build_net(spec, seed=1, device="cuda")
            history = fit(net, config, x, y, x, y, step=step, tf32=False, progress=False)
            runs[step] = (net, history)
    (eager_net, eager), (graph_net, graph) = runs["eager"], runs["graph"]
    assert graph.step == "graph" and eager.step == "eager"
    for a, b in zip(eager_net.parameters(), graph_net.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(torch.tensor(graph.layer_loss), torch.tensor(eager.layer_loss), rtol=1e-4, atol=1e-5)
    # The step really trained: the weights moved from their initial values.
    initial = build_net(spec, seed=1)
    assert not torch.allclose(graph_net.layers[0].linear.weight.cpu(), initial.layers[0].linear.weight)


def test_cuda_training_matches_cpu_training():
    """The eager step on CUDA follows the CPU run (same seed, same draws) within float32 tolerance."""
    x, y = _toy_data()
    config = FFConfig(epochs=2, batch_size=40, lr=1e-3, negatives="random", seed=2)
    cpu_net = build_net(SPEC, seed=1)
    cpu = fit(cpu_net, config, x, y, step="eager", progress=False)
    with full_fp32_matmuls():
        gpu_net = build_net(SPEC, seed=1, device="cuda")
        gpu = fit(gpu_net, config, x, y, step="graph", tf32=False, progress=False)
    # CPU Adam and CUDA's fused Adam round differently; ten steps of lr 1e-3 keep that far below 1e-3.
    for a, b in zip(cpu_net.parameters(), gpu_net.parameters(), strict=True):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(torch.tensor(gpu.layer_loss), torch.tensor(cpu.layer_loss), rtol=1e-3, atol=1e-3)


def test_fit_restores_the_tf32_flag():
    x, y = _toy_data(n=40)
    previous = torch.backends.cuda.matmul.allow_tf32
    seen = []
    net = build_net(SPEC, seed=1, device="cuda")
    fit(
        net,
        FFConfig(epochs=1, batch_size=20),
        x,
        y,
        tf32=not previous,
        progress=False,
        callback=lambda *_: seen.append(torch.backends.cuda.matmul.allow_tf32),
    )
    assert seen == [not previous]
    assert torch.backends.cuda.matmul.allow_tf32 == previous


def test_a_resumed_graph_run_moves_its_learning_rates_on_the_device_and_gives_the_uninterrupted_numbers():
    """Checkpoint after epoch 2 of 4 (Hinton's schedule decays in epochs 3-4), save and load it the way
    the command line does (weights_only, on the run's device), resume in graph mode: the learning-rate
    tensors live on the GPU, follow the schedule, and the run ends where the uninterrupted one does."""
    x, y = _toy_data()
    config = HINTON.train.replace(epochs=4, batch_size=32, validation=0, seed=6)
    saved = {}

    def checkpoint(epoch, net, history, optimizer):
        if epoch == 1:
            buffer = io.BytesIO()
            state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "history": history.to_dict()}
            torch.save(state, buffer)
            saved["bytes"] = buffer.getvalue()

    with full_fp32_matmuls():
        whole_net = build_net(HINTON_SPEC, seed=1, device="cuda")
        whole = fit(whole_net, config, x, y, x, y, step="graph", tf32=False, progress=False, callback=checkpoint)
        state = torch.load(io.BytesIO(saved["bytes"]), map_location="cuda", weights_only=True)
        net = build_net(HINTON_SPEC, seed=1, device="cuda")
        net.load_state_dict(state["net"])
        rates = []

        def record_rates(epoch, net, history, optimizer):
            rates.append([(group["lr"].device.type, float(group["lr"])) for group in optimizer.param_groups])

        resumed = fit(
            net, config, x, y, x, y, step="graph", tf32=False, progress=False, callback=record_rates,
            history=History.from_dict(state["history"]), optimizer_state=state["optimizer"],
        )
    assert resumed.step == "graph"
    for epoch, groups in zip((2, 3), rates, strict=True):
        factor = lr_factor(config, epoch)
        assert factor < 1
        assert [device for device, _ in groups] == ["cuda"] * len(groups)
        assert [rate for _, rate in groups] == pytest.approx([0.01 * factor, 0.01 * factor, 0.1 * factor])
    for a, b in zip(whole_net.parameters(), net.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    assert resumed.test_error == pytest.approx(whole.test_error, abs=0.011)
