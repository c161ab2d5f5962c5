"""Notebook 07: alternative answers, right and wrong (see variants.py)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

import transformer_course as tc

from . import _nb07_helpers as h07
from .variants import correct, mutant

NOTEBOOK = "07_decoder_masking"


# --------------------------------------------------------------------------- Exercise 1: causal_mask
@correct("causal_mask")
def causal_arange(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    queries = torch.arange(T_k - T_q, T_k, device=device)     # the positions of the queries
    return torch.arange(T_k, device=device)[None, :] <= queries[:, None]


@correct("causal_mask")
def causal_square_then_slice(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return torch.tril(torch.ones(T_k, T_k, dtype=torch.bool, device=device))[T_k - T_q:]


@mutant("causal_mask", bug="the triangle is aligned to the top-left corner (tril without offset)",
        cause="top-left", names="top-left corner")
def causal_top_left(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril()


@mutant("causal_mask", bug="upper triangular (sees the future)", cause="upper triangular", names="upper triangular")
def causal_upper(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).triu(T_k - T_q)


@mutant("causal_mask", bug="inverted (PyTorch's True = blocked)", cause="inverted", names="inverted")
def causal_inverted(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return ~torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril(T_k - T_q)


@mutant("causal_mask", bug="the offset has the wrong sign", cause=None)
def causal_wrong_sign(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return torch.ones(T_q, T_k, dtype=torch.bool, device=device).tril(T_q - T_k)


@mutant("causal_mask", bug="a float mask of ones and zeros instead of bool", cause=None)
def causal_float(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return torch.ones(T_q, T_k, device=device).tril(T_k - T_q)


@mutant("causal_mask", bug="ignores device (always on the CPU)", cause=None)
def causal_no_device(T_q, T_k=None, device=None):
    T_k = T_q if T_k is None else T_k
    return torch.ones(T_q, T_k, dtype=torch.bool).tril(T_k - T_q)


@mutant("causal_mask", bug="calls the library", cause=None)
def causal_library(T_q, T_k=None, device=None):
    return tc.masks.causal_mask(T_q, T_k, device=device)


# --------------------------------------------------------------------------- Exercise 2: padding_mask
@correct("padding_mask")
def padding_view(tokens, pad_id):
    B, T = tokens.shape
    return tokens.ne(pad_id).view(B, 1, 1, T)


@correct("padding_mask")
def padding_unsqueeze(tokens, pad_id):
    return (tokens != pad_id).unsqueeze(1).unsqueeze(2)


@mutant("padding_mask", bug="pad id hard-coded as 0", cause="hard-coded", names="hard-coded")
def padding_zero(tokens, pad_id):
    return (tokens != 0)[:, None, None, :]


@mutant("padding_mask", bug="shape (B, 1, T): batch meets the heads", cause="(B, 1, T)", names="(B, 1, T)")
def padding_three_dims(tokens, pad_id):
    return (tokens != pad_id).unsqueeze(1)


@mutant("padding_mask", bug="inverted", cause="inverted", names="inverted")
def padding_inverted(tokens, pad_id):
    return (tokens == pad_id)[:, None, None, :]


@mutant("padding_mask", bug="hides queries (B, 1, T, 1)", cause="hides queries", names="hides queries")
def padding_queries(tokens, pad_id):
    return (tokens != pad_id)[:, None, :, None]


@mutant("padding_mask", bug="returns (B, T) with no broadcasting axes", cause=None)
def padding_flat(tokens, pad_id):
    return tokens != pad_id


@mutant("padding_mask", bug="calls the library", cause=None)
def padding_library(tokens, pad_id):
    return tc.masks.padding_mask(tokens, pad_id)


# --------------------------------------------------------------------------- Exercise 3: combine_masks
@correct("combine_masks")
def combine_functools(*masks):
    import functools
    present = [m for m in masks if m is not None]
    return functools.reduce(torch.logical_and, present) if present else None


@correct("combine_masks")
def combine_broadcast_all(*masks):
    present = [m for m in masks if m is not None]
    if not present:
        return None
    return torch.stack(torch.broadcast_tensors(*present)).all(dim=0)


@mutant("combine_masks", bug="combines with OR", cause="OR", names="OR")
def combine_or(*masks):
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        out = out | m
    return out


@mutant("combine_masks", bug="combines only the first two masks", cause="first two", names="first two")
def combine_two(*masks):
    present = [m for m in masks if m is not None]
    if not present:
        return None
    return present[0] & present[1] if len(present) > 1 else present[0]


@mutant("combine_masks", bug="ANDs in place into the first mask (changes the caller's mask)", cause=None)
def combine_in_place(*masks):
    present = [m for m in masks if m is not None]
    if not present:
        return None
    out = present[0]
    for m in present[1:]:
        out &= m
    return out


@mutant("combine_masks", bug="does not skip None", cause=None)
def combine_no_skip(*masks):
    if all(m is None for m in masks):
        return None
    out = masks[0]
    for m in masks[1:]:
        out = out & m
    return out


@mutant("combine_masks", bug="returns an empty list instead of None when there is no mask", cause=None)
def combine_empty_list(*masks):
    present = [m for m in masks if m is not None]
    out = present[0] if present else []
    for m in present[1:]:
        out = out & m
    return out


@mutant("combine_masks", bug="calls the library", cause=None)
def combine_library(*masks):
    return tc.masks.combine_masks(*masks)


# --------------------------------------------------------------------------- Exercise 4: masked_softmax
@correct("masked_softmax")
def softmax_where(scores, mask):
    mask = mask.expand_as(scores) if mask.dim() <= scores.dim() else mask
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)
    return torch.where(mask.any(dim=-1, keepdim=True), weights, torch.zeros_like(weights)).masked_fill(~mask, 0.0)


@correct("masked_softmax")
def softmax_by_hand(scores, mask):
    big_negative = torch.finfo(scores.dtype).min
    filled = scores.masked_fill(~mask, big_negative)
    shifted = filled - filled.amax(dim=-1, keepdim=True)
    e = shifted.exp() * mask
    return e / e.sum(dim=-1, keepdim=True).clamp(min=torch.finfo(scores.dtype).tiny)


@mutant("masked_softmax", bug="scores times mask", cause="set to 0", names="exp(0) = 1")
def softmax_times_mask(scores, mask):
    return (scores * mask).softmax(dim=-1)


@mutant("masked_softmax", bug="softmax, then mask (no renormalisation)", cause="before masking",
        names="before masking")
def softmax_then_mask(scores, mask):
    return scores.softmax(dim=-1) * mask


@mutant("masked_softmax", bug="-inf fill: NaN on empty rows", cause="-inf", names="-inf")
def softmax_neg_inf(scores, mask):
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)


@mutant("masked_softmax", bug="empty rows left uniform", cause="uniform", names="uniform")
def softmax_uniform(scores, mask):
    return scores.masked_fill(~mask, -1e9).softmax(dim=-1)


@mutant("masked_softmax", bug="bare exp overflows on large scores", cause=("exp overflow", "fully masked"))
def softmax_bare_exp(scores, mask):
    e = scores.exp() * mask
    return e / e.sum(dim=-1, keepdim=True).clamp(min=1e-30)


@mutant("masked_softmax", bug="calls the library", cause=None)
def softmax_library(scores, mask):
    return tc.seq2seq.masked_softmax(scores, mask)


# --------------------------------------------------------------------------- Exercise 5: DecoderLayer
@correct("DecoderLayer")
class LayerIsCausal(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.cross_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def load_from_torch(self, layer):
        return tc.blocks.DecoderLayer.load_from_torch(self, layer)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        # the multi-head module adds the look-ahead mask itself when asked
        sa, _ = self.self_attn(x, x, x, mask=tgt_mask, is_causal=True)
        x = self.norm1(x + self.dropout(sa))
        ca, _ = self.cross_attn(x, memory, memory, mask=memory_mask)
        x = self.norm2(x + self.dropout(ca))
        return self.norm3(x + self.dropout(self.ff(x)))


@correct("DecoderLayer")
class LayerFunctionalDropout(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.cross_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def load_from_torch(self, layer):
        return tc.blocks.DecoderLayer.load_from_torch(self, layer)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        T = x.shape[1]
        look_ahead = torch.arange(T, device=x.device)[None, :] <= torch.arange(T, device=x.device)[:, None]
        mask = look_ahead if tgt_mask is None else tgt_mask & look_ahead
        p = self.dropout.p
        for attention, norm, keys in ((self.self_attn, self.norm1, None), (self.cross_attn, self.norm2, memory)):
            keys = x if keys is None else keys
            out, _ = attention(x, keys, keys, mask=mask if keys is x else memory_mask)
            x = norm(x + F.dropout(out, p, training=self.training))
        return self.norm3(x + F.dropout(self.ff(x), p, training=self.training))


@mutant("DecoderLayer", bug="no look-ahead mask", cause="not causal", names="not causal")
class LayerNotCausal(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask=tgt_mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, mask=memory_mask)[0]))
        return self.norm3(x + self.dropout(self.ff(x)))


@mutant("DecoderLayer", bug="one LayerNorm for all three sub-layers", cause="one LayerNorm", names="one LayerNorm")
class LayerSharedNorm(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask=mask)[0]))
        x = self.norm1(x + self.dropout(self.cross_attn(x, memory, memory, mask=memory_mask)[0]))
        return self.norm1(x + self.dropout(self.ff(x)))


@mutant("DecoderLayer", bug="cross-attention queries from the encoder output", cause=None)
class LayerCrossFromMemory(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask=mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(memory, x, x, mask=tgt_mask)[0]))
        return self.norm3(x + self.dropout(self.ff(x)))


@mutant("DecoderLayer", bug="memory_mask ignored", cause="memory_mask", names="memory_mask")
class LayerNoMemoryMask(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask=mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory)[0]))
        return self.norm3(x + self.dropout(self.ff(x)))


@mutant("DecoderLayer", bug="target padding mask ignored (look-ahead only)", cause="tgt_mask", names="tgt_mask")
class LayerNoTargetPadding(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = tc.masks.causal_mask(x.shape[1], device=x.device)
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask=mask)[0]))
        x = self.norm2(x + self.dropout(self.cross_attn(x, memory, memory, mask=memory_mask)[0]))
        return self.norm3(x + self.dropout(self.ff(x)))


@mutant("DecoderLayer", bug="pre-norm order", cause="pre-norm", names="pre-norm")
class LayerPreNorm(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        h = self.norm1(x)
        x = x + self.dropout(self.self_attn(h, h, h, mask=mask)[0])
        x = x + self.dropout(self.cross_attn(self.norm2(x), memory, memory, mask=memory_mask)[0])
        return x + self.dropout(self.ff(self.norm3(x)))


@mutant("DecoderLayer", bug="no dropout after cross-attention", cause=None)
class LayerMissingDropout(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        x = self.norm1(x + self.dropout(self.self_attn(x, x, x, mask=mask)[0]))
        x = self.norm2(x + self.cross_attn(x, memory, memory, mask=memory_mask)[0])
        return self.norm3(x + self.dropout(self.ff(x)))


@mutant("DecoderLayer", bug="F.dropout without training=self.training: dropout in eval mode too", cause=None)
class LayerDropoutAlways(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        p = self.dropout.p
        x = self.norm1(x + F.dropout(self.self_attn(x, x, x, mask=mask)[0], p))
        x = self.norm2(x + F.dropout(self.cross_attn(x, memory, memory, mask=memory_mask)[0], p))
        return self.norm3(x + F.dropout(self.ff(x), p))


@mutant("DecoderLayer", bug="dropout applied after the residual addition", cause=None)
class LayerDropoutAfterResidual(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        mask = h07._look_ahead(tgt_mask, x.shape[1], x.device)
        x = self.norm1(self.dropout(x + self.self_attn(x, x, x, mask=mask)[0]))
        x = self.norm2(self.dropout(x + self.cross_attn(x, memory, memory, mask=memory_mask)[0]))
        return self.norm3(self.dropout(x + self.ff(x)))


@mutant("DecoderLayer", bug="uses the library's layer", cause=None)
class LayerLibrary(h07._LayerBase):
    def forward(self, x, memory, tgt_mask=None, memory_mask=None):
        return tc.blocks.DecoderLayer.forward(self, x, memory, tgt_mask, memory_mask, is_causal=True)


# --------------------------------------------------------------------------- Exercise 6: greedy_decode
@correct("greedy_decode")
def greedy_preallocated(model, src, max_len, bos_id, eos_id):
    memory, src_mask = model.encode(src)
    B = src.shape[0]
    out = torch.full((B, max_len + 1), model.pad_id, dtype=torch.long, device=src.device)
    out[:, 0] = bos_id
    alive = torch.ones(B, dtype=torch.bool, device=src.device)
    for t in range(max_len):
        choice = model.decoder(out[:, :t + 1], memory, memory_mask=src_mask)[:, -1].argmax(-1)
        out[:, t + 1] = torch.where(alive, choice, torch.full_like(choice, model.pad_id))
        alive &= choice != eos_id
        if not alive.any():
            return out[:, 1:t + 2]
    return out[:, 1:]


@correct("greedy_decode")
def greedy_list(model, src, max_len, bos_id, eos_id):
    memory, src_mask = model.encode(src)
    rows = [[bos_id] for _ in range(src.shape[0])]
    finished = [False] * src.shape[0]
    for _ in range(max_len):
        logits = model.decoder(torch.tensor(rows, device=src.device), memory, memory_mask=src_mask)
        for i, token in enumerate(logits[:, -1].argmax(-1).tolist()):
            rows[i].append(model.pad_id if finished[i] else token)
            finished[i] = finished[i] or token == eos_id
        if all(finished):
            break
    return torch.tensor(rows, device=src.device)[:, 1:]


@mutant("greedy_decode", bug="pad hard-coded as 0", cause="hard-coded", names="hard-coded")
def greedy_pad_zero(model, src, max_len, bos_id, eos_id):
    return h07._greedy_body(model, src, max_len, bos_id, eos_id, pad=0)


@mutant("greedy_decode", bug="no padding after EOS", cause="model.pad_id", names="model.pad_id")
def greedy_no_pad(model, src, max_len, bos_id, eos_id):
    return h07._greedy_body(model, src, max_len, bos_id, eos_id, pad=None)


@mutant("greedy_decode", bug="keeps the BOS", cause="BOS", names="BOS")
def greedy_keep_bos(model, src, max_len, bos_id, eos_id):
    return h07._greedy_body(model, src, max_len, bos_id, eos_id, pad=model.pad_id, keep_bos=True)


@mutant("greedy_decode", bug="never stops early", cause="stop as soon as", names="stop as soon as")
def greedy_no_stop(model, src, max_len, bos_id, eos_id):
    return h07._greedy_body(model, src, max_len, bos_id, eos_id, pad=model.pad_id, stop=False)


@mutant("greedy_decode", bug="reads the first position's logits", cause=None)
def greedy_first_position(model, src, max_len, bos_id, eos_id):
    return h07._greedy_body(model, src, max_len, bos_id, eos_id, pad=model.pad_id, first=True)


@mutant("greedy_decode", bug="calls the library", cause=None)
def greedy_library(model, src, max_len, bos_id, eos_id):
    return model.greedy_decode(src, max_len, bos_id, eos_id)


# --------------------------------------------------------------------------- Exercise 7: beam_search
@correct("beam_search")
def beam_minus_inf_start(model, src, max_len, bos_id, eos_id, beam_size):
    # beam_size rows from the start; all but the first with score -inf
    memory, src_mask = model.encode(src)
    k = beam_size
    tokens = torch.full((k, 1), bos_id, dtype=torch.long, device=src.device)
    scores = torch.full((k,), float("-inf"), dtype=memory.dtype, device=src.device)
    scores[0] = 0.0
    finished = torch.zeros(k, dtype=torch.bool, device=src.device)
    memory, src_mask = memory.repeat(k, 1, 1), src_mask.repeat(k, 1, 1, 1)
    for _ in range(max_len):
        log_probs = F.log_softmax(model.decoder(tokens, memory, memory_mask=src_mask)[:, -1], dim=-1)
        V = log_probs.shape[-1]
        frozen = torch.full((V,), float("-inf"), dtype=log_probs.dtype, device=src.device)
        frozen[model.pad_id] = 0.0
        log_probs[finished] = frozen
        total = (scores[:, None] + log_probs).reshape(-1)
        scores, flat = torch.topk(total, k)
        rows, new = torch.div(flat, V, rounding_mode="floor"), torch.remainder(flat, V)
        tokens = torch.cat([tokens[rows], new[:, None]], dim=-1)
        finished = finished[rows] | new.eq(eos_id)
        if bool(finished.all()):
            break
    best = tokens[int(torch.argmax(scores))].tolist()[1:]
    if eos_id in best:
        best = best[:best.index(eos_id) + 1]
    return torch.tensor([best], device=src.device)


@correct("beam_search")
def beam_python_lists(model, src, max_len, bos_id, eos_id, beam_size):
    memory, src_mask = model.encode(src)
    beam = [([bos_id], 0.0, False)]
    for _ in range(max_len):
        if all(done for _, _, done in beam):
            break
        batch = torch.tensor([t for t, _, _ in beam], device=src.device)
        n = len(beam)
        log_probs = model.decoder(batch, memory.expand(n, -1, -1), memory_mask=src_mask.expand(n, -1, -1, -1))
        log_probs = log_probs[:, -1].log_softmax(-1)
        candidates = []
        for (tokens, score, done), lp in zip(beam, log_probs):
            if done:
                candidates.append((score, tokens + [model.pad_id], True))
            else:
                for v, value in enumerate(lp.tolist()):
                    candidates.append((score + value, tokens + [v], v == eos_id))
        candidates.sort(key=lambda c: -c[0])
        beam = [(tokens, score, done) for score, tokens, done in candidates[:beam_size]]
    tokens = max(beam, key=lambda b: b[1])[0][1:]
    if eos_id in tokens:
        tokens = tokens[:tokens.index(eos_id) + 1]
    return torch.tensor([tokens], device=src.device)


@mutant("beam_search", bug="starts from beam_size copies of <bos> (gives greedy decoding)", cause="copies",
        names="copies of <bos>")
def beam_copies(model, src, max_len, bos_id, eos_id, beam_size):
    return h07._beam_body(model, src, max_len, bos_id, eos_id, beam_size, copies=True)


@mutant("beam_search", bug="finished hypotheses keep collecting log-probabilities", cause="frozen", names="frozen")
def beam_not_frozen(model, src, max_len, bos_id, eos_id, beam_size):
    return h07._beam_body(model, src, max_len, bos_id, eos_id, beam_size, freeze=False)


@mutant("beam_search", bug="ranks by the last token's log-probability", cause="last token", names="last token")
def beam_last_token(model, src, max_len, bos_id, eos_id, beam_size):
    return h07._beam_body(model, src, max_len, bos_id, eos_id, beam_size, cumulative=False)


@mutant("beam_search", bug="flat index split the wrong way (index % k, index // k)", cause=None)
def beam_swapped_index(model, src, max_len, bos_id, eos_id, beam_size):
    return h07._beam_body(model, src, max_len, bos_id, eos_id, beam_size, swap_index=True)


@mutant("beam_search", bug="returns the padding after EOS too", cause=None)
def beam_untrimmed(model, src, max_len, bos_id, eos_id, beam_size):
    return h07._beam_body(model, src, max_len, bos_id, eos_id, beam_size, trim=False)


@mutant("beam_search", bug="finished flags not reordered with their hypotheses", cause=None)
def beam_flags_not_reordered(model, src, max_len, bos_id, eos_id, beam_size):
    return h07._beam_body(model, src, max_len, bos_id, eos_id, beam_size, reorder_finished=False)


@mutant("beam_search", bug="calls the library", cause=None)
def beam_library(model, src, max_len, bos_id, eos_id, beam_size):
    return model.beam_search(src, max_len, bos_id, eos_id, beam_size=beam_size)
