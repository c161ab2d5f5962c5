import math

import pytest
import torch

from transformer_course.positional import (LearnedPositionalEmbedding, RotaryEmbedding,
                                           SinusoidalPositionalEncoding, shift_matrix, sinusoidal_encoding)


def test_seed_values_d_model_4():
    pe = sinusoidal_encoding(2, 4)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
    # position 1: sin(1), cos(1), sin(1/100), cos(1/100)
    torch.testing.assert_close(pe[1], torch.tensor([0.8415, 0.5403, 0.0100, 0.99995]), atol=1e-4, rtol=0)


def test_formula_for_every_entry():
    pe = sinusoidal_encoding(50, 16)
    for pos in (0, 7, 49):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_shift_by_k_is_a_fixed_linear_map():
    d, k = 8, 3
    pe = sinusoidal_encoding(40, d).double()
    blocks = []
    for i in range(d // 2):
        theta = k / 10000 ** (2 * i / d)
        # row vector [sin a, cos a] times this gives [sin(a + theta), cos(a + theta)]
        blocks.append(torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]))
    rotation = torch.block_diag(*blocks).double()
    torch.testing.assert_close(pe[:-k] @ rotation, pe[k:])
    torch.testing.assert_close(shift_matrix(k, d).double(), rotation, atol=1e-7, rtol=0)


@pytest.mark.parametrize("k, d", [(1, 2), (7, 16), (50, 62), (-5, 10), (0, 6)])
def test_shift_matrix_moves_every_position(k, d):
    pe = sinusoidal_encoding(120, d).double()
    m = shift_matrix(k, d)
    assert m.dtype == torch.float32 and m.shape == (d, d)
    m = m.double()
    shifted, target = (pe[:120 - k] @ m, pe[k:]) if k >= 0 else (pe[-k:] @ m, pe[:120 + k])
    torch.testing.assert_close(shifted, target, atol=1e-5, rtol=0)
    torch.testing.assert_close(m @ m.T, torch.eye(d, dtype=torch.float64), atol=1e-6, rtol=0)
    torch.testing.assert_close(shift_matrix(-k, d).double(), m.T)


@pytest.mark.parametrize("args, message", [((1.5, 4), "k: expected an int offset, got 1.5"),
                                           ((True, 4), "k: expected an int offset"),
                                           ((2, 5), "d_model: expected a positive even int")])
def test_shift_matrix_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        shift_matrix(*args)


def test_rotary_halves_layout_is_a_permutation_of_the_adjacent_pairs_layout(gen):
    d, T = 8, 6
    rope = RotaryEmbedding(d, max_len=T)
    x = torch.randn(T, d, generator=gen)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * 10000.0 ** (-torch.arange(0, d, 2) / d)
    cos, sin = angles.cos().float(), angles.sin().float()
    adjacent = torch.empty_like(x)                     # RoFormer: rotate (x[2i], x[2i+1])
    adjacent[:, 0::2] = x[:, 0::2] * cos - x[:, 1::2] * sin
    adjacent[:, 1::2] = x[:, 0::2] * sin + x[:, 1::2] * cos
    perm = torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])
    torch.testing.assert_close(rope(x[:, perm]), adjacent[:, perm])


def test_modules_add_positions_and_reject_long_inputs():
    sin = SinusoidalPositionalEncoding(4, max_len=6)
    x = torch.zeros(2, 3, 4)
    torch.testing.assert_close(sin(x)[1], sinusoidal_encoding(6, 4)[:3])
    torch.testing.assert_close(sin(x, start=2)[0], sinusoidal_encoding(6, 4)[2:5])
    with pytest.raises(ValueError, match=r"x: sequence of length 7 .* max_len is 6"):
        sin(torch.zeros(1, 7, 4))
    learned = LearnedPositionalEmbedding(6, 4)
    torch.testing.assert_close(learned(x)[0], learned.embedding.weight[:3])
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 4\), got \(1, 3, 5\)"):
        learned(torch.zeros(1, 3, 5))


@pytest.mark.parametrize("args, message", [((0, 4), "max_len"), ((4, 3), "d_model"), ((4, 0), "d_model")])
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        sinusoidal_encoding(*args)


def test_rotary_scores_depend_only_on_offset(gen):
    rope = RotaryEmbedding(8, max_len=64)
    q, k = torch.randn(8, generator=gen), torch.randn(8, generator=gen)
    def score(i, j):
        qi = rope(q.expand(64, 8))[i]
        kj = rope(k.expand(64, 8))[j]
        return (qi @ kj).item()
    assert score(5, 2) == pytest.approx(score(20, 17), abs=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 4), abs=1e-3)
    # rotation keeps lengths
    torch.testing.assert_close(rope(q.expand(64, 8)).norm(dim=-1), q.norm().expand(64))


def test_add_positional_encoding_scales_then_adds():
    from transformer_course.positional import add_positional_encoding
    pe = sinusoidal_encoding(10, 4)
    x = torch.randn(2, 3, 4)
    torch.testing.assert_close(add_positional_encoding(x, pe), x * 2.0 + pe[:3])
    torch.testing.assert_close(add_positional_encoding(x, pe, start=5), x * 2.0 + pe[5:8])
    # the worked example: 'cat' at position 1 without the scale would be e + PE(1); with d = 4 it is 2e + PE(1)
    cat = torch.tensor([[[0.5, 0.6, 0.7, 0.8]]])
    torch.testing.assert_close(add_positional_encoding(cat, pe, start=1)[0, 0],
                               torch.tensor([1.8415, 1.7403, 1.4100, 2.6000]), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="positions up to 11 needed, but the table has 10 rows"):
        add_positional_encoding(torch.zeros(1, 3, 4), pe, start=8)
    with pytest.raises(ValueError, match=r"got \(1, 3, 4\) and \(10, 6\)"):
        add_positional_encoding(torch.zeros(1, 3, 4), sinusoidal_encoding(10, 6))
