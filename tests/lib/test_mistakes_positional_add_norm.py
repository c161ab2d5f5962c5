"""The registered mistakes of notebooks 05 and 06 are real mistakes: each differs from the reference.

A "mistake" that gave the right answer would never be named for a wrong one, and
one that crashed would be skipped silently by the tests; both would be dead text.
"""
import pytest
import torch

from transformer_course import blocks, positional
from transformer_course.mistakes import add_norm_ffn, positional_encoding


def _differs(a, b):
    return a.shape != b.shape or not torch.allclose(a.double(), b.double(), atol=1e-4)


@pytest.mark.parametrize("why", list(positional_encoding.SINUSOIDAL_ENCODING))
def test_sinusoidal_mistakes_differ(why):
    wrong = positional_encoding.SINUSOIDAL_ENCODING[why](37, 10)
    assert wrong.shape == (37, 10) and _differs(wrong, positional.sinusoidal_encoding(37, 10))


@pytest.mark.parametrize("why", list(positional_encoding.SHIFT_MATRIX))
def test_shift_matrix_mistakes_differ(why):
    assert _differs(positional_encoding.SHIFT_MATRIX[why](5, 8), positional.shift_matrix(5, 8))


@pytest.mark.parametrize("why", list(positional_encoding.ADD_POSITIONAL_ENCODING))
def test_add_positional_encoding_mistakes_differ(why, gen):
    e, pe = torch.randn(2, 3, 6, generator=gen), positional.sinusoidal_encoding(9, 6)
    wrong = positional_encoding.ADD_POSITIONAL_ENCODING[why](e, pe, 2)
    assert _differs(wrong, positional.add_positional_encoding(e, pe, 2))


@pytest.mark.parametrize("why", list(positional_encoding.LEARNED_POSITIONS))
def test_learned_positions_mistakes_differ(why, gen):
    x = torch.randn(2, 4, 3, generator=gen)
    wrong, right = positional_encoding.LEARNED_POSITIONS[why](6, 3), positional.LearnedPositionalEmbedding(6, 3)
    wrong.embedding.load_state_dict(right.embedding.state_dict())
    assert _differs(wrong(x), right(x))


@pytest.mark.parametrize("why", list(add_norm_ffn.LAYER_NORM))
def test_layer_norm_mistakes_differ(why, gen):
    wrong, right = add_norm_ffn.LAYER_NORM[why](5, eps=0.1), blocks.LayerNorm(5, eps=0.1)
    with torch.no_grad():
        right.weight.uniform_(0.5, 1.5)
        right.bias.uniform_(-0.5, 0.5)
    wrong.load_state_dict(right.state_dict())
    x = torch.randn(3, 5, generator=gen) * 2
    assert _differs(wrong(x), right(x))


@pytest.mark.parametrize("why", list(add_norm_ffn.FEED_FORWARD))
def test_feed_forward_mistakes_differ_in_training_mode(why, gen):
    wrong, right = add_norm_ffn.FEED_FORWARD[why](4, 9, dropout=0.3), blocks.FeedForward(4, 9, dropout=0.3)
    wrong.load_state_dict(right.state_dict())
    x = torch.randn(2, 5, 4, generator=gen)
    torch.manual_seed(0)
    got = wrong.train()(x)
    torch.manual_seed(0)
    assert _differs(got, right.train()(x))


@pytest.mark.parametrize("why", list(add_norm_ffn.ENCODER_LAYER))
def test_encoder_layer_mistakes_differ(why, gen):
    right = blocks.EncoderLayer(8, 2, 12, dropout=0.2, norm_first=True)
    wrong = add_norm_ffn.ENCODER_LAYER[why](8, 2, 12, dropout=0.2, norm_first=True)
    with torch.no_grad():
        for norm in (right.norm1, right.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    wrong.load_state_dict(right.state_dict())
    x = torch.randn(2, 4, 8, generator=gen)
    mask = torch.ones(4, 4, dtype=torch.bool).tril()
    torch.manual_seed(0)
    got = wrong.train()(x, mask=mask)
    torch.manual_seed(0)
    assert _differs(got, right.train()(x, mask=mask))


@pytest.mark.parametrize("why", list(add_norm_ffn.ENCODER_LAYER_PARAMETER_COUNT))
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_count_mistakes_differ_somewhere(why, bias):
    wrong = add_norm_ffn.ENCODER_LAYER_PARAMETER_COUNT[why]
    cases = [(48, 80), (12, 30), (64, 100)]
    if why.startswith("with bias=False") and bias:
        pytest.skip("that mistake is only made without biases")
    if why.startswith("the biases are counted even when") and bias:
        pytest.skip("that mistake is only made without biases")
    if why.startswith("the first FFN bias") and not bias:
        pytest.skip("that mistake is only made with biases")
    assert any(wrong(d, f, bias) != blocks.encoder_layer_parameter_count(d, f, bias) for d, f in cases)
