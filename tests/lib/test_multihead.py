import pytest
import torch
import torch.nn as nn

from transformer_course.masks import causal_mask, combine_masks, padding_mask
from transformer_course.multihead import MultiHeadAttention


def _pair(d_model=16, n_heads=4, bias=True, seed=0):
    torch.manual_seed(seed)
    theirs = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True).double()
    ours = MultiHeadAttention.from_torch(theirs)
    return ours, theirs


@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_without_mask(gen, bias):
    ours, theirs = _pair(bias=bias)
    q = torch.randn(3, 5, 16, generator=gen, dtype=torch.float64)
    kv = torch.randn(3, 7, 16, generator=gen, dtype=torch.float64)
    expected, expected_w = theirs(q, kv, kv, need_weights=True, average_attn_weights=False)
    out, w = ours(q, kv, kv, need_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(w, expected_w)
    fused, none = ours(q, kv, kv)  # the fused path agrees with the written-out one
    assert none is None
    torch.testing.assert_close(fused, expected)


def test_matches_torch_with_causal_and_padding_masks(gen):
    ours, theirs = _pair()
    x = torch.randn(2, 6, 16, generator=gen, dtype=torch.float64)
    tokens = torch.tensor([[4, 5, 6, 7, 8, 9], [4, 5, 6, 0, 0, 0]])
    mask = combine_masks(padding_mask(tokens, 0), causal_mask(6))
    # torch's convention is the opposite: True = blocked.
    expected, _ = theirs(x, x, x, attn_mask=~causal_mask(6), key_padding_mask=tokens == 0)
    for need_weights in (False, True):
        out, _ = ours(x, x, x, mask=mask, need_weights=need_weights)
        torch.testing.assert_close(out, expected)
    out, _ = ours(x, x, x, mask=padding_mask(tokens, 0), is_causal=True)
    torch.testing.assert_close(out, expected)


def test_gradients_match_torch(gen):
    ours, theirs = _pair()
    x = torch.randn(2, 5, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    ours(x, x, x, is_causal=True)[0].sum().backward()
    g_ours, gq_ours = x.grad.clone(), ours.q_proj.weight.grad.clone()
    x.grad = None
    theirs(x, x, x, attn_mask=~causal_mask(5), need_weights=False)[0].sum().backward()
    torch.testing.assert_close(g_ours, x.grad)
    torch.testing.assert_close(gq_ours, theirs.in_proj_weight.grad[:16])


def test_future_tokens_do_not_change_past_outputs(gen):
    ours, _ = _pair()
    x = torch.randn(1, 6, 16, generator=gen, dtype=torch.float64)
    y = x.clone()
    y[:, 4:] = torch.randn(1, 2, 16, generator=gen, dtype=torch.float64)
    a, _ = ours(x, x, x, is_causal=True)
    b, _ = ours(y, y, y, is_causal=True)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_does_not_change_real_outputs(gen):
    ours, _ = _pair()
    x = torch.randn(1, 4, 16, generator=gen, dtype=torch.float64)
    padded = torch.cat([x, torch.randn(1, 3, 16, generator=gen, dtype=torch.float64)], dim=1)
    mask = padding_mask(torch.tensor([[1, 1, 1, 1, 0, 0, 0]]), 0)
    short, _ = ours(x, x, x)
    long, _ = ours(padded, padded, padded, mask=mask)
    torch.testing.assert_close(long[:, :4], short)


def test_fully_masked_rows_are_zero_not_nan(gen):
    ours, _ = _pair()
    x = torch.randn(1, 3, 16, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False], [True, True, True]])
    for need_weights in (False, True):
        out, _ = ours(x, x, x, mask=mask, need_weights=need_weights)
        assert torch.isfinite(out).all()
        # a query that sees nothing contributes only the output bias
        torch.testing.assert_close(out[0, 1], ours.out_proj.bias)
        out.sum().backward()
        assert torch.isfinite(x.grad).all()


def test_cached_keys_with_bottom_right_causal_mask(gen):
    ours, _ = _pair()
    x = torch.randn(1, 5, 16, generator=gen, dtype=torch.float64)
    full, _ = ours(x, x, x, is_causal=True)
    q = ours.split_heads(ours.q_proj(x[:, 3:]))
    k, v = ours.split_heads(ours.k_proj(x)), ours.split_heads(ours.v_proj(x))
    last, _ = ours.attend(q, k, v, is_causal=True)
    torch.testing.assert_close(ours.out_proj(ours.merge_heads(last)), full[:, 3:])


def test_split_and_merge_heads_are_inverse(gen):
    mha = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12, generator=gen)
    heads = mha.split_heads(x)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])
    torch.testing.assert_close(mha.merge_heads(heads), x)


def test_errors_name_argument_and_shapes():
    with pytest.raises(ValueError, match="n_heads: d_model = 10 must be divisible by n_heads, got n_heads = 4"):
        MultiHeadAttention(10, 4)
    mha = MultiHeadAttention(8, 2)
    x = torch.zeros(2, 3, 8)
    with pytest.raises(ValueError, match=r"query: expected shape \(B, T, 8\), got \(2, 3, 6\)"):
        mha(torch.zeros(2, 3, 6), x, x)
    with pytest.raises(ValueError, match=r"key: expected shape \(B, T, 8\), got \(3, 8\)"):
        mha(x, torch.zeros(3, 8), x)
    with pytest.raises(ValueError, match=r"key/value: .* got key \(2, 3, 8\) and value \(2, 4, 8\)"):
        mha(x, x, torch.zeros(2, 4, 8))
    with pytest.raises(ValueError, match=r"mask: shape \(2, 5\) does not broadcast .* \(2, 2, 3, 3\)"):
        mha(x, x, x, mask=torch.ones(2, 5, dtype=torch.bool))


def test_works_on_the_device_of_its_inputs():
    from transformer_course import get_device
    device = get_device()
    mha = MultiHeadAttention(8, 2).to(device)
    x = torch.randn(2, 3, 8, device=device)
    out, _ = mha(x, x, x, mask=torch.ones(3, 3, dtype=torch.bool, device=device), is_causal=True)
    assert out.device.type == device.type


def test_split_and_merge_heads_functions_match_the_methods(gen):
    from transformer_course.multihead import merge_heads, split_heads

    mha = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12, generator=gen)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    torch.testing.assert_close(heads, mha.split_heads(x))
    torch.testing.assert_close(heads[:, 1], x[..., 4:8])  # head h holds features h*d_head .. (h+1)*d_head - 1
    torch.testing.assert_close(merge_heads(heads), x)
    torch.testing.assert_close(merge_heads(heads), mha.merge_heads(heads))
    with pytest.raises(ValueError, match="n_heads"):
        split_heads(x, 5)
    with pytest.raises(ValueError, match="x"):
        merge_heads(x)


@pytest.mark.parametrize("bias", [True, False])
def test_packed_self_attention_projection_equals_separate_projections(gen, bias):
    ours, theirs = _pair(bias=bias)
    with torch.no_grad():  # non-zero biases, so a bias taken from the wrong chunk would show
        for p in ours.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    x = torch.randn(2, 6, 16, generator=gen, dtype=torch.float64)
    packed, _ = ours(x, x, x)                      # query is key is value: one packed matmul
    separate, _ = ours(x, x.clone(), x.clone())    # three projections
    torch.testing.assert_close(packed, separate)
    causal_fast, _ = ours(x, x, x, is_causal=True)  # the kernel's own causal mask
    causal_explicit, _ = ours(x, x, x, mask=causal_mask(6), need_weights=True)
    torch.testing.assert_close(causal_fast, causal_explicit)
