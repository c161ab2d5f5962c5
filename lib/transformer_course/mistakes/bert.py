"""Notebook 08 (BERT): the wrong answers students most often write, one dict per exercise.

Each function has its exercise's signature and makes exactly the mistake its key
explains. The masking rule (Exercise 2) is random, so no single wrong output can
be matched: its test checks the rule's invariants and proportions instead, and
each of its messages names the mistake that breaks it.
"""
import torch
import torch.nn.functional as F


# --- Exercise 1: bert_embeddings(input_ids, token_type_ids, word, position, token_type, weight, bias, eps) ---

def _segments(input_ids, token_type_ids):
    return torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids


def _emb_no_segments(ids, types, we, pe, te, w, b, eps=1e-12):
    x = we[ids] + pe[: ids.shape[1]]
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def _emb_no_segment_when_none(ids, types, we, pe, te, w, b, eps=1e-12):
    x = we[ids] + pe[: ids.shape[1]]
    if types is not None:
        x = x + te[types]
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def _emb_no_norm(ids, types, we, pe, te, w, b, eps=1e-12):
    return we[ids] + pe[: ids.shape[1]] + te[_segments(ids, types)]


def _emb_norm_without_gain_and_bias(ids, types, we, pe, te, w, b, eps=1e-12):
    x = we[ids] + pe[: ids.shape[1]] + te[_segments(ids, types)]
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


def _emb_unbiased_variance(ids, types, we, pe, te, w, b, eps=1e-12):
    x = we[ids] + pe[: ids.shape[1]] + te[_segments(ids, types)]
    x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps)
    return x * w + b


def _emb_default_eps(ids, types, we, pe, te, w, b, eps=1e-12):
    x = we[ids] + pe[: ids.shape[1]] + te[_segments(ids, types)]
    return F.layer_norm(x, (x.shape[-1],), w, b)


def _emb_positions_from_one(ids, types, we, pe, te, w, b, eps=1e-12):
    x = we[ids] + pe[1: ids.shape[1] + 1] + te[_segments(ids, types)]
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


BERT_EMBEDDINGS = {
    # first: with token_type_ids=None both segment mistakes give the same output, and this one is the cause
    "with token_type_ids=None the segment embedding is left out; None means every token is in segment 0, "
    "and segment 0's vector is still added": _emb_no_segment_when_none,
    "the segment (token type) embedding is missing: add token_type_embeddings[token_type_ids]":
        _emb_no_segments,
    "the LayerNorm after the sum is missing": _emb_no_norm,
    "the LayerNorm ignores its weight and bias (norm_weight, norm_bias): pass them to F.layer_norm":
        _emb_norm_without_gain_and_bias,
    "the variance is the unbiased one (x.var divides by H - 1); LayerNorm divides by H: unbiased=False":
        _emb_unbiased_variance,
    "the eps argument is not used: F.layer_norm's default (1e-5) replaced it (BERT's is 1e-12)":
        _emb_default_eps,
    "positions start at 1; they run 0 .. T-1 (position 0 is [CLS]'s)": _emb_positions_from_one,
}


# --- Exercise 3: masked_lm_loss(logits, labels) ---------------------------------------------------------

def _loss_over_all_positions(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum") / labels.numel()


def _loss_ignored_as_class_zero(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.clamp(min=0).flatten())


def _loss_summed(logits, labels):
    chosen = labels != -100
    return F.cross_entropy(logits[chosen], labels[chosen], reduction="sum")


def _loss_without_log_softmax(logits, labels):
    chosen = labels != -100
    return F.nll_loss(logits[chosen], labels[chosen])


MASKED_LM_LOSS = {
    "the loss is averaged over all B*T positions; average over the positions whose label is not -100 only":
        _loss_over_all_positions,
    "the positions labelled -100 are scored too (as class 0): only positions whose label is not -100 count":
        _loss_ignored_as_class_zero,
    "the loss is summed over the chosen positions; take their mean": _loss_summed,
    "nll_loss got raw logits: it expects log-probabilities (log_softmax first, or use cross_entropy)":
        _loss_without_log_softmax,
}


# --- Exercise 4: mean_pool(sequence_output, attention_mask) --------------------------------------------

def _pool_over_all_positions(seq, mask):
    return seq.mean(1)


def _pool_divided_by_length(seq, mask):
    return (seq * mask[..., None].to(seq.dtype)).sum(1) / seq.shape[1]


def _pool_divided_by_batch_count(seq, mask):
    return (seq * mask[..., None].to(seq.dtype)).sum(1) / mask.sum()


def _pool_cls(seq, mask):
    return seq[:, 0]


def _pool_zero_over_zero(seq, mask):
    m = mask[..., None].to(seq.dtype)
    return (seq * m).sum(1) / m.sum(1)


MEAN_POOL = {
    "the padding positions are averaged in (a mean over all T positions); average over the positions where "
    "attention_mask is 1": _pool_over_all_positions,
    "the sum over real tokens is divided by T; divide each sentence by its own number of real tokens":
        _pool_divided_by_length,
    "the sum over real tokens is divided by the number of real tokens in the whole batch; each sentence "
    "needs its own count (sum the mask over dim 1)": _pool_divided_by_batch_count,
    "this is the [CLS] (first) vector, not the mean over the real tokens": _pool_cls,
    "a row without real tokens divides 0 by 0 (NaN): clamp the count to at least 1, so the vector is zeros":
        _pool_zero_over_zero,
}
