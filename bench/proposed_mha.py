"""The speed change proposed for ``transformer_course.multihead.MultiHeadAttention``, measured here first.

The benchmarks found two costs the library pays that ``torch.nn.MultiheadAttention``
and nanoGPT do not:

1. three ``(d, d)`` projections for self-attention where one ``(3d, d)`` matmul
   does (one kernel launch and one weight-gradient matmul instead of three each
   way, and better use of the cores for small ``d``);
2. ``is_causal=True`` built an explicit ``(T, T)`` boolean mask and took the
   masked path (``mask.any``, ``mask | ~has_key``, ``masked_fill``), where the
   fused kernel can skip the upper triangle by itself (``is_causal=True``).

``ProposedMultiHeadAttention`` is the library class with exactly those two
changes (same parameters, same outputs); the report proposes the same lines
as a diff to ``lib/transformer_course/multihead.py``. It lives in bench/ so the
gain can be measured before anyone changes the library.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from transformer_course.multihead import MultiHeadAttention


class ProposedMultiHeadAttention(MultiHeadAttention):

    def forward(self, query, key, value, mask=None, need_weights: bool = False, is_causal: bool = False):
        self._check_inputs(query, key, value)
        if query is key and key is value:  # self-attention: one packed projection
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
        if is_causal and mask is None and not need_weights and q.shape[2] == k.shape[2]:
            # square causal attention: the kernel's own (top-left) causal mask is ours
            dropout_p = self.dropout if self.training else 0.0
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True), None
        return super().attend(q, k, v, mask=mask, need_weights=need_weights, is_causal=is_causal)


def use_proposed(model: torch.nn.Module) -> torch.nn.Module:
    """Switch every library ``MultiHeadAttention`` inside ``model`` to the proposed class, in place."""
    for module in model.modules():
        if type(module) is MultiHeadAttention:
            module.__class__ = ProposedMultiHeadAttention
    return model
