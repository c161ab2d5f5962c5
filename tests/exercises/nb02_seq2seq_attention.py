"""Notebook 02: alternative answers, right and wrong (see variants.py)."""
import torch
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "02_seq2seq_attention"


# --------------------------------------------------------------------------- Exercise 1: additive_score
@correct("additive_score")
def additive_einsum(query, keys, W_q, W_k, v):
    hidden = torch.einsum("ad,bd->ba", W_q, query)[:, None, :] + torch.einsum("ad,bsd->bsa", W_k, keys)
    return torch.einsum("bsa,a->bs", torch.tanh(hidden), v)


@correct("additive_score")
def additive_linear(query, keys, W_q, W_k, v):
    return F.linear(torch.tanh(F.linear(keys, W_k) + F.linear(query, W_q)[:, None]), v[None])[..., 0]


@mutant("additive_score", bug="the tanh is missing", cause="tanh", names="tanh is missing")
def additive_no_tanh(query, keys, W_q, W_k, v):
    return ((query @ W_q.T).unsqueeze(1) + keys @ W_k.T) @ v


@mutant("additive_score", bug="sums the hidden layer instead of projecting it with v", cause="summed",
        names="summed instead of projected")
def additive_sum(query, keys, W_q, W_k, v):
    return torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T).sum(dim=-1)


@mutant("additive_score", bug="the query has no position axis: it is added to the wrong rows", cause=None)
def additive_no_unsqueeze(query, keys, W_q, W_k, v):
    return torch.tanh(query @ W_q.T + keys @ W_k.T) @ v


@mutant("additive_score", bug="v applied before the tanh", cause="before the tanh")
def additive_v_inside(query, keys, W_q, W_k, v):
    return torch.tanh(((query @ W_q.T).unsqueeze(1) + keys @ W_k.T) @ v)


@mutant("additive_score", bug="calls the library's additive_score", cause=None)
def additive_library(query, keys, W_q, W_k, v):
    return tc.seq2seq.additive_score(query, keys, W_q, W_k, v)


# --------------------------------------------------------------------------- Exercise 2: dot_score
@correct("dot_score")
def dot_einsum(query, keys):
    return torch.einsum("b...d,bsd->b...s", query, keys)


@correct("dot_score")
def dot_broadcast(query, keys):
    if query.dim() == 2:
        return (query[:, None, :] * keys).sum(dim=-1)
    return (query[:, :, None, :] * keys[:, None, :, :]).sum(dim=-1)


@mutant("dot_score", bug="divides by sqrt(D) as in notebook 03", cause="sqrt(D)", names="unscaled")
def dot_scaled(query, keys):
    return torch.einsum("b...d,bsd->b...s", query, keys) / query.shape[-1] ** 0.5


@mutant("dot_score", bug="handles only one query per sentence", cause=None)
def dot_one_query_only(query, keys):
    return (keys @ query.unsqueeze(-1)).squeeze(-1)


@mutant("dot_score", bug="T queries give (B, S, T): keys @ queries^T", cause="(B, S, T)")
def dot_transposed(query, keys):
    if query.dim() == 2:
        return (keys @ query.unsqueeze(-1)).squeeze(-1)
    return keys @ query.transpose(-2, -1)


@mutant("dot_score", bug="squeezes every size-1 axis, so T = 1 loses its axis", cause=None)
def dot_squeeze_all(query, keys):
    return torch.einsum("b...d,bsd->b...s", query, keys).squeeze()


@mutant("dot_score", bug="calls the library's dot_score", cause=None)
def dot_library(query, keys):
    return tc.seq2seq.dot_score(query, keys)


# --------------------------------------------------------------------------- Exercise 3: general_score
@correct("general_score")
def general_project_keys(query, keys, W):
    # q^T (W k): projects every key, more work when S > T, same numbers
    projected = keys @ W.T                                    # (B, S, Dq)
    return torch.einsum("b...d,bsd->b...s", query, projected)


@correct("general_score")
def general_einsum(query, keys, W):
    return torch.einsum("b...q,qk,bsk->b...s", query, W, keys)


@mutant("general_score", bug="W used transposed", cause="transposed")
def general_w_transposed(query, keys, W):
    return dot_score(query @ W.T, keys)  # noqa: F821 (the notebook's dot_score)


@mutant("general_score", bug="handles only one query per sentence", cause=None)
def general_one_query_only(query, keys, W):
    return (keys @ (query @ W).unsqueeze(-1)).squeeze(-1)


@mutant("general_score", bug="scaled by sqrt(Dk)", cause="sqrt(Dk)")
def general_scaled(query, keys, W):
    return dot_score(query @ W, keys) / keys.shape[-1] ** 0.5  # noqa: F821


@mutant("general_score", bug="T queries give (B, S, T)", cause="(B, S, T)")
def general_transposed_result(query, keys, W):
    if query.dim() == 2:
        return (keys @ (query @ W).unsqueeze(-1)).squeeze(-1)
    return keys @ (query @ W).transpose(-2, -1)


@mutant("general_score", bug="calls the library's dot_score after projecting", cause=None)
def general_library_dot(query, keys, W):
    return tc.seq2seq.dot_score(query @ W, keys)


# --------------------------------------------------------------------------- Exercise 4: context_vector
@correct("context_vector")
def context_where(scores, values, mask=None):
    if mask is None:
        weights = torch.softmax(scores, dim=-1)
    else:
        masked = scores.masked_fill(~mask, float("-inf"))
        weights = torch.where(mask.any(dim=-1, keepdim=True), masked.softmax(dim=-1), torch.zeros_like(scores))
    return torch.einsum("bs,bsv->bv", weights, values), weights


@correct("context_vector")
def context_by_hand(scores, values, mask=None):
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    shifted = scores - scores.masked_fill(~mask, -1e30).amax(dim=-1, keepdim=True).clamp(min=-1e30)
    e = torch.exp(shifted.masked_fill(~mask, -1e30)) * mask
    weights = e / e.sum(dim=-1, keepdim=True).clamp(min=1e-30)
    return (weights[..., None] * values).sum(dim=1), weights


@correct("context_vector")
def context_nan_to_num(scores, values, mask=None):
    filled = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
    weights = torch.nan_to_num(filled.softmax(dim=-1), nan=0.0)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


@mutant("context_vector", bug="multiplies the scores by the mask", cause="multiplying the scores",
        names="multiplying the scores by the mask")
def context_times_mask(scores, values, mask=None):
    weights = (scores if mask is None else scores * mask).softmax(dim=-1)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


@mutant("context_vector", bug="fills with -inf: a fully masked row is NaN", cause=("-inf", "fully masked row"),
        names="-inf")
def context_neg_inf(scores, values, mask=None):
    filled = scores if mask is None else scores.masked_fill(~mask, float("-inf"))
    weights = filled.softmax(dim=-1)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


@mutant("context_vector", bug="forgets to zero the rows that are entirely masked (uniform weights)",
        cause="no position to attend to", names="must get zero weights")
def context_uniform_empty_rows(scores, values, mask=None):
    filled = scores if mask is None else scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = filled.softmax(dim=-1)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


@mutant("context_vector", bug="a softmax written with exp and no max subtraction overflows on large scores",
        cause="exp overflow")
def context_naive_exp(scores, values, mask=None):
    e = torch.exp(scores)
    if mask is not None:
        e = e * mask
    weights = e / e.sum(dim=-1, keepdim=True).clamp(min=1e-30)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


@mutant("context_vector", bug="softmax over the batch axis", cause="batch axis")
def context_batch_axis(scores, values, mask=None):
    filled = scores if mask is None else scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = filled.softmax(dim=0)
    if mask is not None:
        weights = weights * mask
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


@mutant("context_vector", bug="calls the library's masked softmax", cause=None)
def context_library(scores, values, mask=None):
    weights = tc.seq2seq.masked_softmax(scores, mask)
    return (weights.unsqueeze(1) @ values).squeeze(1), weights


# --------------------------------------------------------------------------- Exercise 5: decoder_step
@correct("decoder_step")
def step_separate_parts(decoder, y_prev, hidden, enc_outputs, src_mask):
    scores = decoder.attention.score(hidden, enc_outputs)
    scores = scores.masked_fill(~src_mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1) * src_mask
    context = torch.einsum("bs,bse->be", weights, enc_outputs)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([emb, context], dim=1), hidden)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=1)), new_hidden, weights


@correct("decoder_step")
def step_split_linear(decoder, y_prev, hidden, enc_outputs, src_mask):
    emb = decoder.embedding(y_prev)
    context, weights = decoder.attention(hidden, enc_outputs, mask=src_mask)
    new_hidden = decoder.cell(torch.cat((emb, context), -1), hidden)
    H, E = new_hidden.shape[-1], context.shape[-1]
    W, b = decoder.out.weight, decoder.out.bias
    logits = new_hidden @ W[:, :H].T + context @ W[:, H:H + E].T + emb @ W[:, H + E:].T + b
    return logits, new_hidden, weights


@mutant("decoder_step", bug="logits from the previous state", cause="previous state",
        names="computed from the previous state")
def step_old_state_logits(decoder, y_prev, hidden, enc_outputs, src_mask):
    context, weights = decoder.attention(hidden, enc_outputs, mask=src_mask)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([emb, context], dim=-1), hidden)
    return decoder.out(torch.cat([hidden, context, emb], dim=-1)), new_hidden, weights


@mutant("decoder_step", bug="the padding mask is not passed to the attention", cause="src_mask",
        names="src_mask was not passed")
def step_no_mask(decoder, y_prev, hidden, enc_outputs, src_mask):
    context, weights = decoder.attention(hidden, enc_outputs)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([emb, context], dim=-1), hidden)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=-1)), new_hidden, weights


@mutant("decoder_step", bug="attends with the new state for the output (Luong's order)", cause="new state",
        names="Luong's order")
def step_luong(decoder, y_prev, hidden, enc_outputs, src_mask):
    emb = decoder.embedding(y_prev)
    old_context, _ = decoder.attention(hidden, enc_outputs, mask=src_mask)
    new_hidden = decoder.cell(torch.cat([emb, old_context], dim=-1), hidden)
    context, weights = decoder.attention(new_hidden, enc_outputs, mask=src_mask)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=-1)), new_hidden, weights


@mutant("decoder_step", bug="cell input concatenated as [context, embedding]", cause="[context, embedding]",
        names="[context, embedding]")
def step_swapped_cell_input(decoder, y_prev, hidden, enc_outputs, src_mask):
    context, weights = decoder.attention(hidden, enc_outputs, mask=src_mask)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([context, emb], dim=-1), hidden)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=-1)), new_hidden, weights


@mutant("decoder_step", bug="the previous state is detached, so no gradient reaches it", cause=None)
def step_detached(decoder, y_prev, hidden, enc_outputs, src_mask):
    hidden = hidden.detach()
    context, weights = decoder.attention(hidden, enc_outputs, mask=src_mask)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([emb, context], dim=-1), hidden)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=-1)), new_hidden, weights


@mutant("decoder_step", bug="calls the library's step", cause=None)
def step_library(decoder, y_prev, hidden, enc_outputs, src_mask):
    return decoder.step(y_prev, hidden, enc_outputs, src_mask)
