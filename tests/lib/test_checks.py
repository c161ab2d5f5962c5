"""The shared argument checks and the one masked softmax every attention uses."""
import pytest
import torch

import transformer_course as tc
from transformer_course.attention import masked_softmax
from transformer_course.checks import check_shape


def test_check_shape_accepts_named_sizes_and_exact_ones():
    check_shape("x", torch.zeros(2, 3, 8), ("B", "T", 8))
    check_shape("b", torch.zeros(5), (5,))


@pytest.mark.parametrize("value, wanted, message", [
    (torch.zeros(2, 3), ("B", "T", 8), r"x: expected shape \(B, T, 8\), got \(2, 3\)"),
    (torch.zeros(2, 3, 7), ("B", "T", 8), r"x: expected shape \(B, T, 8\), got \(2, 3, 7\)"),
    (torch.zeros(4), (5,), r"x: expected shape \(5,\), got \(4,\)"),
    ([1, 2], ("B",), r"x: expected a tensor of shape \(B,\), got list"),
])
def test_check_shape_names_the_argument_what_it_got_and_what_it_wanted(value, wanted, message):
    with pytest.raises(ValueError, match=message):
        check_shape("x", value, wanted)


def test_every_module_uses_the_same_check_and_the_same_softmax():
    assert tc.rnn.check_shape is tc.seq2seq.check_shape is tc.multihead.check_shape is check_shape
    assert tc.seq2seq.masked_softmax is masked_softmax


def test_masked_softmax_gives_exact_zeros_where_masked_and_sums_to_one_elsewhere():
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 4, 6, generator=gen, dtype=torch.float64) * 30   # large scores too
    mask = torch.rand(3, 4, 6, generator=gen) > 0.4
    mask[..., 0] = True
    w = masked_softmax(scores, mask)
    assert (w[~mask] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, dtype=torch.float64))
    expected = torch.where(mask, scores, float("-inf")).softmax(-1)
    torch.testing.assert_close(w, expected)


def test_masked_softmax_without_a_mask_is_the_softmax():
    scores = torch.randn(2, 5)
    torch.testing.assert_close(masked_softmax(scores, None), scores.softmax(-1))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_an_empty_row_gives_zeros_and_finite_gradients(dtype):
    scores = torch.randn(2, 3, 4).to(dtype).requires_grad_()
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[1, 2] = False                                     # one query with nothing to attend to
    w = masked_softmax(scores, mask)
    assert (w[1, 2] == 0).all() and torch.isfinite(w).all()
    (w.float() * torch.arange(4.0)).sum().backward()
    assert torch.isfinite(scores.grad).all() and (scores.grad[1, 2] == 0).all()


def test_a_mask_broadcasts_over_heads_and_queries():
    scores = torch.randn(2, 3, 4, 5)
    keys = torch.tensor([[True, True, False, True, False], [True, False, False, False, False]])
    w = masked_softmax(scores, keys[:, None, None, :])
    assert w.shape == scores.shape
    assert (w[1, ..., 1:] == 0).all() and torch.allclose(w[1, ..., 0], torch.ones(3, 4))
