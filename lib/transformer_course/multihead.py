"""Multi-head attention, with the same parameters as ``torch.nn.MultiheadAttention``.

Heads are computed in one batched call: ``(B, T, d_model)`` is projected, then
viewed as ``(B, n_heads, T, d_head)``. When the caller does not ask for the
attention weights, the fused ``torch.nn.functional.scaled_dot_product_attention``
kernel does the work (flash or memory-efficient attention on a GPU), which never
stores the ``(T, T)`` weight matrix.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import scaled_dot_product_attention
from .checks import check_shape
from .masks import check_mask


def bottom_right_causal_mask(T_q: int, T_k: int, device=None) -> torch.Tensor:
    """Causal mask for the last ``T_q`` of ``T_k`` positions (queries appended to a cache)."""
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril(diagonal=T_k - T_q)


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """``(B, T, d_model) -> (B, n_heads, T, d_head)``: head ``h`` gets features ``h*d_head ... (h+1)*d_head - 1``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x: expected shape (B, T, d_model), got {got}")
    B, T, d_model = x.shape
    if d_model % n_heads != 0:
        raise ValueError(f"n_heads: d_model = {d_model} must be divisible by n_heads, got n_heads = {n_heads}")
    return x.view(B, T, n_heads, d_model // n_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(B, n_heads, T, d_head) -> (B, T, n_heads * d_head)``, the inverse of ``split_heads``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x: expected shape (B, n_heads, T, d_head), got {got}")
    B, H, T, d_head = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d_head)


class MultiHeadAttention(nn.Module):
    """``n_heads`` attention heads of size ``d_model // n_heads``, run side by side.

    ``forward(query (B, T_q, d_model), key (B, T_k, d_model), value (B, T_k, d_model),
    mask=None, need_weights=False, is_causal=False) -> (out (B, T_q, d_model), weights)``
    where ``weights`` is ``(B, n_heads, T_q, T_k)`` if asked for, else ``None``.
    ``mask`` is bool, True = may attend, broadcastable to ``(B, n_heads, T_q, T_k)``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"n_heads: d_model = {d_model} must be divisible by n_heads, got n_heads = {n_heads}")
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, d_model) -> (B, n_heads, T, d_head)``."""
        return split_heads(x, self.n_heads)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, n_heads, T, d_head) -> (B, T, d_model)``."""
        return merge_heads(x)

    def forward(self, query, key, value, mask=None, need_weights: bool = False, is_causal: bool = False):
        self._check_inputs(query, key, value)
        if query is key and key is value:
            # Self-attention: one (3 d_model, d_model) matmul instead of three, each way.
            weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
            bias = None if self.q_proj.bias is None else torch.cat(
                [self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
            q, k, v = (self.split_heads(t) for t in F.linear(query, weight, bias).chunk(3, dim=-1))
        else:
            q = self.split_heads(self.q_proj(query))
            k = self.split_heads(self.k_proj(key))
            v = self.split_heads(self.v_proj(value))
        out, weights = self.attend(q, k, v, mask=mask, need_weights=need_weights, is_causal=is_causal)
        return self.out_proj(self.merge_heads(out)), weights

    def attend(self, q, k, v, mask=None, need_weights: bool = False, is_causal: bool = False):
        """Attention on already split heads ``(B, H, T, d_head)``; shared with the GPT's KV cache."""
        B, H, T_q, T_k = q.shape[0], q.shape[1], q.shape[2], k.shape[2]
        check_mask(mask, (B, H, T_q, T_k))
        if is_causal and mask is None and not need_weights and T_q == T_k:
            # Square causal attention: the kernel's own causal mask is ours, and it
            # skips the upper triangle instead of reading an explicit (T, T) mask.
            dropout_p = self.dropout if self.training else 0.0
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True), None
        if is_causal and not (T_q == 1 and mask is None):
            causal = bottom_right_causal_mask(T_q, T_k, device=q.device)
            mask = causal if mask is None else mask & causal
        dropout_p = self.dropout if self.training else 0.0
        if need_weights:
            return scaled_dot_product_attention(q, k, v, mask=mask, dropout_p=dropout_p)
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p), None
        # The fused kernels return NaN for a query that may attend to nothing;
        # let such rows see everything, then zero their output (the rule of
        # attention.masked_softmax: an empty row gives zeros).
        has_key = mask.any(dim=-1, keepdim=True)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask | ~has_key, dropout_p=dropout_p)
        return out.masked_fill(~has_key, 0.0), None

    def _check_inputs(self, query, key, value) -> None:
        for name, t in (("query", query), ("key", key), ("value", value)):
            check_shape(name, t, ("B", "T", self.d_model))
        if key.shape[:2] != value.shape[:2] or key.shape[0] != query.shape[0]:
            raise ValueError(
                f"key/value: expected shapes (B, T_k, d_model) with B = {query.shape[0]} and the same T_k, "
                f"got key {tuple(key.shape)} and value {tuple(value.shape)}"
            )

    @torch.no_grad()
    def load_from_torch(self, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a ``torch.nn.MultiheadAttention`` (same d_model and heads) into this module."""
        if module.embed_dim != self.d_model or module.num_heads != self.n_heads:
            raise ValueError(
                f"module: expected embed_dim={self.d_model}, num_heads={self.n_heads}, "
                f"got embed_dim={module.embed_dim}, num_heads={module.num_heads}"
            )
        for proj, w in zip((self.q_proj, self.k_proj, self.v_proj), module.in_proj_weight.chunk(3)):
            proj.weight.copy_(w)
        if module.in_proj_bias is not None and self.q_proj.bias is not None:
            for proj, b in zip((self.q_proj, self.k_proj, self.v_proj), module.in_proj_bias.chunk(3)):
                proj.bias.copy_(b)
        self.out_proj.load_state_dict(module.out_proj.state_dict())
        return self

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """A new module with the weights of ``module``; on the same device and dtype."""
        ours = cls(module.embed_dim, module.num_heads, dropout=module.dropout, bias=module.in_proj_bias is not None)
        ours = ours.to(device=module.out_proj.weight.device, dtype=module.out_proj.weight.dtype)
        return ours.load_from_torch(module)
