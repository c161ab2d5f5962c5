"""Notebook 05: alternative answers, right and wrong (see variants.py)."""
import math

import numpy as np
import torch
import torch.nn as nn

from .variants import correct, mutant

NOTEBOOK = "05_positional_encoding"


# ---------------------------------------------------------------- sinusoidal_encoding

@correct("sinusoidal_encoding")
def pe_float32_exp_log(max_len, d_model):
    # the formula most tutorials print, entirely in float32
    pe = torch.zeros(max_len, d_model)
    position = torch.arange(0, max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


@correct("sinusoidal_encoding")
def pe_float32_divide_and_interleave(max_len, d_model):
    pos = torch.arange(max_len).float()[:, None]
    i = torch.arange(d_model // 2).float()
    angles = pos / (10000 ** (2 * i / d_model))
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(max_len, d_model)


@correct("sinusoidal_encoding")
def pe_numpy_loops(max_len, d_model):
    pe = np.zeros((max_len, d_model))
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            pe[pos, i] = math.sin(pos / 10000 ** (i / d_model))
            pe[pos, i + 1] = math.cos(pos / 10000 ** (i / d_model))
    return torch.tensor(pe, dtype=torch.float32)


@correct("sinusoidal_encoding")
def pe_outer_pow(max_len, d_model):
    freqs = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float32), freqs)
    return torch.cat([angles.sin()[..., None], angles.cos()[..., None]], dim=-1).view(max_len, d_model)


@mutant("sinusoidal_encoding", bug="all sines, then all cosines (concatenated, not interleaved)",
        cause="alternate", names="must alternate")
def pe_halves(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float32)[:, None]
    freqs = 10000 ** (-torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    return torch.cat([torch.sin(pos * freqs), torch.cos(pos * freqs)], dim=1)


@mutant("sinusoidal_encoding", bug="each column uses its own index in the exponent, (2i+1)/d for the cosines",
        cause="(2i+1)", names="(2i+1)/d_model")
def pe_column_exponent(max_len, d_model):
    pe = torch.zeros(max_len, d_model)
    for j in range(d_model):
        angle = torch.arange(max_len) / 10000 ** (j / d_model)
        pe[:, j] = torch.sin(angle) if j % 2 == 0 else torch.cos(angle)
    return pe


@mutant("sinusoidal_encoding", bug="exponent i/d_model with i the pair index", cause="pair index",
        names="pair index")
def pe_pair_index(max_len, d_model):
    pe = torch.zeros(max_len, d_model)
    pos = torch.arange(max_len).float()[:, None]
    freqs = 1.0 / 10000 ** (torch.arange(d_model // 2).float() / d_model)
    pe[:, 0::2] = torch.sin(pos * freqs)
    pe[:, 1::2] = torch.cos(pos * freqs)
    return pe


@mutant("sinusoidal_encoding", bug="positions 1..max_len instead of 0..max_len-1", cause="start at 1",
        names="start at 1")
def pe_from_one(max_len, d_model):
    pos = torch.arange(1, max_len + 1, dtype=torch.float64)[:, None]
    angles = pos * 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1).float()


@mutant("sinusoidal_encoding", bug="returns the float64 table (forgot .float())", cause=None)
def pe_float64(max_len, d_model):
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    angles = pos * 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = angles.sin(), angles.cos()
    return pe


@mutant("sinusoidal_encoding", bug="calls the library's table", cause=None)
def pe_library(max_len, d_model):
    return tc.positional.SinusoidalPositionalEncoding(d_model, max_len=max_len).pe.clone()  # noqa: F821


# ---------------------------------------------------------------- shift_matrix

@correct("shift_matrix")
def shift_vectorised(k, d_model):
    t = k * torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    M = torch.zeros(d_model, d_model, dtype=torch.float64)
    i = torch.arange(0, d_model, 2)
    M[i, i], M[i, i + 1], M[i + 1, i], M[i + 1, i + 1] = t.cos(), -t.sin(), t.sin(), t.cos()
    return M


@correct("shift_matrix")
def shift_block_diag_float32(k, d_model):
    angles = k * 10000 ** (-torch.arange(0, d_model, 2).float() / d_model)
    blocks = [torch.stack([torch.stack([a.cos(), -a.sin()]), torch.stack([a.sin(), a.cos()])]) for a in angles]
    return torch.block_diag(*blocks)


@correct("shift_matrix")
def shift_power_of_one_step(k, d_model):
    M1 = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        w = 1 / 10000 ** (2 * i / d_model)
        M1[2 * i, 2 * i], M1[2 * i, 2 * i + 1] = math.cos(w), -math.sin(w)
        M1[2 * i + 1, 2 * i], M1[2 * i + 1, 2 * i + 1] = math.sin(w), math.cos(w)
    return torch.linalg.matrix_power(M1, k).float()


@mutant("shift_matrix", bug="the textbook rotation for column vectors, [[cos, sin], [-sin, cos]] for row vectors",
        cause="transposed", names="block is transposed")
def shift_column_convention(k, d_model):
    M = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        t = k / 10000 ** (2 * i / d_model)
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(t), math.sin(t)], [-math.sin(t), math.cos(t)]])
    return M


@mutant("shift_matrix", bug="every pair rotated by k radians (frequency forgotten)", cause="k radians",
        names="k radians")
def shift_no_frequency(k, d_model):
    M = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(k), -math.sin(k)], [math.sin(k), math.cos(k)]])
    return M


@mutant("shift_matrix", bug="frequency 10000 ** (-i/d) with the pair index", cause="pair index")
def shift_pair_index(k, d_model):
    M = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        t = k * 10000 ** (-i / d_model)
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return M


@mutant("shift_matrix", bug="rotates by the frequency only (a shift by one, k forgotten)", cause="ignores k")
def shift_ignores_k(k, d_model):
    M = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        t = 10000 ** (-2 * i / d_model)
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return M


@mutant("shift_matrix", bug="both off-diagonal entries +sin (sign lost in the derivation)", cause=None)
def shift_both_plus(k, d_model):
    M = torch.zeros(d_model, d_model)
    for i in range(d_model // 2):
        t = k * 10000 ** (-2 * i / d_model)
        M[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(t), math.sin(t)], [math.sin(t), math.cos(t)]])
    return M


@mutant("shift_matrix", bug="calls the library", cause=None)
def shift_library(k, d_model):
    return tc.positional.shift_matrix(k, d_model)  # noqa: F821


# ---------------------------------------------------------------- add_positional_encoding

@correct("add_positional_encoding")
def add_narrow(token_embeddings, pe, start=0):
    B, T, d = token_embeddings.shape
    if start + T > len(pe):
        raise ValueError("the positional table is too short for this sequence")
    return token_embeddings * d ** 0.5 + pe.narrow(0, start, T).unsqueeze(0)


@correct("add_positional_encoding")
def add_index_select(token_embeddings, pe, start=0):
    T = token_embeddings.size(1)
    positions = torch.arange(start, start + T, device=token_embeddings.device)
    if positions[-1] >= pe.size(0):
        raise ValueError(f"no row for position {int(positions[-1])}")
    scale = torch.sqrt(torch.tensor(float(token_embeddings.size(-1))))
    return token_embeddings * scale + pe.index_select(0, positions)


@mutant("add_positional_encoding", bug="no sqrt(d_model) scale", cause="scale is missing",
        names="scale is missing")
def add_no_scale(token_embeddings, pe, start=0):
    T = token_embeddings.shape[1]
    if start + T > pe.shape[0]:
        raise ValueError("table too short")
    return token_embeddings + pe[start:start + T]


@mutant("add_positional_encoding", bug="start ignored (always rows 0..T-1)", cause="start is ignored",
        names="start is ignored")
def add_ignores_start(token_embeddings, pe, start=0):
    T, d = token_embeddings.shape[1:]
    if start + T > pe.shape[0]:
        raise ValueError("table too short")
    return token_embeddings * math.sqrt(d) + pe[:T]


@mutant("add_positional_encoding", bug="scaled by sqrt(T), the sequence length", cause="sequence length",
        names="sequence length")
def add_sqrt_length(token_embeddings, pe, start=0):
    T = token_embeddings.shape[1]
    if start + T > pe.shape[0]:
        raise ValueError("table too short")
    return token_embeddings * math.sqrt(T) + pe[start:start + T]


@mutant("add_positional_encoding", bug="no length check: a short table broadcasts one row or fails deep inside",
        cause=None)
def add_no_check(token_embeddings, pe, start=0):
    T, d = token_embeddings.shape[1:]
    return token_embeddings * math.sqrt(d) + pe[start:start + T]


@mutant("add_positional_encoding", bug="checks start against the table, not start + T", cause=None)
def add_wrong_check(token_embeddings, pe, start=0):
    T, d = token_embeddings.shape[1:]
    if start >= pe.shape[0]:
        raise ValueError("start is past the table")
    return token_embeddings * math.sqrt(d) + pe[start:start + T]


@mutant("add_positional_encoding", bug="calls the library", cause=None)
def add_library(token_embeddings, pe, start=0):
    return tc.positional.add_positional_encoding(token_embeddings, pe, start)  # noqa: F821


# ---------------------------------------------------------------- LearnedPositions

@correct("LearnedPositions")
class LearnedSlicesWeight(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        if x.size(1) > self.max_len:
            raise ValueError(f"sequence too long: {x.size(1)} > max_len {self.max_len}")
        return x + self.embedding.weight[:x.size(1)]


@correct("LearnedPositions")
class LearnedBufferOfPositions(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)
        self.register_buffer("positions", torch.arange(max_len), persistent=False)

    def forward(self, x):
        B, T, _ = x.shape
        if T > self.max_len:
            raise ValueError("too long")
        return x + self.embedding(self.positions[:T]).unsqueeze(0).expand(B, T, -1)


@mutant("LearnedPositions", bug="positions 1..T", cause="start at 1", names="start at 1")
class LearnedFromOne(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError("too long")
        return x + self.embedding(torch.arange(1, T + 1, device=x.device))


@mutant("LearnedPositions", bug="returns the position vectors alone", cause="replace", names="replace")
class LearnedReplaces(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError("too long")
        return self.embedding(torch.arange(T, device=x.device)).expand_as(x)


@mutant("LearnedPositions", bug="adds weight.data: the table gets no gradient", cause=None)
class LearnedDetached(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError("too long")
        return x + self.embedding.weight.data[:T]


@mutant("LearnedPositions", bug="refuses T == max_len (>= instead of >)", cause=None)
class LearnedOffByOneCheck(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        T = x.shape[1]
        if T >= self.max_len:
            raise ValueError("too long")
        return x + self.embedding(torch.arange(T, device=x.device))


@mutant("LearnedPositions", bug="no length check (IndexError from nn.Embedding)", cause=None)
class LearnedNoCheck(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        return x + self.embedding(torch.arange(x.shape[1], device=x.device))


@mutant("LearnedPositions", bug="the batch size taken as the length", cause=None)
class LearnedBatchAsLength(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)

    def forward(self, x):
        n = x.shape[0]
        if n > self.max_len:
            raise ValueError("too long")
        return x + self.embedding(torch.arange(n, device=x.device))[:, None]


@mutant("LearnedPositions", bug="subclasses the library's module", cause=None)
class LearnedLibrary(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.inner = tc.positional.LearnedPositionalEmbedding(max_len, d_model)  # noqa: F821
        self.max_len, self.embedding = max_len, self.inner.embedding

    def forward(self, x):
        return self.inner(x)
