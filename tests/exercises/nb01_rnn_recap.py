"""Notebook 01: alternative answers, right and wrong (see variants.py).

The wrong ones are bugs students hand in, written from the student release: the
column-vector equation copied without transposing, torch.nn's gate order or bias
layout misread, the state not carried or not realigned, the library called.
"""
import torch
import torch.nn.functional as F

import transformer_course as tc

from .variants import correct, mutant

NOTEBOOK = "01_rnn_recap"


# --------------------------------------------------------------------------- Exercise 1: rnn_cell_step
@correct("rnn_cell_step")
def rnn_step_addmm(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(torch.addmm(b, x_t, W_x.t()) + torch.mm(h_prev, W_h.t()))


@correct("rnn_cell_step")
def rnn_step_concatenated(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(torch.cat([x_t, h_prev], dim=1) @ torch.cat([W_x, W_h], dim=1).T + b)


@correct("rnn_cell_step")
def rnn_step_columns_transposed_back(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(W_x @ x_t.T + W_h @ h_prev.T + b[:, None]).T


@correct("rnn_cell_step")
def rnn_step_linear(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(F.linear(x_t, W_x, b) + F.linear(h_prev, W_h))


@correct("rnn_cell_step")
def rnn_step_einsum(x_t, h_prev, W_x, W_h, b):
    pre = torch.einsum("bi,hi->bh", x_t, W_x) + torch.einsum("bk,hk->bh", h_prev, W_h)
    return (pre + b).tanh()


@mutant("rnn_cell_step", bug="the tanh is missing", cause="tanh", names="the tanh is missing")
def rnn_step_no_tanh(x_t, h_prev, W_x, W_h, b):
    return x_t @ W_x.T + h_prev @ W_h.T + b


@mutant("rnn_cell_step", bug="weights not transposed (works only when square)", cause=None)
def rnn_step_untransposed(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x + h_prev @ W_h + b)


@mutant("rnn_cell_step", bug="sigmoid instead of tanh", cause="sigmoid", names="sigmoid")
def rnn_step_sigmoid(x_t, h_prev, W_x, W_h, b):
    return torch.sigmoid(x_t @ W_x.T + h_prev @ W_h.T + b)


@mutant("rnn_cell_step", bug="calls torch's own RNN cell", cause=None, names="gets no points")
def rnn_step_library(x_t, h_prev, W_x, W_h, b):
    return torch.rnn_tanh_cell(x_t, h_prev, W_x, W_h, b, torch.zeros_like(b))


@mutant("rnn_cell_step", bug="calls the course library's twin", cause=None, names="gets no points")
def rnn_step_course_library(x_t, h_prev, W_x, W_h, b):
    return tc.rnn.rnn_cell_step(x_t, h_prev, W_x, W_h, b)


@mutant("rnn_cell_step", bug="W_h copied from the column form without its transpose (square, so it runs)",
        cause="W_h", names="W_h is used without its transpose")
def rnn_step_W_h_untransposed(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x.T + h_prev @ W_h + b)


@mutant("rnn_cell_step", bug="column form kept: returns (H, B)", cause=("(H, B)", "transpose"),
        names="the result is (H, B)")
def rnn_step_columns(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(W_x @ x_t.T + W_h @ h_prev.T + b.unsqueeze(1))


@mutant("rnn_cell_step", bug="the bias added after the tanh", cause="bias", names="the bias is added after the tanh")
def rnn_step_bias_outside(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x.T + h_prev @ W_h.T) + b


@mutant("rnn_cell_step", bug="squeezes the batch dimension away (breaks a batch of 1)", cause=None)
def rnn_step_squeezed(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x.T + h_prev @ W_h.T + b).squeeze()


@mutant("rnn_cell_step", bug="detaches the result (no gradient reaches the weights)", cause=None,
        names="does not depend on the inputs through autograd")
def rnn_step_detached(x_t, h_prev, W_x, W_h, b):
    with torch.no_grad():
        return torch.tanh(x_t @ W_x.T + h_prev @ W_h.T + b)


# --------------------------------------------------------------------------- Exercise 2: lstm_cell
def _zero_state(x, weight_hh):
    zeros = torch.zeros(x.shape[0], weight_hh.shape[1], dtype=x.dtype, device=x.device)
    return zeros, zeros


@correct("lstm_cell")
def lstm_separate_gates(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    H = weight_hh.shape[1]
    if state is None:
        h = c = torch.zeros(x.shape[0], H, dtype=x.dtype, device=x.device)
    else:
        h, c = state

    def gate(k):
        rows = slice(k * H, (k + 1) * H)
        return x @ weight_ih[rows].T + bias_ih[rows] + h @ weight_hh[rows].T + bias_hh[rows]
    i, f, g, o = torch.sigmoid(gate(0)), torch.sigmoid(gate(1)), torch.tanh(gate(2)), torch.sigmoid(gate(3))
    c_next = f * c + i * g
    return o * torch.tanh(c_next), c_next


@correct("lstm_cell")
def lstm_linear_split(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    if state is None:
        state = (x.new_zeros(x.shape[0], weight_hh.shape[1]),) * 2
    h, c = state
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    i, f, g, o = torch.split(gates, weight_hh.shape[1], dim=-1)
    c_next = torch.addcmul(f.sigmoid() * c, i.sigmoid(), g.tanh())
    return o.sigmoid() * c_next.tanh(), c_next


@correct("lstm_cell")
def lstm_summed_bias_then_sigmoid_block(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else (torch.zeros_like(x[:, :1].expand(-1, weight_hh.shape[1])),) * 2
    H = h.shape[1]
    gates = torch.cat([x, h], dim=1) @ torch.cat([weight_ih, weight_hh], dim=1).T + (bias_ih + bias_hh)
    ifo = torch.sigmoid(torch.cat([gates[:, :2 * H], gates[:, 3 * H:]], dim=1))
    g = torch.tanh(gates[:, 2 * H:3 * H])
    c_next = ifo[:, H:2 * H] * c + ifo[:, :H] * g
    return ifo[:, 2 * H:] * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="gates in the order i, f, o, g", cause="order", names="i, f, o, g")
def lstm_ifog(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, o, g = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="gates in the order f, i, g, o (the forget gate first, as many diagrams draw it)",
        cause="order", names="f, i, g, o")
def lstm_figo(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    f, i, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="bias_ih added twice (copy-paste), bias_hh never", cause="bias",
        names="bias_ih is added twice")
def lstm_bias_ih_twice(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_ih).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="bias_hh forgotten", cause="bias_hh", names="bias_hh is missing")
def lstm_one_bias(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, g, o = (x @ weight_ih.T + h @ weight_hh.T + bias_ih).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="no tanh on the cell in h_next", cause="tanh on the cell", names="tanh on the cell is missing")
def lstm_no_cell_tanh(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * c_next, c_next


@mutant("lstm_cell", bug="sigmoid on the candidate g", cause="candidate", names="candidate g goes through a sigmoid")
def lstm_sigmoid_candidate(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, g, o = torch.sigmoid(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = f * c + i * g
    return o * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="ignores state=None (unpacks it)", cause=None)
def lstm_ignores_none(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="zero state made with the input size instead of the hidden size", cause=None)
def lstm_zeros_wrong_size(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    if state is None:
        state = (torch.zeros_like(x), torch.zeros_like(x))
    h, c = state
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="chunk without dim=1 splits the batch, not the gates", cause=None)
def lstm_chunk_batch(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_next), c_next


@mutant("lstm_cell", bug="calls torch.lstm_cell", cause=None, names="gets no points")
def lstm_library(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.lstm_cell(x, state if state is not None else _zero_state(x, weight_hh),
                           weight_ih, weight_hh, bias_ih, bias_hh)


@mutant("lstm_cell", bug="h_next from the old cell c", cause="old cell", names="computed from the old cell")
def lstm_old_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state if state is not None else _zero_state(x, weight_hh)
    i, f, g, o = (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c_next


# --------------------------------------------------------------------------- Exercise 3: gru_cell
@correct("gru_cell")
def gru_row_slices(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    H = weight_hh.shape[1]
    if h is None:
        h = torch.zeros(x.shape[0], H, dtype=x.dtype, device=x.device)
    def part(k):
        return slice(k * H, (k + 1) * H)

    r = torch.sigmoid(F.linear(x, weight_ih[part(0)], bias_ih[part(0)]) + F.linear(h, weight_hh[part(0)], bias_hh[part(0)]))
    z = torch.sigmoid(F.linear(x, weight_ih[part(1)], bias_ih[part(1)]) + F.linear(h, weight_hh[part(1)], bias_hh[part(1)]))
    n = torch.tanh(F.linear(x, weight_ih[part(2)], bias_ih[part(2)]) + r * F.linear(h, weight_hh[part(2)], bias_hh[part(2)]))
    return n + z * (h - n)


@correct("gru_cell")
def gru_lerp(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    if h is None:
        h = x.new_zeros(x.shape[0], weight_hh.shape[1])
    gi = torch.addmm(bias_ih, x, weight_ih.T)
    gh = torch.addmm(bias_hh, h, weight_hh.T)
    H = h.shape[1]
    rz = torch.sigmoid(gi[:, :2 * H] + gh[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return torch.lerp(n, h, z)


@mutant("gru_cell", bug="reset gate applied to h before the projection (the paper's GRU)", cause="reset gate",
        names="before the projection")
def gru_paper_reset(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    H = weight_hh.shape[1]
    h = h if h is not None else x.new_zeros(x.shape[0], H)
    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    h_r, h_z = (h @ weight_hh[:2 * H].T + bias_hh[:2 * H]).chunk(2, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + (r * h) @ weight_hh[2 * H:].T + bias_hh[2 * H:])
    return (1 - z) * n + z * h


@mutant("gru_cell", bug="update gate the wrong way round", cause="1 - z", names="z and 1 - z are swapped")
def gru_swapped_z(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    h = h if h is not None else x.new_zeros(x.shape[0], weight_hh.shape[1])
    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return z * torch.tanh(i_n + r * h_n) + (1 - z) * h


@mutant("gru_cell", bug="the two biases summed before splitting, so b_hn escapes the reset gate", cause="b_hn",
        names="b_hn is outside the reset gate")
def gru_merged_biases(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    h = h if h is not None else x.new_zeros(x.shape[0], weight_hh.shape[1])
    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih + bias_hh).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weight_hh.T).chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


@mutant("gru_cell", bug="r and z taken in the order z, r", cause="r and z are swapped", names="r and z are swapped")
def gru_zr_order(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    h = h if h is not None else x.new_zeros(x.shape[0], weight_hh.shape[1])
    i_z, i_r, i_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    h_z, h_r, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


@mutant("gru_cell", bug="reset gate on the whole pre-activation of n", cause="reset gate",
        names="multiplies the input part too")
def gru_reset_everything(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    h = h if h is not None else x.new_zeros(x.shape[0], weight_hh.shape[1])
    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(r * (i_n + h_n)) + z * h


@mutant("gru_cell", bug="zero state built as float32 on the CPU (breaks float64 and GPU inputs)", cause=None)
def gru_float32_zeros(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    if h is None:
        h = torch.zeros(x.shape[0], weight_hh.shape[1])
    i_r, i_z, i_n = (x @ weight_ih.T + bias_ih).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ weight_hh.T + bias_hh).chunk(3, dim=1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


@mutant("gru_cell", bug="uses nn.GRUCell with the given weights", cause=None, names="gets no points")
def gru_module(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    cell = torch.nn.GRUCell(x.shape[1], weight_hh.shape[1]).to(x.dtype)
    with torch.no_grad():
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (weight_ih, weight_hh, bias_ih, bias_hh)):
            getattr(cell, name).copy_(value)
    return cell(x, h)


# --------------------------------------------------------------------------- Exercise 4: run_bidirectional
@correct("run_bidirectional")
def bidirectional_flip(cell_fw, cell_bw, x):
    def run(cell, seq):
        h, states = None, []
        for x_t in seq.unbind(1):
            h = cell(x_t, h)
            states.append(h)
        return torch.stack(states, dim=1)
    return torch.cat([run(cell_fw, x), run(cell_bw, x.flip(1)).flip(1)], dim=2)


@correct("run_bidirectional")
def bidirectional_zeros_like_x(cell_fw, cell_bw, x):
    B, T, _ = x.shape
    H = cell_fw.hidden_size
    out = x.new_zeros(B, T, 2 * H)
    h_fw = x.new_zeros(B, H)
    h_bw = x.new_zeros(B, H)
    for t in range(T):
        h_fw = cell_fw(x[:, t], h_fw)
        h_bw = cell_bw(x[:, T - 1 - t], h_bw)
        out[:, t, :H] = h_fw
        out[:, T - 1 - t, H:] = h_bw
    return out


@mutant("run_bidirectional", bug="backward states left in reading order", cause="reading order",
        names="backward states are in reading order")
def bidirectional_not_realigned(cell_fw, cell_bw, x):
    fw, bw, h_fw, h_bw = [], [], None, None
    for t in range(x.shape[1]):
        h_fw = cell_fw(x[:, t], h_fw)
        fw.append(h_fw)
    for t in reversed(range(x.shape[1])):
        h_bw = cell_bw(x[:, t], h_bw)
        bw.append(h_bw)
    return torch.cat([torch.stack(fw, 1), torch.stack(bw, 1)], dim=-1)


@mutant("run_bidirectional", bug="state not carried: every step starts from None", cause="not carried",
        names="the state is not carried")
def bidirectional_no_state(cell_fw, cell_bw, x):
    T = x.shape[1]
    fw = [cell_fw(x[:, t], None) for t in range(T)]
    bw = [cell_bw(x[:, t], None) for t in range(T)]
    return torch.cat([torch.stack(fw, 1), torch.stack(bw, 1)], dim=-1)


@mutant("run_bidirectional", bug="concatenated backward first", cause="backward first",
        names="concatenated backward first")
def bidirectional_bw_first(cell_fw, cell_bw, x):
    T = x.shape[1]
    fw, bw, h = [], [None] * T, None
    for t in range(T):
        h = cell_fw(x[:, t], h)
        fw.append(h)
    h = None
    for t in reversed(range(T)):
        h = cell_bw(x[:, t], h)
        bw[t] = h
    return torch.cat([torch.stack(bw, 1), torch.stack(fw, 1)], dim=-1)


@mutant("run_bidirectional", bug="the forward cell used for both directions", cause="cell_fw is used for both",
        names="cell_fw is used for both")
def bidirectional_one_cell(cell_fw, cell_bw, x):
    T = x.shape[1]
    fw, bw, h = [], [None] * T, None
    for t in range(T):
        h = cell_fw(x[:, t], h)
        fw.append(h)
    h = None
    for t in reversed(range(T)):
        h = cell_fw(x[:, t], h)
        bw[t] = h
    return torch.cat([torch.stack(fw, 1), torch.stack(bw, 1)], dim=-1)


@mutant("run_bidirectional", bug="initial state torch.zeros(B, H): float32 on the CPU", cause=None)
def bidirectional_float32_zeros(cell_fw, cell_bw, x):
    B, T, _ = x.shape
    fw, bw = [], [None] * T
    h = torch.zeros(B, cell_fw.hidden_size)
    for t in range(T):
        h = cell_fw(x[:, t], h)
        fw.append(h)
    h = torch.zeros(B, cell_bw.hidden_size)
    for t in reversed(range(T)):
        h = cell_bw(x[:, t], h)
        bw[t] = h
    return torch.cat([torch.stack(fw, 1), torch.stack(bw, 1)], dim=-1)


@mutant("run_bidirectional", bug="outputs detached (stored with .detach())", cause=None,
        names="does not depend on the inputs through autograd")
def bidirectional_detached(cell_fw, cell_bw, x):
    T = x.shape[1]
    fw, bw, h = [], [None] * T, None
    for t in range(T):
        h = cell_fw(x[:, t], h)
        fw.append(h.detach())
    h = None
    for t in reversed(range(T)):
        h = cell_bw(x[:, t], h)
        bw[t] = h.detach()
    return torch.cat([torch.stack(fw, 1), torch.stack(bw, 1)], dim=-1)


@mutant("run_bidirectional", bug="uses the library's bidirectional helper", cause=None, names="gets no points")
def bidirectional_library(cell_fw, cell_bw, x):
    return tc.rnn.bidirectional(cell_fw, cell_bw, x)[0]


@mutant("run_bidirectional", bug="stacks along dim 0: (T, B, 2H)", cause=("arrangement", "size 1"))
def bidirectional_time_major(cell_fw, cell_bw, x):
    T = x.shape[1]
    fw, bw, h = [], [None] * T, None
    for t in range(T):
        h = cell_fw(x[:, t], h)
        fw.append(h)
    h = None
    for t in reversed(range(T)):
        h = cell_bw(x[:, t], h)
        bw[t] = h
    return torch.cat([torch.stack(fw), torch.stack(bw)], dim=-1)
