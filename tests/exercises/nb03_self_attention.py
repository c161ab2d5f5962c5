"""Notebook 03: alternative answers, right and wrong (see variants.py)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "03_self_attention"


# --------------------------------------------------------------------------- Exercise 1: soft_lookup

@correct("soft_lookup")
def lookup_stable_exp(query, keys, values, temperature=1.0):
    scores = -(query.unsqueeze(1) - keys.unsqueeze(0)) ** 2 / temperature
    e = torch.exp(scores - scores.max(dim=1, keepdim=True).values)
    weights = e / e.sum(dim=1, keepdim=True)
    return (weights * values).sum(dim=1), weights


@correct("soft_lookup")
def lookup_logsumexp(query, keys, values, temperature=1.0):
    scores = -torch.pow(query[:, None] - keys, 2) / temperature
    weights = torch.exp(scores - torch.logsumexp(scores, dim=-1, keepdim=True))
    return torch.einsum("mn,n->m", weights, values), weights


@mutant("soft_lookup", bug="the minus sign is missing", cause="minus sign", names="minus sign")
def lookup_no_minus(query, keys, values, temperature=1.0):
    weights = ((query[:, None] - keys[None, :]) ** 2 / temperature).softmax(dim=-1)
    return weights @ values, weights


@mutant("soft_lookup", bug="multiplies by the temperature", cause="multiplied by the temperature",
        names="multiplied by the temperature")
def lookup_times_temperature(query, keys, values, temperature=1.0):
    weights = (-(query[:, None] - keys[None, :]) ** 2 * temperature).softmax(dim=-1)
    return weights @ values, weights


@mutant("soft_lookup", bug="softmax over the queries", cause=("over the queries", "softmax over the wrong dimension"),
        names="over the queries")
def lookup_softmax_dim0(query, keys, values, temperature=1.0):
    weights = torch.softmax(-(query[:, None] - keys[None, :]) ** 2 / temperature, dim=0)
    return weights @ values, weights


@mutant("soft_lookup", bug="exp without subtracting the maximum: NaN for far queries", cause="underflows",
        names="underflows")
def lookup_naive_exp(query, keys, values, temperature=1.0):
    e = torch.exp(-(query[:, None] - keys[None, :]) ** 2 / temperature)
    weights = e / e.sum(dim=-1, keepdim=True)
    return weights @ values, weights


@mutant("soft_lookup", bug="the distance is not squared", cause="not squared", names="not squared")
def lookup_abs(query, keys, values, temperature=1.0):
    weights = (-(query[:, None] - keys[None, :]).abs() / temperature).softmax(dim=-1)
    return weights @ values, weights


@mutant("soft_lookup", bug="calls the library's soft_lookup", cause=None, names="yourself")
def lookup_library(query, keys, values, temperature=1.0):
    return tc.attention.soft_lookup(query, keys, values, temperature)


# --------------------------------------------------------------------------- Exercise 2: scaled_dot_product_attention

@correct("scaled_dot_product_attention")
def sdpa_finite_fill_then_zero_rows(q, k, v, mask=None):
    scores = torch.matmul(q, k.transpose(-1, -2)) / q.size(-1) ** 0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        weights = torch.where(mask.any(dim=-1, keepdim=True), weights, torch.zeros_like(weights))
    return torch.matmul(weights, v), weights


@correct("scaled_dot_product_attention")
def sdpa_nan_to_num(q, k, v, mask=None):
    scores = (q / math.sqrt(q.shape[-1])) @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.nan_to_num(F.softmax(scores, dim=-1), nan=0.0)
    return weights @ v, weights


@correct("scaled_dot_product_attention")
def sdpa_einsum_multiply_by_mask(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(k.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = weights * mask  # exact zeros for blocked keys, and for a row with no allowed key at all
    return torch.einsum("...qk,...kd->...qd", weights, v), weights


@mutant("scaled_dot_product_attention", bug="no 1/sqrt(d_k)", cause=("scaling is missing", "square-root"),
        names="scaling is missing")
def sdpa_unscaled(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="divides by a hard-coded 2 (the worked example's sqrt(4))",
        cause="divided by 2", names="divided by 2")
def sdpa_divide_by_two(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / 2
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="divides by d_k instead of sqrt(d_k)", cause="divided by d_k instead",
        names="divided by d_k instead")
def sdpa_divide_by_dk(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="sqrt of the number of keys (k.shape[-2])", cause="number of keys",
        names="number of keys")
def sdpa_sqrt_of_keys(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-2])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="softmax over the queries", cause=("over the queries", "wrong dimension"),
        names="over the queries")
def sdpa_softmax_queries(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-2)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="mask applied after the softmax",
        cause=("after the softmax", "normalisation"), names="after the softmax")
def sdpa_mask_after(q, k, v, mask=None):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="mask inverted (fills where True)", cause="inverted", names="inverted")
def sdpa_mask_inverted(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
        weights = scores.softmax(-1).masked_fill(mask.all(-1, keepdim=True), 0.0)
    else:
        weights = scores.softmax(-1)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="fully masked rows give NaN (-inf fill, no fix)",
        cause="keys are all masked gets NaN", names="keys are all masked gets NaN")
def sdpa_nan_rows(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="fully masked rows give uniform weights (-1e9 fill, no fix)",
        cause="uniform weights", names="uniform weights")
def sdpa_uniform_rows(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == False, -1e9)  # noqa: E712  (as students write it)
    weights = F.softmax(scores, dim=-1)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="softmax by hand without subtracting the maximum",
        cause="overflows", names="overflows")
def sdpa_naive_softmax(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    e = torch.exp(scores)
    weights = e / e.sum(dim=-1, keepdim=True)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="transpose(1, 2): right only for 3-d inputs", cause=None)
def sdpa_transpose_1_2(q, k, v, mask=None):
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    if mask is not None:
        weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
    return weights @ v, weights


@mutant("scaled_dot_product_attention", bug="output from torch's fused kernel", cause=None, names="yourself")
def sdpa_fused_output(q, k, v, mask=None):
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))
    if mask is not None:
        weights = weights.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(weights.softmax(-1))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), weights


# --------------------------------------------------------------------------- Exercise 3: SelfAttention

@correct("self_attention")
class SelfAttentionWithLibraryAttention(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_model if d_head is None else d_head
        self.W_q, self.W_k, self.W_v = (nn.Linear(d_model, d_head, bias=bias) for _ in range(3))

    def forward(self, x, mask=None):
        return tc.attention.scaled_dot_product_attention(self.W_q(x), self.W_k(x), self.W_v(x), mask=mask)


@correct("self_attention")
class SelfAttentionInline(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        self.d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, self.d_head, bias=bias)
        self.W_k = nn.Linear(d_model, self.d_head, bias=bias)
        self.W_v = nn.Linear(d_model, self.d_head, bias=bias)

    def forward(self, x, mask=None):
        q = F.linear(x, self.W_q.weight, self.W_q.bias)
        k = F.linear(x, self.W_k.weight, self.W_k.bias)
        v = F.linear(x, self.W_v.weight, self.W_v.bias)
        scores = torch.einsum("btd,bsd->bts", q, k) / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(scores.softmax(dim=-1), nan=0.0)
        return weights @ v, weights


@mutant("self_attention", bug="scales by sqrt(d_model)", cause="sqrt(d_model)", names="sqrt(d_model)")
class SelfAttentionScaledByDModel(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        self.d_model = d_model
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, d_head, bias=bias)
        self.W_k = nn.Linear(d_model, d_head, bias=bias)
        self.W_v = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x, mask=None):
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_model)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(-1)
        if mask is not None:
            weights = weights.masked_fill(~mask.any(-1, keepdim=True), 0.0)
        return weights @ v, weights


@mutant("self_attention", bug="W_q used for keys and values", cause="W_q is used for the keys",
        names="W_q is used for the keys")
class SelfAttentionOneProjection(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, d_head, bias=bias)
        self.W_k = nn.Linear(d_model, d_head, bias=bias)
        self.W_v = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x, mask=None):
        q = self.W_q(x)
        return tc.attention.scaled_dot_product_attention(q, q, q, mask)


@mutant("self_attention", bug="queries from W_k and keys from W_q", cause=("swapped", "transpose"), names="swapped")
class SelfAttentionSwapped(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, d_head, bias=bias)
        self.W_k = nn.Linear(d_model, d_head, bias=bias)
        self.W_v = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x, mask=None):
        return tc.attention.scaled_dot_product_attention(self.W_k(x), self.W_q(x), self.W_v(x), mask)


@mutant("self_attention", bug="mask not passed on", cause="mask is not passed on", names="mask is not passed on")
class SelfAttentionNoMask(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, d_head, bias=bias)
        self.W_k = nn.Linear(d_model, d_head, bias=bias)
        self.W_v = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x, mask=None):
        return tc.attention.scaled_dot_product_attention(self.W_q(x), self.W_k(x), self.W_v(x))


@mutant("self_attention", bug="bias argument not passed on (nn.Linear's default bias=True)",
        cause="bias argument is not passed on", names="bias argument is not passed on")
class SelfAttentionBiasNotPassed(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, d_head)
        self.W_k = nn.Linear(d_model, d_head)
        self.W_v = nn.Linear(d_model, d_head)

    def forward(self, x, mask=None):
        return tc.attention.scaled_dot_product_attention(self.W_q(x), self.W_k(x), self.W_v(x), mask)


@mutant("self_attention", bug="nn.Linear(d_head, d_model): right only when the two are equal", cause=None)
class SelfAttentionLinearBackwards(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_head, d_model, bias=bias)
        self.W_k = nn.Linear(d_head, d_model, bias=bias)
        self.W_v = nn.Linear(d_head, d_model, bias=bias)

    def forward(self, x, mask=None):
        return tc.attention.scaled_dot_product_attention(self.W_q(x), self.W_k(x), self.W_v(x), mask)


@mutant("self_attention", bug="subclasses the library's layer", cause=None, names="yourself")
class SelfAttentionLibrary(tc.attention.SelfAttention):
    pass


@mutant("self_attention", bug="output detached from the graph", cause=None, names="gradient")
class SelfAttentionDetached(nn.Module):
    def __init__(self, d_model, d_head=None, bias=False):
        super().__init__()
        d_head = d_head or d_model
        self.W_q = nn.Linear(d_model, d_head, bias=bias)
        self.W_k = nn.Linear(d_model, d_head, bias=bias)
        self.W_v = nn.Linear(d_model, d_head, bias=bias)

    def forward(self, x, mask=None):
        q, k = self.W_q(x).detach(), self.W_k(x).detach()  # "the weights are only for plotting"
        return tc.attention.scaled_dot_product_attention(q, k, self.W_v(x), mask)
