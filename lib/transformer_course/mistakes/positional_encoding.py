"""Notebook 05: the wrong answers students write for positional encodings (see the package docstring)."""
import math

import torch
import torch.nn as nn


def _angles(max_len, d_model, exponent):
    """(max_len, d_model / 2) angles pos * 10000 ** (-exponent(i) / d_model) for the pairs i, in float64."""
    pos = torch.arange(max_len, dtype=torch.float64)[:, None]
    i = torch.arange(d_model // 2, dtype=torch.float64)
    return pos * 10000.0 ** (-exponent(i) / d_model)


def _interleave(first, second):
    return torch.stack([first, second], dim=-1).flatten(-2).float()


def _pe_halves(max_len, d_model):
    a = _angles(max_len, d_model, lambda i: 2 * i)
    return torch.cat([a.sin(), a.cos()], dim=1).float()


def _pe_cos_exponent(max_len, d_model):
    sines = _angles(max_len, d_model, lambda i: 2 * i).sin()
    return _interleave(sines, _angles(max_len, d_model, lambda i: 2 * i + 1).cos())


def _pe_pair_index_exponent(max_len, d_model):
    a = _angles(max_len, d_model, lambda i: i)
    return _interleave(a.sin(), a.cos())


def _pe_swapped(max_len, d_model):
    a = _angles(max_len, d_model, lambda i: 2 * i)
    return _interleave(a.cos(), a.sin())


def _pe_inverted_frequency(max_len, d_model):
    a = _angles(max_len, d_model, lambda i: -2 * i)
    return _interleave(a.sin(), a.cos())


def _pe_from_one(max_len, d_model):
    a = _angles(max_len + 1, d_model, lambda i: 2 * i)[1:]
    return _interleave(a.sin(), a.cos())


SINUSOIDAL_ENCODING = {
    "the sines fill the first half of the columns and the cosines the second half; they must alternate "
    "(even columns sin, odd columns cos)": _pe_halves,
    "the cosine column 2i+1 used the exponent (2i+1)/d_model; both columns of a pair share 2i/d_model":
        _pe_cos_exponent,
    "the exponent uses the pair index i (i/d_model) instead of the even column index 2i (2i/d_model)":
        _pe_pair_index_exponent,
    "sin and cos are swapped: even columns are sines, odd columns cosines": _pe_swapped,
    "the frequency is inverted: pos is divided by 10000 ** (2i/d_model), not multiplied by it":
        _pe_inverted_frequency,
    "positions start at 1; the first row of the table is position 0": _pe_from_one,
}


def _blocks(k, d_model, exponent, transpose=False):
    angles = k * 10000.0 ** (-exponent(torch.arange(d_model // 2, dtype=torch.float64)) / d_model)
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i, angle in enumerate(angles.tolist()):
        c, s = math.cos(angle), math.sin(angle)
        block = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        m[2 * i:2 * i + 2, 2 * i:2 * i + 2] = block.T if transpose else block
    return m.float()


SHIFT_MATRIX = {
    "each 2x2 block is transposed: [[cos, sin], [-sin, cos]] rotates a column vector (M @ v) forwards, but "
    "PE(p) is a row vector multiplied as PE(p) @ M, and that block moves it to PE(p - k); multiply [sin a, cos a] "
    "by your block: it must give [sin(a + t), cos(a + t)]":
        lambda k, d_model: _blocks(k, d_model, lambda i: 2 * i, transpose=True),
    "every pair is rotated by k radians: pair i turns by k * w_i, with its own frequency w_i":
        lambda k, d_model: _blocks(k, d_model, lambda i: 0 * i),
    "the frequency uses the pair index i (10000 ** (-i/d_model)); pair i has w_i = 10000 ** (-2i/d_model)":
        lambda k, d_model: _blocks(k, d_model, lambda i: i),
    "the frequency is inverted (k * 10000 ** (2i/d_model)); w_i = 10000 ** (-2i/d_model) is at most 1":
        lambda k, d_model: _blocks(k, d_model, lambda i: -2 * i),
    "the matrix ignores k: it shifts by one position whatever k is":
        lambda k, d_model: _blocks(1, d_model, lambda i: 2 * i),
}


def _rows(pe, start, T):
    return pe[start:start + T]


ADD_POSITIONAL_ENCODING = {
    "the sqrt(d_model) scale is missing": lambda e, pe, start=0: e + _rows(pe, start, e.shape[1]),
    "the embeddings were divided by sqrt(d_model) instead of multiplied":
        lambda e, pe, start=0: e / math.sqrt(e.shape[-1]) + _rows(pe, start, e.shape[1]),
    "the positions were scaled too: only the token embeddings get sqrt(d_model)":
        lambda e, pe, start=0: (e + _rows(pe, start, e.shape[1])) * math.sqrt(e.shape[-1]),
    "the scale uses the sequence length T (or the table's max_len); it is sqrt(d_model), the width":
        lambda e, pe, start=0: e * math.sqrt(e.shape[1]) + _rows(pe, start, e.shape[1]),
    "start is ignored: the token at index t of this chunk is at position start + t, row start + t of the table":
        lambda e, pe, start=0: e * math.sqrt(e.shape[-1]) + pe[:e.shape[1]],
    "the last T rows of the table were used; position t gets row t, from 0":
        lambda e, pe, start=0: e * math.sqrt(e.shape[-1]) + pe[pe.shape[0] - e.shape[1]:],
}


class _FromOne(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len, self.embedding = max_len, nn.Embedding(max_len, d_model)

    def forward(self, x):
        return x + self.embedding.weight[1:x.shape[1] + 1]


class _Replaces(nn.Module):
    def __init__(self, max_len, d_model):
        super().__init__()
        self.max_len, self.embedding = max_len, nn.Embedding(max_len, d_model)

    def forward(self, x):
        return self.embedding(torch.arange(x.shape[1], device=x.device)).expand_as(x)


# Classes with the exercise's constructor; test cells wrap them as they wrap the student's class.
LEARNED_POSITIONS = {
    "positions start at 1; the first token is position 0, row 0 of the table": _FromOne,
    "the position vectors replace the input instead of being added to it": _Replaces,
}
