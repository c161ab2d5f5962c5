"""BERT: a stack of post-norm encoder layers, pretrained by filling in masked words.

The encoder layer is ``blocks.EncoderLayer`` (GELU, eps 1e-12), the very layer
of the "Attention is all you need" encoder; BERT adds learned position and
segment embeddings, a ``[CLS]`` pooler, and two heads: masked-LM and
sequence classification. Every parameter of ``BertModel`` has exactly one
counterpart of the same shape in Hugging Face's ``BertModel``, under another
name (``_hf_names`` is the map), so ``load_pretrained_bert(folder)`` reads a
real checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import ACTIVATIONS, EncoderLayer, LayerNorm
from .tokenizers import WordPieceTokenizer

IGNORE_INDEX = -100  # label of positions the MLM loss skips (as torch's cross_entropy default)


@dataclass
class BertConfig:
    vocab_size: int = 30522
    hidden_size: int = 768  # d_model
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072  # d_ff
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-12
    pad_token_id: int = 0
    hidden_act: str = "gelu"  # one of blocks.ACTIVATIONS
    initializer_range: float = 0.02

    def __post_init__(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"num_attention_heads: hidden_size = {self.hidden_size} must be divisible by it, "
                             f"got {self.num_attention_heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"hidden_act: expected one of {sorted(ACTIVATIONS)}, got {self.hidden_act!r}")

    @property
    def d_model(self) -> int:
        return self.hidden_size

    @classmethod
    def from_hf_dict(cls, d: dict) -> BertConfig:
        """From a Hugging Face ``config.json`` (unknown keys are ignored)."""
        d = dict(d)
        # HF's "gelu_new"/"gelu_pytorch_tanh" are the tanh approximation.
        d["hidden_act"] = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}.get(
            d.get("hidden_act", "gelu"), d.get("hidden_act", "gelu"))
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type: only 'absolute' is supported, "
                             f"got {d['position_embedding_type']!r}")
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names and v is not None})


class BertEmbeddings(nn.Module):
    """token + position + segment embeddings, then LayerNorm and dropout.

    ``forward(input_ids (B, T), token_type_ids (B, T) or None) -> (B, T, hidden_size)``.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        H = config.hidden_size
        self.word_embeddings = nn.Embedding(config.vocab_size, H, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, H)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, H)
        self.norm = LayerNorm(H, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        T = input_ids.shape[1]
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(T, device=input_ids.device)
        x = (self.word_embeddings(input_ids) + self.position_embeddings(positions)
             + self.token_type_embeddings(token_type_ids))
        return self.dropout(self.norm(x))


class BertModel(nn.Module):
    """The BERT encoder.

    ``forward(input_ids (B, T), token_type_ids=None, attention_mask=None, output_attentions=False)``
    returns ``(sequence_output (B, T, H), pooled_output (B, H))`` where pooled is
    ``tanh(Linear(sequence_output[:, 0]))``, the [CLS] summary (``None`` without a pooler);
    with ``output_attentions=True`` a third item, one ``(B, n_heads, T, T)`` tensor per layer.
    ``attention_mask`` is 1 (or True) for real tokens and 0 for padding, as HF's.
    """

    def __init__(self, config: BertConfig, add_pooling_layer: bool = True):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        self.layers = nn.ModuleList()
        for _ in range(config.num_hidden_layers):
            layer = EncoderLayer(config.hidden_size, config.num_attention_heads, config.intermediate_size,
                                 dropout=config.hidden_dropout_prob, activation=config.hidden_act,
                                 norm_first=False, eps=config.layer_norm_eps)
            # BERT drops attention weights with its own rate and has no dropout inside the FFN.
            layer.self_attn.dropout = config.attention_probs_dropout_prob
            layer.ff.dropout = nn.Identity()
            self.layers.append(layer)
        self.pooler = nn.Linear(config.hidden_size, config.hidden_size) if add_pooling_layer else None
        self.apply(lambda m: init_bert_weights(m, config.initializer_range))

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, output_attentions: bool = False):
        check_bert_inputs(self.config, input_ids, token_type_ids, attention_mask)
        # (B, T) -> (B, 1, 1, T): every query may look at every real key, never at padding.
        mask = attention_mask.bool()[:, None, None, :] if attention_mask is not None else None
        x = self.embeddings(input_ids, token_type_ids)
        attentions = []
        for layer in self.layers:
            if output_attentions:
                # The layer itself uses the fused kernel, which never forms the weights;
                # recompute them with the written-out path for plots (equal in eval mode).
                attentions.append(layer.self_attn(x, x, x, mask=mask, need_weights=True)[1])
            x = layer(x, mask)
        pooled = torch.tanh(self.pooler(x[:, 0])) if self.pooler is not None else None
        return (x, pooled, attentions) if output_attentions else (x, pooled)


@torch.no_grad()
def init_bert_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: N(0, std) weights, zero biases, unit LayerNorm; zero [PAD] row."""
    if isinstance(module, nn.Linear):
        module.weight.normal_(0.0, std)
        if module.bias is not None:
            module.bias.zero_()
    elif isinstance(module, nn.Embedding):
        module.weight.normal_(0.0, std)
        if module.padding_idx is not None:
            module.weight[module.padding_idx].zero_()
    elif isinstance(module, LayerNorm):
        module.weight.fill_(1.0)
        if module.bias is not None:
            module.bias.zero_()


def check_bert_inputs(config: BertConfig, input_ids, token_type_ids=None, attention_mask=None) -> None:
    """ValueError unless input_ids is (B, T) integer with T <= max_position_embeddings, others alike."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2:
        got = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise ValueError(f"input_ids: expected shape (B, T), got {got}")
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
        raise ValueError(f"input_ids: expected an integer tensor, got dtype {input_ids.dtype}")
    if input_ids.shape[1] > config.max_position_embeddings:
        raise ValueError(f"input_ids: shape {tuple(input_ids.shape)} has T = {input_ids.shape[1]} positions, "
                         f"more than max_position_embeddings = {config.max_position_embeddings}; "
                         f"expected (B, T <= {config.max_position_embeddings})")
    for name, t in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
        if t is not None and (not isinstance(t, torch.Tensor) or t.shape != input_ids.shape):
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name}: expected shape {tuple(input_ids.shape)} (as input_ids), got {got}")


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not -100.

    ``logits (B, T, V)``, ``labels (B, T)``. The other positions do not count at
    all: the model is graded only on the tokens it could not see. With no masked
    position the loss is 0 (not NaN), still attached to the graph.
    """
    if labels.shape != logits.shape[:-1]:
        raise ValueError(f"labels: expected shape {tuple(logits.shape[:-1])} (logits without the vocab axis), "
                         f"got {tuple(labels.shape)}")
    selected = labels != IGNORE_INDEX
    if not selected.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[selected], labels[selected])


class BertForMaskedLM(nn.Module):
    """BERT + the MLM head: dense, activation, LayerNorm, then a decoder tied to the word embeddings.

    ``forward(input_ids, token_type_ids=None, attention_mask=None, labels=None)
    -> (logits (B, T, vocab_size), loss or None)``; ``labels`` is -100 where not masked.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_norm = LayerNorm(config.hidden_size, config.layer_norm_eps)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        self.apply(lambda m: init_bert_weights(m, config.initializer_range))
        # Tying: the output matrix is the input embedding matrix (V x H), one set of word vectors.
        self.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(self, input_ids, token_type_ids=None, attention_mask=None, labels=None):
        x = self.bert(input_ids, token_type_ids, attention_mask)[0]
        x = self.transform_norm(ACTIVATIONS[self.config.hidden_act](self.transform(x)))
        logits = self.decoder(x)
        return logits, (mlm_loss(logits, labels) if labels is not None else None)


POOLINGS = ("pooler", "cls", "mean")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the token vectors over the real positions: ``(B, T, H)``, mask ``(B, T)`` -> ``(B, H)``.

    Padding (mask 0 or False) counts neither in the sum nor in the count, so a
    sentence's vector does not depend on how much its batch padded it. This is how
    sentence encoders such as all-MiniLM-L6-v2 read a sentence (their ``1_Pooling``).
    """
    if attention_mask is None:
        return hidden.mean(1)
    if attention_mask.shape != hidden.shape[:2]:
        raise ValueError(f"attention_mask: expected shape {tuple(hidden.shape[:2])} (hidden without its last "
                         f"axis), got {tuple(attention_mask.shape)}")
    weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class BertForSequenceClassification(nn.Module):
    """BERT + a sentence vector + dropout + a linear classifier.

    ``pooling`` chooses the sentence vector: ``"pooler"`` (BERT's pooled output,
    ``tanh(Linear(h_[CLS]))``), ``"cls"`` (the final [CLS] vector itself) or ``"mean"``
    (``mean_pool`` of the token vectors over real positions). ``dropout`` defaults to
    the config's ``hidden_dropout_prob``.

    ``forward(input_ids, *, attention_mask=None, token_type_ids=None, labels=None)
    -> (logits (B, num_labels), cross-entropy loss or None)``. Every argument after
    ``input_ids`` is keyword-only: ``BertModel`` takes ``token_type_ids`` second, so a
    positional mask could silently be read as segment ids.
    """

    def __init__(self, config: BertConfig, num_labels: int = 2, bert: BertModel | None = None,
                 pooling: str = "pooler", dropout: float | None = None):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {POOLINGS}, got {pooling!r}")
        if not isinstance(num_labels, int) or num_labels < 1:
            raise ValueError(f"num_labels: expected a positive int, got {num_labels!r}")
        self.config, self.num_labels, self.pooling = config, num_labels, pooling
        self.bert = bert if bert is not None else BertModel(config, add_pooling_layer=pooling == "pooler")
        if pooling == "pooler" and self.bert.pooler is None:
            raise ValueError("bert: pooling='pooler' needs a BertModel with a pooler (add_pooling_layer=True), "
                             "got one without; use pooling='cls' or 'mean'")
        self.dropout = nn.Dropout(config.hidden_dropout_prob if dropout is None else dropout)
        self.classifier = nn.Linear(config.hidden_size, num_labels)
        init_bert_weights(self.classifier, config.initializer_range)

    @classmethod
    def from_bert(cls, bert: BertModel, num_labels: int = 2, pooling: str = "pooler",
                  dropout: float | None = None) -> BertForSequenceClassification:
        """A fresh head on a (pretrained) encoder; the encoder is shared, not copied."""
        p = next(bert.parameters())
        model = cls(bert.config, num_labels, bert=bert, pooling=pooling, dropout=dropout)
        return model.to(device=p.device, dtype=p.dtype)

    def sentence_vector(self, input_ids, *, attention_mask=None, token_type_ids=None) -> torch.Tensor:
        """The ``(B, H)`` vector the classifier reads (before dropout), as ``pooling`` says."""
        hidden, pooled = self.bert(input_ids, token_type_ids=token_type_ids, attention_mask=attention_mask)[:2]
        if self.pooling == "pooler":
            return pooled
        if self.pooling == "cls":
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def forward(self, input_ids, *, attention_mask=None, token_type_ids=None, labels=None):
        vector = self.sentence_vector(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        logits = self.classifier(self.dropout(vector))
        if labels is None:
            return logits, None
        if labels.shape != logits.shape[:1]:
            raise ValueError(f"labels: expected shape ({logits.shape[0]},), got {tuple(labels.shape)}")
        return logits, F.cross_entropy(logits, labels)


def mask_tokens(input_ids: torch.Tensor, vocab_size: int, mask_id: int, special_ids, mlm_probability: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule: select each non-special token with probability ``mlm_probability``;
    of the selected, 80 % become ``[MASK]``, 10 % a random (non-special) token, 10 % stay.

    Returns ``(masked_inputs, labels)``, both like ``input_ids``; labels hold the
    original id at selected positions and -100 elsewhere. Special tokens (and
    padding, when its id is in ``special_ids``) are never selected. The random
    and unchanged 10 % keep the model from learning that only [MASK] needs predicting.
    """
    if not isinstance(input_ids, torch.Tensor) or input_ids.dtype.is_floating_point:
        raise ValueError(f"input_ids: expected an integer tensor, got "
                         f"{input_ids.dtype if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__}")
    if not 0.0 <= mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability: expected a value in [0, 1], got {mlm_probability}")
    special = torch.as_tensor(sorted(set(int(i) for i in special_ids)), dtype=torch.long)
    if not 0 <= mask_id < vocab_size:
        raise ValueError(f"mask_id: expected an id in [0, {vocab_size}), got {mask_id}")
    # Draw on the generator's device (a CPU generator cannot fill a CUDA tensor), then move.
    gen_device = generator.device if generator is not None else input_ids.device
    def rand():
        return torch.rand(input_ids.shape, generator=generator, device=gen_device).to(input_ids.device)

    is_special = torch.isin(input_ids, special.to(input_ids.device))
    selected = (rand() < mlm_probability) & ~is_special
    to_mask = selected & (rand() < 0.8)
    to_random = selected & ~to_mask & (rand() < 0.5)  # half of the remaining 20 %
    allowed = torch.ones(vocab_size, dtype=torch.bool)
    allowed[special[(special >= 0) & (special < vocab_size)]] = False
    allowed = allowed.nonzero().squeeze(1).to(gen_device)
    random_ids = allowed[torch.randint(len(allowed), input_ids.shape, generator=generator, device=gen_device)]
    masked = input_ids.clone()
    masked[to_mask] = mask_id
    masked = torch.where(to_random, random_ids.to(input_ids.device, input_ids.dtype), masked)
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return masked, labels


# --- a tiny BERT, pretrained in seconds -----------------------------------------------------------

def pretrain_tiny_bert(sentences, *, tokenizer: WordPieceTokenizer | None = None, vocab_size: int = 400,
                       hidden_size: int = 64, num_hidden_layers: int = 2,
                       num_attention_heads: int = 4, intermediate_size: int = 128, max_length: int = 32,
                       steps: int = 300, batch_size: int = 64, lr: float = 3e-3, warmup_steps: int = 30,
                       mlm_probability: float = 0.15, seed: int = 0, device=None, progress: bool = True,
                       desc: str = "MLM pretraining"):
    """Train a WordPiece vocabulary and a small ``BertForMaskedLM`` on ``sentences`` with masked LM.

    The recipe of notebook 08, as one call, so that any notebook can get "a tiny
    pretrained BERT" without files: ``WordPieceTokenizer.train(sentences, vocab_size)``
    (or the given ``tokenizer``, whose special tokens may sit anywhere in its
    vocabulary), then ``steps`` AdamW steps (``train.fit``: warmup + cosine, clipping at 1) on random
    batches of ``batch_size`` sentences (at most ``max_length`` tokens), masked with
    ``mask_tokens`` (15 %; 80/10/10). No dropout. The encoder ``model.bert`` gets a
    freshly initialised pooler (BERT trains it with next-sentence prediction, which we
    skip), so ``BertForSequenceClassification.from_bert(model.bert)`` works.
    Deterministic for a given ``seed`` on a given device.

    Returns ``(model in eval mode, tokenizer, train.History)``.
    """
    from .train import fit

    sentences = list(sentences)
    if not sentences:
        raise ValueError("sentences: expected at least one sentence, got none")
    if tokenizer is None:
        tokenizer = WordPieceTokenizer.train(sentences, vocab_size=vocab_size)
    elif not isinstance(tokenizer, WordPieceTokenizer):
        raise ValueError(f"tokenizer: expected a WordPieceTokenizer or None, got {type(tokenizer).__name__}")
    enc = tokenizer.batch_encode(sentences, max_length=max_length)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden_size,
                        num_hidden_layers=num_hidden_layers, num_attention_heads=num_attention_heads,
                        intermediate_size=intermediate_size, max_position_embeddings=max_length,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=tokenizer.pad_id)
    torch.manual_seed(seed)
    model = BertForMaskedLM(config)
    model.bert.pooler = nn.Linear(hidden_size, hidden_size)
    init_bert_weights(model.bert.pooler, config.initializer_range)
    gen = torch.Generator().manual_seed(seed)
    ids_all, special = enc["input_ids"], sorted(tokenizer.special_ids)

    def batch():
        ids = ids_all[torch.randint(len(ids_all), (batch_size,), generator=gen)]
        ids = ids[:, : int((ids != tokenizer.pad_id).sum(1).max())]  # drop all-padding columns
        masked, labels = mask_tokens(ids, tokenizer.vocab_size, tokenizer.mask_id, special,
                                     mlm_probability=mlm_probability, generator=gen)
        return {"input_ids": masked, "attention_mask": (ids != tokenizer.pad_id).long(), "labels": labels}

    history = fit(model, batch, steps=steps, lr=lr, warmup_steps=warmup_steps, device=device,
                  progress=progress, desc=desc)
    return model.eval(), tokenizer, history



@torch.no_grad()
def evaluate_classifier(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                        labels: torch.Tensor, batch_size: int = 256) -> tuple[float, torch.Tensor]:
    """Accuracy and confusion matrix of a sequence classifier on a labelled set.

    ``model(input_ids, attention_mask=...)`` must return ``(logits (B, C), ...)`` as
    ``BertForSequenceClassification`` does. Runs in eval mode (no dropout) in chunks of
    ``batch_size``, then restores the model's mode. Returns ``(accuracy, confusion)``:
    ``confusion[i, j]`` counts examples of true class ``i`` predicted as ``j`` (a CPU
    ``(C, C)`` int64 tensor; its trace over its sum is the accuracy).
    """
    if labels.dim() != 1 or labels.shape[0] != input_ids.shape[0] or len(labels) == 0:
        raise ValueError(f"labels: expected shape ({input_ids.shape[0]},) with at least one label, "
                         f"got {tuple(labels.shape)}")
    was_training = model.training
    model.eval()
    try:
        logits = []
        for start in range(0, len(input_ids), batch_size):
            chunk = slice(start, start + batch_size)
            mask = attention_mask[chunk] if attention_mask is not None else None
            logits.append(model(input_ids[chunk], attention_mask=mask)[0])
    finally:
        model.train(was_training)
    num_classes = logits[0].shape[-1]
    preds, labels = torch.cat(logits).argmax(-1).cpu(), labels.cpu().long()
    confusion = torch.bincount(labels * num_classes + preds, minlength=num_classes ** 2).view(num_classes, num_classes)
    return (preds == labels).float().mean().item(), confusion


def __getattr__(name):
    # The checkpoint readers moved to checkpoints.py; these names keep working here.
    if name in ("load_pretrained_bert", "bert_state_dict_from_hf", "packaged_minilm_folder"):
        from . import checkpoints
        return getattr(checkpoints, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
