
import pytest
import torch
import torch.nn as nn

from transformer_course.grading import randomize_parameters
from transformer_course.masks import causal_mask, combine_masks, padding_mask
from transformer_course.multihead import MultiHeadAttention, merge_heads, split_heads

# d_head = 6 (not 4, where d_head / 2 = sqrt(d_head)), and batches of 2 and 5 (never equal to the 3 heads,
# so a mask that lines its batch dimension up with the heads cannot broadcast by accident).
D_MODEL, N_HEADS = 18, 3


def _pair(d_model=D_MODEL, n_heads=N_HEADS, bias=True, seed=0):
    """torch's layer with random non-default weights and biases, and ours loaded from it (float64)."""
    theirs = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True).double()
    randomize_parameters(theirs, torch.Generator().manual_seed(seed))
    return MultiHeadAttention.from_torch(theirs), theirs


@pytest.mark.parametrize("bias", [True, False])
def test_matches_torch_without_mask(gen, bias):
    ours, theirs = _pair(bias=bias)
    q = torch.randn(2, 5, D_MODEL, generator=gen, dtype=torch.float64)
    kv = torch.randn(2, 7, D_MODEL, generator=gen, dtype=torch.float64)
    expected, expected_w = theirs(q, kv, kv, need_weights=True, average_attn_weights=False)
    out, w = ours(q, kv, kv, need_weights=True)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(w, expected_w)
    fused, none = ours(q, kv, kv)  # the fused path agrees with the written-out one
    assert none is None
    torch.testing.assert_close(fused, expected)
    packed, _ = ours(q, q, q)  # and the packed self-attention projection with torch's
    torch.testing.assert_close(packed, theirs(q, q, q, need_weights=False)[0])


def test_matches_torch_with_causal_and_padding_masks(gen):
    ours, theirs = _pair()
    x = torch.randn(2, 6, D_MODEL, generator=gen, dtype=torch.float64)
    tokens = torch.tensor([[4, 5, 6, 7, 8, 9], [4, 5, 6, 1, 1, 1]])  # pad id 1
    mask = combine_masks(padding_mask(tokens, 1), causal_mask(6))
    # nn.MultiheadAttention's convention is the opposite: True = blocked.
    expected, _ = theirs(x, x, x, attn_mask=~causal_mask(6), key_padding_mask=tokens == 1)
    for need_weights in (False, True):
        out, _ = ours(x, x, x, mask=mask, need_weights=need_weights)
        torch.testing.assert_close(out, expected)
    out, _ = ours(x, x, x, mask=padding_mask(tokens, 1), is_causal=True)
    torch.testing.assert_close(out, expected)


def test_a_mask_per_batch_entry_and_head_matches_torch(gen):
    ours, theirs = _pair()
    B, T_q, T_k = 5, 4, 6
    q = torch.randn(B, T_q, D_MODEL, generator=gen, dtype=torch.float64)
    kv = torch.randn(B, T_k, D_MODEL, generator=gen, dtype=torch.float64)
    mask = torch.rand(B, N_HEADS, T_q, T_k, generator=gen) > 0.5
    mask[..., 0] = True  # torch gives NaN for a query with no key; ours gives zeros (tested below)
    # torch takes a per-head mask as (B * n_heads, T_q, T_k), batch-major.
    expected, expected_w = theirs(q, kv, kv, attn_mask=~mask.reshape(B * N_HEADS, T_q, T_k),
                                  need_weights=True, average_attn_weights=False)
    for need_weights in (False, True):
        out, w = ours(q, kv, kv, mask=mask, need_weights=need_weights)
        torch.testing.assert_close(out, expected)
    torch.testing.assert_close(w, expected_w)


def test_gradients_match_torch(gen):
    ours, theirs = _pair()
    x = torch.randn(2, 5, D_MODEL, generator=gen, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 5, D_MODEL, generator=gen, dtype=torch.float64)
    (ours(x, x, x, is_causal=True)[0] * upstream).sum().backward()
    g_ours = x.grad.clone()
    x.grad = None
    (theirs(x, x, x, attn_mask=~causal_mask(5), need_weights=False)[0] * upstream).sum().backward()
    torch.testing.assert_close(g_ours, x.grad)
    for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
        rows = slice(i * D_MODEL, (i + 1) * D_MODEL)
        torch.testing.assert_close(proj.weight.grad, theirs.in_proj_weight.grad[rows])
        torch.testing.assert_close(proj.bias.grad, theirs.in_proj_bias.grad[rows])
    torch.testing.assert_close(ours.out_proj.weight.grad, theirs.out_proj.weight.grad)


def test_future_tokens_do_not_change_past_outputs(gen):
    ours, _ = _pair()
    x = torch.randn(2, 6, D_MODEL, generator=gen, dtype=torch.float64)
    y = x.clone()
    y[:, 4:] = torch.randn(2, 2, D_MODEL, generator=gen, dtype=torch.float64)
    a, _ = ours(x, x, x, is_causal=True)
    b, _ = ours(y, y, y, is_causal=True)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_padding_does_not_change_real_outputs(gen):
    ours, _ = _pair()
    x = torch.randn(2, 4, D_MODEL, generator=gen, dtype=torch.float64)
    padded = torch.cat([x, torch.randn(2, 3, D_MODEL, generator=gen, dtype=torch.float64)], dim=1)
    mask = padding_mask(torch.tensor([[1, 1, 1, 1, 0, 0, 0]]).expand(2, 7), 0)
    short, _ = ours(x, x, x)
    long, _ = ours(padded, padded, padded, mask=mask)
    torch.testing.assert_close(long[:, :4], short)


def test_fully_masked_rows_are_zero_not_nan(gen):
    ours, _ = _pair()
    x = torch.randn(2, 3, D_MODEL, generator=gen, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, False, False], [True, True, True]])
    for need_weights in (False, True):
        out, _ = ours(x, x, x, mask=mask, need_weights=need_weights)
        assert torch.isfinite(out).all()
        # a query that sees nothing contributes only the output bias
        torch.testing.assert_close(out[:, 1], ours.out_proj.bias.expand(2, D_MODEL))
        out.sum().backward()
        assert torch.isfinite(x.grad).all()


def test_cached_keys_with_bottom_right_causal_mask(gen):
    ours, _ = _pair()
    x = torch.randn(2, 5, D_MODEL, generator=gen, dtype=torch.float64)
    full, _ = ours(x, x, x, is_causal=True)
    q = ours.split_heads(ours.q_proj(x[:, 3:]))
    k, v = ours.split_heads(ours.k_proj(x)), ours.split_heads(ours.v_proj(x))
    last, _ = ours.attend(q, k, v, is_causal=True)
    torch.testing.assert_close(ours.out_proj(ours.merge_heads(last)), full[:, 3:])


@pytest.mark.parametrize("B, T, n_heads, d_head", [(1, 4, 3, 5), (2, 5, 3, 5), (5, 2, 2, 6), (3, 1, 1, 7)])
def test_split_heads_gives_each_head_its_slice_of_features(gen, B, T, n_heads, d_head):
    x = torch.randn(B, T, n_heads * d_head, generator=gen)
    heads = split_heads(x, n_heads)
    assert heads.shape == (B, n_heads, T, d_head)
    for h in range(n_heads):  # head h holds features h*d_head .. (h+1)*d_head - 1 of every token
        torch.testing.assert_close(heads[:, h], x[..., h * d_head:(h + 1) * d_head])
    torch.testing.assert_close(merge_heads(heads), x)
    mha = MultiHeadAttention(n_heads * d_head, n_heads)
    torch.testing.assert_close(mha.split_heads(x), heads)
    torch.testing.assert_close(mha.merge_heads(heads), x)


def test_split_and_merge_heads_reject_bad_input():
    x = torch.randn(2, 5, 12)
    with pytest.raises(ValueError, match=r"n_heads: d_model = 12 must be divisible by n_heads, got n_heads = 5"):
        split_heads(x, 5)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, d_model\), got \(5, 12\)"):
        split_heads(x[0], 3)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, n_heads, T, d_head\), got \(2, 5, 12\)"):
        merge_heads(x)


def test_errors_name_argument_and_shapes():
    with pytest.raises(ValueError, match="n_heads: d_model = 10 must be divisible by n_heads, got n_heads = 4"):
        MultiHeadAttention(10, 4)
    mha = MultiHeadAttention(8, 2)
    x = torch.zeros(3, 4, 8)
    with pytest.raises(ValueError, match=r"query: expected shape \(B, T, 8\), got \(3, 4, 6\)"):
        mha(torch.zeros(3, 4, 6), x, x)
    with pytest.raises(ValueError, match=r"key: expected shape \(B, T, 8\), got \(4, 8\)"):
        mha(x, torch.zeros(4, 8), x)
    with pytest.raises(ValueError, match=r"key/value: .* got key \(3, 4, 8\) and value \(3, 5, 8\)"):
        mha(x, x, torch.zeros(3, 5, 8))
    with pytest.raises(ValueError, match=r"mask: shape \(3, 5\) does not broadcast .* \(3, 2, 4, 4\)"):
        mha(x, x, x, mask=torch.ones(3, 5, dtype=torch.bool))


def test_load_from_torch_copies_every_chunk_to_its_place():
    # Random non-zero biases: a bias taken from the wrong chunk of in_proj_bias would show.
    ours, theirs = _pair(seed=3)
    for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
        rows = slice(i * D_MODEL, (i + 1) * D_MODEL)
        assert torch.equal(proj.weight, theirs.in_proj_weight[rows])
        assert torch.equal(proj.bias, theirs.in_proj_bias[rows])
    assert torch.equal(ours.out_proj.weight, theirs.out_proj.weight)
    assert torch.equal(ours.out_proj.bias, theirs.out_proj.bias)
    with pytest.raises(ValueError, match=r"module: expected embed_dim=18, num_heads=3, got embed_dim=18, num_heads=2"):
        ours.load_from_torch(nn.MultiheadAttention(18, 2))


def _devices():
    devices = []
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def _every_path(mha, x, memory, tokens):
    """The module's output on each of its code paths, for the same inputs."""
    pad = padding_mask(tokens, 0)
    return {
        "packed self-attention, fused": mha(x, x, x)[0],
        "cross-attention, fused": mha(x, memory, memory)[0],
        "padding mask, fused": mha(x, x, x, mask=pad)[0],
        "kernel's own causal mask": mha(x, x, x, is_causal=True)[0],
        "causal and padding, fused": mha(x, x, x, mask=pad, is_causal=True)[0],
        "written out, with weights": mha(x, x, x, mask=pad, need_weights=True)[0],
        "a query that sees nothing": mha(x, x, x, mask=torch.zeros(x.shape[1], x.shape[1], dtype=torch.bool,
                                                                  device=x.device))[0],
    }


@pytest.mark.parametrize("device", _devices() or [pytest.param("cuda", marks=pytest.mark.skip(
    reason="no GPU here: test_float32_paths_agree_with_float64 covers the paths on the CPU"))])
def test_every_path_on_the_device_matches_the_cpu(gen, device):
    torch.manual_seed(0)
    cpu = randomize_parameters(MultiHeadAttention(D_MODEL, N_HEADS), gen)
    x = torch.randn(2, 6, D_MODEL, generator=gen)
    memory = torch.randn(2, 9, D_MODEL, generator=gen)
    tokens = torch.tensor([[3, 4, 5, 6, 7, 8], [3, 4, 5, 0, 0, 0]])
    with torch.no_grad():
        expected = _every_path(cpu, x, memory, tokens)
        moved = MultiHeadAttention(D_MODEL, N_HEADS).to(device)
        moved.load_state_dict(cpu.state_dict())
        got = _every_path(moved, x.to(device), memory.to(device), tokens.to(device))
    for path, out in got.items():
        assert out.device.type == device, path
        torch.testing.assert_close(out.cpu(), expected[path], atol=1e-4, rtol=1e-3, msg=path)


def test_float32_paths_agree_with_float64(gen):
    # Every path (fused, packed, causal kernel, written out) in float32 against the same module in float64:
    # each keeps the dtype of its inputs and loses no more than float32 rounding.
    mha = randomize_parameters(MultiHeadAttention(D_MODEL, N_HEADS), gen)
    x = torch.randn(2, 6, D_MODEL, generator=gen)
    memory = torch.randn(2, 9, D_MODEL, generator=gen)
    tokens = torch.tensor([[3, 4, 5, 6, 7, 8], [3, 4, 5, 0, 0, 0]])
    with torch.no_grad():
        single = _every_path(mha, x, memory, tokens)
        double = _every_path(mha.double(), x.double(), memory.double(), tokens)
    for path, out in single.items():
        assert out.dtype == torch.float32, path
        assert torch.isfinite(out).all(), path
        torch.testing.assert_close(out.double(), double[path], atol=1e-5, rtol=1e-4, msg=path)
    paths = list(double.values())
    torch.testing.assert_close(paths[2], paths[5])  # the fused and the written-out padding paths agree


@pytest.mark.parametrize("bias", [True, False])
def test_packed_self_attention_projection_equals_separate_projections(gen, bias):
    ours, _ = _pair(bias=bias)
    x = torch.randn(2, 6, D_MODEL, generator=gen, dtype=torch.float64)
    packed, _ = ours(x, x, x)                      # query is key is value: one packed matmul
    separate, _ = ours(x, x.clone(), x.clone())    # three projections
    torch.testing.assert_close(packed, separate)
    causal_fast, _ = ours(x, x, x, is_causal=True)  # the kernel's own causal mask
    causal_explicit, _ = ours(x, x, x, mask=causal_mask(6), need_weights=True)
    torch.testing.assert_close(causal_fast, causal_explicit)
