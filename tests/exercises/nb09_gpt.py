"""Notebook 09: alternative answers, right and wrong (see variants.py).

Each variant is written as a student would from the release, with what the notebook has
imported at that point (torch, nn, F, math, tc, and the earlier exercises' names).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "09_gpt"


# ----------------------------------------------------------------------------- Exercise 1: CausalBlock
# The constructor is given in the release; every variant repeats it and changes only forward.

@correct("causal_block")
class BlockIsCausal(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        h = self.norm1(x)
        attended, _ = self.self_attn(h, h, h, is_causal=True)
        h = x + self.dropout1(attended)
        return h + self.dropout2(self.ff(self.norm2(h)))


@correct("causal_block")
class BlockLibraryMaskNewNames(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        mask = tc.masks.causal_mask(x.size(1), device=x.device)
        normed = self.norm1(x)
        residual = x + self.dropout1(self.self_attn(normed, normed, normed, mask=mask)[0])
        mlp_out = self.ff(self.norm2(residual))
        return residual + self.dropout2(mlp_out)


@correct("causal_block")
class BlockFloatTril(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T, C = x.shape
        mask = torch.tril(torch.ones(T, T, device=x.device)) == 1
        a = self.norm1(x)
        x = x + self.dropout1(self.self_attn(a, a, a, mask=mask)[0])
        x = x + self.dropout2(self.ff(self.norm2(x)))
        return x


@mutant("causal_block", bug="no causal mask", cause="no causal mask", names="no causal mask")
class BlockNoMask(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        h = self.norm1(x)
        x = x + self.dropout1(self.self_attn(h, h, h)[0])
        return x + self.dropout2(self.ff(self.norm2(x)))


@mutant("causal_block", bug="upper-triangular mask (triu)", cause="upper triangle", names="upper triangle")
class BlockTriu(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu()
        h = self.norm1(x)
        x = x + self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
        return x + self.dropout2(self.ff(self.norm2(x)))


@mutant("causal_block", bug="post-norm order, as in the original transformer", cause="post-norm", names="post-norm")
class BlockPostNorm(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        x = self.norm1(x + self.dropout1(self.self_attn(x, x, x, mask=mask)[0]))
        return self.norm2(x + self.dropout2(self.ff(x)))


@mutant("causal_block", bug="norm1 reused before the MLP", cause="norm1 is used before both", names="norm2")
class BlockOneNorm(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        x = x + self.dropout1(self.self_attn(self.norm1(x), self.norm1(x), self.norm1(x), mask=mask)[0])
        return x + self.dropout2(self.ff(self.norm1(x)))


@mutant("causal_block", bug="dropout1/dropout2 never applied (the eval-mode test alone cannot see it)",
        cause="dropout1/dropout2 are not applied", names="dropout1/dropout2 are not applied")
class BlockNoDropout(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, mask=mask)[0]
        return x + self.ff(self.norm2(x))


@mutant("causal_block", bug="dropout on the residual stream, after the addition", cause="after the residual addition",
        names="after the residual addition")
class BlockDropoutOnStream(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        h = self.norm1(x)
        x = self.dropout1(x + self.self_attn(h, h, h, mask=mask)[0])
        return self.dropout2(x + self.ff(self.norm2(x)))


@mutant("causal_block", bug="F.dropout without training=self.training: dropout stays on in evaluation", cause=None)
class BlockFunctionalDropout(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)
        self.p = config.dropout

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        h = self.norm1(x)
        x = x + F.dropout(self.self_attn(h, h, h, mask=mask)[0], self.p)
        return x + F.dropout(self.ff(self.norm2(x)), self.p)


@mutant("causal_block", bug="in-place residual update x += ... (changes the caller's tensor, breaks autograd)", cause=None)
class BlockInPlace(nn.Module):
    def __init__(self, config):
        super().__init__()
        d = config.n_embd
        self.norm1 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.self_attn = tc.multihead.MultiHeadAttention(d, config.n_head, dropout=config.dropout, bias=config.bias)
        self.norm2 = tc.blocks.LayerNorm(d, bias=config.bias)
        self.ff = tc.blocks.FeedForward(d, 4 * d, dropout=config.dropout, activation=config.activation, bias=config.bias)
        self.dropout1 = nn.Dropout(config.dropout)
        self.dropout2 = nn.Dropout(config.dropout)

    def forward(self, x):
        T = x.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
        h = self.norm1(x)
        x += self.dropout1(self.self_attn(h, h, h, mask=mask)[0])
        x += self.dropout2(self.ff(self.norm2(x)))
        return x


# ----------------------------------------------------------------------------- Exercise 2: lm_loss

@correct("lm_loss")
def lm_loss_classes_second(logits, idx):
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), idx[:, 1:])


@correct("lm_loss")
def lm_loss_gather(logits, idx):
    log_probs = F.log_softmax(logits[:, :-1], dim=-1)
    return -log_probs.gather(-1, idx[:, 1:].unsqueeze(-1)).mean()


@correct("lm_loss")
def lm_loss_nll(logits, idx):
    B, T, V = logits.shape
    return F.nll_loss(F.log_softmax(logits, dim=-1)[:, : T - 1].reshape(B * (T - 1), V), idx[:, 1:].reshape(-1))


@mutant("lm_loss", bug="targets not shifted", cause="not shifted", names="not shifted")
def lm_loss_unshifted(logits, idx):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), idx.reshape(-1))


@mutant("lm_loss", bug="shift in the wrong direction", cause="the wrong way", names="the wrong way")
def lm_loss_backwards(logits, idx):
    return F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), idx[:, :-1].reshape(-1))


@mutant("lm_loss", bug="torch.roll for the targets: the last position scored against the first token",
        cause="wraps around", names="wraps around")
def lm_loss_rolled(logits, idx):
    targets = torch.roll(idx, shifts=-1, dims=1)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@mutant("lm_loss", bug="softmax before cross_entropy", cause="softmax is applied twice", names="softmax is applied twice")
def lm_loss_double_softmax(logits, idx):
    probs = logits.softmax(dim=-1)
    return F.cross_entropy(probs[:, :-1].reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1))


@mutant("lm_loss", bug="summed over positions, divided by the batch size", cause="summed", names="summed")
def lm_loss_summed(logits, idx):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), idx[:, 1:].reshape(-1), reduction="sum") / logits.shape[0]


@mutant("lm_loss", bug="returns a Python float (.item()): no gradient", cause=None)
def lm_loss_item(logits, idx):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), idx[:, 1:].reshape(-1)).item()


# ----------------------------------------------------------------------------- Exercise 3: filter_logits

@correct("filter_logits")
def filter_logits_shifted_mask(logits, temperature=1.0, top_k=None, top_p=None):
    # The Hugging Face way: a token goes when the cumulative sum before it exceeds p.
    logits = logits / temperature
    if top_k is not None:
        k = min(top_k, logits.size(-1))
        logits = torch.where(logits < torch.topk(logits, k).values[..., -1, None], float("-inf"), logits)
    if top_p is not None:
        sorted_logits, sorted_idx = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cumulative > top_p
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = False
        logits = logits.masked_fill(remove.scatter(1, sorted_idx, remove), float("-inf"))
    return logits


@correct("filter_logits")
def filter_logits_ascending(logits, temperature=1.0, top_k=None, top_p=None):
    # Sorted ascending: a token goes when it and everything below it hold at most 1 - p.
    out = logits / temperature
    if top_k is not None and top_k < out.shape[-1]:
        kth = out.sort(dim=-1, descending=True).values[:, top_k - 1 : top_k]
        out = out.masked_fill(out < kth, -math.inf)
    if top_p is not None:
        values, order = out.sort(dim=-1)
        below = values.softmax(dim=-1).cumsum(dim=-1)
        remove = below <= 1 - top_p
        remove[:, -1] = False
        unsorted = torch.zeros_like(remove).scatter(1, order, remove)
        out = out.masked_fill(unsorted, -math.inf)
    return out


@correct("filter_logits")
def filter_logits_row_loop(logits, temperature=1.0, top_k=None, top_p=None):
    result = logits.clone() / temperature
    for row in result:
        if top_k is not None:
            threshold = row.topk(min(top_k, row.numel())).values.min()
            row[row < threshold] = float("-inf")
        if top_p is not None:
            probs = row.softmax(dim=0)
            order = probs.argsort(descending=True)
            total = 0.0
            for rank, i in enumerate(order.tolist()):
                if rank > 0 and total >= top_p:
                    row[i] = float("-inf")
                total += probs[i].item()
    return result


@mutant("filter_logits", bug="multiplies by the temperature", cause="multiplied by the temperature",
        names="multiplied by the temperature")
def filter_logits_times_temperature(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits * temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("filter_logits", bug="top-p drops the token that crosses p", cause="crosses p", names="crosses p")
def filter_logits_drops_crossing(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative > top_p
        drop[:, 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("filter_logits", bug="top-p before top-k", cause="left after top-k", names="left after top-k")
def filter_logits_swapped(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits


@mutant("filter_logits", bug="top-p on the probabilities from before top-k (not renormalised)",
        cause="left after top-k", names="left after top-k")
def filter_logits_not_renormalised(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    probs = logits.softmax(-1)
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_probs, order = torch.sort(probs, descending=True)
        drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("filter_logits", bug="temperature applied after the filters", cause="after the filters", names="after the filters")
def filter_logits_temperature_last(logits, temperature=1.0, top_k=None, top_p=None):
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits / temperature


@mutant("filter_logits", bug="top-k keeps exactly k indices (ties dropped)", cause="tied with the k-th",
        names="tied with the k-th")
def filter_logits_exactly_k(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    if top_k is not None:
        keep = torch.zeros_like(logits, dtype=torch.bool)
        keep.scatter_(-1, torch.topk(logits, min(top_k, logits.shape[-1])).indices, True)
        logits = logits.masked_fill(~keep, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("filter_logits", bug="torch.topk with k > V raises", cause=None)
def filter_logits_topk_too_large(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("filter_logits", bug="masked_fill_ in place: the caller's logits change", cause=None)
def filter_logits_in_place(logits, temperature=1.0, top_k=None, top_p=None):
    if temperature != 1.0:
        logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits.masked_fill_(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits.masked_fill_(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("filter_logits", bug="the k-th largest of the whole batch, not of each row", cause=None)
def filter_logits_batch_threshold(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[..., -1].min()
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = sorted_logits.softmax(-1)
        drop = probs.cumsum(-1) - probs >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


# ----------------------------------------------------------------------------- Exercise 4: gpt_num_parameters

@correct("gpt_num_parameters")
def count_by_module(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d, b = n_embd, int(bias)
    linear = lambda n_in, n_out: n_in * n_out + b * n_out  # noqa: E731
    layer_norm = d + b * d
    block = 2 * layer_norm + 4 * linear(d, d) + linear(d, 4 * d) + linear(4 * d, d)
    total = vocab_size * d + block_size * d + n_layer * block + layer_norm
    if not tie_weights:
        total += d * vocab_size
    return total


@correct("gpt_num_parameters")
def count_closed_form(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d = n_embd
    per_layer = 12 * d ** 2 + (13 * d if bias else 2 * d)
    head = 0 if tie_weights else vocab_size * d
    return (vocab_size + block_size) * d + n_layer * per_layer + (2 * d if bias else d) + head


@mutant("gpt_num_parameters", bug="forgets the position embedding", cause="position embedding",
        names="position embedding")
def count_no_positions(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d = n_embd
    per_layer = 12 * d * d + (13 * d if bias else 2 * d)
    return vocab_size * d + n_layer * per_layer + (2 * d if bias else d) + (0 if tie_weights else vocab_size * d)


@mutant("gpt_num_parameters", bug="counts the read-out even when tied", cause="counted a second time",
        names="counted a second time")
def count_tied_twice(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d = n_embd
    per_layer = 12 * d * d + (13 * d if bias else 2 * d)
    return 2 * vocab_size * d + block_size * d + n_layer * per_layer + (2 * d if bias else d)


@mutant("gpt_num_parameters", bug="bias=False still counts the LayerNorm biases", cause="LayerNorms' biases",
        names="LayerNorms' biases")
def count_norm_biases_always(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d = n_embd
    per_layer = 12 * d * d + (13 * d if bias else 4 * d)
    return (vocab_size + block_size) * d + n_layer * per_layer + 2 * d + (0 if tie_weights else vocab_size * d)


@mutant("gpt_num_parameters", bug="no final LayerNorm", cause="ln_f", names="ln_f")
def count_no_final_norm(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d = n_embd
    per_layer = 12 * d * d + (13 * d if bias else 2 * d)
    return (vocab_size + block_size) * d + n_layer * per_layer + (0 if tie_weights else vocab_size * d)


@mutant("gpt_num_parameters", bug="ignores bias=False", cause="bias=False is ignored", names="bias=False is ignored")
def count_ignores_bias_flag(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d = n_embd
    return (vocab_size + block_size) * d + n_layer * (12 * d * d + 13 * d) + 2 * d + (0 if tie_weights else vocab_size * d)


@mutant("gpt_num_parameters", bug="MLP counted as d -> d -> d", cause="d -> 4d -> d", names="d -> 4d -> d")
def count_narrow_mlp(vocab_size, block_size, n_layer, n_embd, tie_weights=True, bias=True):
    d, b = n_embd, int(bias)
    per_layer = 4 * (d * d + b * d) + 2 * (d * d + b * d) + 2 * (d + b * d)
    return (vocab_size + block_size) * d + n_layer * per_layer + (d + b * d) + (0 if tie_weights else vocab_size * d)


# ----------------------------------------------------------------------------- Exercise 5: forward_with_cache

@correct("forward_with_cache")
def forward_with_cache_attend(model, idx, cache):
    start = len(cache[0])
    x = model.wte(idx) + model.wpe.embedding.weight[start : start + idx.shape[1]]
    for block, layer in zip(model.blocks, cache):
        sa = block.self_attn
        h = block.norm1(x)
        q = sa.split_heads(sa.q_proj(h))
        k = sa.split_heads(sa.k_proj(h))
        v = sa.split_heads(sa.v_proj(h))
        layer.k = k if layer.k is None else torch.cat((layer.k, k), dim=-2)
        layer.v = v if layer.v is None else torch.cat((layer.v, v), dim=-2)
        out, _ = sa.attend(q, layer.k, layer.v, is_causal=True)
        x = x + sa.out_proj(sa.merge_heads(out))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@correct("forward_with_cache")
def forward_with_cache_explicit_scores(model, idx, cache):
    B, T = idx.shape
    past = 0 if cache[0].k is None else cache[0].k.size(2)
    positions = torch.arange(past, past + T, device=idx.device)
    x = model.wte(idx) + model.wpe.embedding(positions)
    allowed = torch.arange(past + T, device=idx.device)[None, :] <= positions[:, None]
    for i, block in enumerate(model.blocks):
        attn = block.self_attn
        h = block.norm1(x)
        q = attn.q_proj(h).view(B, T, attn.n_heads, -1).transpose(1, 2)
        k = attn.k_proj(h).view(B, T, attn.n_heads, -1).transpose(1, 2)
        v = attn.v_proj(h).view(B, T, attn.n_heads, -1).transpose(1, 2)
        if cache[i].k is not None:
            k = torch.cat([cache[i].k, k], 2)
            v = torch.cat([cache[i].v, v], 2)
        cache[i].k, cache[i].v = k, v
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
        weights = scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1)
        merged = (weights @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + attn.out_proj(merged)
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="positions restart at 0 for every call", cause="restart at 0", names="restart at 0")
def forward_with_cache_positions_from_zero(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    T = idx.shape[1]
    x = model.wpe(model.wte(idx))
    mask = torch.ones(T, s + T, dtype=torch.bool, device=idx.device).tril(diagonal=s)
    for block, c in zip(model.blocks, cache):
        a = block.self_attn
        h = block.norm1(x)
        q, k, v = a.split_heads(a.q_proj(h)), a.split_heads(a.k_proj(h)), a.split_heads(a.v_proj(h))
        if c.k is not None:
            k, v = torch.cat([c.k, k], dim=2), torch.cat([c.v, v], dim=2)
        c.k, c.v = k, v
        x = x + a.out_proj(a.merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="stores the keys and values but attends only to the new ones",
        cause="only the new keys", names="only the new keys")
def forward_with_cache_ignores_past(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    x = model.wpe(model.wte(idx), start=s)
    for block, c in zip(model.blocks, cache):
        a = block.self_attn
        h = block.norm1(x)
        q, k, v = a.split_heads(a.q_proj(h)), a.split_heads(a.k_proj(h)), a.split_heads(a.v_proj(h))
        c.k = k if c.k is None else torch.cat([c.k, k], dim=2)
        c.v = v if c.v is None else torch.cat([c.v, v], dim=2)
        x = x + a.out_proj(a.merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True)))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="the cache is overwritten with the newest keys and values",
        cause="only the new keys", names="only the new keys")
def forward_with_cache_overwrites(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    x = model.wpe(model.wte(idx), start=s)
    for block, c in zip(model.blocks, cache):
        a = block.self_attn
        h = block.norm1(x)
        c.k, c.v = a.split_heads(a.k_proj(h)), a.split_heads(a.v_proj(h))
        q = a.split_heads(a.q_proj(h))
        x = x + a.out_proj(a.merge_heads(F.scaled_dot_product_attention(q, c.k, c.v, is_causal=True)))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="is_causal=True of F.scaled_dot_product_attention with a non-empty cache (top-left)",
        cause="top left", names="top left")
def forward_with_cache_top_left(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    x = model.wpe(model.wte(idx), start=s)
    for block, c in zip(model.blocks, cache):
        a = block.self_attn
        h = block.norm1(x)
        q, k, v = a.split_heads(a.q_proj(h)), a.split_heads(a.k_proj(h)), a.split_heads(a.v_proj(h))
        if c.k is not None:
            k, v = torch.cat([c.k, k], dim=2), torch.cat([c.v, v], dim=2)
        c.k, c.v = k, v
        out = F.scaled_dot_product_attention(q, k, v, is_causal=q.shape[2] > 1)
        x = x + a.out_proj(a.merge_heads(out))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="no mask at all: fine one token at a time, wrong for a chunk",
        cause="without a causal mask", names="without a causal mask")
def forward_with_cache_unmasked(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    x = model.wpe(model.wte(idx), start=s)
    for block, c in zip(model.blocks, cache):
        a = block.self_attn
        h = block.norm1(x)
        q, k, v = a.split_heads(a.q_proj(h)), a.split_heads(a.k_proj(h)), a.split_heads(a.v_proj(h))
        if c.k is not None:
            k, v = torch.cat([c.k, k], dim=2), torch.cat([c.v, v], dim=2)
        c.k, c.v = k, v
        x = x + a.out_proj(a.merge_heads(F.scaled_dot_product_attention(q, k, v)))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="caches the normalised inputs instead of keys and values (right logits, "
        "recomputes every projection)", cause=None)
def forward_with_cache_caches_inputs(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[1]
    T = idx.shape[1]
    x = model.wpe(model.wte(idx), start=s)
    mask = torch.ones(T, s + T, dtype=torch.bool, device=idx.device).tril(diagonal=s)
    for block, c in zip(model.blocks, cache):
        h = block.norm1(x)
        c.k = h if c.k is None else torch.cat([c.k, h], dim=1)
        c.v = c.k
        x = x + block.self_attn(h, c.k, c.v, mask=mask)[0]
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("forward_with_cache", bug="calls the library's cached forward", cause=None)
def forward_with_cache_library(model, idx, cache):
    return model(idx, kv_cache=cache)[0]


# ----------------------------------------------------------------------------- Exercise 6: generate

@correct("generate")
def generate_while_loop(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                        use_cache=True):
    mode = model.training
    model.eval()
    try:
        with torch.inference_mode():
            context = model.config.block_size
            cache = None
            target_length = idx.size(1) + max_new_tokens
            while idx.size(1) < target_length:
                if use_cache and cache is not None and cache[0].k.shape[2] < context:
                    last = forward_with_cache(model, idx[:, -1:], cache)[:, -1, :]
                elif use_cache:
                    cache = model.new_kv_cache()
                    last = forward_with_cache(model, idx[:, -context:], cache)[:, -1, :]
                else:
                    logits, _ = model(idx if idx.size(1) <= context else idx[:, -context:])
                    last = logits[:, -1, :]
                if temperature == 0:
                    chosen = torch.argmax(last, dim=-1).unsqueeze(-1)
                else:
                    chosen = torch.multinomial(F.softmax(filter_logits(last, temperature, top_k, top_p), dim=-1), 1,
                                               generator=generator)
                idx = torch.cat((idx, chosen), dim=-1)
    finally:
        model.train(mode)
    return idx


@correct("generate")
def generate_fresh_cache_first(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                               use_cache=True):
    was_training = model.training
    model.eval()
    torch.set_grad_enabled(False)
    try:
        block_size = model.config.block_size
        cache = model.new_kv_cache() if use_cache else None
        for _ in range(max_new_tokens):
            if use_cache and len(cache[0]) == block_size:
                cache = model.new_kv_cache()
            if use_cache:
                fresh = len(cache[0]) == 0
                logits = forward_with_cache(model, idx[:, -block_size:] if fresh else idx[:, -1:], cache)
            else:
                logits = model(idx[:, -block_size:])[0]
            logits = logits[:, -1]
            if temperature == 0:
                new = logits.argmax(-1, keepdim=True)
            else:
                new = torch.multinomial(filter_logits(logits, temperature, top_k, top_p).softmax(-1), num_samples=1,
                                        generator=generator)
            idx = torch.cat([idx, new], dim=1)
        return idx
    finally:
        torch.set_grad_enabled(True)
        model.train(was_training)


@mutant("generate", bug="samples from the first position's logits", cause="first position", names="first position")
def generate_first_position(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                            use_cache=True):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = model(idx[:, -model.config.block_size:])[0][:, 0]
                if temperature == 0:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(filter_logits(logits, temperature, top_k, top_p).softmax(-1), 1,
                                            generator=generator)
                idx = torch.cat([idx, nxt], 1)
    finally:
        model.train(was)
    return idx


@mutant("generate", bug="never applies top_k / top_p", cause="not applied", names="not applied")
def generate_unfiltered(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                        use_cache=True):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = model(idx[:, -model.config.block_size:])[0][:, -1]
                if temperature == 0:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator)
                idx = torch.cat([idx, nxt], 1)
    finally:
        model.train(was)
    return idx


@mutant("generate", bug="returns only the new tokens", cause="prompt is missing", names="prompt is missing")
def generate_without_prompt(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                            use_cache=True):
    was = model.training
    model.eval()
    new_tokens = []
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                last = model(idx[:, -model.config.block_size:])[0][:, -1]
                if temperature == 0:
                    nxt = last.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(filter_logits(last, temperature, top_k, top_p).softmax(-1), 1,
                                            generator=generator)
                idx = torch.cat([idx, nxt], 1)
                new_tokens.append(nxt)
    finally:
        model.train(was)
    return torch.cat(new_tokens, dim=1)


@mutant("generate", bug="with use_cache, a fresh cache and the whole window every step: the cache is never used",
        cause=None, names="the cache is not used")
def generate_cache_unused(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                          use_cache=True):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                window = idx[:, -model.config.block_size:]
                logits = forward_with_cache(model, window, model.new_kv_cache()) if use_cache else model(window)[0]
                if temperature == 0:
                    nxt = logits[:, -1].argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(filter_logits(logits[:, -1], temperature, top_k, top_p).softmax(-1), 1,
                                            generator=generator)
                idx = torch.cat([idx, nxt], 1)
    finally:
        model.train(was)
    return idx


@mutant("generate", bug="the cache keeps growing past block_size (no fresh window)", cause=None)
def generate_cache_overflows(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                             use_cache=True):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            cache = None
            for _ in range(max_new_tokens):
                if not use_cache:
                    logits = model(idx[:, -model.config.block_size:])[0]
                elif cache is None:
                    cache = model.new_kv_cache()
                    logits = forward_with_cache(model, idx[:, -model.config.block_size:], cache)
                else:
                    logits = forward_with_cache(model, idx[:, -1:], cache)
                if temperature == 0:
                    nxt = logits[:, -1].argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(filter_logits(logits[:, -1], temperature, top_k, top_p).softmax(-1), 1,
                                            generator=generator)
                idx = torch.cat([idx, nxt], 1)
    finally:
        model.train(was)
    return idx


@mutant("generate", bug="never switches to evaluation mode: dropout stays on", cause=None)
def generate_in_training_mode(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                              use_cache=True):
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(idx[:, -model.config.block_size:])[0]
            if temperature == 0:
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            else:
                nxt = torch.multinomial(filter_logits(logits[:, -1], temperature, top_k, top_p).softmax(-1), 1,
                                        generator=generator)
            idx = torch.cat([idx, nxt], 1)
    return idx


@mutant("generate", bug="restores the mode without try/finally: an interrupted loop leaves evaluation mode", cause=None)
def generate_no_finally(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                        use_cache=True):
    was = model.training
    model.eval()
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(idx[:, -model.config.block_size:])[0]
            if temperature == 0:
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            else:
                nxt = torch.multinomial(filter_logits(logits[:, -1], temperature, top_k, top_p).softmax(-1), 1,
                                        generator=generator)
            idx = torch.cat([idx, nxt], 1)
    model.train(was)
    return idx


@mutant("generate", bug="no torch.no_grad(): autograd records every step", cause=None)
def generate_with_autograd(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                           use_cache=True):
    was = model.training
    model.eval()
    try:
        for _ in range(max_new_tokens):
            logits = model(idx[:, -model.config.block_size:])[0]
            if temperature == 0:
                nxt = logits[:, -1].argmax(-1, keepdim=True)
            else:
                nxt = torch.multinomial(filter_logits(logits[:, -1], temperature, top_k, top_p).softmax(-1), 1,
                                        generator=generator)
            idx = torch.cat([idx, nxt], 1)
    finally:
        model.train(was)
    return idx


@mutant("generate", bug="calls model.generate", cause=None)
def generate_library(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                     use_cache=True):
    return model.generate(idx, max_new_tokens, temperature, top_k, top_p, generator=generator, use_cache=use_cache)


@mutant("generate", bug="model.train() at the end, whatever mode the model was in", cause=None)
def generate_always_train_after(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                                use_cache=True):
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = model(idx[:, -model.config.block_size:])[0][:, -1]
                if temperature == 0:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(filter_logits(logits, temperature, top_k, top_p).softmax(-1), 1,
                                            generator=generator)
                idx = torch.cat([idx, nxt], 1)
    finally:
        model.train()
    return idx


@mutant("generate", bug="feeds the whole sequence, never cropped to block_size", cause=None)
def generate_uncropped(model, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None,
                       use_cache=True):
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            for _ in range(max_new_tokens):
                logits = model(idx)[0][:, -1]
                if temperature == 0:
                    nxt = logits.argmax(-1, keepdim=True)
                else:
                    nxt = torch.multinomial(filter_logits(logits, temperature, top_k, top_p).softmax(-1), 1,
                                            generator=generator)
                idx = torch.cat([idx, nxt], 1)
    finally:
        model.train(was)
    return idx


@mutant("forward_with_cache", bug="appends along dim 1 (the heads) instead of the positions", cause=None)
def forward_with_cache_wrong_dim(model, idx, cache):
    s = 0 if cache[0].k is None else cache[0].k.shape[2]
    T = idx.shape[1]
    x = model.wpe(model.wte(idx), start=s)
    for block, c in zip(model.blocks, cache):
        a = block.self_attn
        h = block.norm1(x)
        q, k, v = a.split_heads(a.q_proj(h)), a.split_heads(a.k_proj(h)), a.split_heads(a.v_proj(h))
        c.k = k if c.k is None else torch.cat([c.k, k], dim=1)
        c.v = v if c.v is None else torch.cat([c.v, v], dim=1)
        mask = torch.ones(T, c.k.shape[2], dtype=torch.bool, device=idx.device).tril(diagonal=c.k.shape[2] - T)
        x = x + a.out_proj(a.merge_heads(F.scaled_dot_product_attention(q, c.k, c.v, attn_mask=mask)))
        x = x + block.ff(block.norm2(x))
    return model.lm_head(model.ln_f(x))


@mutant("filter_logits", bug="top-p keeps tokens while the cumulative sum is at most p (drops the crossing token, "
        "and everything when the top token alone exceeds p)", cause=("crosses p",))
def filter_logits_cumsum_at_most_p(logits, temperature=1.0, top_k=None, top_p=None):
    logits = logits / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        drop = sorted_logits.softmax(-1).cumsum(-1) > top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@mutant("lm_loss", bug="drops the first position on both sides (no shift)", cause=None)
def lm_loss_both_from_one(logits, idx):
    return F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), idx[:, 1:].reshape(-1))
