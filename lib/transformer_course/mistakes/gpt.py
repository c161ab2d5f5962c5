"""Notebook 09 (GPT): the wrong answers students most often write, one dict per exercise.

Signatures, as in the notebook:

- ``CAUSAL_BLOCK``: ``wrong(block, x)``, the forward pass of a block holding the
  weights (``norm1``, ``self_attn``, ``norm2``, ``ff``, ``dropout1``, ``dropout2``);
- ``LM_LOSS``: ``wrong(logits, idx)``;
- ``FILTER_LOGITS``: ``wrong(logits, temperature=1.0, top_k=None, top_p=None)``;
- ``GPT_NUM_PARAMETERS``: ``wrong(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True)``;
- ``FORWARD_WITH_CACHE``: ``wrong(model, idx, cache)``, which updates ``cache`` as the mistake would;
- ``GENERATE``: ``wrong(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
  generator=None, use_cache=True)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..gpt import filter_logits, gpt_parameter_count, top_k_filter, top_p_filter

_NEG_INF = float("-inf")


# ----------------------------------------------------------------------------- Exercise 1: the causal block

def _tril(T, device):
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def _attend(block, h, mask):
    return block.self_attn(h, h, h, mask=mask)[0]


def _pre_norm(block, x, mask):
    x = x + block.dropout1(_attend(block, block.norm1(x), mask))
    return x + block.dropout2(block.ff(block.norm2(x)))


def _post_norm(block, x):
    x = block.norm1(x + block.dropout1(_attend(block, x, _tril(x.shape[1], x.device))))
    return block.norm2(x + block.dropout2(block.ff(x)))


def _one_norm(block, x):
    mask = _tril(x.shape[1], x.device)
    x = x + block.dropout1(_attend(block, block.norm1(x), mask))
    return x + block.dropout2(block.ff(block.norm1(x)))


def _no_branch_dropout(block, x):
    h = block.norm1(x)
    x = x + _attend(block, h, _tril(x.shape[1], x.device))
    return x + block.ff(block.norm2(x))


def _dropout_after_residual(block, x):
    h = block.norm1(x)
    x = block.dropout1(x + _attend(block, h, _tril(x.shape[1], x.device)))
    return block.dropout2(x + block.ff(block.norm2(x)))


def _no_residual(block, x):
    x = block.dropout1(_attend(block, block.norm1(x), _tril(x.shape[1], x.device)))
    return block.dropout2(block.ff(block.norm2(x)))


CAUSAL_BLOCK = {
    "there is no causal mask: every position sees the whole sequence, the future included":
        lambda block, x: _pre_norm(block, x, None),
    "the mask is the upper triangle: positions see the future and not the past (use tril, not triu)":
        lambda block, x: _pre_norm(block, x, _tril(x.shape[1], x.device).T),
    "this is the post-norm order x = norm(x + f(x)); a GPT block is pre-norm: x + f(norm(x))": _post_norm,
    "norm1 is used before both sub-layers; the MLP's input goes through norm2": _one_norm,
    "the residual connections are missing: each sub-layer's output is added to its input (x + ...)": _no_residual,
    "dropout1/dropout2 are not applied: in training mode each branch goes through its dropout before it "
    "joins the residual stream": _no_branch_dropout,
    "the dropout is applied after the residual addition, dropout(x + f(x)); it belongs on the branch: "
    "x + dropout(f(x))": _dropout_after_residual,
}


# ----------------------------------------------------------------------------- Exercise 2: the loss

LM_LOSS = {
    "the targets are not shifted: position t is scored against its own token (the model would learn to copy)":
        lambda logits, idx: F.cross_entropy(logits.flatten(0, 1), idx.flatten()),
    "the shift goes the wrong way: logits[:, 1:] against idx[:, :-1] predicts the previous token":
        lambda logits, idx: F.cross_entropy(logits[:, 1:].flatten(0, 1), idx[:, :-1].flatten()),
    "the last position is scored against the first token (torch.roll wraps around); it has no target: drop it":
        lambda logits, idx: F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, dims=1).flatten()),
    "the softmax is applied twice: F.cross_entropy expects raw logits":
        lambda logits, idx: F.cross_entropy(logits[:, :-1].softmax(-1).flatten(0, 1), idx[:, 1:].flatten()),
    "the loss is summed over the positions instead of averaged over all B (T - 1) predictions":
        lambda logits, idx: F.cross_entropy(logits[:, :-1].flatten(0, 1), idx[:, 1:].flatten(),
                                            reduction="sum") / idx.shape[0],
}


# ----------------------------------------------------------------------------- Exercise 3: the filters

def _top_p_without_crossing(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    drop = sorted_logits.softmax(-1).cumsum(-1) > p
    drop[..., 0] = False
    return logits.masked_fill(drop.scatter(-1, order, drop), _NEG_INF)


def _top_k_exactly_k(logits, k):
    keep = torch.zeros_like(logits, dtype=torch.bool)
    keep.scatter_(-1, torch.topk(logits, min(k, logits.shape[-1]), dim=-1).indices, True)
    return logits.masked_fill(~keep, _NEG_INF)


def _filters(top_k_fn=top_k_filter, top_p_fn=top_p_filter, scale=lambda x, t: x / t, temper_last=False,
             top_p_first=False):
    def wrong(logits, temperature=1.0, top_k=None, top_p=None):
        out = logits if temper_last else scale(logits, temperature)
        steps = [("k", top_k), ("p", top_p)]
        for kind, value in (reversed(steps) if top_p_first else steps):
            if value is not None:
                out = top_k_fn(out, value) if kind == "k" else top_p_fn(out, value)
        return scale(out, temperature) if temper_last else out
    return wrong


FILTER_LOGITS = {
    "the logits are multiplied by the temperature; divide them": _filters(scale=lambda x, t: x * t),
    "top-p drops the token that crosses p; keep it (drop a token only when the tokens ranked above it already "
    "hold p)": _filters(top_p_fn=_top_p_without_crossing),
    "top-p did not use the probabilities left after top-k: run top-k first, then take the nucleus of the "
    "softmax of what it left (renormalised)": _filters(top_p_first=True),
    "the temperature is applied after the filters: top-p must see the tempered probabilities, so divide first":
        _filters(temper_last=True),
    "top-k keeps exactly k tokens, dropping those tied with the k-th largest logit; keep every logit >= the "
    "k-th largest": _filters(top_k_fn=_top_k_exactly_k),
}


# ----------------------------------------------------------------------------- Exercise 4: the parameter count

def _count(v, t, l, d, tie_weights=True, bias=True):
    return gpt_parameter_count(v, t, l, d, tie_weights=tie_weights, bias=bias)


GPT_NUM_PARAMETERS = {
    "the position embedding (block_size x n_embd) is missing":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) - t * d,
    "the tied read-out is counted a second time: with tie_weights=True, lm_head's weight is wte's":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) + (v * d if tie_weights else 0),
    "the untied read-out is missing: with tie_weights=False, lm_head adds its own V x d matrix":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) - (0 if tie_weights else v * d),
    "the biases and LayerNorm parameters are missing: with biases a block holds 12 d^2 + 13 d":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) - (l * 13 * d + 2 * d if bias else l * 4 * d + d),
    "bias=False is ignored: it removes every bias, those of the Linear layers and those of the LayerNorms":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, True),
    "bias=False still counts the LayerNorms' biases: without biases each LayerNorm keeps only its gain (d)":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) + (0 if bias else (2 * l + 1) * d),
    "bias=False still counts the Linear layers' biases (4 d in attention, 5 d in the MLP per block)":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) + (0 if bias else 9 * l * d),
    "the final LayerNorm ln_f is missing":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) - (2 * d if bias else d),
    "the MLP is counted as d -> d -> d; it is d -> 4d -> d (8 d^2 weights)":
        lambda v, t, l, d, tie_weights=True, bias=True: _count(v, t, l, d, tie_weights, bias) - l * (6 * d * d + (3 * d if bias else 0)),
}


# ----------------------------------------------------------------------------- Exercise 5: the KV cache

def _cached_forward(model, idx, cache, *, restart_positions=False, read_cache=True, mask="bottom_right"):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    T = idx.shape[1]
    x = model.wpe(model.wte(idx), start=0 if restart_positions else s)
    for block, layer in zip(model.blocks, cache):
        attn = block.self_attn
        h = block.norm1(x)
        q, k, v = (attn.split_heads(proj(h)) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        new_k, new_v = k, v
        if layer.k is not None:
            k, v = torch.cat([layer.k, k], dim=2), torch.cat([layer.v, v], dim=2)
        layer.k, layer.v = k, v
        if not read_cache:
            k, v = new_k, new_v
        T_k = k.shape[2]
        if mask == "bottom_right":
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=torch.ones(T, T_k, dtype=torch.bool, device=idx.device).tril(T_k - T))
        elif mask == "top_left":
            out = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1)
        else:
            out = F.scaled_dot_product_attention(q, k, v)
        x = x + attn.out_proj(attn.merge_heads(out))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


FORWARD_WITH_CACHE = {
    "the new tokens' positions restart at 0; with s positions cached they are s, s + 1, ... "
    "(model.wpe(x, start=s))": lambda model, idx, cache: _cached_forward(model, idx, cache, restart_positions=True),
    "the new queries see only the new keys and values: keep the cached ones (append the new ones with "
    "torch.cat along the positions instead of replacing the cache) and attend to all of them":
        lambda model, idx, cache: _cached_forward(model, idx, cache, read_cache=False),
    "the new tokens attend to each other without a causal mask: when several arrive at once, new token i may "
    "see the cache and new tokens 0..i only":
        lambda model, idx, cache: _cached_forward(model, idx, cache, mask="none"),
    "the causal mask is aligned at the top left (is_causal=True of F.scaled_dot_product_attention with fewer "
    "queries than keys); align it at the bottom right, so new token i sees every cached position":
        lambda model, idx, cache: _cached_forward(model, idx, cache, mask="top_left"),
}


# ----------------------------------------------------------------------------- Exercise 6: the sampling loop

def _loop(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None, use_cache=True,
          *, position=-1, filtered=True, always_greedy=False, keep_prompt=True):
    block_size = model.config.block_size
    was_training = model.training
    model.eval()
    prompt_length = idx.shape[1]
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = model(idx[:, -block_size:])[0][:, position]
                if temperature == 0 or always_greedy:
                    token = logits.argmax(dim=-1, keepdim=True)
                else:
                    weights = filter_logits(logits, temperature, top_k, top_p) if filtered else logits / temperature
                    token = torch.multinomial(weights.softmax(-1), num_samples=1, generator=generator)
                idx = torch.cat([idx, token], dim=1)
    finally:
        model.train(was_training)
    return idx if keep_prompt else idx[:, prompt_length:]


GENERATE = {
    "the next token comes from the logits of the first position; it is the last position's logits, "
    "logits[:, -1], that predict what follows": lambda *args, **kwargs: _loop(*args, **kwargs, position=0),
    "top_k and top_p are not applied: draw from the softmax of filter_logits(logits, temperature, top_k, top_p)":
        lambda *args, **kwargs: _loop(*args, **kwargs, filtered=False),
    "the argmax is taken at every temperature: only temperature 0 is greedy; otherwise draw with "
    "torch.multinomial(probs, 1, generator=generator)": lambda *args, **kwargs: _loop(*args, **kwargs, always_greedy=True),
    "the prompt is missing from the result: return idx followed by the new tokens, (B, T + max_new_tokens)":
        lambda *args, **kwargs: _loop(*args, **kwargs, keep_prompt=False),
}
