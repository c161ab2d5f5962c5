"""Recurrent networks written out by hand: the cells, and the stack that unrolls them.

The parameter names, shapes and gate order are those of ``torch.nn`` on purpose,
so ``state_dict`` moves both ways between these modules and PyTorch's, and the
tests can demand equal outputs and equal gradients:

    cell     weight_ih (G*H, I)   weight_hh (G*H, H)   bias_ih (G*H,)   bias_hh (G*H,)
    gates    RNN: G = 1 | LSTM: G = 4, rows i, f, g, o | GRU: G = 3, rows r, z, n

Every cell takes ``None`` for a state of zeros, as ``torch.nn``'s cells do.
``torch.nn.RNN/LSTM/GRU`` use fused kernels (cuDNN on a GPU) and are much faster;
these exist to be read, and to be the reference notebook 01's exercises are checked against.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import check_shape

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _zeros(x: torch.Tensor, weight_hh: torch.Tensor) -> torch.Tensor:
    """The zero state (B, H) for input x (B, I): same dtype and device as x."""
    return x.new_zeros(x.shape[0], weight_hh.shape[1])


# --------------------------------------------------------------------------- the equations
def rnn_cell_step(x_t: torch.Tensor, h_prev: torch.Tensor, W_x: torch.Tensor,
                  W_h: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One step of a vanilla (Elman) RNN for a batch of row vectors.

    For one sequence in column vectors the step is ``h_t = tanh(W_x x_t + W_h h_prev + b)``;
    with a batch stored as rows it becomes ``tanh(x_t W_x^T + h_prev W_h^T + b)``.
    x_t (B, I), h_prev (B, H), W_x (H, I), W_h (H, H), b (H,)  ->  h_t (B, H).
    The same W_x, W_h, b are used at every time step: that sharing is what lets
    one network read sequences of any length.
    """
    check_shape("x_t", x_t, ("B", "I"))
    check_shape("W_h", W_h, ("H", "H"))
    H = W_h.shape[0]
    check_shape("W_h", W_h, (H, H))
    check_shape("W_x", W_x, (H, x_t.shape[1]))
    check_shape("h_prev", h_prev, (x_t.shape[0], H))
    check_shape("b", b, (H,))
    return torch.tanh(x_t @ W_x.T + h_prev @ W_h.T + b)


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None, nonlinearity="tanh"):
    """Elman cell on tensors: x (B, I), h (B, H) or None for zeros -> h' (B, H)."""
    if h is None:
        h = _zeros(x, weight_hh)
    pre = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """LSTM cell on tensors: x (B, I), state (h, c) each (B, H) or None for zeros -> (h', c').

    i, f, o are sigmoid gates in (0, 1); g is the tanh candidate. The cell state
    is updated additively, c' = f*c + i*g: along c alone, the gradient is
    multiplied by f at each step, a factor the network sets itself and that
    never exceeds 1.
    """
    if state is None:
        state = (_zeros(x, weight_hh), _zeros(x, weight_hh))
    h, c = state
    gates = F.linear(x, weight_ih, bias_ih) + F.linear(h, weight_hh, bias_hh)
    i, f, g, o = gates.chunk(4, dim=1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)
    return h_next, c_next


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """GRU cell on tensors: x (B, I), h (B, H) or None for zeros -> h' (B, H).

    The reset gate r multiplies the *projected* previous state (W_hn h + b_hn),
    not h itself; that is PyTorch's (and cuDNN's) variant, and it is why the two
    biases cannot be merged into one for the n row.
    """
    if h is None:
        h = _zeros(x, weight_hh)
    gi = F.linear(x, weight_ih, bias_ih)
    gh = F.linear(h, weight_hh, bias_hh)
    i_r, i_z, i_n = gi.chunk(3, dim=1)
    h_r, h_z, h_n = gh.chunk(3, dim=1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


# --------------------------------------------------------------------------- the cells
class _Cell(nn.Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        G = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(G))
            self.bias_hh = nn.Parameter(torch.empty(G))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch's initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every tensor
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _check_input(self, x: torch.Tensor) -> None:
        check_shape("x", x, ("B", self.input_size))

    def _check_hidden(self, name: str, h: torch.Tensor, x: torch.Tensor) -> None:
        check_shape(name, h, (x.shape[0], self.hidden_size))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_ih is not None}"


class RNNCell(_Cell):
    """Elman cell, same parameters as ``torch.nn.RNNCell``: x (B, I), h (B, H) or None -> h' (B, H)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        if state is not None:
            self._check_hidden("state", state, x)
        return rnn_cell(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, self.nonlinearity)


class LSTMCell(_Cell):
    """LSTM cell, same parameters as ``torch.nn.LSTMCell`` (gate rows i, f, g, o).

    forward(x (B, I), state=(h, c) each (B, H) or None for zeros) -> (h', c').
    """
    gates = 4

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        self._check_input(x)
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError(f"state: expected a pair (h, c) of tensors, each (B, {self.hidden_size}), "
                                 f"or None, got {type(state).__name__}")
            self._check_hidden("state[0] (h)", state[0], x)
            self._check_hidden("state[1] (c)", state[1], x)
        return lstm_cell(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class GRUCell(_Cell):
    """GRU cell, same parameters as ``torch.nn.GRUCell`` (gate rows r, z, n): x (B, I), h (B, H) or None -> h'."""
    gates = 3

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        self._check_input(x)
        if state is not None:
            self._check_hidden("state", state, x)
        return gru_cell(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


# --------------------------------------------------------------------------- unrolling
def _hidden(state: State) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state


def unroll(cell, x: torch.Tensor, state: State | None = None,
           reverse: bool = False) -> tuple[torch.Tensor, State]:
    """Run ``cell`` (``cell(x_t, state) -> state``, with an ``input_size``) over every time step of x (B, T, I).

    Returns the hidden state after each step, (B, T, H), kept in input order even
    when ``reverse`` reads right to left (so ``outputs[:, t]`` is the state after
    reading x_t), and the final state (h, or (h, c) for an LSTM cell).
    ``state=None`` starts from zeros.
    """
    check_shape("x", x, ("B", "T", cell.input_size))
    steps = range(x.shape[1] - 1, -1, -1) if reverse else range(x.shape[1])
    outputs = [None] * x.shape[1]
    for t in steps:
        state = cell(x[:, t], state)
        outputs[t] = _hidden(state)
    return torch.stack(outputs, dim=1), state


def bidirectional(cell_fw, cell_bw, x: torch.Tensor) -> tuple[torch.Tensor, State, State]:
    """A bidirectional layer from two cells: one reads left to right, the other right to left.

    x (B, T, I) -> outputs (B, T, 2H) where ``outputs[:, t]`` is the concatenation
    [h_fw(t), h_bw(t)]: at every position it sees the whole sentence, the past
    through the forward cell and the future through the backward one.
    Also returns the final state of each direction (fw after step T-1, bw after step 0).
    """
    out_fw, last_fw = unroll(cell_fw, x)
    out_bw, last_bw = unroll(cell_bw, x, reverse=True)
    return torch.cat([out_fw, out_bw], dim=-1), last_fw, last_bw


_STEPS = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class _LayerCell:
    """One layer and direction of an ``RNN``'s parameters, callable as a cell: (x_t, state) -> state."""

    def __init__(self, step, input_size: int, weights: list, **options):
        self.step, self.input_size, self.weights, self.options = step, input_size, weights, options

    def __call__(self, x: torch.Tensor, state: State | None = None) -> State:
        return self.step(x, state, *self.weights, **self.options)


class RNN(nn.Module):
    """Multi-layer, optionally bidirectional RNN / LSTM / GRU: the cells above, unrolled in Python.

    Its ``state_dict`` has exactly the keys of ``torch.nn.RNN/LSTM/GRU`` with the
    same arguments (``weight_ih_l0``, ``weight_hh_l0_reverse``, ``bias_ih_l1``, ...),
    so weights load both ways.

    forward(x, state=None):
        x      (B, T, I) if batch_first else (T, B, I)
        state  h0 (L*D, B, H), or (h0, c0) for 'lstm'; None means zeros
        ->  output (B, T, D*H) (the last layer's hidden states, both directions
            concatenated), and h_n (L*D, B, H) or (h_n, c_n) for 'lstm',
            with row ``layer * D + direction`` as in PyTorch. D = 2 if bidirectional.
    Dropout (training only) is applied to each layer's output except the last's.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, batch_first: bool = True,
                 bias: bool = True, nonlinearity: str = "tanh"):
        super().__init__()
        if mode not in _STEPS:
            raise ValueError(f"mode: expected one of 'lstm', 'gru', 'rnn', got {mode!r}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        if num_layers < 1:
            raise ValueError(f"num_layers: expected >= 1, got {num_layers}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1], got {dropout}")
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bidirectional, self.batch_first = num_layers, bidirectional, batch_first
        self.dropout, self.bias, self.nonlinearity = dropout, bias, nonlinearity
        self.num_directions = 2 if bidirectional else 1
        G = _GATES[mode] * hidden_size
        for layer in range(num_layers):
            for suffix in self._suffixes():
                name = f"l{layer}{suffix}"
                setattr(self, f"weight_ih_{name}", nn.Parameter(torch.empty(G, self._layer_input(layer))))
                setattr(self, f"weight_hh_{name}", nn.Parameter(torch.empty(G, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih_{name}", nn.Parameter(torch.empty(G)))
                    setattr(self, f"bias_hh_{name}", nn.Parameter(torch.empty(G)))
        self.reset_parameters()

    def _suffixes(self) -> list[str]:
        return ["", "_reverse"][: self.num_directions]

    def _layer_input(self, layer: int) -> int:
        return self.input_size if layer == 0 else self.hidden_size * self.num_directions

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _cell(self, layer: int, suffix: str) -> _LayerCell:
        name = f"l{layer}{suffix}"
        weights = [getattr(self, f"{kind}_{name}", None) for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        options = {"nonlinearity": self.nonlinearity} if self.mode == "rnn" else {}
        return _LayerCell(_STEPS[self.mode], self._layer_input(layer), weights, **options)

    def _initial_states(self, state, B: int) -> list:
        """One initial state per (layer, direction) row, None where the whole state is None."""
        rows = self.num_layers * self.num_directions
        want = (rows, B, self.hidden_size)
        if state is None:
            return [None] * rows
        if self.mode == "lstm":
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError(f"state: expected a pair (h0, c0), each of shape {want}, "
                                 f"got {type(state).__name__}")
            check_shape("state[0] (h0)", state[0], want)
            check_shape("state[1] (c0)", state[1], want)
            return [(state[0][row], state[1][row]) for row in range(rows)]
        check_shape("state", state, want)
        return list(state.unbind(0))

    def forward(self, x: torch.Tensor, state: State | None = None):
        check_shape("x", x, ("B", "T", self.input_size) if self.batch_first else ("T", "B", self.input_size))
        if not self.batch_first:
            x = x.transpose(0, 1)
        initial = self._initial_states(state, x.shape[0])
        finals = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                row = layer * self.num_directions + direction
                out, final = unroll(self._cell(layer, suffix), layer_input, initial[row], reverse=direction == 1)
                outputs.append(out)
                finals.append(final)
            layer_input = torch.cat(outputs, dim=-1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input if self.batch_first else layer_input.transpose(0, 1)
        if self.mode == "lstm":
            return output, (torch.stack([h for h, _ in finals]), torch.stack([c for _, c in finals]))
        return output, torch.stack(finals)

    def extra_repr(self) -> str:
        return (f"{self.mode!r}, {self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, dropout={self.dropout}, batch_first={self.batch_first}")
