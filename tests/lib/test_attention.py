import math

import pytest
import torch
import torch.nn.functional as F

from transformer_course.attention import SelfAttention, scaled_dot_product_attention, soft_lookup
from transformer_course.grading import randomize_parameters
from transformer_course.masks import causal_mask, combine_masks, padding_mask


def reference_attention(q, k, v, mask=None):
    """The formula in float64, written independently: log-sum-exp weights, zeros where no key is allowed."""
    q, k, v = q.double(), k.double(), v.double()
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        mask = mask.expand(scores.shape)
        scores = torch.where(mask, scores, torch.tensor(-math.inf, dtype=torch.float64))
    top = scores.amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    unnormalised = torch.exp(scores - top)
    total = unnormalised.sum(dim=-1, keepdim=True)
    weights = torch.where(total > 0, unnormalised / total.clamp_min(1e-300), torch.zeros_like(unnormalised))
    return torch.einsum("...qk,...kd->...qd", weights, v), weights


# Leading batch shapes of every rank, d_k chosen so that no wrong factor coincides with sqrt(d_k)
# (at d_k = 4, d_k / 2 = sqrt(d_k)), and d_v != d_k.
SHAPES = [((), 5, 5, 3, 2), ((2,), 4, 6, 8, 5), ((2, 3), 5, 7, 16, 3), ((2, 1, 3), 3, 4, 9, 6)]


@pytest.mark.parametrize("lead, T_q, T_k, d_k, d_v", SHAPES)
def test_matches_an_independent_formula_for_any_batch_shape(gen, lead, T_q, T_k, d_k, d_v):
    q = torch.randn(*lead, T_q, d_k, generator=gen, dtype=torch.float64)
    k = torch.randn(*lead, T_k, d_k, generator=gen, dtype=torch.float64)
    v = torch.randn(*lead, T_k, d_v, generator=gen, dtype=torch.float64)
    out, weights = scaled_dot_product_attention(q, k, v)
    expected_out, expected_weights = reference_attention(q, k, v)
    assert out.shape == (*lead, T_q, d_v) and weights.shape == (*lead, T_q, T_k)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(out, expected_out)


def _masks(lead, T_q, T_k, gen):
    """Masks of every shape a caller passes: (T_k,), (T_q, T_k), padding-style, full, and a combination."""
    B = lead[0] if lead else 1
    full = torch.rand(*lead, T_q, T_k, generator=gen) > 0.4
    keys = torch.rand(T_k, generator=gen) > 0.3
    keys[0] = True
    tokens = torch.randint(1, 9, (B, T_k), generator=gen)
    tokens[-1, T_k // 2:] = 0  # the last sequence ends with padding
    causal = torch.ones(T_q, T_k, dtype=torch.bool).tril(diagonal=T_k - T_q)
    masks = {"(T_k,)": keys, "(T_q, T_k) causal": causal, "full": full}
    if len(lead) >= 1:
        pad = padding_mask(tokens, 0).reshape(B, *([1] * (len(lead) - 1)), 1, T_k)
        masks["padding (B, ..., 1, T_k)"] = pad
        masks["padding and causal"] = combine_masks(pad, causal)
    return masks


@pytest.mark.parametrize("lead, T_q, T_k, d_k, d_v", SHAPES)
def test_masks_of_every_shape_match_torch_and_the_formula(gen, lead, T_q, T_k, d_k, d_v):
    q = torch.randn(*lead, T_q, d_k, generator=gen, dtype=torch.float64)
    k = torch.randn(*lead, T_k, d_k, generator=gen, dtype=torch.float64)
    v = torch.randn(*lead, T_k, d_v, generator=gen, dtype=torch.float64)
    for name, mask in _masks(lead, T_q, T_k, gen).items():
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
        expected_out, expected_weights = reference_attention(q, k, v, mask)
        torch.testing.assert_close(weights, expected_weights, msg=f"weights with mask {name}")
        torch.testing.assert_close(out, expected_out, msg=f"output with mask {name}")
        assert not weights.masked_select(~mask.expand(weights.shape)).any(), name
        if bool(mask.expand(weights.shape).any(-1).all()):  # torch's kernel agrees where every query has a key
            fused = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.expand(weights.shape))
            torch.testing.assert_close(out, fused, msg=f"F.scaled_dot_product_attention with mask {name}")


def test_large_scores_neither_overflow_nor_underflow(gen):
    # Scores of several hundred: exp() of them overflows float32 (and float64 near 710) unless the
    # softmax subtracts each row's maximum first.
    q = 40 * torch.randn(2, 6, 16, generator=gen)
    k = 40 * torch.randn(2, 6, 16, generator=gen)
    v = torch.randn(2, 6, 5, generator=gen)
    assert (q @ k.transpose(-2, -1) / 4).abs().max() > 200
    for mask in (None, causal_mask(6)):
        out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
        assert torch.isfinite(out).all() and torch.isfinite(weights).all()
        expected_out, expected_weights = reference_attention(q, k, v, mask)
        torch.testing.assert_close(weights, expected_weights.float(), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(out, expected_out.float(), atol=1e-5, rtol=1e-4)


def test_scaling_is_sqrt_d_k_not_d_k_over_2(gen):
    # At d_k = 4 the two factors coincide; at d_k = 16 they differ by a factor of 2.
    q, k, v = (torch.randn(3, 16, generator=gen, dtype=torch.float64) for _ in range(3))
    _, weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(weights, (q @ k.T / 4).softmax(-1))
    assert not torch.allclose(weights, (q @ k.T / 8).softmax(-1))


def test_gradients_match_torch(gen):
    q, k = (torch.randn(2, 4, 6, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(2))
    v = torch.randn(2, 4, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = padding_mask(torch.tensor([[1, 2, 3, 4], [1, 2, 0, 0]]), 0)[:, 0]  # (B, 1, T_k)
    scaled_dot_product_attention(q, k, v, mask=mask)[0].square().sum().backward()
    ours = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask).square().sum().backward()
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
    # q = [2, 3, 4, 1] against k1 = [1, 0, 1, 0], k2 = [0, 1, 0, 1]: scores 6 and 4, divided by sqrt(4) = 2.
    q = torch.tensor([[2.0, 3, 4, 1]])
    k = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 1]])
    out, weights = scaled_dot_product_attention(q, k, torch.eye(2))
    torch.testing.assert_close(weights, torch.tensor([[0.7311, 0.2689]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(out, weights)
    # Undo the scaling (q times 2) and the weights are the unscaled softmax of [6, 4].
    _, unscaled = scaled_dot_product_attention(2 * q, k, torch.eye(2))
    torch.testing.assert_close(unscaled, torch.tensor([[0.8808, 0.1192]]), atol=1e-4, rtol=0)


@pytest.mark.parametrize("lead, mask", [
    ((1,), torch.tensor([[True, False, True], [False, False, False], [True, True, True]])),
    ((2, 3), torch.tensor([True, False, True])[None, None, None].expand(2, 1, 3, 3).clone()),
    ((2,), torch.zeros(3, dtype=torch.bool)),  # no key at all: every row
])
def test_fully_masked_rows_give_zeros_not_nan(gen, lead, mask):
    if lead == (2, 3):
        mask[1, 0, 2] = False  # batch 1's last query sees no key
    q, k = (torch.randn(*lead, 3, 5, generator=gen, requires_grad=True) for _ in range(2))
    v = torch.randn(*lead, 3, 4, generator=gen, requires_grad=True)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    assert not torch.isnan(out).any() and not torch.isnan(weights).any()
    empty = ~mask.expand(weights.shape).any(-1)
    assert empty.any()
    assert torch.equal(weights[empty], torch.zeros_like(weights[empty]))
    assert torch.equal(out[empty], torch.zeros_like(out[empty]))
    expected_out, expected_weights = reference_attention(q.detach(), k.detach(), v.detach(), mask)
    torch.testing.assert_close(out.double(), expected_out)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert torch.equal(q.grad[empty], torch.zeros_like(q.grad[empty]))  # a query that sees nothing learns nothing


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


def test_self_attention_defaults():
    layer = SelfAttention(6)
    assert layer.d_head == 6
    assert sorted(n for n, _ in layer.named_parameters()) == ["W_k.weight", "W_q.weight", "W_v.weight"]
    assert layer.W_q.weight.shape == (6, 6)


@pytest.mark.parametrize("d_model, d_head, bias", [(10, 6, True), (7, 3, False), (5, 9, True)])
def test_self_attention_module_with_non_default_parameters(gen, d_model, d_head, bias):
    layer = randomize_parameters(SelfAttention(d_model, d_head, bias=bias).double(), gen)
    assert layer.W_q.weight.shape == (d_head, d_model)
    assert (layer.W_q.bias is not None) == bias
    x = torch.randn(3, 5, d_model, generator=gen, dtype=torch.float64)
    tokens = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 0, 0], [1, 0, 0, 0, 0]])
    for mask in (None, causal_mask(5), padding_mask(tokens, 0)[:, 0], combine_masks(padding_mask(tokens, 0)[:, 0],
                                                                                     causal_mask(5))):
        out, weights = layer(x, mask)
        parts = [F.linear(x, getattr(layer, f"W_{n}").weight, getattr(layer, f"W_{n}").bias) for n in "qkv"]
        expected_out, expected_weights = reference_attention(*parts, mask)
        assert out.shape == (3, 5, d_head) and weights.shape == (3, 5, 5)
        torch.testing.assert_close(weights, expected_weights)
        torch.testing.assert_close(out, expected_out)
    # Gradients reach every projection (weights and biases).
    layer(x, causal_mask(5))[0].square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_self_attention_rejects_bad_input():
    layer = SelfAttention(6, 4)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 6\), got \(2, 5, 7\)"):
        layer(torch.randn(2, 5, 7))
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, 6\), got \(5, 6\)"):
        layer(torch.randn(5, 6))


def test_soft_lookup_worked_example():
    keys, values = torch.tensor([70.0, 80.0]), torch.tensor([1000.0, 1500.0])
    out, weights = soft_lookup(torch.tensor([70.0, 75.0, 80.0]), keys, values, temperature=1.0)
    torch.testing.assert_close(out, torch.tensor([1000.0, 1250.0, 1500.0]))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    out, _ = soft_lookup(torch.tensor([72.0]), keys, values, temperature=50.0)
    w = torch.tensor([-4.0 / 50, -64.0 / 50]).softmax(-1)
    torch.testing.assert_close(out, (w @ values)[None])


def test_soft_lookup_far_queries_do_not_underflow():
    # A query far from every key: every score is below -4000, where exp() is 0 in float32.
    keys, values = torch.tensor([70.0, 80.0, 95.0]), torch.tensor([1000.0, 1500.0, 900.0])
    out, weights = soft_lookup(torch.tensor([0.0, 200.0]), keys, values, temperature=1.0)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.tensor([1000.0, 900.0]))
    torch.testing.assert_close(weights, torch.tensor([[1.0, 0, 0], [0, 0, 1.0]]))


def test_soft_lookup_rejects_bad_input():
    with pytest.raises(ValueError, match=r"keys: expected a 1-d tensor, got \(2, 1\)"):
        soft_lookup(torch.zeros(2), torch.zeros(2, 1), torch.zeros(2))
    with pytest.raises(ValueError, match=r"values: expected shape \(2,\) \(as keys\), got \(3,\)"):
        soft_lookup(torch.zeros(2), torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="temperature: expected a positive number, got 0.0"):
        soft_lookup(torch.zeros(2), torch.zeros(2), torch.zeros(2), temperature=0.0)
