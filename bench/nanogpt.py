"""An independent minimal GPT in the style of nanoGPT's model.py: the reference for the training benchmark.

Written for this benchmark, not imported from the library: one packed q/k/v
projection, the fused causal kernel (``is_causal=True``), GELU (tanh), pre-norm
blocks, learned positions, a read-out tied to the token embedding. Same
parameter count and the same function as ``transformer_course.gpt.GPT`` with
the same config (``load_from_library`` copies weights across and the benchmark
checks the logits agree), so the two differ only in how the work is done.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool = True):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, n_embd: int, bias: bool = True):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, bias: bool = True):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, bias)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, bias)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class MiniGPT(nn.Module):
    """``forward(idx (B, T), targets (B, T) | None) -> (logits, loss)``, like the library's GPT."""

    def __init__(self, vocab_size: int, block_size: int, n_layer: int, n_head: int, n_embd: int, bias: bool = True):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head, bias) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=bias)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets=None):
        pos = torch.arange(idx.shape[1], device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    @torch.no_grad()
    def load_from_library(self, gpt) -> MiniGPT:
        """Copy the weights of a ``transformer_course.gpt.GPT`` with the same config."""
        self.wte.weight.copy_(gpt.wte.weight)
        self.wpe.weight.copy_(gpt.wpe.embedding.weight)
        for ours, theirs in zip(self.h, gpt.blocks):
            a = theirs.self_attn
            ours.attn.c_attn.weight.copy_(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
            if a.q_proj.bias is not None:
                ours.attn.c_attn.bias.copy_(torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]))
            pairs = [(ours.attn.c_proj, a.out_proj), (ours.mlp.c_fc, theirs.ff.linear1),
                     (ours.mlp.c_proj, theirs.ff.linear2), (ours.ln_1, theirs.norm1), (ours.ln_2, theirs.norm2)]
            for mine, lib in pairs:
                mine.load_state_dict(lib.state_dict())
        self.ln_f.load_state_dict(gpt.ln_f.state_dict())
        return self
