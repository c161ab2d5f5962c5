"""Positional information: sinusoidal (fixed), learned, and rotary (RoPE)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from .checks import check_shape


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """``(max_len, d_model)`` table with PE[pos, 2i] = sin(pos / 10000^(2i/d_model)) and PE[pos, 2i+1] = cos(...).

    Each pair of columns is a clock ticking at its own frequency, from one
    turn every 2*pi positions down to one every 10000*2*pi: a multi-scale code
    in which shifting by k positions is a fixed rotation of every pair.
    """
    if not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len: expected a positive int, got {max_len!r}")
    if not isinstance(d_model, int) or d_model < 2 or d_model % 2:
        raise ValueError(f"d_model: expected a positive even int (sin/cos pairs), got {d_model!r}")
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    inv_freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * inv_freq)
    pe[:, 1::2] = torch.cos(pos * inv_freq)
    return pe.float()


def shift_matrix(k: int, d_model: int) -> torch.Tensor:
    """``(d_model, d_model)`` matrix ``M_k`` with ``PE(p + k) = PE(p) @ M_k`` for every position ``p``.

    ``PE`` is ``sinusoidal_encoding``'s table (rows are row vectors, columns
    ``2i, 2i+1`` a sine and a cosine of frequency ``w_i``). ``M_k`` is
    block-diagonal: pair ``i`` gets the rotation ``[[cos k w_i, -sin k w_i],
    [sin k w_i, cos k w_i]]``, which holds no ``p``. ``k`` may be negative
    (``M_{-k}`` is the transpose of ``M_k``).
    """
    if not isinstance(k, int) or isinstance(k, bool):
        raise ValueError(f"k: expected an int offset, got {k!r}")
    if not isinstance(d_model, int) or d_model < 2 or d_model % 2:
        raise ValueError(f"d_model: expected a positive even int (sin/cos pairs), got {d_model!r}")
    angles = k * torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    cos, sin = angles.cos(), angles.sin()
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    even, odd = torch.arange(0, d_model, 2), torch.arange(1, d_model, 2)
    m[even, even], m[even, odd] = cos, -sin
    m[odd, even], m[odd, odd] = sin, cos
    return m.float()


def add_positional_encoding(token_embeddings: torch.Tensor, pe: torch.Tensor, start: int = 0) -> torch.Tensor:
    """``token_embeddings * sqrt(d_model) + pe[start : start + T]`` for ``token_embeddings (B, T, d_model)``.

    ``pe`` is a ``(max_len, d_model)`` table (e.g. ``sinusoidal_encoding``). The
    scale, from "Attention Is All You Need", belongs with that paper's embedding
    initialisation, standard deviation ``d_model ** -0.5`` (the table is shared
    with the output layer, which wants small weights): rows of length about 1
    become about ``sqrt(d_model)`` long, the size of a position vector
    (``sqrt(d_model / 2)``). With ``nn.Embedding``'s default N(0, 1) rows are
    already ``sqrt(d_model)`` long, and the scale makes the positions a small
    perturbation.
    """
    if token_embeddings.dim() != 3 or pe.dim() != 2 or pe.shape[-1] != token_embeddings.shape[-1]:
        raise ValueError(f"token_embeddings (B, T, d) and pe (max_len, d): got {tuple(token_embeddings.shape)} "
                         f"and {tuple(pe.shape)}")
    T, d_model = token_embeddings.shape[1], token_embeddings.shape[2]
    if start + T > pe.shape[0]:
        raise ValueError(f"pe: positions up to {start + T} needed, but the table has {pe.shape[0]} rows")
    return token_embeddings * math.sqrt(d_model) + pe[start : start + T].to(token_embeddings.dtype)


def _check_positions(x: torch.Tensor, d_model: int, max_len: int, start: int) -> None:
    check_shape("x", x, ("B", "T", d_model))
    if start + x.shape[1] > max_len:
        raise ValueError(
            f"x: sequence of length {x.shape[1]} starting at position {start} needs positions up to "
            f"{start + x.shape[1]}, but max_len is {max_len}"
        )


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to ``x (B, T, d_model)``; ``start`` offsets positions (for caches)."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        _check_positions(x, self.d_model, self.max_len, start)
        return self.dropout(x + self.pe[start : start + x.shape[1]].to(x.dtype))


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position to ``x (B, T, d_model)``; knows nothing past ``max_len``."""

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        _check_positions(x, self.d_model, self.max_len, start)
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        return self.dropout(x + self.embedding(positions))


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoPE) for queries and keys ``(..., T, d_head)``.

    Rotates the pair (x[i], x[i + d_head/2]) by the angle pos * theta_i, so the
    dot product of a rotated query and key depends only on their offset. This
    is the "rotate-half" layout of GPT-NeoX and LLaMA's Hugging Face code; the
    RoFormer paper pairs adjacent features (x[2i], x[2i+1]) instead. The two
    differ only by a fixed permutation of the features, which learned query and
    key projections absorb (checkpoints, though, must use the layout they were
    trained with).
    """

    def __init__(self, d_head: int, max_len: int = 4096, base: float = 10000.0):
        super().__init__()
        if d_head % 2:
            raise ValueError(f"d_head: expected an even int, got {d_head}")
        self.d_head, self.max_len = d_head, max_len
        inv_freq = base ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
        angles = torch.arange(max_len, dtype=torch.float64)[:, None] * inv_freq
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        T = x.shape[-2]
        if x.shape[-1] != self.d_head:
            raise ValueError(f"x: expected last dimension {self.d_head}, got shape {tuple(x.shape)}")
        if start + T > self.max_len:
            raise ValueError(f"x: positions up to {start + T} needed, but max_len is {self.max_len}")
        cos, sin = self.cos[start : start + T].to(x.dtype), self.sin[start : start + T].to(x.dtype)
        x1, x2 = x[..., : self.d_head // 2], x[..., self.d_head // 2 :]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)
