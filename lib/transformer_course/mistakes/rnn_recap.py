"""Notebook 01's common wrong answers: one dict per exercise (see the package docstring).

Each function has its exercise's signature and makes exactly the mistake its
explanation names, so a test can recognise a student's output by it.
"""
import torch


def _zeros(x, weight_hh):
    return x.new_zeros(x.shape[0], weight_hh.shape[1])


# --------------------------------------------------------------------------- Exercise 1: rnn_cell_step
def _rnn_no_tanh(x_t, h_prev, W_x, W_h, b):
    return x_t @ W_x.T + h_prev @ W_h.T + b


def _rnn_sigmoid(x_t, h_prev, W_x, W_h, b):
    return torch.sigmoid(x_t @ W_x.T + h_prev @ W_h.T + b)


def _rnn_W_h_untransposed(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x.T + h_prev @ W_h + b)


def _rnn_bias_outside(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(x_t @ W_x.T + h_prev @ W_h.T) + b


def _rnn_columns(x_t, h_prev, W_x, W_h, b):
    return torch.tanh(W_x @ x_t.T + W_h @ h_prev.T + b[:, None])


RNN_CELL_STEP = {
    "the tanh is missing: h_t is tanh of the whole sum": _rnn_no_tanh,
    "a sigmoid was used where the vanilla RNN uses tanh": _rnn_sigmoid,
    "W_h is used without its transpose: with one sequence per row, the recurrent term is h_prev @ W_h.T "
    "(a square matrix multiplies either way, but not to the same result)": _rnn_W_h_untransposed,
    "the bias is added after the tanh; it belongs inside, with the two products": _rnn_bias_outside,
    "the result is (H, B): W_x @ x_t.T computes one column per sequence, but the batch is stored as rows; "
    "transpose back, or multiply rows by the transposed weights": _rnn_columns,
}


# --------------------------------------------------------------------------- Exercise 2: lstm_cell
def _lstm(x, state, wi, wh, bi, bh, order="ifgo", cand=torch.tanh, cell_tanh=True, biases="both",
          old_cell=False):
    h, c = state if state is not None else (_zeros(x, wh), _zeros(x, wh))
    bias = {"both": bi + bh, "ih twice": 2 * bi, "ih only": bi}[biases]
    chunks = dict(zip(order, (x @ wi.T + h @ wh.T + bias).chunk(4, dim=1)))
    i, f, g, o = torch.sigmoid(chunks["i"]), torch.sigmoid(chunks["f"]), cand(chunks["g"]), torch.sigmoid(chunks["o"])
    c_next = f * c + i * g
    shown = c if old_cell else c_next
    return o * (torch.tanh(shown) if cell_tanh else shown), c_next


LSTM_CELL = {
    "the gates are taken in the order i, f, o, g; PyTorch stacks the rows as i, f, g, o":
        lambda *a: _lstm(*a, order="ifog"),
    "the gates are taken in the order f, i, g, o; PyTorch stacks the rows as i, f, g, o":
        lambda *a: _lstm(*a, order="figo"),
    "the candidate g goes through a sigmoid; it is a tanh (values to write may be negative)":
        lambda *a: _lstm(*a, cand=torch.sigmoid),
    "h_next = sigmoid(o) * c_next: the tanh on the cell is missing":
        lambda *a: _lstm(*a, cell_tanh=False),
    "h_next is computed from the old cell c; it shows the new one, c_next":
        lambda *a: _lstm(*a, old_cell=True),
    "bias_ih is added twice and bias_hh never: both biases are added once each":
        lambda *a: _lstm(*a, biases="ih twice"),
    "bias_hh is missing: PyTorch adds both biases, bias_ih and bias_hh":
        lambda *a: _lstm(*a, biases="ih only"),
}


# --------------------------------------------------------------------------- Exercise 3: gru_cell
def _gru_parts(x, h, wi, wh, bi, bh):
    h = h if h is not None else _zeros(x, wh)
    return h, (x @ wi.T + bi).chunk(3, dim=1), (h @ wh.T + bh).chunk(3, dim=1)


def _gru_reset_before_projection(x, h, wi, wh, bi, bh):
    h, (i_r, i_z, i_n), (h_r, h_z, _) = _gru_parts(x, h, wi, wh, bi, bh)
    H = h.shape[1]
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + (r * h) @ wh[2 * H:].T + bh[2 * H:])
    return (1 - z) * n + z * h


def _gru_swapped_update(x, h, wi, wh, bi, bh):
    h, (i_r, i_z, i_n), (h_r, h_z, h_n) = _gru_parts(x, h, wi, wh, bi, bh)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return z * torch.tanh(i_n + r * h_n) + (1 - z) * h


def _gru_b_hn_outside_reset(x, h, wi, wh, bi, bh):
    H = wh.shape[1]
    h = h if h is not None else _zeros(x, wh)
    i_r, i_z, i_n = (x @ wi.T + bi).chunk(3, dim=1)
    h_r, h_z, h_n = (h @ wh.T).chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r + bh[:H])
    z = torch.sigmoid(i_z + h_z + bh[H:2 * H])
    n = torch.tanh(i_n + r * h_n + bh[2 * H:])
    return (1 - z) * n + z * h


def _gru_r_z_swapped(x, h, wi, wh, bi, bh):
    h, (i_z, i_r, i_n), (h_z, h_r, h_n) = _gru_parts(x, h, wi, wh, bi, bh)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


def _gru_reset_on_both(x, h, wi, wh, bi, bh):
    h, (i_r, i_z, i_n), (h_r, h_z, h_n) = _gru_parts(x, h, wi, wh, bi, bh)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(r * (i_n + h_n)) + z * h


GRU_CELL = {
    "the reset gate multiplies h before the projection (the paper's variant); PyTorch uses r * (h @ W_hn.T + b_hn)":
        _gru_reset_before_projection,
    "z and 1 - z are swapped: h_next = (1 - z) * n + z * h keeps the old state where z is near 1":
        _gru_swapped_update,
    "b_hn is outside the reset gate (were the two biases added before splitting?); it belongs inside: "
    "r * (h @ W_hn.T + b_hn)": _gru_b_hn_outside_reset,
    "r and z are swapped: PyTorch stacks the rows as r, z, n": _gru_r_z_swapped,
    "the reset gate multiplies the input part too; it touches only the hidden part, r * (h @ W_hn.T + b_hn)":
        _gru_reset_on_both,
}


# --------------------------------------------------------------------------- Exercise 4: run_bidirectional
def _run(cell, x, order, carry=True):
    states, h = {}, None
    for t in order:
        h = cell(x[:, t], h if carry else None)
        states[t] = h
    return states


def _bidir(cell_fw, cell_bw, x, realign=True, bw_first=False, carry=True, bw_reversed=True, same_cell=False):
    T = x.shape[1]
    fw = _run(cell_fw, x, range(T), carry)
    bw = _run(cell_fw if same_cell else cell_bw, x, reversed(range(T)) if bw_reversed else range(T), carry)
    fw_states = [fw[t] for t in range(T)]
    bw_states = [bw[t] for t in range(T)] if realign else [bw[t] for t in reversed(range(T))]
    parts = [torch.stack(fw_states, dim=1), torch.stack(bw_states, dim=1)]
    return torch.cat(parts[::-1] if bw_first else parts, dim=-1)


RUN_BIDIRECTIONAL = {
    "the backward states are in reading order (the state after x_{T-1} at position 0); "
    "the state after reading x_t belongs at position t": lambda *a: _bidir(*a, realign=False),
    "the two directions are concatenated backward first; the forward state comes first, [h_fw(t), h_bw(t)]":
        lambda *a: _bidir(*a, bw_first=True),
    "the state is not carried from step to step: each call must get the h the previous step returned":
        lambda *a: _bidir(*a, carry=False),
    "the backward cell reads left to right too; it must start at x_{T-1}": lambda *a: _bidir(*a, bw_reversed=False),
    "cell_fw is used for both directions; the backward direction has its own weights, cell_bw":
        lambda *a: _bidir(*a, same_cell=True),
}
