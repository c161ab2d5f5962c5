"""The encoder-decoder transformer of "Attention Is All You Need", small enough to train on a laptop.

Training is one parallel pass (teacher forcing: the decoder sees the whole
shifted target at once, and the causal mask keeps it honest); inference is a
loop that feeds each predicted token back in.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import DecoderLayer, EncoderLayer, LayerNorm
from .masks import padding_mask
from .positional import SinusoidalPositionalEncoding


class _Embed(nn.Module):
    """Token embedding scaled by sqrt(d_model), plus sinusoidal positions."""

    def __init__(self, vocab_size: int, d_model: int, max_len: int, dropout: float):
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, d_model)
        # std 1/sqrt(d_model), so the scaled embedding has unit variance like the positions (as in the
        # paper's shared embeddings); nn.Embedding's N(0, 1) would make tokens sqrt(d_model) times louder
        # than positions, and a small model then learns word order very slowly.
        nn.init.normal_(self.tokens.weight, std=d_model ** -0.5)
        self.positions = SinusoidalPositionalEncoding(d_model, max_len, dropout)
        self.scale = math.sqrt(d_model)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2:
            raise ValueError(f"tokens: expected shape (B, T), got {tuple(ids.shape)}")
        return self.positions(self.tokens(ids) * self.scale)


class Encoder(nn.Module):
    """Embeddings and ``n_layers`` encoder layers. ``forward(src (B, S), src_mask) -> (B, S, d_model)``."""

    def __init__(self, vocab_size, d_model=128, n_heads=4, n_layers=2, d_ff=None, dropout=0.1,
                 max_len=512, norm_first=False):
        super().__init__()
        self.embed = _Embed(vocab_size, d_model, max_len, dropout)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, d_ff, dropout, norm_first=norm_first) for _ in range(n_layers)
        )
        self.norm = LayerNorm(d_model) if norm_first else nn.Identity()

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(src)
        for layer in self.layers:
            x = layer(x, mask=src_mask)
        return self.norm(x)


class Decoder(nn.Module):
    """Embeddings, ``n_layers`` decoder layers and the output projection to the vocabulary."""

    def __init__(self, vocab_size, d_model=128, n_heads=4, n_layers=2, d_ff=None, dropout=0.1,
                 max_len=512, norm_first=False):
        super().__init__()
        self.embed = _Embed(vocab_size, d_model, max_len, dropout)
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, n_heads, d_ff, dropout, norm_first=norm_first) for _ in range(n_layers)
        )
        self.norm = LayerNorm(d_model) if norm_first else nn.Identity()
        self.lm_head = nn.Linear(d_model, vocab_size)

    def forward(self, tgt, memory, memory_mask=None, tgt_mask=None) -> torch.Tensor:
        x = self.embed(tgt)
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, is_causal=True)
        return self.lm_head(self.norm(x))


class Transformer(nn.Module):
    """Encoder-decoder transformer for sequence-to-sequence tasks.

    ``forward(src (B, S), tgt_in (B, T)) -> logits (B, T, tgt_vocab)``; ``tgt_in``
    starts with BOS and is the target shifted right by one.
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 128, n_heads: int = 4,
                 n_layers: int = 2, d_ff: int | None = None, dropout: float = 0.1, max_len: int = 512,
                 pad_id: int = 0, norm_first: bool = False):
        super().__init__()
        self.pad_id = pad_id
        self.encoder = Encoder(src_vocab, d_model, n_heads, n_layers, d_ff, dropout, max_len, norm_first)
        self.decoder = Decoder(tgt_vocab, d_model, n_heads, n_layers, d_ff, dropout, max_len, norm_first)

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(memory (B, S, d_model), src_mask (B, 1, 1, S))``."""
        src_mask = padding_mask(src, self.pad_id)
        return self.encoder(src, src_mask), src_mask

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, src_mask = self.encode(src)
        return self.decoder(tgt_in, memory, memory_mask=src_mask, tgt_mask=padding_mask(tgt_in, self.pad_id))

    def loss(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of predicting ``tgt[:, 1:]`` from ``tgt[:, :-1]``, ignoring padding."""
        logits = self(src, tgt[:, :-1])
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1), ignore_index=self.pad_id)

    def _check_decode_args(self, src, max_len, **ids):
        if not isinstance(src, torch.Tensor) or src.dim() != 2:
            got = tuple(src.shape) if isinstance(src, torch.Tensor) else type(src).__name__
            raise ValueError(f"src: expected shape (B, S), got {got}")
        if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1:
            raise ValueError(f"max_len: expected a positive int, got {max_len!r}")
        for name, value in ids.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name}: expected a token id (int), got {value!r}")

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int) -> torch.Tensor:
        """Generate one token at a time, always taking the most likely next token.

        Returns ``(B, T_out)`` token ids without BOS; a finished sequence keeps
        producing ``pad_id`` after its EOS; ``T_out <= max_len`` is the length of
        the longest row (the loop stops once every row has produced EOS).
        """
        self._check_decode_args(src, max_len, bos_id=bos_id, eos_id=eos_id)
        memory, src_mask = self.encode(src)
        out = torch.full((src.shape[0], 1), bos_id, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits = self.decoder(out, memory, memory_mask=src_mask)
            next_token = logits[:, -1].argmax(-1).masked_fill(done, self.pad_id)
            out = torch.cat([out, next_token[:, None]], dim=1)
            done |= next_token == eos_id
            if done.all():
                break
        return out[:, 1:]

    @torch.no_grad()
    def beam_search(self, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int,
                    beam_size: int = 4) -> torch.Tensor:
        """Keep the ``beam_size`` most likely prefixes of every sentence, not just one.

        A hypothesis's score is the sum of the log-probabilities of its tokens. At
        each step every hypothesis is extended by every token, and the ``beam_size``
        best of the ``beam_size * V`` candidates survive. A hypothesis that has
        produced EOS stays in the beam with its score frozen: its only extension is
        ``pad_id``, at log-probability 0. The search stops when every hypothesis has
        finished or after ``max_len`` steps, and returns the best-scoring one.

        Returns ``(B, T_out)`` token ids like ``greedy_decode``: no BOS, ``pad_id``
        after EOS, ``T_out`` the length of the longest returned sequence (EOS
        included). ``beam_size=1`` is greedy decoding.
        """
        self._check_decode_args(src, max_len, bos_id=bos_id, eos_id=eos_id)
        vocab_size = self.decoder.lm_head.out_features
        if not isinstance(beam_size, int) or isinstance(beam_size, bool) or not 1 <= beam_size <= vocab_size:
            raise ValueError(f"beam_size: expected an int from 1 to the vocabulary size {vocab_size}, "
                             f"got {beam_size!r}")
        B, k, device = src.shape[0], beam_size, src.device
        memory, src_mask = self.encode(src)
        dtype = torch.promote_types(memory.dtype, torch.float32)              # scores in at least float32
        memory, src_mask = memory.repeat_interleave(k, dim=0), src_mask.repeat_interleave(k, dim=0)
        tokens = torch.full((B * k, 1), bos_id, dtype=torch.long, device=device)
        # every hypothesis starts as the same <bos>: only one copy may be extended, or the beam
        # would fill with k identical hypotheses
        scores = torch.full((B, k), float("-inf"), dtype=dtype, device=device)
        scores[:, 0] = 0.0
        finished = torch.zeros(B * k, dtype=torch.bool, device=device)
        pad_only = torch.full((vocab_size,), float("-inf"), dtype=dtype, device=device)
        pad_only[self.pad_id] = 0.0
        for _ in range(max_len):
            logits = self.decoder(tokens, memory, memory_mask=src_mask)[:, -1]
            log_probs = torch.where(finished[:, None], pad_only, logits.to(dtype).log_softmax(dim=-1))
            candidates = (scores.reshape(B * k, 1) + log_probs).reshape(B, k * vocab_size)
            scores, index = candidates.topk(k, dim=-1)                      # (B, k), best first
            rows = (torch.arange(B, device=device)[:, None] * k + index // vocab_size).reshape(-1)
            new_tokens = (index % vocab_size).reshape(-1)
            tokens = torch.cat([tokens[rows], new_tokens[:, None]], dim=1)
            finished = finished[rows] | (new_tokens == eos_id)
            if finished.all():
                break
        best = tokens.reshape(B, k, -1)[torch.arange(B, device=device), scores.argmax(dim=-1), 1:]
        is_eos = best == eos_id
        lengths = torch.where(is_eos.any(dim=1), is_eos.int().argmax(dim=1) + 1, best.shape[1])
        return best[:, :int(lengths.max())]

    @torch.no_grad()
    def log_prob(self, src: torch.Tensor, tokens: torch.Tensor, bos_id: int, eos_id: int) -> torch.Tensor:
        """``(B,)`` log-probability the model gives to ``tokens`` (``(B, T)``, no BOS, as the decoders return).

        Sums log p(token_t | source, BOS + tokens_<t) up to and including each row's
        first EOS; what follows it (padding) is not scored. The decoder runs as in
        the decoding loops, one teacher-forced pass instead of one call per token.
        """
        self._check_decode_args(src, 1, bos_id=bos_id, eos_id=eos_id)
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.shape[0] != src.shape[0]:
            got = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(f"tokens: expected shape ({src.shape[0]}, T), got {got}")
        memory, src_mask = self.encode(src)
        tgt_in = torch.cat([torch.full_like(tokens[:, :1], bos_id), tokens[:, :-1]], dim=1)
        logits = self.decoder(tgt_in, memory, memory_mask=src_mask)
        log_probs = logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(dim=-1)
        per_token = log_probs.gather(-1, tokens[..., None]).squeeze(-1)     # (B, T)
        after_eos = (tokens == eos_id).long().cumsum(dim=1) - (tokens == eos_id).long() > 0
        return per_token.masked_fill(after_eos, 0.0).sum(dim=1)
