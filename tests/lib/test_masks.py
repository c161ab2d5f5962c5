import pytest
import torch

from transformer_course.masks import causal_mask, combine_masks, padding_mask
from transformer_course.attention import scaled_dot_product_attention


def test_causal_mask_is_lower_triangular():
    m = causal_mask(4)
    assert m.dtype == torch.bool
    assert torch.equal(m, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))


def test_padding_mask_hides_pad_keys():
    tokens = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])
    m = padding_mask(tokens, pad_id=0)
    assert m.shape == (2, 1, 1, 4)
    assert torch.equal(m[:, 0, 0], tokens != 0)


def test_combined_four_token_example():
    # Three real tokens and one pad: every query may see real, earlier keys only.
    tokens = torch.tensor([[11, 12, 13, 0]])
    m = combine_masks(padding_mask(tokens, 0), causal_mask(4))
    assert m.shape == (1, 1, 4, 4)
    expected = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0]], dtype=torch.bool)
    assert torch.equal(m[0, 0], expected)
    q = k = torch.zeros(1, 1, 4, 2)
    _, w = scaled_dot_product_attention(q, k, torch.eye(4)[None, None], mask=m)
    torch.testing.assert_close(w[0, 0, 3], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0]))


def test_combine_skips_none_and_rejects_bad_input():
    assert combine_masks(None, None) is None
    m = causal_mask(3)
    assert torch.equal(combine_masks(None, m), m)
    with pytest.raises(ValueError, match=r"shapes \(3, 3\), \(2, 1, 1, 4\) do not broadcast"):
        combine_masks(m, torch.ones(2, 1, 1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"masks\[0\]: expected a bool tensor .* got dtype torch.float32"):
        combine_masks(torch.ones(3, 3))


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_causal_mask_rejects_bad_length(bad):
    with pytest.raises(ValueError, match="T: expected a positive int"):
        causal_mask(bad)


def test_padding_mask_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"tokens: expected shape \(B, T\), got \(4,\)"):
        padding_mask(torch.tensor([1, 2, 3, 0]), 0)
