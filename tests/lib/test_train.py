"""The training loop: it learns, follows its schedule, clips, stays quiet when asked, and runs under DDP."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import transformer_course
from transformer_course.gpt import GPT, GPTConfig
from transformer_course.train import (History, evaluate, fit, is_distributed, is_main_process, warmup_cosine,
                                      warmup_linear)


def cyclic_batches(vocab=8, T=12, B=16, seed=0):
    """Sequences counting up modulo ``vocab`` from a random start: the next token is always predictable."""
    gen = torch.Generator().manual_seed(seed)

    def batch():
        x = (torch.randint(0, vocab, (B, 1), generator=gen) + torch.arange(T + 1)) % vocab
        return x[:, :-1], x[:, 1:]
    return batch


def tiny_gpt(seed=0):
    torch.manual_seed(seed)
    return GPT(GPTConfig(vocab_size=8, block_size=12, n_layer=1, n_head=2, n_embd=32))


def test_loss_goes_down_on_a_tiny_task():
    model = tiny_gpt()
    history = fit(model, cyclic_batches(B=8), steps=30, lr=1e-2, warmup_steps=5, progress=False, device="cpu")
    assert history.losses[0] > 1.5  # about log(8) = 2.08 at the start
    assert sum(history.losses[-5:]) / 5 < 0.2, history.losses[-5:]
    assert evaluate(model, [cyclic_batches(seed=1)() for _ in range(2)]) < 0.2


def test_warmup_cosine_at_key_steps():
    assert warmup_cosine(0, 10, 110) == pytest.approx(0.1)
    assert warmup_cosine(4, 10, 110) == pytest.approx(0.5)
    assert warmup_cosine(9, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(10, 10, 110) == pytest.approx(1.0)
    assert warmup_cosine(60, 10, 110, min_ratio=0.1) == pytest.approx(0.55)  # half-way down the cosine
    assert warmup_cosine(110, 10, 110, min_ratio=0.1) == pytest.approx(0.1)
    assert warmup_cosine(500, 10, 110, min_ratio=0.0) == pytest.approx(0.0)
    assert warmup_cosine(0, 0, 100) == pytest.approx(1.0)
    values = [warmup_cosine(s, 10, 110) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_warmup_linear_at_key_steps():
    assert warmup_linear(0, 4, 12) == pytest.approx(0.25)
    assert warmup_linear(3, 4, 12) == pytest.approx(1.0)
    assert warmup_linear(4, 4, 12) == pytest.approx(1.0)
    assert warmup_linear(8, 4, 12) == pytest.approx(0.5)  # (12 - 8) / (12 - 4)
    assert warmup_linear(11, 4, 12) == pytest.approx(1 / 8)  # the last step still moves
    assert warmup_linear(12, 4, 12) == pytest.approx(0.0)
    assert warmup_linear(30, 4, 12) == pytest.approx(0.0)
    assert warmup_linear(8, 4, 12, min_ratio=0.2) == pytest.approx(0.6)
    assert warmup_linear(0, 0, 10) == pytest.approx(1.0)
    values = [warmup_linear(s, 4, 40) for s in range(4, 41)]
    assert all(a > b for a, b in zip(values, values[1:]))


def test_linear_schedule_decays_to_zero_by_default():
    history = fit(nn.Linear(3, 1), lambda: (torch.randn(4, 3),), steps=10, lr=0.5, warmup_steps=2,
                  schedule="linear", loss_fn=lambda m, b: m(b[0]).pow(2).mean(), progress=False, device="cpu")
    assert history.lrs == pytest.approx([0.5 * warmup_linear(s, 2, 10) for s in range(10)])
    assert history.lrs[-1] == pytest.approx(0.5 / 8)
    cosine = fit(nn.Linear(3, 1), lambda: (torch.randn(4, 3),), steps=10, lr=0.5, warmup_steps=2,
                 loss_fn=lambda m, b: m(b[0]).pow(2).mean(), progress=False, device="cpu")
    assert cosine.lrs == pytest.approx([0.5 * warmup_cosine(s, 2, 10, 0.1) for s in range(10)])  # default unchanged


def test_keep_best_ends_with_the_weights_of_the_best_evaluation():
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    snapshots = []

    def score(m):  # a made-up validation score that peaks at the second evaluation
        snapshots.append(m.weight.detach().clone())
        return [0.3, 0.9, 0.5, 0.7][len(snapshots) - 1]

    history = fit(model, lambda: (torch.randn(8, 2),), steps=8, lr=0.1, eval_fn=score, eval_every=2,
                  keep_best="max", loss_fn=lambda m, b: (m(b[0]) - 1).pow(2).mean(), progress=False, device="cpu")
    assert [s for s, _ in history.evals] == [1, 3, 5, 7]
    assert history.best_step == 3 and history.best_eval == 0.9
    assert torch.equal(model.weight, snapshots[1]) and not torch.equal(model.weight, snapshots[-1])
    assert model.training
    evals = iter([2.0, 1.0])
    lowest = fit(nn.Linear(2, 1), lambda: (torch.randn(8, 2),), steps=4, eval_fn=lambda m: next(evals),
                 eval_every=2, keep_best="min", loss_fn=lambda m, b: m(b[0]).pow(2).mean(), progress=False,
                 device="cpu")
    assert lowest.best_step == 3 and lowest.best_eval == 1.0
    plain = fit(nn.Linear(2, 1), lambda: (torch.randn(8, 2),), steps=2, loss_fn=lambda m, b: m(b[0]).pow(2).mean(),
                progress=False, device="cpu")
    assert plain.best_step is None and plain.best_eval is None
    with pytest.raises(ValueError, match="keep_best: needs an eval_fn"):
        fit(nn.Linear(2, 1), lambda: (torch.randn(8, 2),), steps=2, keep_best="max", progress=False, device="cpu")
    with pytest.raises(ValueError, match="eval_fn: keep_best='max' needs a number, got dict"):
        fit(nn.Linear(2, 1), lambda: (torch.randn(8, 2),), steps=2, keep_best="max", eval_fn=lambda m: {"a": 1},
            loss_fn=lambda m, b: m(b[0]).pow(2).mean(), progress=False, device="cpu")


def test_evaluation_inside_fit_restores_the_mode_even_when_it_raises():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))

    def broken(m):
        assert not m.training
        raise RuntimeError("metric failed")
    with pytest.raises(RuntimeError, match="metric failed"):
        fit(model, lambda: (torch.randn(4, 2),), steps=1, eval_fn=broken, loss_fn=lambda m, b: m(b[0]).sum(),
            progress=False, device="cpu")
    assert model.training


def test_history_records_every_step_and_the_schedule():
    model = nn.Linear(4, 1)
    data = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(3)]  # an iterable, replayed epoch after epoch
    seen = []

    def loss_fn(m, batch):
        seen.append(batch[0].dtype)
        return nn.functional.mse_loss(m(batch[0]), batch[1])

    history = fit(model, data, steps=20, lr=0.1, loss_fn=loss_fn, warmup_steps=4, min_lr_ratio=0.2, log_every=7,
                  eval_fn=lambda m: 1.5, eval_every=8, progress=False, device="cpu", tokens_per_step=32)
    assert isinstance(history, History)
    assert history.steps == list(range(20))
    assert len(history.losses) == len(history.lrs) == len(history.grad_norms) == 20
    assert history.lrs == pytest.approx([0.1 * warmup_cosine(s, 4, 20, 0.2) for s in range(20)])
    assert [s for s, _ in history.evals] == [7, 15, 19] and history.evals[0][1] == 1.5
    assert history.wall_time > 0 and history.tokens_per_sec == pytest.approx(32 * 20 / history.wall_time)
    assert set(seen) == {torch.float32}  # no autocast off CUDA
    assert model.training

    constant = fit(nn.Linear(4, 1), data, steps=6, lr=0.1, loss_fn=loss_fn, schedule="constant", warmup_steps=2,
                   progress=False, device="cpu")
    assert constant.lrs == pytest.approx([0.05, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert constant.tokens_per_sec is None


def test_grad_clipping_bounds_the_update():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    batch = (torch.randn(16, 5) * 100, torch.randn(16, 3))
    loss_fn = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])  # noqa: E731
    sgd = torch.optim.SGD(model.parameters(), lr=1.0)  # the step is exactly the (clipped) gradient
    history = fit(model, lambda: batch, steps=1, loss_fn=loss_fn, optimizer=sgd, grad_clip=0.5, schedule="constant",
                  progress=False, device="cpu")
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert history.grad_norms[0] > 10  # recorded before clipping
    assert (after - before).norm().item() == pytest.approx(0.5, rel=1e-4)


def test_progress_bar_only_when_asked(capfd):
    fit(nn.Linear(2, 1), lambda: (torch.randn(4, 2),), steps=3, loss_fn=lambda m, b: m(b[0]).pow(2).mean(),
        progress=False, device="cpu")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    fit(nn.Linear(2, 1), lambda: (torch.randn(4, 2),), steps=3, loss_fn=lambda m, b: m(b[0]).pow(2).mean(),
        progress=True, desc="warming up", device="cpu")
    out, err = capfd.readouterr()
    assert "warming up" in err and "loss=" in err


def test_evaluate_restores_the_mode_and_takes_no_gradients():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5)).train()

    def metric(m, batch):
        assert not m.training and not torch.is_grad_enabled()
        return m(batch[0]).sum()
    batches = [(torch.ones(2, 3),), (torch.zeros(2, 3),)]
    want = (model[0](torch.ones(2, 3)).sum() + model[0](torch.zeros(2, 3)).sum()).item() / 2
    assert evaluate(model, batches, metric) == pytest.approx(want, rel=1e-5)
    assert model.training
    with pytest.raises(ValueError, match="batches"):
        evaluate(model, [], metric)


def test_history_plot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    history = History(steps=list(range(10)), losses=[1.0 / (s + 1) for s in range(10)], lrs=[0.1] * 10,
                      grad_norms=[1.0] * 10, evals=[(4, 0.3), (9, 0.2)])
    ax = history.plot(smooth=3)
    assert len(ax.lines) == 3
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize("kwargs,name", [({"steps": 0}, "steps"), ({"schedule": "exponential"}, "schedule"),
                                         ({"eval_every": 0}, "eval_every"), ({"keep_best": "last"}, "keep_best")])
def test_bad_arguments_raise(kwargs, name):
    kwargs = {"steps": 2, **kwargs}
    with pytest.raises(ValueError, match=name):
        fit(nn.Linear(2, 1), lambda: (torch.randn(1, 2),), progress=False, device="cpu", **kwargs)


def test_a_model_without_a_scalar_loss_needs_a_loss_fn():
    with pytest.raises(ValueError, match="loss_fn"):
        fit(nn.Linear(2, 3), lambda: torch.randn(4, 2), steps=1, progress=False, device="cpu")


def test_single_process_is_the_main_one():
    assert not is_distributed() and is_main_process()


def test_ddp_two_cpu_processes_end_with_identical_weights(tmp_path):
    script = Path(__file__).with_name("ddp_train_script.py")
    lib = str(Path(transformer_course.__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [lib, os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "TC_DEVICE": "cpu"}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                             str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    initial, rank0, rank1 = (torch.load(tmp_path / f"{n}.pt") for n in ("initial", "rank0", "rank1"))
    assert rank0.keys() == rank1.keys() == initial.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name
    assert any(not torch.equal(rank0[n], initial[n]) for n in rank0)
    assert "training" in (tmp_path / "rank0.stderr").read_text()
    assert (tmp_path / "rank1.stderr").read_text() == ""
