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
    with pytest.raises(ValueError, match="T_q: expected a positive int"):
        causal_mask(bad)
    with pytest.raises(ValueError, match="T_k: expected a positive int"):
        causal_mask(1, bad)


def test_causal_mask_for_queries_appended_to_a_cache():
    # 2 new queries after 3 cached positions: they are positions 3 and 4 of 5
    m = causal_mask(2, 5)
    assert torch.equal(m, torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool))
    assert causal_mask(1, 6).all(), "the newest single query sees every cached key"
    assert torch.equal(causal_mask(4, 4), causal_mask(4))
    for T_q in range(1, 6):  # the last T_q rows of the square mask
        assert torch.equal(causal_mask(T_q, 5), causal_mask(5)[-T_q:])
    with pytest.raises(ValueError, match="T_q: expected at most T_k = 3 queries"):
        causal_mask(4, 3)
    assert causal_mask(3, 4, device="meta").device.type == "meta"


def test_padding_mask_with_a_nonzero_pad_id_and_three_masks_combined():
    tokens = torch.tensor([[3, 5, 6, 3], [7, 3, 3, 3], [4, 4, 4, 4]])    # pad id 3; B = 3
    pad = padding_mask(tokens, pad_id=3)
    assert torch.equal(pad[:, 0, 0], tokens != 3)
    per_head = torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(0)) < 0.7  # H = 2 != B
    m = combine_masks(causal_mask(4), None, pad, per_head)
    assert m.shape == (3, 2, 4, 4)
    expected = causal_mask(4)[None, None] & (tokens != 3)[:, None, None, :] & per_head
    assert torch.equal(m, expected)
    assert torch.equal(combine_masks(pad), pad)


def test_padding_mask_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"tokens: expected shape \(B, T\), got \(4,\)"):
        padding_mask(torch.tensor([1, 2, 3, 0]), 0)
