"""The pieces of a transformer layer: LayerNorm, the feed-forward network, and the
encoder and decoder layers that wrap attention in residuals and normalisation.

Parameter names follow ``torch.nn.TransformerEncoderLayer`` / ``DecoderLayer``
(``linear1``, ``linear2``, ``norm1``...), so ``load_from_torch`` is a rename.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .multihead import MultiHeadAttention

ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,
    # GPT-2 and early BERT code use the tanh approximation of GELU.
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


class LayerNorm(nn.Module):
    """Normalise each token's features to mean 0 and variance 1, then scale and shift.

    Uses the biased variance (divide by d), as ``torch.nn.LayerNorm`` does.
    """

    def __init__(self, d_model: int, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        self.d_model, self.eps = d_model, eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.d_model:
            raise ValueError(f"x: expected last dimension {self.d_model}, got shape {tuple(x.shape)}")
        return F.layer_norm(x, (self.d_model,), self.weight, self.bias, self.eps)


class FeedForward(nn.Module):
    """Position-wise MLP: ``d_model -> d_ff -> d_model`` applied to every token alone."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu", bias: bool = True):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.activation = activation
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(ACTIVATIONS[self.activation](self.linear1(x))))


class EncoderLayer(nn.Module):
    """Self-attention and feed-forward, each wrapped in a residual and a LayerNorm.

    ``norm_first=False`` is the original post-norm layer, ``x = norm(x + f(x))``;
    ``norm_first=True`` is pre-norm, ``x = x + f(norm(x))``, which trains deep
    stacks without warmup tricks. ``forward(x (B, T, d_model), mask=None, is_causal=False)``.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.ff = FeedForward(d_model, d_ff, dropout=dropout, activation=activation, bias=bias)
        self.norm1, self.norm2 = LayerNorm(d_model, eps, bias), LayerNorm(d_model, eps, bias)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def _sa(self, x, mask, is_causal):
        return self.dropout1(self.self_attn(x, x, x, mask=mask, is_causal=is_causal)[0])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        if self.norm_first:
            x = x + self._sa(self.norm1(x), mask, is_causal)
            return x + self.dropout2(self.ff(self.norm2(x)))
        x = self.norm1(x + self._sa(x, mask, is_causal))
        return self.norm2(x + self.dropout2(self.ff(x)))

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerEncoderLayer) -> EncoderLayer:
        """Copy the weights of a ``torch.nn.TransformerEncoderLayer`` of the same shape."""
        self.self_attn.load_from_torch(layer.self_attn)
        _copy_linear_and_norms(self, layer, norms=("norm1", "norm2"))
        return self


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder's output, feed-forward.

    In cross-attention the *queries* come from the decoder and the keys and
    values from the encoder output (``memory``).
    ``forward(x (B, T, d), memory (B, S, d), tgt_mask=None, memory_mask=None, is_causal=False)``.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int | None = None, dropout: float = 0.1,
                 activation: str = "relu", norm_first: bool = False, eps: float = 1e-5, bias: bool = True):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout=dropout, bias=bias)
        self.ff = FeedForward(d_model, d_ff, dropout=dropout, activation=activation, bias=bias)
        self.norm1, self.norm2, self.norm3 = (LayerNorm(d_model, eps, bias) for _ in range(3))
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(dropout) for _ in range(3))

    def _sa(self, x, mask, is_causal):
        return self.dropout1(self.self_attn(x, x, x, mask=mask, is_causal=is_causal)[0])

    def _ca(self, x, memory, mask):
        return self.dropout2(self.cross_attn(x, memory, memory, mask=mask)[0])

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, is_causal: bool = False):
        if memory.dim() != 3 or memory.shape[-1] != x.shape[-1] or memory.shape[0] != x.shape[0]:
            raise ValueError(f"memory: expected shape ({x.shape[0]}, S, {x.shape[-1]}), got {tuple(memory.shape)}")
        if self.norm_first:
            x = x + self._sa(self.norm1(x), tgt_mask, is_causal)
            x = x + self._ca(self.norm2(x), memory, memory_mask)
            return x + self.dropout3(self.ff(self.norm3(x)))
        x = self.norm1(x + self._sa(x, tgt_mask, is_causal))
        x = self.norm2(x + self._ca(x, memory, memory_mask))
        return self.norm3(x + self.dropout3(self.ff(x)))

    @torch.no_grad()
    def load_from_torch(self, layer: nn.TransformerDecoderLayer) -> DecoderLayer:
        """Copy the weights of a ``torch.nn.TransformerDecoderLayer`` of the same shape."""
        self.self_attn.load_from_torch(layer.self_attn)
        self.cross_attn.load_from_torch(layer.multihead_attn)
        _copy_linear_and_norms(self, layer, norms=("norm1", "norm2", "norm3"))
        return self


def _copy_linear_and_norms(ours: nn.Module, theirs: nn.Module, norms: tuple[str, ...]) -> None:
    ours.ff.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.ff.linear2.load_state_dict(theirs.linear2.state_dict())
    for name in norms:
        getattr(ours, name).load_state_dict(getattr(theirs, name).state_dict())


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalars in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def encoder_layer_parameter_count(d_model: int, d_ff: int, bias: bool = True) -> int:
    """The formula: 4 attention projections, two FFN matrices, two LayerNorms.

    4 d^2 (+ 4d) + 2 d d_ff (+ d_ff + d) + 2 * 2d, the terms in brackets with ``bias``;
    without it the LayerNorms keep their gains, 2d (as ``nn.TransformerEncoderLayer(bias=False)``).
    """
    attention = 4 * d_model * d_model + (4 * d_model if bias else 0)
    feed_forward = 2 * d_model * d_ff + ((d_ff + d_model) if bias else 0)
    norms = 2 * (2 * d_model if bias else d_model)
    return attention + feed_forward + norms
