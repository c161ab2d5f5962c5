"""Notebook 02: the mistakes students make in the attention scores, the context vector and the decoder step."""
import torch

from .. import seq2seq


def _additive_no_tanh(query, keys, W_q, W_k, v):
    return ((query @ W_q.T).unsqueeze(1) + keys @ W_k.T) @ v


def _additive_sum_not_v(query, keys, W_q, W_k, v):
    return torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T).sum(-1)


def _additive_v_outside(query, keys, W_q, W_k, v):
    return torch.tanh(((query @ W_q.T).unsqueeze(1) + keys @ W_k.T) @ v)


ADDITIVE_SCORE = {
    "the tanh is missing: e = v . tanh(W_q q + W_k k)": _additive_no_tanh,
    "the hidden layer is summed instead of projected with v: e = v . tanh(...)": _additive_sum_not_v,
    "v is applied before the tanh: the tanh acts on the hidden layer, v reads it afterwards": _additive_v_outside,
}


def _dot_scaled(query, keys):
    return seq2seq.dot_score(query, keys) / query.shape[-1] ** 0.5


def _dot_positions_first(query, keys):
    if query.dim() == 2:
        raise ValueError("only the T-query form can be transposed")
    return seq2seq.dot_score(query, keys).transpose(-2, -1)


DOT_SCORE = {
    "the scores are divided by sqrt(D): that is notebook 03's scaled dot product; Luong's dot score is unscaled":
        _dot_scaled,
    "with T queries the result is (B, S, T): the queries must index the rows, (B, T, S)": _dot_positions_first,
}


def _general_transposed(query, keys, W):
    if W.shape[0] != W.shape[1]:
        raise ValueError("only a square W can be used transposed")
    return seq2seq.general_score(query, keys, W.T)


def _general_positions_first(query, keys, W):
    if query.dim() == 2:
        raise ValueError("only the T-query form can be transposed")
    return seq2seq.general_score(query, keys, W).transpose(-2, -1)


GENERAL_SCORE = {
    "W is used transposed: the score is q^T W k with W of shape (Dq, Dk)": _general_transposed,
    "with T queries the result is (B, S, T): the queries must index the rows, (B, T, S)": _general_positions_first,
    "the scores are divided by sqrt(Dk): Luong's general score is unscaled":
        lambda query, keys, W: seq2seq.general_score(query, keys, W) / keys.shape[-1] ** 0.5,
}


def _context(weights, values):
    return seq2seq.attention_context(weights, values), weights


def _context_scores_times_mask(scores, values, mask=None):
    return _context((scores if mask is None else scores * mask).softmax(-1), values)


def _context_mask_ignored(scores, values, mask=None):
    return _context(scores.softmax(-1), values)


def _context_softmax_over_batch(scores, values, mask=None):
    if scores.shape[0] < 2:
        raise ValueError("one sentence: the batch axis cannot be confused with the positions")
    filled = scores if mask is None else scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = filled.softmax(0)
    return _context(weights if mask is None else weights * mask, values)


def _context_uniform_empty_rows(scores, values, mask=None):
    if mask is None:
        return _context(scores.softmax(-1), values)
    return _context(scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(-1), values)


def _context_neg_inf(scores, values, mask=None):
    if mask is None:
        return _context(scores.softmax(-1), values)
    return _context(scores.masked_fill(~mask, float("-inf")).softmax(-1), values)


CONTEXT_VECTOR = {
    "padding was masked by multiplying the scores by the mask: exp(0) = 1, so padding still gets weight":
        _context_scores_times_mask,
    "the mask is ignored: padding positions must get zero weight": _context_mask_ignored,
    "the softmax runs over the batch axis; it must run over the positions (dim=-1)": _context_softmax_over_batch,
    "a row with no position to attend to must get zero weights (and a zero context); a softmax over equal "
    "very negative scores gives a uniform row instead": _context_uniform_empty_rows,
    "masked scores were set to -inf: a row with no position to attend to then gives 0/0 = NaN; use a finite "
    "minimum and zero such rows": _context_neg_inf,
}


def _step_mask_ignored(decoder, y_prev, hidden, enc_outputs, src_mask):
    return decoder.step(y_prev, hidden, enc_outputs, None)


def _step_logits_from_old_state(decoder, y_prev, hidden, enc_outputs, src_mask):
    context, weights = decoder.attention(hidden, enc_outputs, mask=src_mask)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([emb, context], dim=-1), hidden)
    return decoder.out(torch.cat([hidden, context, emb], dim=-1)), new_hidden, weights


def _step_luong_order(decoder, y_prev, hidden, enc_outputs, src_mask):
    # the cell runs first on the old context-free input, then the new state asks
    emb = decoder.embedding(y_prev)
    context_prev, _ = decoder.attention(hidden, enc_outputs, mask=src_mask)
    new_hidden = decoder.cell(torch.cat([emb, context_prev], dim=-1), hidden)
    context, weights = decoder.attention(new_hidden, enc_outputs, mask=src_mask)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=-1)), new_hidden, weights


def _step_cell_input_swapped(decoder, y_prev, hidden, enc_outputs, src_mask):
    context, weights = decoder.attention(hidden, enc_outputs, mask=src_mask)
    emb = decoder.embedding(y_prev)
    new_hidden = decoder.cell(torch.cat([context, emb], dim=-1), hidden)
    return decoder.out(torch.cat([new_hidden, context, emb], dim=-1)), new_hidden, weights


DECODER_STEP = {
    "src_mask was not passed to the attention: padding positions got weight": _step_mask_ignored,
    "the logits were computed from the previous state; the output layer reads the new state s_i": _step_logits_from_old_state,
    "the new state was used as the query (attention after the cell, Luong's order); here the previous state "
    "s_{i-1} asks, before the cell runs": _step_luong_order,
    "the cell input is concatenated as [context, embedding]; its weights expect [embedding, context]":
        _step_cell_input_swapped,
}
