"""Sequence to sequence with RNNs, with and without attention (notebook 02).

The decoder models p(y_i | y_<i, c_i): at every output step it scores every
encoder position against its own state, turns the scores into weights with a
softmax, and reads the context c_i as the weighted sum of the encoder outputs
(Bahdanau et al. 2015, Luong et al. 2015). Without attention the context is one
fixed vector, the encoder's final state, whatever the length of the input.

Shapes: B batch, S source length, T target length, V vocabulary.
Masks follow the course convention: bool, True = may attend.
"""
from __future__ import annotations

from collections.abc import Sized

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .attention import masked_softmax
from .checks import check_shape


def additive_score(query: torch.Tensor, keys: torch.Tensor, W_q: torch.Tensor, W_k: torch.Tensor,
                   v: torch.Tensor) -> torch.Tensor:
    """Bahdanau: v^T tanh(W_q q + W_k k_s) for every position s.

    query (B, Dq), keys (B, S, Dk), W_q (A, Dq), W_k (A, Dk), v (A,) -> scores (B, S).
    """
    return torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T) @ v


def dot_score(query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Luong dot: q . k_s. keys (B, S, D) and query (B, D) -> scores (B, S),
    or T queries per sentence, query (B, T, D) -> scores (B, T, S)."""
    if query.dim() == 2:
        return (keys @ query.unsqueeze(-1)).squeeze(-1)
    return query @ keys.transpose(-2, -1)


def general_score(query: torch.Tensor, keys: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Luong general: q^T W k_s with W (Dq, Dk). keys (B, S, Dk) and query (B, Dq) -> scores (B, S),
    or query (B, T, Dq) -> scores (B, T, S). The query is projected once, not every key."""
    return dot_score(query @ W, keys)


def attention_context(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The context vector: sum_s weights[b, s] * values[b, s]. (B, S), (B, S, Dv) -> (B, Dv)."""
    return (weights.unsqueeze(1) @ values).squeeze(1)


class _Attention(nn.Module):
    """Shared checks and the weighted sum; subclasses only define ``score``."""

    query_dim: int | None = None
    key_dim: int | None = None

    def score(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """query (B, Dq), keys (B, S, Dk), values (B, S, Dv) = keys, mask (B, S) bool
        -> context (B, Dv), weights (B, S) (rows sum to 1, or are 0 where fully masked)."""
        check_shape("query", query, ("B", self.query_dim or "Dq"))
        B = query.shape[0]
        check_shape("keys", keys, (B, "S", self.key_dim or "Dk"))
        S = keys.shape[1]
        values = keys if values is None else values
        check_shape("values", values, (B, S, "Dv"))
        if mask is not None:
            check_shape("mask", mask, (B, S))
            if mask.dtype != torch.bool:
                raise ValueError(f"mask: expected a bool tensor (True = may attend), got dtype {mask.dtype}")
        weights = masked_softmax(self.score(query, keys), mask)
        return attention_context(weights, values), weights


class AdditiveAttention(_Attention):
    """Bahdanau attention: score(q, k) = v^T tanh(W_q q + W_k k).

    A small one-hidden-layer network compares query and key, so they may have
    different sizes. W_k k does not depend on the decoder step; a fast decoder
    would compute it once per sentence (kept inline here for clarity).
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int):
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        self.W_q = nn.Linear(query_dim, hidden_dim, bias=False)
        self.W_k = nn.Linear(key_dim, hidden_dim, bias=False)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def score(self, query, keys):
        return additive_score(query, keys, self.W_q.weight, self.W_k.weight, self.v.weight[0])


class DotAttention(_Attention):
    """Luong dot attention: score(q, k) = q . k. No parameters; needs Dq == Dk."""

    def score(self, query, keys):
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(f"keys: expected shape (B, S, {query.shape[-1]}) to match the query size, "
                             f"got {tuple(keys.shape)}")
        return dot_score(query, keys)


class GeneralAttention(_Attention):
    """Luong general attention: score(q, k) = q^T W k with W (Dq, Dk), stored as ``W.weight`` = W^T."""

    def __init__(self, query_dim: int, key_dim: int):
        super().__init__()
        self.query_dim, self.key_dim = query_dim, key_dim
        self.W = nn.Linear(query_dim, key_dim, bias=False)  # W(q) = q^T W: project the query once, not every key

    def score(self, query, keys):
        return general_score(query, keys, self.W.weight.T)


class Encoder(nn.Module):
    """Embedding + GRU over the source (torch.nn.GRU: the hand-written cells are for reading).

    forward(src (B, S) token ids) -> outputs (B, S, D*H), final (B, D*H)
    where D = 2 if bidirectional. Padding (``pad_id``) is packed away, so the
    backward direction starts at each sentence's last real token and padded
    positions of ``outputs`` are zeros. ``final`` is the last layer's final state,
    both directions concatenated.
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_size: int, bidirectional: bool = True,
                 pad_id: int = 0, num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.pad_id, self.hidden_size = pad_id, hidden_size
        self.num_directions = 2 if bidirectional else 1
        self.output_dim = hidden_size * self.num_directions
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.gru = nn.GRU(emb_dim, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                          batch_first=True, dropout=dropout if num_layers > 1 else 0.0)

    def forward(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_shape("src", src, ("B", "S"))
        S = src.shape[1]
        # an all-padding row still needs length >= 1 to be packed; its outputs are masked later
        lengths = (src != self.pad_id).sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(self.embedding(src), lengths, batch_first=True, enforce_sorted=False)
        packed_out, h_n = self.gru(packed)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=S)
        final = torch.cat(list(h_n[-self.num_directions:]), dim=-1)
        return outputs, final


class AttentionDecoder(nn.Module):
    """GRU decoder that reads the encoder outputs through an attention module at every step.

    One step: the previous state s_{i-1} is the query; the context c_i is the
    attention-weighted sum of the encoder outputs; the GRU cell reads
    [embed(y_{i-1}), c_i]; the output layer sees [s_i, c_i, embed(y_{i-1})].

    With ``attention=None`` the decoder has no attention: ``enc_outputs`` must be
    a memory of length 1, the encoder's final state (B, 1, E), fed as the same
    context at every step (the classic encoder-decoder of Cho et al. 2014).
    """

    def __init__(self, vocab_size: int, emb_dim: int, hidden_size: int, enc_dim: int,
                 attention: nn.Module | None, pad_id: int = 0):
        super().__init__()
        self.hidden_size, self.enc_dim, self.vocab_size = hidden_size, enc_dim, vocab_size
        self.attention = attention
        self.embedding = nn.Embedding(vocab_size, emb_dim, padding_idx=pad_id)
        self.init_hidden = nn.Sequential(nn.Linear(enc_dim, hidden_size), nn.Tanh())
        self.cell = nn.GRUCell(emb_dim + enc_dim, hidden_size)
        self.out = nn.Linear(hidden_size + enc_dim + emb_dim, vocab_size)

    def step(self, y_prev: torch.Tensor, hidden: torch.Tensor, enc_outputs: torch.Tensor,
             src_mask: torch.Tensor | None = None):
        """y_prev (B,) ids, hidden (B, H), enc_outputs (B, S, E), src_mask (B, S) bool
        -> logits (B, V), new hidden (B, H), attention weights (B, S) (None without attention)."""
        check_shape("y_prev", y_prev, ("B",))
        B = y_prev.shape[0]
        check_shape("hidden", hidden, (B, self.hidden_size))
        if self.attention is None:
            check_shape("enc_outputs", enc_outputs, (B, 1, self.enc_dim))
            context, weights = enc_outputs[:, 0], None
        else:
            check_shape("enc_outputs", enc_outputs, (B, "S", self.enc_dim))
            context, weights = self.attention(hidden, enc_outputs, mask=src_mask)
        emb = self.embedding(y_prev)
        hidden = self.cell(torch.cat([emb, context], dim=-1), hidden)
        logits = self.out(torch.cat([hidden, context, emb], dim=-1))
        return logits, hidden, weights

    def forward(self, tgt_in: torch.Tensor, hidden: torch.Tensor, enc_outputs: torch.Tensor,
                src_mask: torch.Tensor | None = None):
        """Teacher forcing: the true previous token is fed at every step.

        tgt_in (B, T) -> logits (B, T, V), attention (B, T, S) or None, final hidden (B, H).
        """
        check_shape("tgt_in", tgt_in, ("B", "T"))
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, hidden, w = self.step(tgt_in[:, t], hidden, enc_outputs, src_mask)
            logits.append(step_logits)
            weights.append(w)
        attn = None if self.attention is None else torch.stack(weights, dim=1)
        return torch.stack(logits, dim=1), attn, hidden


def _size(vocab: int | Sized) -> int:
    return vocab if isinstance(vocab, int) else len(vocab)


class Seq2Seq(nn.Module):
    """Bidirectional GRU encoder + GRU decoder, with 'additive', 'dot', 'general' or no attention.

    ``src_vocab`` / ``tgt_vocab``: vocabulary sizes (or anything with ``len``).
    Each encoder direction has hidden_size // 2 units, so the encoder outputs are
    hidden_size wide like the decoder state, and dot attention needs no projection.
    """

    def __init__(self, src_vocab: int | Sized, tgt_vocab: int | Sized, emb_dim: int = 32,
                 hidden_size: int = 64, attention: str | None = "additive", pad_id: int = 0):
        super().__init__()
        if hidden_size % 2:
            raise ValueError(f"hidden_size: expected an even number (split over two directions), got {hidden_size}")
        if attention not in ("additive", "dot", "general", None):
            raise ValueError(f"attention: expected 'additive', 'dot', 'general' or None, got {attention!r}")
        self.pad_id, self.attention_kind = pad_id, attention
        self.encoder = Encoder(_size(src_vocab), emb_dim, hidden_size // 2, bidirectional=True, pad_id=pad_id)
        attn = {"additive": lambda: AdditiveAttention(hidden_size, hidden_size, hidden_size),
                "dot": DotAttention,
                "general": lambda: GeneralAttention(hidden_size, hidden_size),
                None: lambda: None}[attention]()
        self.decoder = AttentionDecoder(_size(tgt_vocab), emb_dim, hidden_size, hidden_size, attn, pad_id)

    def encode(self, src: torch.Tensor):
        """src (B, S) -> (memory (B, S, E) or (B, 1, E) without attention, memory mask, initial decoder state)."""
        enc_outputs, final = self.encoder(src)
        hidden = self.decoder.init_hidden(final)
        if self.decoder.attention is None:
            # the bottleneck: whatever the source length, the decoder sees one vector
            return final.unsqueeze(1), None, hidden
        return enc_outputs, src != self.pad_id, hidden

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """src (B, S), tgt_in (B, T) (starts with BOS) -> logits (B, T, V), teacher-forced."""
        check_shape("src", src, ("B", "S"))
        check_shape("tgt_in", tgt_in, (src.shape[0], "T"))
        memory, mask, hidden = self.encode(src)
        return self.decoder(tgt_in, hidden, memory, mask)[0]

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int) -> torch.Tensor:
        """Feed back the most likely token at every step (the same contract as ``Transformer.greedy_decode``).

        src (B, S) -> tokens (B, T_out) without the BOS, each row ending at its EOS
        (included) and padded with ``pad_id`` after it; T_out <= max_len, shorter
        when every row has emitted EOS. ``alignment(src, tgt_in)`` gives the attention.
        """
        check_shape("src", src, ("B", "S"))
        memory, mask, hidden = self.encode(src)
        B = src.shape[0]
        y = torch.full((B,), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(B, dtype=torch.bool, device=src.device)
        tokens = []
        for _ in range(max_len):
            logits, hidden, _ = self.decoder.step(y, hidden, memory, mask)
            y = logits.argmax(dim=-1)
            tokens.append(y.masked_fill(finished, self.pad_id))
            finished |= y == eos_id
            if finished.all():
                break
        return torch.stack(tokens, dim=1) if tokens else src.new_zeros(B, 0)

    @torch.no_grad()
    def alignment(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """The attention weights (B, T, S) of the decoder fed ``tgt_in`` (teacher forcing).

        Feed BOS + ``greedy_decode``'s tokens (without the last) to see where the model
        looked while it wrote them: step t of both runs sees the same inputs.
        """
        if self.decoder.attention is None:
            raise ValueError("alignment: this model has no attention (attention=None); there are no weights to show")
        check_shape("src", src, ("B", "S"))
        check_shape("tgt_in", tgt_in, (src.shape[0], "T"))
        memory, mask, hidden = self.encode(src)
        return self.decoder(tgt_in, hidden, memory, mask)[1]
