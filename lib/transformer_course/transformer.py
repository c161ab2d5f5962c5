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

    @torch.no_grad()
    def greedy_decode(self, src: torch.Tensor, max_len: int, bos_id: int, eos_id: int) -> torch.Tensor:
        """Generate one token at a time, always taking the most likely next token.

        Returns ``(B, <= max_len)`` token ids without BOS; a finished sequence
        keeps producing ``pad_id`` after its EOS.
        """
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
