"""Notebook 08: alternative answers, right and wrong (see variants.py)."""
import torch
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "08_bert"


# --- Exercise 1: bert_embeddings ---------------------------------------------------------------------

@correct("bert_embeddings")
def embeddings_functional(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                          norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = input_ids.new_zeros(input_ids.shape)
    T = input_ids.shape[1]
    x = (F.embedding(input_ids, word_embeddings) + position_embeddings[:T].unsqueeze(0)
         + F.embedding(token_type_ids, token_type_embeddings))
    return F.layer_norm(x, x.shape[-1:], norm_weight, norm_bias, eps)


@correct("bert_embeddings")
def embeddings_layernorm_written_out(input_ids, token_type_ids, word_embeddings, position_embeddings,
                                     token_type_embeddings, norm_weight, norm_bias, eps=1e-12):
    segments = token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)
    x = word_embeddings[input_ids] + token_type_embeddings[segments]
    x = x + position_embeddings[torch.arange(input_ids.shape[1], device=input_ids.device)]
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    return norm_weight * (x - mean) * torch.rsqrt(var + eps) + norm_bias


@correct("bert_embeddings")
def embeddings_one_hot(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                       norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    dtype = word_embeddings.dtype
    x = F.one_hot(input_ids, word_embeddings.shape[0]).to(dtype) @ word_embeddings
    x = x + F.one_hot(token_type_ids, token_type_embeddings.shape[0]).to(dtype) @ token_type_embeddings
    x = x + position_embeddings[: input_ids.shape[1]]
    return F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias, eps)


@mutant("bert_embeddings", bug="the segment embedding is never added", cause="segment",
        names="the segment (token type) embedding is missing")
def embeddings_no_segments(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                           norm_weight, norm_bias, eps=1e-12):
    x = word_embeddings[input_ids] + position_embeddings[: input_ids.shape[1]]
    return F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias, eps)


@mutant("bert_embeddings", bug="with token_type_ids=None the segment embedding is skipped", cause="None",
        names="None means every token is in segment 0")
def embeddings_skip_segment_when_none(input_ids, token_type_ids, word_embeddings, position_embeddings,
                                      token_type_embeddings, norm_weight, norm_bias, eps=1e-12):
    x = word_embeddings[input_ids] + position_embeddings[: input_ids.shape[1]]
    if token_type_ids is not None:
        x = x + token_type_embeddings[token_type_ids]
    return F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias, eps)


@mutant("bert_embeddings", bug="LayerNorm without its weight and bias (hidden by a fresh LayerNorm)",
        cause="weight and bias", names="ignores its weight and bias")
def embeddings_norm_without_affine(input_ids, token_type_ids, word_embeddings, position_embeddings,
                                   token_type_embeddings, norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    x = word_embeddings[input_ids] + position_embeddings[: input_ids.shape[1]] + token_type_embeddings[token_type_ids]
    return F.layer_norm(x, (x.shape[-1],), eps=eps)


@mutant("bert_embeddings", bug="LayerNorm written with the unbiased variance (divides by H - 1)",
        cause="unbiased", names="unbiased")
def embeddings_unbiased_variance(input_ids, token_type_ids, word_embeddings, position_embeddings,
                                 token_type_embeddings, norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    x = word_embeddings[input_ids] + position_embeddings[: input_ids.shape[1]] + token_type_embeddings[token_type_ids]
    x = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True) + eps)
    return norm_weight * x + norm_bias


@mutant("bert_embeddings", bug="eps ignored: F.layer_norm's default 1e-5 (invisible at embeddings of size 1)",
        cause="eps", names="eps argument is not used")
def embeddings_default_eps(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                           norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    x = word_embeddings[input_ids] + position_embeddings[: input_ids.shape[1]] + token_type_embeddings[token_type_ids]
    return F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias)


@mutant("bert_embeddings", bug="positions counted from 1 (keeping 0 for [CLS])", cause="positions start at 1",
        names="positions start at 1")
def embeddings_positions_from_one(input_ids, token_type_ids, word_embeddings, position_embeddings,
                                  token_type_embeddings, norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    positions = torch.arange(1, input_ids.shape[1] + 1)
    x = word_embeddings[input_ids] + position_embeddings[positions] + token_type_embeddings[token_type_ids]
    return F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias, eps)


@mutant("bert_embeddings", bug="dropout left in: F.dropout defaults to training=True", cause=None)
def embeddings_with_dropout(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                            norm_weight, norm_bias, eps=1e-12):
    if token_type_ids is None:
        token_type_ids = torch.zeros_like(input_ids)
    x = word_embeddings[input_ids] + position_embeddings[: input_ids.shape[1]] + token_type_embeddings[token_type_ids]
    return F.dropout(F.layer_norm(x, (x.shape[-1],), norm_weight, norm_bias, eps), p=0.1)


@mutant("bert_embeddings", bug="the library's BertEmbeddings called with the given weights", cause=None,
        names="write bert_embeddings yourself")
def embeddings_library(input_ids, token_type_ids, word_embeddings, position_embeddings, token_type_embeddings,
                       norm_weight, norm_bias, eps=1e-12):
    config = tc.bert.BertConfig(vocab_size=word_embeddings.shape[0], hidden_size=word_embeddings.shape[1],
                                num_attention_heads=1, max_position_embeddings=position_embeddings.shape[0],
                                type_vocab_size=token_type_embeddings.shape[0], layer_norm_eps=eps, pad_token_id=None)
    module = tc.bert.BertEmbeddings(config).eval()
    params = {"word_embeddings.weight": word_embeddings, "position_embeddings.weight": position_embeddings,
              "token_type_embeddings.weight": token_type_embeddings, "norm.weight": norm_weight, "norm.bias": norm_bias}
    return torch.func.functional_call(module, params, (input_ids, token_type_ids))


# --- Exercise 2: mask_for_mlm ----------------------------------------------------------------------------

@correct("mask_for_mlm")
def masking_bernoulli(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    # as Hugging Face's data collator, with random words drawn among the non-special ids
    probability = torch.full(input_ids.shape, float(mlm_probability))
    special = torch.isin(input_ids, torch.tensor(list(special_ids), dtype=input_ids.dtype))
    probability.masked_fill_(special, 0.0)
    chosen = torch.bernoulli(probability, generator=generator).bool()
    labels = input_ids.clone()
    labels[~chosen] = -100
    inputs = input_ids.clone()
    replaced = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & chosen
    inputs[replaced] = mask_id
    randomised = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & chosen & ~replaced
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids], dtype=input_ids.dtype)
    inputs[randomised] = words[torch.randint(len(words), (int(randomised.sum()),), generator=generator)]
    return inputs, labels


@correct("mask_for_mlm")
def masking_one_uniform(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    # one uniform draw per token decides everything: [0, 0.8p) mask, [0.8p, 0.9p) random, [0.9p, p) keep
    u = torch.rand(input_ids.shape, generator=generator)
    is_special = torch.zeros(input_ids.shape, dtype=torch.bool)
    for s in special_ids:
        is_special |= input_ids == s
    chosen = (u < mlm_probability) & ~is_special
    to_mask = chosen & (u < 0.8 * mlm_probability)
    to_random = chosen & ~to_mask & (u < 0.9 * mlm_probability)
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[list(special_ids)] = False
    words = allowed.nonzero().squeeze(1)
    random_words = words[torch.randint(0, len(words), input_ids.shape, generator=generator)]
    masked = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    masked = torch.where(to_random, random_words.to(input_ids.dtype), masked)
    return masked, torch.where(chosen, input_ids, torch.full_like(input_ids, -100))


@correct("mask_for_mlm")
def masking_with_multinomial(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    chosen = torch.rand(input_ids.shape, generator=generator) < mlm_probability
    chosen &= ~torch.isin(input_ids, torch.tensor(sorted(special_ids)))
    # 0 = [MASK], 1 = random, 2 = unchanged, with probabilities 0.8, 0.1, 0.1
    action = torch.multinomial(torch.tensor([0.8, 0.1, 0.1]), input_ids.numel(), replacement=True,
                               generator=generator).view(input_ids.shape)
    weights = torch.ones(vocab_size)
    weights[sorted(special_ids)] = 0
    random_words = torch.multinomial(weights, input_ids.numel(), replacement=True,
                                     generator=generator).view(input_ids.shape)
    masked = input_ids.clone()
    masked[chosen & (action == 0)] = mask_id
    masked[chosen & (action == 1)] = random_words[chosen & (action == 1)]
    labels = torch.full_like(input_ids, -100)
    labels[chosen] = input_ids[chosen]
    return masked, labels


@mutant("mask_for_mlm", bug="assumes the special tokens are the first ids (id < len(special_ids))", cause=None,
        names="a special token")
def masking_specials_first(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & (input_ids >= len(special_ids))
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    random_ids = torch.randint(len(special_ids), vocab_size, input_ids.shape, generator=generator)
    masked = input_ids.masked_fill(to_mask, mask_id)
    masked = torch.where(to_random, random_ids, masked)
    return masked, input_ids.masked_fill(~chosen, -100)


@mutant("mask_for_mlm", bug="random replacements drawn from the whole vocabulary, specials included", cause=None,
        names="random replacement is a special token")
def masking_random_from_whole_vocab(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15,
                                    generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~torch.isin(input_ids, special)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked = torch.where(to_random, random_ids, input_ids.masked_fill(to_mask, mask_id))
    return masked, input_ids.masked_fill(~chosen, -100)


@mutant("mask_for_mlm", bug="labels only where [MASK] was written (random and unchanged ones get -100)",
        cause=None, names="they need labels")
def masking_labels_only_at_mask(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~torch.isin(input_ids, special)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    masked = torch.where(to_random, random_ids, input_ids.masked_fill(to_mask, mask_id))
    return masked, input_ids.masked_fill(~to_mask, -100)


@mutant("mask_for_mlm", bug="labels hold what the input shows ([MASK] or the random word), not the original",
        cause=None, names="ORIGINAL id")
def masking_labels_from_masked(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~torch.isin(input_ids, special)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    masked = torch.where(to_random, random_ids, input_ids.masked_fill(to_mask, mask_id))
    return masked, masked.masked_fill(~chosen, -100)


@mutant("mask_for_mlm", bug="every chosen token that is not [MASK] becomes random (80/20/0)", cause=None,
        names="unchanged")
def masking_no_unchanged(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~torch.isin(input_ids, special)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    masked = torch.where(chosen & ~to_mask, random_ids, input_ids.masked_fill(to_mask, mask_id))
    return masked, input_ids.masked_fill(~chosen, -100)


@mutant("mask_for_mlm", bug="the 15 % is hard-coded instead of mlm_probability", cause=None,
        names="choose each real token with probability mlm_probability")
def masking_fixed_rate(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < 0.15) & ~torch.isin(input_ids, special)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    masked = torch.where(to_random, random_ids, input_ids.masked_fill(to_mask, mask_id))
    return masked, input_ids.masked_fill(~chosen, -100)


@mutant("mask_for_mlm", bug="the random words are drawn without the generator", cause=None,
        names="pass generator= to every random draw")
def masking_unseeded_draw(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~torch.isin(input_ids, special)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = words[torch.randint(len(words), input_ids.shape)]
    masked = torch.where(to_random, random_ids, input_ids.masked_fill(to_mask, mask_id))
    return masked, input_ids.masked_fill(~chosen, -100)


@mutant("mask_for_mlm", bug="writes [MASK] into input_ids in place", cause=None, names="in place")
def masking_in_place(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    special = torch.tensor(sorted(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mlm_probability) & ~torch.isin(input_ids, special)
    labels = input_ids.masked_fill(~chosen, -100)
    to_mask = chosen & (torch.rand(input_ids.shape, generator=generator) < 0.8)
    to_random = chosen & ~to_mask & (torch.rand(input_ids.shape, generator=generator) < 0.5)
    words = torch.tensor([i for i in range(vocab_size) if i not in special_ids])
    random_ids = words[torch.randint(len(words), input_ids.shape, generator=generator)]
    input_ids[to_mask] = mask_id
    input_ids[to_random] = random_ids[to_random]
    return input_ids, labels


@mutant("mask_for_mlm", bug="calls the library's mask_tokens", cause=None, names="write mask_for_mlm yourself")
def masking_library(input_ids, vocab_size, mask_id, special_ids, mlm_probability=0.15, generator=None):
    return tc.bert.mask_tokens(input_ids, vocab_size, mask_id, special_ids, mlm_probability, generator)


# --- Exercise 3: masked_lm_loss --------------------------------------------------------------------------

@correct("masked_lm_loss")
def loss_ignore_index(logits, labels):
    if (labels == -100).all():
        return (logits * 0).sum()
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)


@correct("masked_lm_loss")
def loss_written_out(logits, labels):
    chosen = labels != -100
    log_probs = logits.log_softmax(dim=-1)
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return -(picked * chosen).sum() / chosen.sum().clamp(min=1)


@correct("masked_lm_loss")
def loss_per_position(logits, labels):
    per_position = F.cross_entropy(logits.transpose(1, 2), labels, reduction="none")  # 0 where ignored
    count = (labels != -100).sum()
    return per_position.sum() / count if count > 0 else logits.sum() * 0.0


@mutant("masked_lm_loss", bug="averages over all B*T positions", cause="all B*T positions", names="all B*T")
def loss_all_positions(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="sum") / labels.numel()


@mutant("masked_lm_loss", bug="scores every position, -100 read as class 0", cause="as class 0",
        names="as class 0")
def loss_clamped_labels(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.clamp(min=0).flatten())


@mutant("masked_lm_loss", bug="sums the chosen positions' losses", cause="summed", names="summed")
def loss_summed(logits, labels):
    chosen = labels != -100
    return F.cross_entropy(logits[chosen], labels[chosen], reduction="sum")


@mutant("masked_lm_loss", bug="nll_loss on raw logits", cause="nll_loss", names="nll_loss got raw logits")
def loss_nll_on_logits(logits, labels):
    chosen = labels != -100
    if not chosen.any():
        return logits.sum() * 0.0
    return F.nll_loss(logits[chosen], labels[chosen])


@mutant("masked_lm_loss", bug="no guard: NaN when nothing is masked", cause=None, names="NaN")
def loss_nan_when_nothing(logits, labels):
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten())


@mutant("masked_lm_loss", bug="returns a detached zero when nothing is masked", cause=None,
        names="attached to the graph")
def loss_detached_zero(logits, labels):
    chosen = labels != -100
    if not chosen.any():
        return torch.tensor(0.0)
    return F.cross_entropy(logits[chosen], labels[chosen])


@mutant("masked_lm_loss", bug="calls the library's mlm_loss", cause=None, names="write masked_lm_loss yourself")
def loss_library(logits, labels):
    return tc.bert.mlm_loss(logits, labels)


# --- Exercise 4: mean_pool (grade id cls_pool) --------------------------------------------------------------

@correct("cls_pool")
def pool_einsum(sequence_output, attention_mask):
    mask = attention_mask.to(sequence_output.dtype)
    return torch.einsum("bth,bt->bh", sequence_output, mask) / mask.sum(1, keepdim=True).clamp(min=1e-9)


@correct("cls_pool")
def pool_loop(sequence_output, attention_mask):
    rows = []
    for vectors, real in zip(sequence_output, attention_mask.bool()):
        rows.append(vectors[real].mean(0) if real.any() else vectors.new_zeros(vectors.shape[-1]))
    return torch.stack(rows)


@correct("cls_pool")
def pool_masked_fill(sequence_output, attention_mask):
    real = attention_mask.bool().unsqueeze(-1)
    total = sequence_output.masked_fill(~real, 0.0).sum(dim=1)
    return torch.nan_to_num(total / real.sum(dim=1), nan=0.0)


@mutant("cls_pool", bug="plain mean over all T positions, padding included", cause="padding positions",
        names="padding positions are averaged in")
def pool_plain_mean(sequence_output, attention_mask):
    return sequence_output.mean(dim=1)


@mutant("cls_pool", bug="masked sum divided by T", cause="divided by T", names="divided by T")
def pool_divided_by_T(sequence_output, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (sequence_output * mask).sum(1) / sequence_output.shape[1]


@mutant("cls_pool", bug="masked sum divided by the whole batch's count of real tokens", cause="whole batch",
        names="whole batch")
def pool_batch_count(sequence_output, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (sequence_output * mask).sum(1) / attention_mask.sum()


@mutant("cls_pool", bug="returns the [CLS] vector", cause="[CLS]", names="[CLS] (first) vector")
def pool_cls(sequence_output, attention_mask):
    return sequence_output[:, 0, :]


@mutant("cls_pool", bug="no guard: 0 / 0 for a row without real tokens", cause="0 by 0", names="0 by 0")
def pool_nan_for_empty(sequence_output, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (sequence_output * mask).sum(1) / mask.sum(1)


@mutant("cls_pool", bug="averages the first n positions (assumes padding on the right)", cause=None,
        names="padding on the left")
def pool_first_n(sequence_output, attention_mask):
    lengths = attention_mask.sum(1).tolist()
    return torch.stack([sequence_output[b, :n].mean(0) if n else sequence_output.new_zeros(sequence_output.shape[-1])
                        for b, n in enumerate(lengths)])


@mutant("cls_pool", bug="the count is not unsqueezed: (B, H) / (B,) (works only when B == H)", cause=None)
def pool_count_not_unsqueezed(sequence_output, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (sequence_output * mask).sum(1) / attention_mask.sum(1).clamp(min=1)


@mutant("cls_pool", bug="keeps the time dimension: (B, 1, H)", cause=None)
def pool_keepdim(sequence_output, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (sequence_output * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1)
