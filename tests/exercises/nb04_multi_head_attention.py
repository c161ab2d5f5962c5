"""Notebook 04: alternative answers, right and wrong (see variants.py)."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "04_multi_head_attention"


# --------------------------------------------------------------------------- Exercise 1: split_heads

@correct("split_heads")
def split_unflatten(x, n_heads):
    return x.unflatten(-1, (n_heads, -1)).transpose(1, 2)


@correct("split_heads")
def split_stack_chunks(x, n_heads):
    return torch.stack(x.chunk(n_heads, dim=-1), dim=1)


@correct("split_heads")
def split_reshape_permute(x, n_heads):
    B, T, D = x.size()
    return x.reshape(B, T, n_heads, D // n_heads).permute(0, 2, 1, 3)


@mutant("split_heads", bug="view to (B, n_heads, T, d_head) without transpose", cause="without a transpose",
        names="without a transpose")
def split_view_only(x, n_heads):
    B, T, D = x.shape
    return x.view(B, n_heads, T, D // n_heads)


@mutant("split_heads", bug="forgot the transpose: (B, T, n_heads, d_head)", cause="still after T", names="still after T")
def split_no_transpose(x, n_heads):
    B, T, D = x.shape
    return x.view(B, T, n_heads, D // n_heads)


@mutant("split_heads", bug="splits features as (d_head, n_heads): strided heads", cause="every n_heads-th feature",
        names="every n_heads-th feature")
def split_strided(x, n_heads):
    B, T, D = x.shape
    return x.view(B, T, D // n_heads, n_heads).permute(0, 3, 1, 2)


@mutant("split_heads", bug="n_heads and d_head swapped", cause="swapped", names="swapped")
def split_swapped_sizes(x, n_heads):
    B, T, D = x.shape
    return x.view(B, T, D // n_heads, n_heads).transpose(1, 2)


@mutant("split_heads", bug="calls the library", cause=None, names="yourself")
def split_library(x, n_heads):
    return tc.multihead.split_heads(x, n_heads)


# --------------------------------------------------------------------------- Exercise 2: merge_heads

@correct("merge_heads")
def merge_permute_flatten(x):
    return x.permute(0, 2, 1, 3).flatten(2)


@correct("merge_heads")
def merge_cat_heads(x):
    return torch.cat(x.unbind(1), dim=-1)


@mutant("merge_heads", bug="reshape without transposing back", cause="without transposing back",
        names="without transposing back")
def merge_no_transpose(x):
    B, H, T, d = x.shape
    return x.reshape(B, T, H * d)


@mutant("merge_heads", bug="heads interleaved (permute to (B, T, d_head, n_heads))", cause="interleaved", names="interleaved")
def merge_interleaved(x):
    B, H, T, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * d)


@mutant("merge_heads", bug="only transposes: (B, T, n_heads, d_head)", cause="merged into one dimension",
        names="merged into one dimension")
def merge_transpose_only(x):
    return x.transpose(1, 2)


@mutant("merge_heads", bug="view after transpose (non-contiguous)", cause=None)
def merge_view(x):
    B, H, T, d = x.shape
    return x.transpose(1, 2).view(B, T, H * d)


@mutant("merge_heads", bug="calls the library", cause=None, names="yourself")
def merge_library(x):
    return tc.multihead.merge_heads(x)


# --------------------------------------------------------------------------- Exercise 3: load_torch_weights

@correct("load_torch_weights")
def load_by_slices(ours, theirs):
    d = theirs.embed_dim
    with torch.no_grad():
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            getattr(ours, name).weight.copy_(theirs.in_proj_weight[i * d:(i + 1) * d])
            if theirs.in_proj_bias is not None:
                getattr(ours, name).bias.copy_(theirs.in_proj_bias[i * d:(i + 1) * d])
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        if theirs.out_proj.bias is not None:
            ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours


@correct("load_torch_weights")
def load_state_dict_built(ours, theirs):
    state = {}
    for name, w in zip(("q_proj", "k_proj", "v_proj"), theirs.in_proj_weight.detach().chunk(3)):
        state[f"{name}.weight"] = w
    if theirs.in_proj_bias is not None:
        for name, b in zip(("q_proj", "k_proj", "v_proj"), theirs.in_proj_bias.detach().chunk(3)):
            state[f"{name}.bias"] = b
    for name, p in theirs.out_proj.state_dict().items():
        state[f"out_proj.{name}"] = p
    ours.load_state_dict(state)  # load_state_dict copies the values
    return ours


@correct("load_torch_weights")
def load_new_parameters(ours, theirs):
    projections = (ours.q_proj, ours.k_proj, ours.v_proj)
    for proj, w in zip(projections, theirs.in_proj_weight.chunk(3)):
        proj.weight = nn.Parameter(w.detach().clone())
    if theirs.in_proj_bias is not None:
        for proj, b in zip(projections, theirs.in_proj_bias.chunk(3)):
            proj.bias = nn.Parameter(b.detach().clone())
    ours.out_proj.weight = nn.Parameter(theirs.out_proj.weight.detach().clone())
    if theirs.out_proj.bias is not None:
        ours.out_proj.bias = nn.Parameter(theirs.out_proj.bias.detach().clone())
    return ours


def _copy(ours, theirs, order=(0, 1, 2), bias=True, out=True, out_bias=True, transpose=False, first_bias=False):
    with torch.no_grad():
        projections = (ours.q_proj, ours.k_proj, ours.v_proj)
        chunks = theirs.in_proj_weight.chunk(3)
        for proj, i in zip(projections, order):
            proj.weight.copy_(chunks[i].T if transpose else chunks[i])
        if bias and theirs.in_proj_bias is not None:
            biases = theirs.in_proj_bias.chunk(3)
            for proj, i in zip(projections, order):
                proj.bias.copy_(biases[0] if first_bias else biases[i])
        if out:
            ours.out_proj.weight.copy_(theirs.out_proj.weight)
            if out_bias and theirs.out_proj.bias is not None:
                ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours


@mutant("load_torch_weights", bug="chunks in the order K, Q, V", cause="order W_Q, W_K, W_V", names="order W_Q, W_K, W_V")
def load_wrong_order(ours, theirs):
    with torch.no_grad():
        k, q, v = theirs.in_proj_weight.chunk(3)
        ours.q_proj.weight.copy_(q)
        ours.k_proj.weight.copy_(k)
        ours.v_proj.weight.copy_(v)
        if theirs.in_proj_bias is not None:
            kb, qb, vb = theirs.in_proj_bias.chunk(3)
            ours.q_proj.bias.copy_(qb)
            ours.k_proj.bias.copy_(kb)
            ours.v_proj.bias.copy_(vb)
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())
    return ours


@mutant("load_torch_weights", bug="in_proj_bias not copied (zero in a fresh module)", cause="in_proj_bias was not copied",
        names="in_proj_bias was not copied")
def load_no_in_bias(ours, theirs):
    with torch.no_grad():
        for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3)):
            proj.weight.copy_(w)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
        if theirs.out_proj.bias is not None:
            ours.out_proj.bias.copy_(theirs.out_proj.bias)
    return ours


@mutant("load_torch_weights", bug="every projection gets the first bias chunk", cause="first chunk of in_proj_bias",
        names="first chunk of in_proj_bias")
def load_first_bias_chunk(ours, theirs):
    d = theirs.embed_dim
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * d:(i + 1) * d])
            if theirs.in_proj_bias is not None:
                proj.bias.copy_(theirs.in_proj_bias[:d])
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())
    return ours


@mutant("load_torch_weights", bug="weights transposed", cause="transposed", names="transposed")
def load_transposed(ours, theirs):
    with torch.no_grad():
        for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3)):
            proj.weight.copy_(w.T)
        if theirs.in_proj_bias is not None:
            for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
                proj.bias.copy_(b)
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())
    return ours


@mutant("load_torch_weights", bug="out_proj.bias not copied", cause="out_proj.bias was not copied",
        names="out_proj.bias was not copied")
def load_no_out_bias(ours, theirs):
    with torch.no_grad():
        for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3)):
            proj.weight.copy_(w)
        if theirs.in_proj_bias is not None:
            for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
                proj.bias.copy_(b)
        ours.out_proj.weight.copy_(theirs.out_proj.weight)
    return ours


@mutant("load_torch_weights", bug="assigns .data: ours shares memory with theirs", cause=None, names="shares memory")
def load_shared_data(ours, theirs):
    for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3)):
        proj.weight.data = w.data
    if theirs.in_proj_bias is not None:
        for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
            proj.bias.data = b.data
    ours.out_proj.weight.data = theirs.out_proj.weight.data
    if theirs.out_proj.bias is not None:
        ours.out_proj.bias.data = theirs.out_proj.bias.data
    return ours


@mutant("load_torch_weights", bug="forgets to return ours", cause=None, names="return `ours`")
def load_no_return(ours, theirs):
    with torch.no_grad():
        for proj, w in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3)):
            proj.weight.copy_(w)
        if theirs.in_proj_bias is not None:
            for proj, b in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3)):
                proj.bias.copy_(b)
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())


@mutant("load_torch_weights", bug="calls the library's load_from_torch", cause=None, names="yourself")
def load_library(ours, theirs):
    return ours.load_from_torch(theirs)


# --------------------------------------------------------------------------- Exercise 4: MultiHeadAttention

@correct("multi_head_attention")
class MultiHeadAttentionLoopOverHeads(nn.Module):
    """One head at a time, slicing the projections and the mask: slower, but right."""

    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)
        B, T_q, D = q.shape
        T_k, d = k.shape[1], D // self.n_heads
        if mask is not None:
            mask = torch.broadcast_to(mask, (B, self.n_heads, T_q, T_k))
        outs, weights = [], []
        for h in range(self.n_heads):
            part = slice(h * d, (h + 1) * d)
            o, w = tc.attention.scaled_dot_product_attention(q[..., part], k[..., part], v[..., part],
                                                             None if mask is None else mask[:, h])
            outs.append(o)
            weights.append(w)
        return self.out_proj(torch.cat(outs, dim=-1)), torch.stack(weights, dim=1)


@correct("multi_head_attention")
class MultiHeadAttentionOwnReshapes(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _split(self, x):
        return x.reshape(x.shape[0], x.shape[1], self.n_heads, self.d_head).permute(0, 2, 1, 3)

    def forward(self, query, key, value, mask=None):
        q = self._split(F.linear(query, self.q_proj.weight, self.q_proj.bias))
        k = self._split(F.linear(key, self.k_proj.weight, self.k_proj.bias))
        v = self._split(F.linear(value, self.v_proj.weight, self.v_proj.bias))
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.d_head)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.nan_to_num(scores.softmax(dim=-1), nan=0.0)
        out = torch.einsum("bhqk,bhkd->bqhd", weights, v).flatten(2)
        return self.out_proj(out), weights


class _Base(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)


@mutant("multi_head_attention", bug="split with a view, no transpose", cause="without a transpose",
        names="without a transpose")
class MHASplitWithView(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        def split(x):
            B, T, D = x.shape
            return x.view(B, self.n_heads, T, D // self.n_heads)
        q, k, v = split(self.q_proj(query)), split(self.k_proj(key)), split(self.v_proj(value))
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(tc.multihead.merge_heads(out)), weights


@mutant("multi_head_attention", bug="merge without transposing back", cause="without transposing back",
        names="without transposing back")
class MHAMergeWithoutTranspose(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(query), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.v_proj(value), self.n_heads)
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(out.reshape(out.shape[0], out.shape[2], -1)), weights


@mutant("multi_head_attention", bug="no output projection", cause="out_proj is missing", names="out_proj is missing")
class MHANoOutProj(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(query), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.v_proj(value), self.n_heads)
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return tc.multihead.merge_heads(out), weights


@mutant("multi_head_attention", bug="writes the attention with sqrt(d_model)", cause="sqrt(d_model)", names="sqrt(d_model)")
class MHAScaledByDModel(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads, self.d_model = n_heads, d_model
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(query), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.v_proj(value), self.n_heads)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_model)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(-1)
        return self.out_proj(tc.multihead.merge_heads(weights @ v)), weights


@mutant("multi_head_attention", bug="values projected with k_proj", cause="v_proj", names="v_proj")
class MHAValuesFromK(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(query), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.k_proj(value), self.n_heads)
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(tc.multihead.merge_heads(out)), weights


@mutant("multi_head_attention", bug="queries projected from key (wrong only in cross-attention)",
        cause="projected from key", names="projected from key")
class MHAQueriesFromKey(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(key), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.v_proj(value), self.n_heads)
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(tc.multihead.merge_heads(out)), weights


@mutant("multi_head_attention", bug="bias argument not passed on (nn.Linear's default bias=True)",
        cause="bias argument is not passed on", names="bias argument is not passed on")
class MHAAlwaysBias(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(query), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.v_proj(value), self.n_heads)
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(tc.multihead.merge_heads(out)), weights


@mutant("multi_head_attention", bug="adds a head dimension to every mask (mask.unsqueeze(1))", cause=None)
class MHAMaskUnsqueezed(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        q = tc.multihead.split_heads(self.q_proj(query), self.n_heads)
        k = tc.multihead.split_heads(self.k_proj(key), self.n_heads)
        v = tc.multihead.split_heads(self.v_proj(value), self.n_heads)
        if mask is not None and mask.dim() < 4:
            mask = mask.unsqueeze(1)  # "(B, T_q, T_k) -> (B, 1, T_q, T_k)"
        out, weights = tc.attention.scaled_dot_product_attention(q, k, v, mask)
        return self.out_proj(tc.multihead.merge_heads(out)), weights


@mutant("multi_head_attention", bug="wraps nn.MultiheadAttention", cause=None, names="yourself")
class MHAWrapsTorch(nn.Module):
    def __init__(self, d_model, n_heads, bias=True):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, query, key, value, mask=None):
        inner = nn.MultiheadAttention(query.shape[-1], self.n_heads, bias=self.q_proj.bias is not None,
                                      batch_first=True).to(query.dtype)
        with torch.no_grad():
            inner.in_proj_weight.copy_(torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]))
        return inner(query, key, value, attn_mask=None if mask is None else ~mask, average_attn_weights=False)
