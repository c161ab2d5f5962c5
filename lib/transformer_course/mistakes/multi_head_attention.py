"""Notebook 04 (multi-head attention): the wrong answers students most often hand in, one dict per exercise.

Each function (or class) has the exercise's signature and makes exactly the mistake its key explains.
"""
import math

import torch
import torch.nn as nn

from ..attention import scaled_dot_product_attention


def _split(x, n_heads):
    B, T, d_model = x.shape
    return x.view(B, T, n_heads, d_model // n_heads).transpose(1, 2)


def _merge(x):
    B, H, T, d_head = x.shape
    return x.transpose(1, 2).reshape(B, T, H * d_head)


SPLIT_HEADS = {
    "a view (or reshape) straight to (B, n_heads, T, d_head), without a transpose, cuts the memory in the "
    "wrong places and mixes tokens; split the features of each token first, then move the head dimension":
        lambda x, n_heads: x.reshape(x.shape[0], n_heads, x.shape[1], x.shape[2] // n_heads),
    "the head dimension is still after T: the result is (B, T, n_heads, d_head), not (B, n_heads, T, d_head)":
        lambda x, n_heads: x.reshape(x.shape[0], x.shape[1], n_heads, x.shape[2] // n_heads),
    "the features were split as (d_head, n_heads), so head h gets every n_heads-th feature; head h must get "
    "the consecutive features h*d_head .. (h+1)*d_head - 1":
        lambda x, n_heads: x.reshape(x.shape[0], x.shape[1], x.shape[2] // n_heads, n_heads).permute(0, 3, 1, 2),
    "n_heads and d_head are swapped: there must be n_heads heads of size d_model // n_heads":
        lambda x, n_heads: x.reshape(x.shape[0], x.shape[1], x.shape[2] // n_heads, n_heads).transpose(1, 2),
}

MERGE_HEADS = {
    "a reshape to (B, T, d_model) without transposing back first mixes tokens":
        lambda x: x.reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3]),
    "the features of the heads are interleaved (d_head before n_heads); head h's features must come back "
    "as the consecutive block h*d_head .. (h+1)*d_head - 1":
        lambda x: x.permute(0, 2, 3, 1).reshape(x.shape[0], x.shape[2], x.shape[1] * x.shape[3]),
    "the result is (B, T, n_heads, d_head): the heads must be merged into one dimension of size "
    "n_heads * d_head":
        lambda x: x.transpose(1, 2),
}


def _load(ours, theirs, *, order=(0, 1, 2), biases="chunks", transpose=False, out_proj=True, out_bias=True):
    with torch.no_grad():
        projections = (ours.q_proj, ours.k_proj, ours.v_proj)
        weights = theirs.in_proj_weight.chunk(3)
        for proj, i in zip(projections, order):
            proj.weight.copy_(weights[i].T if transpose else weights[i])
        if theirs.in_proj_bias is not None and biases != "none":
            chunks = theirs.in_proj_bias.chunk(3)
            for proj, i in zip(projections, order):
                proj.bias.copy_(chunks[0] if biases == "first" else chunks[i])
        if out_proj:
            ours.out_proj.weight.copy_(theirs.out_proj.weight)
            if out_bias and theirs.out_proj.bias is not None:
                ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours


LOAD_TORCH_WEIGHTS = {
    "the chunks of in_proj_weight are not in the order W_Q, W_K, W_V":
        lambda ours, theirs: _load(ours, theirs, order=(1, 0, 2)),
    "in_proj_bias was not copied (nn.MultiheadAttention starts its biases at zero, so this hides until they "
    "are not)":
        lambda ours, theirs: _load(ours, theirs, biases="none"),
    "every projection got the first chunk of in_proj_bias; q, k and v each take their own chunk":
        lambda ours, theirs: _load(ours, theirs, biases="first"),
    "the weights were transposed: in_proj_weight's rows are output features, the same layout as "
    "nn.Linear.weight, so they are copied as they are":
        lambda ours, theirs: _load(ours, theirs, transpose=True),
    "out_proj was not copied":
        lambda ours, theirs: _load(ours, theirs, out_proj=False),
    "out_proj.bias was not copied":
        lambda ours, theirs: _load(ours, theirs, out_bias=False),
}


class _MultiHeadAttention(nn.Module):
    """A configurable wrong MultiHeadAttention; the classes below make one mistake each."""

    bad_split = bad_merge = no_out_proj = scale_by_d_model = values_from_key_proj = queries_from_key = False
    ignore_bias = False

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        bias = True if self.ignore_bias else bias  # nn.Linear's default
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        def split(x):
            if self.bad_split:
                return x.reshape(x.shape[0], self.n_heads, x.shape[1], x.shape[2] // self.n_heads)
            return _split(x, self.n_heads)
        q = split(self.q_proj(key if self.queries_from_key else query))
        k = split(self.k_proj(key))
        v = split((self.k_proj if self.values_from_key_proj else self.v_proj)(value))
        if self.scale_by_d_model:
            q = q * math.sqrt(q.shape[-1] / query.shape[-1])
        out, weights = scaled_dot_product_attention(q, k, v, mask)
        if self.bad_merge:
            out = out.reshape(out.shape[0], out.shape[2], -1)
        else:
            out = _merge(out)
        return (out if self.no_out_proj else self.out_proj(out)), weights


def _variant(name, **flags):
    return type(name, (_MultiHeadAttention,), flags)


MULTI_HEAD_ATTENTION = {
    "the heads were split with a view to (B, n_heads, T, d_head) without a transpose":
        _variant("SplitWithoutTranspose", bad_split=True),
    "the heads were merged with a reshape to (B, T, d_model) without transposing back first":
        _variant("MergeWithoutTranspose", bad_merge=True),
    "the output projection out_proj is missing":
        _variant("NoOutputProjection", no_out_proj=True),
    "the scores are scaled by sqrt(d_model); each head's d_k is d_head":
        _variant("ScaledByDModel", scale_by_d_model=True),
    "the values are projected with k_proj; they have their own projection, v_proj":
        _variant("ValuesFromKeyProjection", values_from_key_proj=True),
    "the queries are projected from key; they come from query (the two differ in cross-attention)":
        _variant("QueriesFromKey", queries_from_key=True),
    "the bias argument is not passed on, so every nn.Linear has its default bias=True: "
    "nn.Linear(..., bias=bias)":
        _variant("BiasIgnored", ignore_bias=True),
}
