import math

import pytest
import torch
import torch.nn.functional as F

from transformer_course.attention import SelfAttention, scaled_dot_product_attention


def test_matches_torch_fused_function_with_and_without_mask(gen):
    q, k, v = (torch.randn(2, 3, 5, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(2, 1, 5, 5, generator=gen) > 0.3
    mask[..., 0] = True  # every query keeps at least one key
    for m in (None, mask):
        out, weights = scaled_dot_product_attention(q, k, v, mask=m)
        expected = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        torch.testing.assert_close(out, expected)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5, dtype=torch.float64))


def test_gradients_match_torch(gen):
    q, k, v = (torch.randn(2, 4, 6, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    scaled_dot_product_attention(q, k, v)[0].square().sum().backward()
    ours = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    F.scaled_dot_product_attention(q, k, v).square().sum().backward()
    for a, t in zip(ours, (q, k, v)):
        torch.testing.assert_close(a, t.grad)


def test_the_cat_sat_worked_example():
    # Embeddings of "The", "CAT", "SAT" with W_Q = W_K = W_V = I and d_k = 4.
    x = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], dtype=torch.float64)
    out, weights = scaled_dot_product_attention(x, x, x)
    expected = torch.tensor([[0.4223, 0.1554, 0.4223], [0.1554, 0.4223, 0.4223], [0.2119, 0.2119, 0.5761]],
                            dtype=torch.float64)
    torch.testing.assert_close(weights, expected, atol=1e-4, rtol=0)
    # The source notes add the vectors up wrongly; the weighted sum of values is:
    torch.testing.assert_close(out[0], torch.tensor([0.8446, 0.5777, 0.8446, 0.5777], dtype=torch.float64),
                               atol=1e-4, rtol=0)


def test_scaling_softmax_example():
    scores = torch.tensor([6.0, 4.0])
    torch.testing.assert_close(scores.softmax(-1), torch.tensor([0.8808, 0.1192]), atol=1e-4, rtol=0)
    torch.testing.assert_close((scores / math.sqrt(4)).softmax(-1), torch.tensor([0.7311, 0.2689]), atol=1e-4, rtol=0)


def test_fully_masked_row_gives_zeros_not_nan(gen):
    q, k, v = (torch.randn(1, 3, 4, generator=gen, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert not torch.isnan(out).any() and not torch.isnan(weights).any()
    assert torch.equal(weights[0, 1], torch.zeros(3)) and torch.equal(out[0, 1], torch.zeros(4))
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_padding_query_row_is_uniform_over_real_keys():
    # Scores [0, 0, 0, -inf] give [1/3, 1/3, 1/3, 0], not [1, 0, 0, 0].
    q = torch.zeros(1, 4, 2)
    k = torch.zeros(1, 4, 2)
    v = torch.eye(4)[None]
    mask = torch.tensor([True, True, True, False])
    _, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    torch.testing.assert_close(weights[0, 3], torch.tensor([1 / 3, 1 / 3, 1 / 3, 0.0]))


@pytest.mark.parametrize("shapes, message", [
    (((4, 8), (4, 7), (4, 8)), r"k: expected last dimension 8 .* got shape \(4, 7\)"),
    (((4, 8), (4, 8), (5, 8)), r"v: expected 4 positions .* got shape \(5, 8\)"),
    (((8,), (4, 8), (4, 8)), r"q: expected a tensor of shape \(..., T, d\), got \(8,\)"),
])
def test_bad_shapes_raise_value_error(shapes, message):
    q, k, v = (torch.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match=message):
        scaled_dot_product_attention(q, k, v)


def test_bad_masks_raise_value_error():
    q = k = v = torch.zeros(2, 4, 8)
    with pytest.raises(ValueError, match=r"mask: shape \(3, 3\) does not broadcast .* \(2, 4, 4\)"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"mask: expected dtype torch.bool .* got torch.float32"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 4))


def test_self_attention_module(gen):
    torch.manual_seed(0)
    layer = SelfAttention(6, 4)
    x = torch.randn(2, 5, 6, generator=gen)
    out, weights = layer(x)
    expected, _ = scaled_dot_product_attention(layer.W_q(x), layer.W_k(x), layer.W_v(x))
    torch.testing.assert_close(out, expected)
    assert weights.shape == (2, 5, 5)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 6\), got \(2, 5, 7\)"):
        layer(torch.randn(2, 5, 7))


def test_soft_lookup_worked_example():
    from transformer_course.attention import soft_lookup

    keys, values = torch.tensor([70.0, 80.0]), torch.tensor([1000.0, 1500.0])
    out, weights = soft_lookup(torch.tensor([70.0, 75.0, 80.0]), keys, values, temperature=1.0)
    torch.testing.assert_close(out, torch.tensor([1000.0, 1250.0, 1500.0]))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    out, _ = soft_lookup(torch.tensor([72.0]), keys, values, temperature=50.0)
    w = torch.tensor([-4.0 / 50, -64.0 / 50]).softmax(-1)
    torch.testing.assert_close(out, (w @ values)[None])


def test_soft_lookup_rejects_bad_input():
    from transformer_course.attention import soft_lookup

    with pytest.raises(ValueError, match="keys"):
        soft_lookup(torch.zeros(2), torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match="values"):
        soft_lookup(torch.zeros(2), torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="temperature"):
        soft_lookup(torch.zeros(2), torch.zeros(2), torch.zeros(2), temperature=0.0)
