"""Attention as soft retrieval, scaled dot-product attention written out, and single-head self-attention."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .masks import check_mask


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name}: expected a tensor of shape (..., T, d), got {got}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"k: expected last dimension {q.shape[-1]} (as q's d_k), got shape {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"v: expected {k.shape[-2]} positions (as k), got shape {tuple(v.shape)}")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last dimension of ``scores``, over the positions where ``mask`` is True.

    ``mask`` is boolean and broadcastable to ``scores`` (True = may attend);
    None means every position. Masked positions get weight exactly 0, and a row
    with no allowed position gets all zeros rather than NaN, in the forward and
    the backward pass: filling with the most negative *finite* number keeps the
    softmax finite, and multiplying by the mask zeroes what it gave those
    positions (the uniform row of an empty one included). Every attention of the
    library (Bahdanau/Luong in ``seq2seq``, scaled dot-product here) uses it;
    the fused kernel in ``multihead`` follows the same rule for empty rows.
    """
    if mask is None:
        return scores.softmax(dim=-1)
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return filled.softmax(dim=-1) * mask


def soft_lookup(
    query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, temperature: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Look up numbers by closeness of their keys: attention on scalars.

    Each query mixes all ``values`` with weights ``softmax(-(query - key)^2 / temperature)``
    over the keys, so a query between two keys gets a blend of their values.

    Args:
        query: ``(M,)``; keys: ``(N,)``; values: ``(N,)``; temperature: > 0,
            larger means smoother weights.

    Returns:
        ``(out, weights)``: ``(M,)`` and ``(M, N)``.
    """
    for name, t in (("query", query), ("keys", keys), ("values", values)):
        if not isinstance(t, torch.Tensor) or t.dim() != 1:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name}: expected a 1-d tensor, got {got}")
    if keys.shape != values.shape:
        raise ValueError(f"values: expected shape {tuple(keys.shape)} (as keys), got {tuple(values.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature: expected a positive number, got {temperature!r}")
    weights = (-(query[:, None] - keys[None, :]).square() / temperature).softmax(dim=-1)
    return weights @ values, weights


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T / sqrt(d_k)) v, for any leading batch shape.

    Args:
        q: ``(..., T_q, d_k)``; k: ``(..., T_k, d_k)``; v: ``(..., T_k, d_v)``.
        mask: bool, broadcastable to ``(..., T_q, T_k)``; True = may attend.
        dropout_p: dropout on the weights (only when the caller is training).

    Returns:
        ``(out, weights)``: ``(..., T_q, d_v)`` and ``(..., T_q, T_k)``.
        A query row with no key to attend to gets zero weights and a zero
        output rather than NaN.
    """
    _check_qkv(q, k, v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        check_mask(mask, scores.shape)
    weights = masked_softmax(scores, mask)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


class SelfAttention(nn.Module):
    """Single-head self-attention: every token queries every other token.

    ``forward(x (B, T, d_model), mask=None) -> (out (B, T, d_head), weights (B, T, T))``.
    """

    def __init__(self, d_model: int, d_head: int | None = None, bias: bool = False):
        super().__init__()
        self.d_model, self.d_head = d_model, d_head or d_model
        self.W_q = nn.Linear(d_model, self.d_head, bias=bias)
        self.W_k = nn.Linear(d_model, self.d_head, bias=bias)
        self.W_v = nn.Linear(d_model, self.d_head, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x: expected shape (B, T, {self.d_model}), got {tuple(x.shape)}")
        return scaled_dot_product_attention(self.W_q(x), self.W_k(x), self.W_v(x), mask)
