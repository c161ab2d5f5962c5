"""Shared pieces of notebook 07's wrong answers (tests/exercises/nb07_decoder_masking.py).

The variants are executed in the notebook's namespace, where only modules they import are
available; they reach these helpers as ``h07.<name>``.
"""
import torch
import torch.nn as nn

import transformer_course as tc


class _LayerBase(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.cross_attn = tc.multihead.MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = tc.blocks.FeedForward(d_model, d_ff, dropout=dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def load_from_torch(self, layer):
        return tc.blocks.DecoderLayer.load_from_torch(self, layer)


def _look_ahead(tgt_mask, T, device):
    return tc.masks.combine_masks(tgt_mask, tc.masks.causal_mask(T, device=device))


def _greedy_body(model, src, max_len, bos_id, eos_id, pad, stop=True, keep_bos=False, first=False):
    memory, src_mask = model.encode(src)
    out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits = model.decoder(out, memory, memory_mask=src_mask)
        nxt = logits[:, 0 if first else -1].argmax(-1)
        if pad is not None:
            nxt = nxt.masked_fill(done, pad)
        out = torch.cat([out, nxt[:, None]], dim=1)
        done |= nxt == eos_id
        if stop and done.all():
            break
    return out if keep_bos else out[:, 1:]


def _beam_body(model, src, max_len, bos_id, eos_id, beam_size, copies=False, freeze=True, cumulative=True,
               swap_index=False, trim=True, reorder_finished=True):
    memory, src_mask = model.encode(src)
    n0 = beam_size if copies else 1
    tokens = torch.full((n0, 1), bos_id, dtype=torch.long, device=src.device)
    scores = torch.zeros(n0, dtype=memory.dtype, device=src.device)
    finished = torch.zeros(n0, dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        k = tokens.shape[0]
        log_probs = model.decoder(tokens, memory.expand(k, -1, -1),
                                  memory_mask=src_mask.expand(k, -1, -1, -1))[:, -1].log_softmax(-1)
        V = log_probs.shape[1]
        if freeze:
            pad_only = torch.full_like(log_probs[0], float("-inf"))
            pad_only[model.pad_id] = 0.0
            log_probs = torch.where(finished[:, None], pad_only, log_probs)
        ranked = scores[:, None] + log_probs if cumulative else log_probs
        _, index = ranked.flatten().topk(min(beam_size, k * V))
        if swap_index:
            hyp, tok = index % k, index // k
            tok = tok.clamp(max=V - 1)
        else:
            hyp, tok = index // V, index % V
        scores = scores[hyp] + log_probs[hyp, tok]
        tokens = torch.cat([tokens[hyp], tok[:, None]], dim=1)
        finished = (finished[hyp] if reorder_finished else finished[:len(hyp)] if len(finished) >= len(hyp)
                    else torch.zeros_like(hyp, dtype=torch.bool)) | (tok == eos_id)
        if finished.all():
            break
    best = tokens[scores.argmax(), 1:]
    if trim:
        ends = (best == eos_id).nonzero()
        best = best[: int(ends[0]) + 1 if len(ends) else len(best)]
    return best[None]
