"""GPT: a decoder-only transformer that predicts the next token, and how to sample from it.

A stack of pre-norm causal blocks (each exactly a pre-norm ``EncoderLayer`` whose
attention may only look left) between learned token + position embeddings and a
linear read-out tied to the token embedding. Parameter layout follows GPT-2, so
``gpt_state_dict_from_hf`` turns a Hugging Face GPT-2 checkpoint into ours.

Generation can keep each layer's keys and values (a KV cache): a new token then
needs only its own projections and MLPs and one row of attention (over every
cached position) instead of a pass over the whole prefix.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import EncoderLayer, LayerNorm, encoder_layer_parameter_count
from .positional import LearnedPositionalEmbedding

IGNORE_INDEX = -100  # a target that is not scored: the value torch's cross_entropy and Hugging Face use


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # the context: the most positions the model can see at once
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm, as in GPT-2
    tie_weights: bool = True  # lm_head shares the token embedding matrix
    activation: str = "gelu_tanh"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_head: n_embd = {self.n_embd} must be divisible by n_head, got n_head = {self.n_head}")


class LayerCache:
    """One layer's keys and values ``(B, n_head, T_seen, d_head)`` for the positions processed so far."""

    def __init__(self):
        self.k = self.v = None

    def __len__(self) -> int:
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the new positions' keys and values; return everything cached."""
        self.k = k if self.k is None else torch.cat([self.k, k], dim=2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=2)
        return self.k, self.v


class Block(EncoderLayer):
    """Pre-norm causal block: ``h = x + attn(norm1(x))``, then ``h + ff(norm2(h))``.

    ``forward(x (B, T, n_embd), kv_cache=None)``. With a ``LayerCache`` the block
    attends from the T new positions to every cached one plus themselves, and
    appends the new keys and values to the cache.
    """

    def __init__(self, config: GPTConfig):
        super().__init__(config.n_embd, config.n_head, 4 * config.n_embd, dropout=config.dropout,
                         activation=config.activation, norm_first=True, bias=config.bias)

    def forward(self, x: torch.Tensor, kv_cache: LayerCache | None = None) -> torch.Tensor:
        if kv_cache is None:
            return super().forward(x, is_causal=True)
        x = x + self.dropout1(self._cached_attention(self.norm1(x), kv_cache))
        return x + self.dropout2(self.ff(self.norm2(x)))

    def _cached_attention(self, x: torch.Tensor, cache: LayerCache) -> torch.Tensor:
        attn = self.self_attn
        q, k, v = (attn.split_heads(proj(x)) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        k, v = cache.update(k, v)
        out, _ = attn.attend(q, k, v, is_causal=True)  # bottom-right causal: new queries see the whole past
        return attn.out_proj(attn.merge_heads(out))


class GPT(nn.Module):
    """``forward(idx (B, T) token ids, targets=None, kv_cache=None) -> (logits (B, T, vocab), loss)``.

    ``targets`` are already shifted (``targets[:, t]`` is the token after
    ``idx[:, t]``); positions whose target is ``IGNORE_INDEX`` (-100) are
    ignored. ``loss`` is None without targets.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = LearnedPositionalEmbedding(config.block_size, config.n_embd, dropout=config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = LayerNorm(config.n_embd, bias=config.bias)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight  # one matrix both reads tokens in and scores them out
        self.apply(self._init_weights)
        # GPT-2: each residual branch adds to the stream, so shrink the projections that write to it.
        for block in self.blocks:
            for proj in (block.self_attn.out_proj, block.ff.linear2):
                nn.init.normal_(proj.weight, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Number of scalars, counting the tied embedding / lm_head matrix once."""
        return sum(p.numel() for p in self.parameters())

    def new_kv_cache(self) -> list[LayerCache]:
        return [LayerCache() for _ in self.blocks]

    def _check_idx(self, idx, start: int = 0) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype.is_floating_point:
            got = f"shape {tuple(idx.shape)} {idx.dtype}" if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"idx: expected integer token ids of shape (B, T), got {got}")
        if start + idx.shape[1] > self.config.block_size:
            where = f" after {start} cached positions" if start else ""
            raise ValueError(f"idx: got shape {tuple(idx.shape)}{where}, but the sequence length T may be at most "
                             f"block_size = {self.config.block_size}")

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                kv_cache: list[LayerCache] | None = None):
        start = len(kv_cache[0]) if kv_cache else 0
        self._check_idx(idx, start)
        x = self.wpe(self.wte(idx), start=start)
        for i, block in enumerate(self.blocks):
            x = block(x, kv_cache[i] if kv_cache else None)
        logits = self.lm_head(self.ln_f(x))
        if targets is None:
            return logits, None
        if targets.shape != idx.shape:
            raise ValueError(f"targets: expected shape {tuple(idx.shape)} like idx, got {tuple(targets.shape)}")
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)
        return logits, loss

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None, generator: torch.Generator | None = None, use_cache: bool = True):
        """Append ``max_new_tokens`` sampled tokens to ``idx (B, T)``; returns ``(B, T + max_new_tokens)``.

        ``temperature=0`` is greedy. Without a cache every step re-reads the last
        ``block_size`` tokens. With one, each step feeds only the newest token;
        once the cache holds ``block_size`` positions the window must slide, and
        learned positions cannot be shifted inside a cache, so from then on each
        step recomputes the window (exactly what the uncached model does).
        """
        self._check_idx(idx)
        _check_sampling(temperature, top_k, top_p)
        if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"max_new_tokens: expected a non-negative int, got {max_new_tokens!r}")
        was_training = self.training
        self.eval()
        try:
            cache, window = None, self.config.block_size
            for _ in range(max_new_tokens):
                if cache is not None and len(cache[0]) < window:
                    logits, _ = self(idx[:, -1:], kv_cache=cache)
                else:
                    cache = self.new_kv_cache() if use_cache else None
                    logits, _ = self(idx[:, -window:], kv_cache=cache)
                idx = torch.cat([idx, sample_next(logits[:, -1], temperature, top_k, top_p, generator)], dim=1)
        finally:  # an interrupted generation (an error, Ctrl-C) leaves the model in the mode it found
            self.train(was_training)
        return idx

    def configure_optimizer(self, weight_decay: float = 0.1, lr: float = 6e-4, betas=(0.9, 0.95)):
        """AdamW that decays the matrices (embeddings, Linear weights) but not biases or LayerNorm gains."""
        from .train import adamw
        return adamw(self, lr=lr, weight_decay=weight_decay, betas=betas)

    def load_hf_gpt2_state_dict(self, hf_state_dict: dict) -> GPT:
        """Load the weights of a Hugging Face ``GPT2LMHeadModel`` (or ``GPT2Model``) state dict."""
        self.load_state_dict(gpt_state_dict_from_hf(hf_state_dict, self.config))
        return self


def lm_loss(logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of ``logits (B, T, vocab)`` computed from ``idx (B, T)``.

    ``logits[:, t]`` predicts ``idx[:, t + 1]``: the last position has no target,
    so T - 1 predictions per row are scored. Equals ``GPT.forward(idx, targets)``
    with ``targets = idx`` shifted left by one and ``IGNORE_INDEX`` at the end.
    """
    if logits.dim() != 3 or idx.dim() != 2 or logits.shape[:2] != idx.shape or idx.shape[1] < 2:
        raise ValueError(f"logits, idx: expected shapes (B, T, vocab) and (B, T) with T >= 2, "
                         f"got {tuple(logits.shape)} and {tuple(idx.shape)}")
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten())


# ----------------------------------------------------------------------------- sampling

def _check_sampling(temperature, top_k, top_p) -> None:
    if not isinstance(temperature, (int, float)) or isinstance(temperature, bool) or not temperature >= 0:
        raise ValueError(f"temperature: expected a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(f"top_k: expected None or an int >= 1, got {top_k!r}")
    if top_p is not None and (not isinstance(top_p, (int, float)) or isinstance(top_p, bool) or not 0 < top_p <= 1):
        raise ValueError(f"top_p: expected None or a number in (0, 1], got {top_p!r}")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (ties with the k-th included); set the rest to -inf."""
    _check_sampling(1.0, k, None)
    kth = torch.topk(logits, min(k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the most likely tokens whose probabilities first add up to at least ``p``.

    A token is dropped when the tokens ranked above it already hold ``p`` of
    the mass, so the most likely token always survives.
    """
    _check_sampling(1.0, None, p)
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop = (mass_before >= p).scatter(-1, order, mass_before >= p)  # back to the original token order
    return logits.masked_fill(drop, float("-inf"))


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """The logits a sampler draws from: divided by ``temperature`` (> 0), then top-k, then top-p.

    Removed tokens become -inf; survivors keep their tempered values. The order
    matters: the nucleus is taken on the probabilities left after top-k
    (renormalised), and both see the tempered distribution.
    """
    _check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        raise ValueError("temperature: expected a number > 0 here; greedy decoding (temperature 0) takes the "
                         "argmax of the raw logits instead of filtering them")
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row of ``logits (B, vocab)``: ``(B, 1)`` ids.

    ``temperature=0`` takes the argmax; otherwise draw from the softmax of
    ``filter_logits(...)`` (in float32 at least).
    """
    _check_sampling(temperature, top_k, top_p)
    if logits.dim() != 2:
        raise ValueError(f"logits: expected shape (B, vocab_size), got {tuple(logits.shape)}")
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    probs = filter_logits(logits, temperature, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


# ----------------------------------------------------------------------------- sizes and checkpoints

def gpt_parameter_count(vocab_size: int, block_size: int, n_layer: int, n_embd: int,
                        tie_weights: bool = True, bias: bool = True) -> int:
    """Token and position embeddings, ``n_layer`` blocks (FFN 4x wide), a final LayerNorm, the read-out.

    ``V d + T d + L (12 d^2 + 13 d) + 2 d`` with biases and tied weights
    (no biases: ``L (12 d^2 + 2 d) + d``; untied: plus ``V d``).
    """
    embeddings = vocab_size * n_embd + block_size * n_embd
    blocks = n_layer * encoder_layer_parameter_count(n_embd, 4 * n_embd, bias=bias)
    final_norm = 2 * n_embd if bias else n_embd
    lm_head = 0 if tie_weights else vocab_size * n_embd
    return embeddings + blocks + final_norm + lm_head


def gpt_state_dict_from_hf(hf_state_dict: dict, config: GPTConfig) -> dict:
    """Rename (and transpose) a Hugging Face GPT-2 state dict into ``GPT``'s names.

    GPT-2 stores its projections as ``Conv1D`` with weight ``(in, out)``, the
    transpose of ``nn.Linear``; ``attn.c_attn`` holds q, k and v side by side.
    """
    sd = {k.removeprefix("transformer."): v for k, v in hf_state_dict.items()}
    d = config.n_embd
    out = {"wte.weight": sd["wte.weight"], "wpe.embedding.weight": sd["wpe.weight"],
           "ln_f.weight": sd["ln_f.weight"]}
    out["lm_head.weight"] = sd.get("lm_head.weight", sd["wte.weight"])
    if config.bias:
        out["ln_f.bias"] = sd["ln_f.bias"]
    renames = {"ln_1": "norm1", "ln_2": "norm2", "attn.c_proj": "self_attn.out_proj",
               "mlp.c_fc": "ff.linear1", "mlp.c_proj": "ff.linear2"}
    for i in range(config.n_layer):
        h, b = f"h.{i}.", f"blocks.{i}."
        for q_k_v, w in zip(("q_proj", "k_proj", "v_proj"), sd[h + "attn.c_attn.weight"].split(d, dim=1)):
            out[f"{b}self_attn.{q_k_v}.weight"] = w.t()
        for theirs, ours in renames.items():
            w = sd[f"{h}{theirs}.weight"]
            out[f"{b}{ours}.weight"] = w.t() if theirs.startswith(("attn", "mlp")) else w
        if config.bias:
            for q_k_v, bias in zip(("q_proj", "k_proj", "v_proj"), sd[h + "attn.c_attn.bias"].split(d)):
                out[f"{b}self_attn.{q_k_v}.bias"] = bias
            for theirs, ours in renames.items():
                out[f"{b}{ours}.bias"] = sd[f"{h}{theirs}.bias"]
    return {k: v.contiguous() for k, v in out.items()}


def config_from_hf_gpt2(hf_config) -> GPTConfig:
    """The ``GPTConfig`` of a ``transformers.GPT2Config`` (GPT-2's "gelu_new" is GELU's tanh approximation)."""
    activation = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
    if hf_config.activation_function not in activation:
        raise ValueError(f"hf_config.activation_function: expected one of {sorted(activation)}, "
                         f"got {hf_config.activation_function!r}")
    if hf_config.n_inner not in (None, 4 * hf_config.n_embd):
        raise ValueError(f"hf_config.n_inner: expected None or {4 * hf_config.n_embd}, got {hf_config.n_inner}")
    return GPTConfig(vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions, n_layer=hf_config.n_layer,
                     n_head=hf_config.n_head, n_embd=hf_config.n_embd, dropout=0.0,
                     tie_weights=hf_config.tie_word_embeddings,
                     activation=activation[hf_config.activation_function])
