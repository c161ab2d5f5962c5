"""One training loop for every notebook and benchmark.

``fit`` runs a fixed number of optimizer steps with a tqdm progress bar,
gradient clipping, a warmup + cosine (or linear) learning-rate schedule,
evaluation every few steps (optionally keeping the best weights), mixed precision on
CUDA (bf16 where supported, else fp16 with a gradient scaler) and
DistributedDataParallel when the script was started by ``torchrun``:

    torchrun --nproc_per_node=2 train_script.py   # each process calls fit(...)

Under DDP every process trains the same model on its own batches; after each
backward pass the gradients are averaged across processes, so the weights stay
identical everywhere. Only rank 0 draws the progress bar.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm.auto import tqdm

from .device import get_device

# ----------------------------------------------------------------------------- distributed


def is_distributed() -> bool:
    """True when started by ``torchrun`` (it sets RANK, WORLD_SIZE and LOCAL_RANK) or already initialised."""
    return (dist.is_available() and dist.is_initialized()) or all(
        v in os.environ for v in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else int(os.environ.get("RANK", 0))


def get_world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1))


def is_main_process() -> bool:
    """Rank 0, or the only process: the one that prints, plots and saves."""
    return get_rank() == 0


def init_distributed() -> torch.device:
    """Join the process group ``torchrun`` set up (once); return this process's device.

    NCCL between GPUs (one per process, ``cuda:LOCAL_RANK``), gloo on CPUs.
    Without torchrun this does nothing and returns ``get_device()``.
    """
    if not is_distributed():
        return get_device()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = torch.cuda.is_available() and os.environ.get("TC_DEVICE", "cuda").startswith("cuda")
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return device


def cleanup_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- schedule and optimizer


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.1) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warmup, then cosine decay.

    Rises as ``(step + 1) / warmup_steps`` to 1 at step ``warmup_steps - 1``, then
    falls along half a cosine from 1 at ``warmup_steps`` to ``min_ratio`` at
    ``total_steps`` (and stays there). Warmup lets Adam's moment estimates settle
    before large steps; the decay lets the model settle into a minimum.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_linear(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """Learning-rate multiplier at ``step`` (0-based): linear warmup, then linear decay.

    The warmup is ``warmup_cosine``'s, ``(step + 1) / warmup_steps``; from 1 at step
    ``warmup_steps`` the multiplier then falls in a straight line, reaching ``min_ratio``
    at ``total_steps``: with ``min_ratio = 0`` it is ``(total_steps - step) / (total_steps -
    warmup_steps)``, the schedule BERT was fine-tuned with.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * (1.0 - progress)


def adamw(model: nn.Module, lr: float, weight_decay: float = 0.0, betas=(0.9, 0.999)) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (Linear weights, embeddings), not on biases or norms."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    fused = all(p.is_cuda for p in params) and bool(params)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas, fused=fused or None)


# ----------------------------------------------------------------------------- history


@dataclass
class History:
    """What ``fit`` saw: one entry per step in ``steps``/``losses``/``lrs``/``grad_norms``.

    ``grad_norms`` are the total gradient norms *before* clipping; ``evals`` holds
    ``(step, result)`` pairs from ``eval_fn``. ``losses`` are this process's own.
    With ``fit(..., keep_best=...)``, ``best_step`` and ``best_eval`` say which
    evaluation's weights the model ended with.
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    evals: list[tuple[int, Any]] = field(default_factory=list)
    wall_time: float = 0.0
    tokens_per_sec: float | None = None
    best_step: int | None = None
    best_eval: float | None = None

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    def plot(self, ax=None, smooth: int = 0, logy: bool = False):
        """Loss per step (and a running mean over ``smooth`` steps), with numeric eval results as dots."""
        import matplotlib.pyplot as plt  # late: the loop itself needs no display

        if ax is None:
            _, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(self.steps, self.losses, alpha=0.4 if smooth > 1 else 1.0, label="train loss")
        if smooth > 1 and len(self.losses) >= smooth:
            kernel = torch.ones(smooth) / smooth
            mean = torch.conv1d(torch.tensor(self.losses)[None, None], kernel[None, None])[0, 0]
            ax.plot(self.steps[smooth - 1:], mean.tolist(), label=f"mean of {smooth}")
        numeric = [(s, r) for s, r in self.evals if isinstance(r, (int, float))]
        if numeric:
            ax.plot(*zip(*numeric), "o-", label="eval")
        if self.best_step is not None:
            ax.axvline(self.best_step, color="gray", ls=":", label="kept (best eval)")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        if logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


# ----------------------------------------------------------------------------- the loop


def _to_device(batch, device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(t, device) for t in batch)
    return batch


def default_loss(model: nn.Module, batch) -> torch.Tensor:
    """``model(*batch)`` (or ``model(**batch)``) that returns a loss or ``(logits, loss)``."""
    if isinstance(batch, dict):
        out = model(**batch)
    else:
        out = model(*batch) if isinstance(batch, (tuple, list)) else model(batch)
    loss = out[1] if isinstance(out, (tuple, list)) else out
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError("loss_fn: the model must return a scalar loss or (logits, loss), or pass "
                         f"loss_fn(model, batch); got {got}")
    return loss


def _batch_stream(train_batches):
    """A callable is asked for a batch each step; an iterable (a DataLoader) is replayed epoch after epoch."""
    if callable(train_batches) and not isinstance(train_batches, Iterable):
        while True:
            yield train_batches()
    epoch = 0
    while True:
        sampler = getattr(train_batches, "sampler", None)
        if hasattr(sampler, "set_epoch"):  # DistributedSampler: a new shuffle each epoch
            sampler.set_epoch(epoch)
        empty = True
        for batch in train_batches:
            empty = False
            yield batch
        if empty:
            raise ValueError("train_batches: expected batches, got an empty iterable")
        epoch += 1


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable, metric_fn: Callable | None = None, device=None) -> float:
    """Mean of ``metric_fn(model, batch)`` (default: the model's loss) over ``batches``, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    metric_fn = metric_fn or default_loss
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        values = [float(metric_fn(model, _to_device(batch, device))) for batch in batches]
    finally:
        model.train(was_training)
    if not values:
        raise ValueError("batches: expected at least one batch, got none")
    return sum(values) / len(values)


def fit(model: nn.Module, train_batches, *, steps: int, lr: float = 3e-4, loss_fn: Callable | None = None,
        eval_fn: Callable | None = None, eval_every: int | None = None, grad_clip: float | None = 1.0,
        warmup_steps: int = 0, schedule: str = "cosine", min_lr_ratio: float | None = None,
        weight_decay: float = 0.0, betas=(0.9, 0.999), amp: bool = True, device=None, progress: bool = True,
        desc: str = "training", log_every: int = 10, optimizer: torch.optim.Optimizer | None = None,
        tokens_per_step: int | None = None, keep_best: str | None = None) -> History:
    """Train ``model`` for ``steps`` optimizer steps; returns a ``History``.

    - ``train_batches``: a callable returning a batch, or an iterable of batches
      (replayed when exhausted). A batch is a tensor, a tuple/list or a dict of
      tensors; it is moved to the device.
    - ``loss_fn(model, batch) -> scalar loss``; default ``model(*batch)`` giving a
      loss or ``(logits, loss)``.
    - ``eval_fn(model) -> float | dict`` runs every ``eval_every`` steps and after
      the last, under ``no_grad`` in eval mode (the training mode is restored after,
      even when ``eval_fn`` raises).
    - ``keep_best``: ``"max"`` or ``"min"`` (``eval_fn`` returning a number): the model
      ends with the weights of its best evaluation, not its last, which is how a
      validation set chooses the number of steps; ``History.best_step`` says which.
      Under DDP, ``eval_fn`` must return the same number in every process.
    - ``grad_clip``: clip the total gradient norm to this (None or 0: never).
    - ``schedule``: ``"cosine"`` (``warmup_cosine`` down to ``min_lr_ratio * lr``,
      default 0.1), ``"linear"`` (``warmup_linear`` down to ``min_lr_ratio * lr``,
      default 0) or ``"constant"`` (after the same warmup).
    - ``amp``: autocast on CUDA (bf16 if supported, else fp16 + GradScaler); fp32 elsewhere.
    - ``tokens_per_step``: tokens in one process's batch, to report tokens/sec.
    """
    if not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps: expected a positive int, got {steps!r}")
    if schedule not in ("cosine", "linear", "constant"):
        raise ValueError(f"schedule: expected 'cosine', 'linear' or 'constant', got {schedule!r}")
    if eval_every is not None and (not isinstance(eval_every, int) or eval_every < 1):
        raise ValueError(f"eval_every: expected None or a positive int, got {eval_every!r}")
    if keep_best not in (None, "max", "min"):
        raise ValueError(f"keep_best: expected None, 'max' or 'min', got {keep_best!r}")
    if keep_best is not None and eval_fn is None:
        raise ValueError("keep_best: needs an eval_fn to say which weights are best, got eval_fn=None")
    if min_lr_ratio is None:
        min_lr_ratio = 0.0 if schedule == "linear" else 0.1

    distributed = is_distributed()
    if distributed:
        device = init_distributed()
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    core = model
    if distributed:
        model = nn.parallel.DistributedDataParallel(core, device_ids=[device.index] if device.type == "cuda" else None)
    loss_fn = loss_fn or default_loss
    optimizer = optimizer or adamw(core, lr=lr, weight_decay=weight_decay, betas=betas)
    if schedule == "cosine":
        multiplier = lambda s: warmup_cosine(s, warmup_steps, steps, min_lr_ratio)  # noqa: E731
    elif schedule == "linear":
        multiplier = lambda s: warmup_linear(s, warmup_steps, steps, min_lr_ratio)  # noqa: E731
    else:
        multiplier = lambda s: min(1.0, (s + 1) / warmup_steps) if warmup_steps else 1.0  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)

    use_amp = amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    params = [p for p in core.parameters() if p.requires_grad]

    history = History()
    pending: list[tuple[int, float, torch.Tensor, torch.Tensor]] = []  # read back in bulk: .item() waits for the GPU

    def flush():
        if pending:
            values = torch.stack([torch.stack([l.float(), g.float()]) for _, _, l, g in pending]).tolist()
            for (step, step_lr, _, _), (loss, norm) in zip(pending, values):
                history.steps.append(step)
                history.lrs.append(step_lr)
                history.losses.append(loss)
                history.grad_norms.append(norm)
            pending.clear()

    best_state: dict[str, torch.Tensor] | None = None

    def run_eval(step):
        nonlocal best_state
        was_training = core.training
        core.eval()
        try:
            with torch.no_grad():
                result = eval_fn(core)
        finally:
            core.train(was_training)
        history.evals.append((step, result))
        if keep_best is not None:
            if not isinstance(result, (int, float)) or isinstance(result, bool):
                raise ValueError(f"eval_fn: keep_best={keep_best!r} needs a number, got {type(result).__name__}")
            better = history.best_eval is None or (
                result > history.best_eval if keep_best == "max" else result < history.best_eval)
            if better:  # a copy on the model's device: one state dict, written only when the eval improves
                history.best_step, history.best_eval = step, float(result)
                best_state = {k: v.detach().clone() for k, v in core.state_dict().items()}
        return result

    bar = tqdm(total=steps, desc=desc, disable=not progress or not is_main_process(), dynamic_ncols=True)
    batches = _batch_stream(train_batches)
    postfix: dict[str, str] = {}
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        batch = _to_device(next(batches), device)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
            loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        norm = torch.nn.utils.clip_grad_norm_(params, grad_clip if grad_clip else float("inf"))
        step_lr = optimizer.param_groups[0]["lr"]
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        pending.append((step, step_lr, loss.detach(), norm.detach()))

        last = step == steps - 1
        if (step + 1) % log_every == 0 or last:
            flush()
            postfix.update(loss=f"{history.losses[-1]:.4f}", lr=f"{step_lr:.2e}")
        if eval_fn is not None and ((eval_every and (step + 1) % eval_every == 0) or last):
            result = run_eval(step)
            if isinstance(result, (int, float)):
                postfix["eval"] = f"{result:.4f}"
        bar.set_postfix(postfix, refresh=False)
        bar.update()
    if best_state is not None:
        core.load_state_dict(best_state)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    history.wall_time = time.perf_counter() - start
    bar.close()
    if tokens_per_step:
        history.tokens_per_sec = tokens_per_step * steps * get_world_size() / history.wall_time
    return history
