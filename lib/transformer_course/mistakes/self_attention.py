"""Notebook 03 (self-attention): the wrong answers students most often hand in, one dict per exercise.

Each function (or class) has the exercise's signature and makes exactly the mistake its key explains.
"""
import math

import torch.nn as nn


def _lookup(query, keys, values, temperature, *, score=None, dim=-1, naive_exp=False):
    diff = query[:, None] - keys[None, :]
    scores = score(diff, temperature) if score else -diff.square() / temperature
    if naive_exp:
        weights = scores.exp() / scores.exp().sum(dim=dim, keepdim=True)
    else:
        weights = scores.softmax(dim=dim)
    return weights @ values, weights


SOFT_LOOKUP = {
    "the minus sign is missing: far keys then get the largest weights (the score is -(q - k)^2 / temperature)":
        lambda query, keys, values, temperature=1.0: _lookup(
            query, keys, values, temperature, score=lambda d, t: d.square() / t),
    "the scores are multiplied by the temperature instead of divided by it":
        lambda query, keys, values, temperature=1.0: _lookup(
            query, keys, values, temperature, score=lambda d, t: -d.square() * t),
    "the difference q - k is not squared (the score is -(q - k)^2 / temperature)":
        lambda query, keys, values, temperature=1.0: _lookup(
            query, keys, values, temperature, score=lambda d, t: -d.abs() / t),
    "the softmax runs over the queries (dim=0); each query's weights must sum to 1 over the keys (dim=-1)":
        lambda query, keys, values, temperature=1.0: _lookup(query, keys, values, temperature, dim=0),
    "exp() of large negative scores underflows to 0, and 0/0 is NaN: a softmax must subtract each row's "
    "maximum first (torch's softmax does)":
        lambda query, keys, values, temperature=1.0: _lookup(query, keys, values, temperature, naive_exp=True),
}


def _attention(q, k, v, mask=None, *, scale="sqrt", dim=-1, fill=-math.inf, mask_after=False, invert=False,
               zero_empty_rows=True, naive_exp=False):
    d_k = q.shape[-1]
    divisor = {"sqrt": math.sqrt(d_k), "none": 1.0, "two": 2.0, "d_k": d_k, "half": d_k / 2,
               "keys": math.sqrt(k.shape[-2]), "d_v": math.sqrt(v.shape[-1])}[scale]
    scores = q @ k.transpose(-2, -1) / divisor
    if mask is not None and not mask_after:
        scores = scores.masked_fill(mask if invert else ~mask, fill)
    if naive_exp:
        weights = scores.exp() / scores.exp().sum(dim=dim, keepdim=True)
    else:
        weights = scores.softmax(dim=dim)
    if mask is not None and mask_after:
        weights = weights * mask
    if mask is not None and zero_empty_rows and not mask_after:
        allowed = ~mask if invert else mask
        weights = weights.masked_fill(~allowed.any(dim=-1, keepdim=True), 0.0)
    return weights @ v, weights


SCALED_DOT_PRODUCT_ATTENTION = {
    "the 1/sqrt(d_k) scaling is missing":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, scale="none"),
    "the scores are divided by 2, the worked example's sqrt(4); divide by sqrt(d_k) of the input, "
    "q.shape[-1] ** 0.5":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, scale="two"),
    "the scores are divided by d_k instead of sqrt(d_k)":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, scale="d_k"),
    "the scores are divided by d_k / 2, which equals sqrt(d_k) only at d_k = 4":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, scale="half"),
    "the scores are divided by the square root of the number of keys (k.shape[-2]); d_k is the last "
    "dimension, k.shape[-1]":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, scale="keys"),
    "the scores are divided by sqrt(d_v), the size of a value; d_k is the size of a query or key":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, scale="d_v"),
    "the softmax runs over the queries (dim=-2); it must run over the keys (dim=-1)":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, dim=-2),
    "the mask is applied after the softmax: the rows no longer sum to 1; fill blocked scores before it":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, mask_after=True),
    "the mask is inverted: True means 'may attend', so fill where the mask is False":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, invert=True),
    "a query whose keys are all masked gets NaN (a softmax over -inf only is 0/0); the rule is zero "
    "weights and a zero output for such a query":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, zero_empty_rows=False),
    "a query whose keys are all masked gets uniform weights (a large negative fill spreads the softmax "
    "evenly); the rule is zero weights and a zero output for such a query":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, fill=-1e9, zero_empty_rows=False),
    "exp() of large scores overflows to inf, and inf/inf is NaN: a softmax must subtract each row's "
    "maximum first (torch's softmax does)":
        lambda q, k, v, mask=None: _attention(q, k, v, mask, naive_exp=True),
}


class _SelfAttention(nn.Module):
    """A configurable wrong SelfAttention; the classes below fix one mistake each."""

    scale_by_d_model = one_projection = swap_qk = ignore_mask = ignore_bias = False

    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        bias = True if self.ignore_bias else bias  # nn.Linear's default
        self.W_q = nn.Linear(d_model, d_head, bias=bias)
        self.W_k = nn.Linear(d_model, d_head, bias=bias)
        self.W_v = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x, mask=None):
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)
        if self.one_projection:
            k = v = q
        if self.swap_qk:
            q, k = k, q
        scores = q @ k.transpose(-2, -1) / math.sqrt(x.shape[-1] if self.scale_by_d_model else q.shape[-1])
        if mask is not None and not self.ignore_mask:
            scores = scores.masked_fill(~mask, -math.inf)
            weights = scores.softmax(dim=-1).masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
        else:
            weights = scores.softmax(dim=-1)
        return weights @ v, weights


class ScaledByDModel(_SelfAttention):
    scale_by_d_model = True


class OneProjection(_SelfAttention):
    one_projection = True


class QueriesAndKeysSwapped(_SelfAttention):
    swap_qk = True


class MaskIgnored(_SelfAttention):
    ignore_mask = True


class BiasIgnored(_SelfAttention):
    ignore_bias = True


SELF_ATTENTION = {
    "the scores are divided by sqrt(d_model); d_k is the size of a query, d_head": ScaledByDModel,
    "W_q is used for the keys and values too; each role has its own projection": OneProjection,
    "queries and keys are swapped (the query comes from W_q, the key from W_k): the weights are transposed":
        QueriesAndKeysSwapped,
    "the mask is not passed on to the attention": MaskIgnored,
    "the bias argument is not passed on, so every nn.Linear has its default bias=True: "
    "nn.Linear(..., bias=bias)": BiasIgnored,
}
