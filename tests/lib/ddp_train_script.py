"""Run by test_train.py under ``torchrun --nproc_per_node=2`` (not collected: no ``test_`` prefix).

Each rank builds a tiny GPT from its *own* seed and trains on its *own* batches;
DDP must broadcast rank 0's weights at the start and average gradients every
step, so both ranks end with the same weights. Saves into the folder argv[1]:
``rank{R}.pt`` (final weights), ``rank{R}.stderr`` (what fit printed) and, from
rank 0, ``initial.pt``.
"""
import contextlib
import io
import sys
from pathlib import Path

import torch

from transformer_course.gpt import GPT, GPTConfig
from transformer_course.train import cleanup_distributed, fit, get_rank, get_world_size, init_distributed

out = Path(sys.argv[1])
device = init_distributed()
rank = get_rank()
assert get_world_size() == 2 and device.type == "cpu", (get_world_size(), device)
torch.manual_seed(rank)
model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=16))
if rank == 0:
    torch.save(model.state_dict(), out / "initial.pt")
data = torch.Generator().manual_seed(100 + rank)


def batch():
    x = torch.randint(0, 16, (4, 9), generator=data)
    return x[:, :-1], x[:, 1:]


stderr = io.StringIO()  # only rank 0 may draw a progress bar
with contextlib.redirect_stderr(stderr):
    history = fit(model, batch, steps=4, lr=1e-2, warmup_steps=1, progress=True, device="cpu")
(out / f"rank{rank}.stderr").write_text(stderr.getvalue())
assert len(history.losses) == 4
torch.save(model.state_dict(), out / f"rank{rank}.pt")
cleanup_distributed()
