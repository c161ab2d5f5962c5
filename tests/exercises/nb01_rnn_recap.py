"""Notebook 01: alternative answers, right and wrong (see variants.py)."""
import torch

from .variants import correct, mutant

NOTEBOOK = "01_rnn_recap"


@correct("rnn_cell_step")
def rnn_step_addmm(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(torch.addmm(b, x_t, W_x.t()) + torch.mm(h_prev, W_h.t()))


@correct("rnn_cell_step")
def rnn_step_concatenated(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(torch.cat([x_t, h_prev], dim=1) @ torch.cat([W_x, W_h], dim=1).T + b)


@mutant("rnn_cell_step", bug="the tanh is missing", cause="tanh")
def rnn_step_no_tanh(x_t, h_prev, W_x, W_h, b):
    return x_t @ W_x.T + h_prev @ W_h.T + b


@mutant("rnn_cell_step", bug="weights not transposed (works only when square)", cause=None)
def rnn_step_untransposed(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x + h_prev @ W_h + b)


@mutant("rnn_cell_step", bug="sigmoid instead of tanh", cause="sigmoid")
def rnn_step_sigmoid(x_t, h_prev, W_x, W_h, b):
    return torch.sigmoid(x_t @ W_x.T + h_prev @ W_h.T + b)


@mutant("rnn_cell_step", bug="calls torch's own RNN cell", cause=None)
def rnn_step_library(x_t, h_prev, W_x, W_h, b):
    return torch.rnn_tanh_cell(x_t, h_prev, W_x, W_h, b, torch.zeros_like(b))
