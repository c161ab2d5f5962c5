"""One DDP benchmark run: started by bench/ddp.py, either alone or under ``torchrun --nproc_per_node=2``.

argv: OUT_JSON THREADS PER_PROCESS_BATCH STEPS. Trains the benchmark GPT with
``tc.train.fit`` (which wraps it in DistributedDataParallel when torchrun
started it); a short first ``fit`` warms up, the second is timed. Rank 0
writes tokens/s (all processes together) to OUT_JSON.
"""
import json
import sys

import torch

from transformer_course.gpt import GPT, GPTConfig
from transformer_course.train import cleanup_distributed, fit, get_rank, get_world_size, init_distributed

out, threads, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
config = json.loads(sys.argv[5])
device = init_distributed()
rank = get_rank()
torch.manual_seed(0)
model = GPT(GPTConfig(**config))
data = torch.Generator().manual_seed(100 + rank)  # every rank its own batches


def next_batch():
    x = torch.randint(0, config["vocab_size"], (batch, config["block_size"] + 1), generator=data)
    return x[:, :-1], x[:, 1:]


tokens = batch * config["block_size"]
fit(model, next_batch, steps=2, lr=6e-4, device="cpu", progress=False, tokens_per_step=tokens)
history = fit(model, next_batch, steps=steps, lr=6e-4, device="cpu", progress=False, tokens_per_step=tokens)
if rank == 0:
    with open(out, "w") as f:
        json.dump({"tokens_per_sec": history.tokens_per_sec, "world_size": get_world_size(),
                   "wall_time": history.wall_time, "final_loss": history.final_loss}, f)
cleanup_distributed()
