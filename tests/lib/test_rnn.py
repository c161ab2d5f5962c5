"""The hand-written recurrent cells and stack must be torch.nn, to the last digit."""
import pytest
import torch

from transformer_course import rnn


B, T, I, H = 3, 5, 4, 6


def _rand(*shape, requires_grad=False):
    return torch.randn(*shape, dtype=torch.float64, requires_grad=requires_grad)


def _assert_same_grads(ours: torch.nn.Module, theirs: torch.nn.Module):
    ours_grads = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        torch.testing.assert_close(ours_grads[name].grad, p.grad, atol=1e-6, rtol=0, msg=f"grad of {name}")


def _flatten(state):
    return list(state) if isinstance(state, tuple) else [state]


CELLS = [
    (rnn.RNNCell, torch.nn.RNNCell, {}),
    (rnn.RNNCell, torch.nn.RNNCell, {"nonlinearity": "relu"}),
    (rnn.LSTMCell, torch.nn.LSTMCell, {}),
    (rnn.GRUCell, torch.nn.GRUCell, {}),
]


@pytest.mark.parametrize("ours_cls, torch_cls, kwargs", CELLS)
@pytest.mark.parametrize("direction", ["torch->ours", "ours->torch"])
def test_cell_matches_torch_outputs_and_grads(ours_cls, torch_cls, kwargs, direction):
    torch.manual_seed(0)
    ours = ours_cls(I, H, **kwargs).double()
    theirs = torch_cls(I, H, **kwargs).double()
    assert set(ours.state_dict()) == set(theirs.state_dict())
    if direction == "torch->ours":
        ours.load_state_dict(theirs.state_dict())
    else:
        theirs.load_state_dict(ours.state_dict())
    x = _rand(B, I, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    if ours_cls is rnn.LSTMCell:
        state = (_rand(B, H), _rand(B, H))
    else:
        state = _rand(B, H)
    out_ours, out_theirs = ours(x, state), theirs(x2, state)
    for a, b in zip(_flatten(out_ours), _flatten(out_theirs)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    # a loss that weights every output differently catches swapped gates
    weights = [_rand(*a.shape) for a in _flatten(out_ours)]
    sum((w * a).sum() for w, a in zip(weights, _flatten(out_ours))).backward()
    sum((w * b).sum() for w, b in zip(weights, _flatten(out_theirs))).backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-6, rtol=0)
    _assert_same_grads(ours, theirs)


@pytest.mark.parametrize("cls", [rnn.RNNCell, rnn.LSTMCell, rnn.GRUCell])
def test_cell_default_state_is_zeros(cls):
    cell = cls(I, H).double()
    x = _rand(B, I)
    zeros = torch.zeros(B, H, dtype=torch.float64)
    explicit = cell(x, (zeros, zeros) if cls is rnn.LSTMCell else zeros)
    for a, b in zip(_flatten(cell(x)), _flatten(explicit)):
        torch.testing.assert_close(a, b)


def test_rnn_cell_step_matches_rnn_cell():
    cell = rnn.RNNCell(I, H).double()
    x, h = _rand(B, I), _rand(B, H)
    b = cell.bias_ih + cell.bias_hh
    step = rnn.rnn_cell_step(x, h, cell.weight_ih, cell.weight_hh, b)
    torch.testing.assert_close(step, cell(x, h), atol=1e-12, rtol=0)
    assert step.shape == (B, H)


def test_rnn_cell_step_validates_shapes():
    W_x, W_h, b = _rand(H, I), _rand(H, H), _rand(H)
    with pytest.raises(ValueError, match=r"x_t: expected shape \(B, I\), got \(4,\)"):
        rnn.rnn_cell_step(_rand(I), _rand(B, H), W_x, W_h, b)
    with pytest.raises(ValueError, match=rf"W_x: expected shape \({H}, 5\), got \({H}, {I}\)"):
        rnn.rnn_cell_step(_rand(B, 5), _rand(B, H), W_x, W_h, b)
    with pytest.raises(ValueError, match=rf"h_prev: expected shape \({B}, {H}\), got \({B}, 2\)"):
        rnn.rnn_cell_step(_rand(B, I), _rand(B, 2), W_x, W_h, b)
    with pytest.raises(ValueError, match=rf"b: expected shape \({H},\), got \(1, {H}\)"):
        rnn.rnn_cell_step(_rand(B, I), _rand(B, H), W_x, W_h, b[None])


def test_cell_validates_input_and_state():
    cell = rnn.LSTMCell(I, H)
    with pytest.raises(ValueError, match=rf"x: expected shape \(B, {I}\), got \({B}, 7\)"):
        cell(torch.randn(B, 7))
    with pytest.raises(ValueError, match=rf"x: expected shape \(B, {I}\), got \(2, {B}, {I}\)"):
        cell(torch.randn(2, B, I))
    with pytest.raises(ValueError, match=r"state\[1\] \(c\): expected shape \(3, 6\), got \(3, 5\)"):
        cell(torch.randn(B, I), (torch.randn(B, H), torch.randn(B, 5)))
    with pytest.raises(ValueError, match="nonlinearity"):
        rnn.RNNCell(I, H, nonlinearity="sigmoid")


STACKS = [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)]


@pytest.mark.parametrize("mode, torch_cls", STACKS)
@pytest.mark.parametrize("num_layers, bidir", [(1, False), (2, True)])
@pytest.mark.parametrize("direction", ["torch->ours", "ours->torch"])
def test_stack_matches_torch(mode, torch_cls, num_layers, bidir, direction):
    torch.manual_seed(1)
    ours = rnn.RNN(mode, I, H, num_layers=num_layers, bidirectional=bidir).double()
    theirs = torch_cls(I, H, num_layers=num_layers, bidirectional=bidir, batch_first=True).double()
    assert set(ours.state_dict()) == set(theirs.state_dict())
    if direction == "torch->ours":
        ours.load_state_dict(theirs.state_dict())
    else:
        theirs.load_state_dict(ours.state_dict())
    D = 2 if bidir else 1
    x = _rand(B, T, I, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    h0 = _rand(num_layers * D, B, H)
    state = (h0, _rand(num_layers * D, B, H)) if mode == "lstm" else h0
    out_ours, st_ours = ours(x, state)
    out_theirs, st_theirs = theirs(x2, state)
    assert out_ours.shape == (B, T, D * H)
    torch.testing.assert_close(out_ours, out_theirs, atol=1e-6, rtol=0)
    for a, b in zip(_flatten(st_ours), _flatten(st_theirs)):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    w_out = _rand(*out_ours.shape)
    w_states = [_rand(*s.shape) for s in _flatten(st_ours)]
    ((w_out * out_ours).sum() + sum((w * s).sum() for w, s in zip(w_states, _flatten(st_ours)))).backward()
    ((w_out * out_theirs).sum() + sum((w * s).sum() for w, s in zip(w_states, _flatten(st_theirs)))).backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-6, rtol=0)
    _assert_same_grads(ours, theirs)


def test_stack_time_major_and_default_state():
    torch.manual_seed(2)
    ours = rnn.RNN("gru", I, H, batch_first=False).double()
    theirs = torch.nn.GRU(I, H).double()
    theirs.load_state_dict(ours.state_dict())
    x = _rand(T, B, I)
    out_ours, h_ours = ours(x)
    out_theirs, h_theirs = theirs(x)
    torch.testing.assert_close(out_ours, out_theirs, atol=1e-6, rtol=0)
    torch.testing.assert_close(h_ours, h_theirs, atol=1e-6, rtol=0)


def test_stack_dropout_only_in_training():
    torch.manual_seed(3)
    model = rnn.RNN("lstm", I, H, num_layers=2, dropout=0.5).double()
    x = _rand(B, T, I)
    model.eval()
    torch.testing.assert_close(model(x)[0], model(x)[0])
    model.train()
    assert not torch.allclose(model(x)[0], model(x)[0])


def test_stack_validates_shapes():
    model = rnn.RNN("lstm", 8, H, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 8\), got \(4, 7\)"):
        model(torch.randn(4, 7))
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 8\), got \(4, 7, 5\)"):
        model(torch.randn(4, 7, 5))
    with pytest.raises(ValueError, match=r"state\[0\] \(h0\): expected shape \(4, 2, 6\), got \(2, 2, 6\)"):
        model(torch.randn(2, 3, 8), (torch.randn(2, 2, H), torch.randn(4, 2, H)))
    time_major = rnn.RNN("gru", 8, H, batch_first=False)
    with pytest.raises(ValueError, match=r"x: expected shape \(T, B, 8\), got \(3, 2, 4\)"):
        time_major(torch.randn(3, 2, 4))
    with pytest.raises(ValueError, match="mode"):
        rnn.RNN("transformer", 8, H)


def test_bidirectional_helper_matches_torch_bidirectional_lstm():
    torch.manual_seed(4)
    fw, bw = rnn.LSTMCell(I, H).double(), rnn.LSTMCell(I, H).double()
    theirs = torch.nn.LSTM(I, H, bidirectional=True, batch_first=True).double()
    state = {}
    for suffix, cell in (("", fw), ("_reverse", bw)):
        for name, p in cell.named_parameters():
            state[f"{name}_l0{suffix}"] = p.detach()
    theirs.load_state_dict(state)
    x = _rand(B, T, I)
    out, (h_fw, _), (h_bw, _) = rnn.bidirectional(fw, bw, x)
    out_theirs, (h_n, _) = theirs(x)
    torch.testing.assert_close(out, out_theirs, atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.stack([h_fw, h_bw]), h_n, atol=1e-6, rtol=0)


def test_unroll_final_state_is_last_output():
    cell = rnn.GRUCell(I, H).double()
    x = _rand(B, T, I)
    out, h = rnn.unroll(cell, x)
    assert out.shape == (B, T, H)
    torch.testing.assert_close(out[:, -1], h)
    out_rev, h_rev = rnn.unroll(cell, x, reverse=True)
    torch.testing.assert_close(out_rev[:, 0], h_rev)
    torch.testing.assert_close(out_rev[:, -1], cell(x[:, -1]))


@pytest.mark.parametrize("step, gates", [(rnn.rnn_cell, 1), (rnn.lstm_cell, 4), (rnn.gru_cell, 3)])
def test_functional_cells_take_none_for_zeros(step, gates):
    x = _rand(1, I)
    weights = [_rand(gates * H, I), _rand(gates * H, H), _rand(gates * H), _rand(gates * H)]
    zeros = torch.zeros(1, H, dtype=torch.float64)
    explicit = step(x, (zeros, zeros) if step is rnn.lstm_cell else zeros, *weights)
    for a, b in zip(_flatten(step(x, None, *weights)), _flatten(explicit)):
        assert a.dtype == torch.float64 and a.shape == (1, H)
        torch.testing.assert_close(a, b)


def test_stack_is_its_cells_unrolled():
    torch.manual_seed(5)
    model = rnn.RNN("lstm", I, H, bidirectional=True).double()
    fw, bw = rnn.LSTMCell(I, H).double(), rnn.LSTMCell(I, H).double()
    for suffix, cell in (("_l0", fw), ("_l0_reverse", bw)):
        names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        cell.load_state_dict({name: getattr(model, name + suffix) for name in names})
    x = _rand(B, T, I)
    out, (h_n, c_n) = model(x)
    expected, (h_fw, c_fw), (h_bw, c_bw) = rnn.bidirectional(fw, bw, x)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(h_n, torch.stack([h_fw, h_bw]), atol=1e-12, rtol=0)
    torch.testing.assert_close(c_n, torch.stack([c_fw, c_bw]), atol=1e-12, rtol=0)


def test_stack_without_bias_matches_torch():
    torch.manual_seed(6)
    ours = rnn.RNN("gru", I, H, num_layers=2, bias=False).double()
    theirs = torch.nn.GRU(I, H, num_layers=2, bias=False, batch_first=True).double()
    theirs.load_state_dict(ours.state_dict())
    x = _rand(B, T, I)
    torch.testing.assert_close(ours(x)[0], theirs(x)[0], atol=1e-6, rtol=0)


def test_wrong_arguments_name_what_they_got():
    with pytest.raises(ValueError, match=r"x_t: expected a tensor of shape \(B, I\), got list"):
        rnn.rnn_cell_step([[1.0] * I], _rand(1, H), _rand(H, I), _rand(H, H), _rand(H))
    message = r"state: expected a pair \(h, c\) of tensors, each \(B, 6\), or None, got Tensor"
    with pytest.raises(ValueError, match=message):
        rnn.LSTMCell(I, H)(torch.randn(B, I), torch.randn(B, H))
    with pytest.raises(ValueError, match=r"state: expected a pair \(h0, c0\), each of shape \(1, 3, 6\), got Tensor"):
        rnn.RNN("lstm", I, H)(torch.randn(B, T, I), torch.randn(1, B, H))
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\], got 1.5"):
        rnn.RNN("gru", I, H, dropout=1.5)
    with pytest.raises(ValueError, match=r"num_layers: expected >= 1, got 0"):
        rnn.RNN("gru", I, H, num_layers=0)
