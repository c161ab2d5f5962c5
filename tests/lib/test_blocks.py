import pytest
import torch
import torch.nn as nn

from transformer_course.blocks import (DecoderLayer, EncoderLayer, FeedForward, LayerNorm, count_parameters,
                                       encoder_layer_parameter_count)
from transformer_course.masks import causal_mask, padding_mask


def test_layernorm_seed_example():
    ln = LayerNorm(4)
    out = ln(torch.tensor([2.0, 4.0, 6.0, 8.0]))
    torch.testing.assert_close(out, torch.tensor([-1.3416, -0.4472, 0.4472, 1.3416]), atol=1e-4, rtol=0)


def test_layernorm_matches_torch_values_and_gradients(gen):
    theirs = nn.LayerNorm(6).double()
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    ours = LayerNorm(6).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(3, 4, 6, generator=gen, dtype=torch.float64, requires_grad=True)
    ours(x).pow(3).sum().backward()
    grads = x.grad.clone(), ours.weight.grad.clone()
    x.grad = None
    expected = theirs(x)
    expected.pow(3).sum().backward()
    torch.testing.assert_close(ours(x), expected)
    torch.testing.assert_close(grads[0], x.grad)
    torch.testing.assert_close(grads[1], theirs.weight.grad)
    with pytest.raises(ValueError, match=r"x: expected last dimension 6, got shape \(2, 5\)"):
        ours(torch.zeros(2, 5, dtype=torch.float64))


def _encoder_pair(norm_first, activation="relu"):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, activation=activation, batch_first=True,
                                        norm_first=norm_first).double().eval()
    ours = EncoderLayer(16, 4, 32, dropout=0.0, activation=activation, norm_first=norm_first).double().eval()
    return ours.load_from_torch(theirs), theirs


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_torch(gen, norm_first, activation):
    ours, theirs = _encoder_pair(norm_first, activation)
    x = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    tokens = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]])
    out = ours(x, mask=padding_mask(tokens, 0))
    out.sum().backward()
    g = x.grad.clone()
    x.grad = None
    expected = theirs(x, src_key_padding_mask=tokens == 0)
    expected.sum().backward()
    # torch's fast path may leave padded positions as zeros; compare the real ones
    real = tokens != 0
    torch.testing.assert_close(out[real], expected[real])
    torch.testing.assert_close(g[real], x.grad[real])
    torch.testing.assert_close(ours(x, is_causal=True), theirs(x, src_mask=~causal_mask(5)))


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_torch(gen, norm_first):
    torch.manual_seed(1)
    theirs = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first).double()
    ours = DecoderLayer(16, 4, 32, dropout=0.0, norm_first=norm_first).double().load_from_torch(theirs)
    x = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    memory = torch.randn(2, 7, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    src = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    out = ours(x, memory, memory_mask=padding_mask(src, 0), is_causal=True)
    expected = theirs(x, memory, tgt_mask=~causal_mask(5), memory_key_padding_mask=src == 0)
    torch.testing.assert_close(out, expected)
    out.square().sum().backward()
    grads = x.grad.clone(), memory.grad.clone()
    x.grad = memory.grad = None
    expected.square().sum().backward()
    torch.testing.assert_close(grads[0], x.grad)
    torch.testing.assert_close(grads[1], memory.grad)
    with pytest.raises(ValueError, match=r"memory: expected shape \(2, S, 16\), got \(2, 7, 8\)"):
        ours(x, torch.zeros(2, 7, 8, dtype=torch.float64))


def test_parameter_count_formula():
    for d, f, bias in ((512, 2048, True), (16, 64, False), (12, 30, True)):
        layer = EncoderLayer(d, 4, f, bias=bias)
        assert count_parameters(layer) == encoder_layer_parameter_count(d, f, bias)
    # the paper's base layer: about 3.15M parameters, two thirds of them in the FFN
    assert encoder_layer_parameter_count(512, 2048) == 3_152_384


@pytest.mark.parametrize("d, f, bias", [(48, 80, False), (12, 30, True), (16, 16, False)])
def test_parameter_count_formula_matches_torch(d, f, bias):
    # bias=False in torch drops the linear biases and the LayerNorm shifts, keeping the gains
    torch_layer = nn.TransformerEncoderLayer(d, 4, f, bias=bias, batch_first=True)
    assert count_parameters(torch_layer) == encoder_layer_parameter_count(d, f, bias)


def test_feed_forward_is_position_wise(gen):
    ff = FeedForward(8, 16)
    x = torch.randn(2, 5, 8, generator=gen)
    torch.testing.assert_close(ff(x)[:, 2], ff(x[:, 2]))
    with pytest.raises(ValueError, match=r"activation: expected one of .* got 'swish'"):
        FeedForward(8, 16, activation="swish")
