"""Notebook 07: the mistakes students make with masks, the decoder layer and the decoding loops."""
import torch

from .. import masks


def _causal_top_left(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    if T_k == T_q:
        raise ValueError("square: top-left and bottom-right alignment agree")
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril()


def _ones(T_q, T_k, device):
    return torch.ones(T_q, T_q if T_k is None else T_k, dtype=torch.bool, device=device)


def _offset(T_q, T_k):
    return (T_q if T_k is None else T_k) - T_q


CAUSAL_MASK = {
    "the mask is upper triangular: a query would see the future, not the past":
        lambda T_q, T_k=None, device=None: _ones(T_q, T_k, device).triu(_offset(T_q, T_k)),
    "the diagonal is missing: a token may always attend to itself":
        lambda T_q, T_k=None, device=None: _ones(T_q, T_k, device).tril(_offset(T_q, T_k) - 1),
    "the mask is inverted (True where attention is forbidden, PyTorch's nn.MultiheadAttention convention)":
        lambda T_q, T_k=None, device=None: ~_ones(T_q, T_k, device).tril(_offset(T_q, T_k)),
    "the triangle starts at the top-left corner: with T_q < T_k the queries are the *last* T_q positions, so "
    "query i may see keys 0 .. T_k - T_q + i (shift the diagonal by T_k - T_q)": _causal_top_left,
}


def _padding_zero(tokens, pad_id):
    if pad_id == 0:
        raise ValueError("pad id 0: the hard-coded 0 is right by chance")
    return (tokens != 0)[:, None, None, :]


PADDING_MASK = {
    "the mask is inverted: True must mark real tokens (may attend), not padding":
        lambda tokens, pad_id: (tokens == pad_id)[:, None, None, :],
    "the pad id is hard-coded as 0; compare with the pad_id argument": _padding_zero,
    "the shape is (B, 1, T): against scores (B, H, T_q, T_k) the batch axis then lines up with the heads; "
    "it must be (B, 1, 1, T)": lambda tokens, pad_id: (tokens != pad_id)[:, None, :],
    "the mask hides queries instead of keys: use shape (B, 1, 1, T), not (B, 1, T, 1)":
        lambda tokens, pad_id: (tokens != pad_id)[:, None, :, None],
}


def _combine_first_two(*ms):
    present = [m for m in ms if m is not None]
    if len(present) < 3:
        raise ValueError("two masks or fewer: nothing is left out")
    return present[0] & present[1]


def _combine_or(*ms):
    present = [m for m in ms if m is not None]
    if len(present) < 2:
        raise ValueError("one mask: AND and OR agree")
    out = present[0]
    for m in present[1:]:
        out = out | m
    return out


COMBINE_MASKS = {
    "masks are combined with OR; a key is allowed only if *every* mask allows it (AND)": _combine_or,
    "only the first two masks are combined: every mask given must take part": _combine_first_two,
}


def _softmax_zero_fill(scores, mask):
    return (scores * mask).softmax(dim=-1)


def _softmax_then_mask(scores, mask):
    return scores.softmax(dim=-1) * mask


def _softmax_uniform_empty_rows(scores, mask):
    return scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(dim=-1)


def _softmax_neg_inf(scores, mask):
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)


MASKED_SOFTMAX = {
    "masked scores were set to 0, but exp(0) = 1 still gives them weight: fill with a very negative number":
        _softmax_zero_fill,
    "the softmax was taken before masking, so the allowed weights no longer sum to 1": _softmax_then_mask,
    "a row with no allowed position must be all zeros; a softmax over equal very negative scores gives a "
    "uniform row instead": _softmax_uniform_empty_rows,
    "masked scores were set to -inf: a row with no allowed position gives 0/0 = NaN; use a finite minimum "
    "and zero such rows": _softmax_neg_inf,
}


def decoder_layer_forward(layer, x, memory, tgt_mask=None, memory_mask=None, *, causal=True, tgt_padding=True,
                          memory_padding=True, norms=("norm1", "norm2", "norm3"), pre_norm=False):
    """A post-norm decoder layer's forward in evaluation mode, with switches for the common mistakes.

    ``layer`` is any module with ``self_attn``, ``cross_attn``, ``ff`` and ``norm1..3`` (the library's
    ``tc.blocks.DecoderLayer`` or the notebook's); dropout is left out, so compare in ``eval()`` mode.
    """
    T = x.shape[1]
    self_mask = masks.combine_masks(tgt_mask if tgt_padding else None,
                                    masks.causal_mask(T, device=x.device) if causal else None)
    cross_mask = memory_mask if memory_padding else None
    n1, n2, n3 = (getattr(layer, name) for name in norms)
    if pre_norm:
        h = n1(x)
        x = x + layer.self_attn(h, h, h, mask=self_mask)[0]
        x = x + layer.cross_attn(n2(x), memory, memory, mask=cross_mask)[0]
        return x + layer.ff(n3(x))
    x = n1(x + layer.self_attn(x, x, x, mask=self_mask)[0])
    x = n2(x + layer.cross_attn(x, memory, memory, mask=cross_mask)[0])
    return n3(x + layer.ff(x))


DECODER_LAYER = {
    "the self-attention is not causal: the layer must add the look-ahead mask itself":
        lambda layer, x, m, tm, mm: decoder_layer_forward(layer, x, m, tm, mm, causal=False),
    "the target padding mask (tgt_mask) is not applied; combine it with the look-ahead mask":
        lambda layer, x, m, tm, mm: decoder_layer_forward(layer, x, m, tm, mm, tgt_padding=False),
    "the source padding mask (memory_mask) is not applied in cross-attention":
        lambda layer, x, m, tm, mm: decoder_layer_forward(layer, x, m, tm, mm, memory_padding=False),
    "this is the pre-norm order x + f(norm(x)); the layer is post-norm: norm(x + f(x))":
        lambda layer, x, m, tm, mm: decoder_layer_forward(layer, x, m, tm, mm, pre_norm=True),
    "one LayerNorm serves all three sub-layers; each sub-layer has its own (norm1, norm2, norm3)":
        lambda layer, x, m, tm, mm: decoder_layer_forward(layer, x, m, tm, mm, norms=("norm1",) * 3),
}


@torch.no_grad()
def _greedy(model, src, max_len, bos_id, eos_id, *, pad_id=None, pad_after_eos=True, keep_bos=False,
            stop_early=True):
    pad_id = model.pad_id if pad_id is None else pad_id
    memory, src_mask = model.encode(src)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        next_token = model.decoder(out, memory, memory_mask=src_mask)[:, -1].argmax(-1)
        if pad_after_eos:
            next_token = next_token.masked_fill(done, pad_id)
        out = torch.cat([out, next_token[:, None]], dim=1)
        done |= next_token == eos_id
        if stop_early and done.all():
            break
    return out if keep_bos else out[:, 1:]


def _greedy_pad_zero(model, src, max_len, bos_id, eos_id):
    if model.pad_id == 0:
        raise ValueError("pad id 0: the hard-coded 0 is right by chance")
    return _greedy(model, src, max_len, bos_id, eos_id, pad_id=0)


GREEDY_DECODE = {
    "after a row's EOS, every later token must be model.pad_id":
        lambda model, src, n, b, e: _greedy(model, src, n, b, e, pad_after_eos=False),
    "the padding after EOS is hard-coded as 0; use model.pad_id": _greedy_pad_zero,
    "the result must not start with the BOS token": lambda model, src, n, b, e: _greedy(model, src, n, b, e, keep_bos=True),
    "the loop must stop as soon as every row has produced EOS (the result is then shorter than max_len)":
        lambda model, src, n, b, e: _greedy(model, src, n, b, e, stop_early=False),
}


@torch.no_grad()
def beam_search_one(model, src, max_len, bos_id, eos_id, beam_size, *, one_start=True, frozen=True,
                    cumulative=True):
    """Beam search for one sentence ``src`` (1, S), with switches for the common mistakes; (1, T_out)."""
    memory, src_mask = model.encode(src)
    tokens = torch.full((1, 1), bos_id, dtype=torch.long, device=src.device)
    scores = torch.zeros(1, dtype=memory.dtype, device=src.device)
    if not one_start:  # beam_size copies of <bos>, all with score 0
        tokens, scores = tokens.repeat(beam_size, 1), scores.repeat(beam_size)
    finished = torch.zeros(len(tokens), dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        k = len(tokens)
        logits = model.decoder(tokens, memory.expand(k, -1, -1), memory_mask=src_mask.expand(k, -1, -1, -1))
        log_probs = logits[:, -1].log_softmax(dim=-1)
        if frozen:
            pad_only = torch.full_like(log_probs[0], float("-inf"))
            pad_only[model.pad_id] = 0.0
            log_probs = torch.where(finished[:, None], pad_only, log_probs)
        candidates = (scores[:, None] + log_probs) if cumulative else log_probs
        best, index = candidates.flatten().topk(min(beam_size, candidates.numel()))
        rows, new = index // log_probs.shape[1], index % log_probs.shape[1]
        scores = best if cumulative else scores[rows] + log_probs[rows, new]
        tokens = torch.cat([tokens[rows], new[:, None]], dim=1)
        finished = finished[rows] | (new == eos_id)
        if finished.all():
            break
    best = tokens[int(scores.argmax()), 1:]
    ends = (best == eos_id).nonzero()
    return best[: int(ends[0]) + 1 if len(ends) else len(best)][None]


BEAM_SEARCH = {
    "the search starts from beam_size copies of <bos>: they are extended identically and the beam holds "
    "copies of one hypothesis (this is greedy decoding); start from a single <bos>":
        lambda model, src, n, b, e, k: beam_search_one(model, src, n, b, e, k, one_start=False),
    "a finished hypothesis kept collecting log-probabilities after its EOS; its only extension is pad_id, "
    "at log-probability 0, so its score stays frozen":
        lambda model, src, n, b, e, k: beam_search_one(model, src, n, b, e, k, frozen=False),
    "candidates are ranked by the log-probability of their last token only; the score of a hypothesis is the "
    "sum over all its tokens":
        lambda model, src, n, b, e, k: beam_search_one(model, src, n, b, e, k, cumulative=False),
}
