"""Attention modules, the RNN encoder-decoder, and greedy decoding."""
import pytest
import torch

from transformer_course import seq2seq


B, S, D = 3, 5, 4


def _attentions():
    return {
        "additive": seq2seq.AdditiveAttention(D, D + 2, 7).double(),
        "dot": seq2seq.DotAttention(),
        "general": seq2seq.GeneralAttention(D, D + 2).double(),
    }


def _inputs(kind):
    torch.manual_seed(0)
    key_dim = D if kind == "dot" else D + 2
    q = torch.randn(B, D, dtype=torch.float64)
    k = torch.randn(B, S, key_dim, dtype=torch.float64)
    v = torch.randn(B, S, 3, dtype=torch.float64)
    return q, k, v


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_weights_sum_to_one_and_context_is_weighted_sum(kind):
    attn = _attentions()[kind]
    q, k, v = _inputs(kind)
    context, w = attn(q, k, v)
    assert context.shape == (B, 3) and w.shape == (B, S)
    torch.testing.assert_close(w.sum(-1), torch.ones(B, dtype=torch.float64))
    assert (w >= 0).all()
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", w, v))
    context_k, _ = attn(q, k)  # values default to the keys
    torch.testing.assert_close(context_k, torch.einsum("bs,bsd->bd", w, k))


def test_scores_follow_the_papers_formulas():
    q, k, _ = _inputs("additive")
    add = _attentions()["additive"]
    expected = torch.stack([
        torch.stack([add.v.weight[0] @ torch.tanh(add.W_q.weight @ q[b] + add.W_k.weight @ k[b, s]) for s in range(S)])
        for b in range(B)])
    torch.testing.assert_close(add(q, k)[1], expected.softmax(-1))
    gen = _attentions()["general"]
    W = gen.W.weight.T  # (Dq, Dk)
    expected = torch.stack([torch.stack([q[b] @ W @ k[b, s] for s in range(S)]) for b in range(B)])
    torch.testing.assert_close(gen(q, k)[1], expected.softmax(-1))
    q, k, _ = _inputs("dot")
    torch.testing.assert_close(seq2seq.DotAttention()(q, k)[1], torch.einsum("bd,bsd->bs", q, k).softmax(-1))


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_mask_is_respected_and_fully_masked_row_is_zero(kind):
    attn = _attentions()[kind]
    q, k, v = _inputs(kind)
    mask = torch.tensor([[True, True, False, True, False],
                         [True, False, False, False, False],
                         [False] * S])
    q = q.clone().requires_grad_()
    context, w = attn(q, k, v, mask)
    assert torch.isfinite(w).all() and torch.isfinite(context).all()
    assert (w[~mask] == 0).all()
    torch.testing.assert_close(w[:2].sum(-1), torch.ones(2, dtype=torch.float64))
    torch.testing.assert_close(w[1, 0], torch.tensor(1.0, dtype=torch.float64))
    assert (w[2] == 0).all() and (context[2] == 0).all()
    # masked positions must not leak: changing them leaves the output unchanged
    v2 = v.clone()
    v2[0, 2] += 100.0
    torch.testing.assert_close(attn(q, k, v2, mask)[0], context)
    context.sum().backward()
    assert torch.isfinite(q.grad).all()


def test_luong_scores_take_one_query_or_t_queries_per_sentence():
    torch.manual_seed(0)
    q, k = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 5, 4, dtype=torch.float64)
    W = torch.randn(4, 4, dtype=torch.float64)
    torch.testing.assert_close(seq2seq.dot_score(q, k), torch.einsum("btd,bsd->bts", q, k))
    for t in range(3):  # the T-query form is the one-query form, row by row
        torch.testing.assert_close(seq2seq.dot_score(q, k)[:, t], seq2seq.dot_score(q[:, t], k))
        torch.testing.assert_close(seq2seq.general_score(q, k, W)[:, t], seq2seq.general_score(q[:, t], k, W))
    W_rect = torch.randn(4, 6, dtype=torch.float64)
    k6 = torch.randn(2, 5, 6, dtype=torch.float64)
    torch.testing.assert_close(seq2seq.general_score(q, k6, W_rect), torch.einsum("btq,qk,bsk->bts", q, W_rect, k6))


def test_attention_validates_shapes():
    attn = seq2seq.AdditiveAttention(D, 6, 7)
    with pytest.raises(ValueError, match=r"query: expected shape \(B, 4\), got \(3, 5\)"):
        attn(torch.randn(3, 5), torch.randn(3, S, 6))
    with pytest.raises(ValueError, match=r"keys: expected shape \(3, S, 6\), got \(3, 5\)"):
        attn(torch.randn(3, D), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"values: expected shape \(3, 5, Dv\), got \(3, 4, 2\)"):
        attn(torch.randn(3, D), torch.randn(3, S, 6), torch.randn(3, 4, 2))
    with pytest.raises(ValueError, match=r"mask: expected shape \(3, 5\), got \(3, 1, 5\)"):
        attn(torch.randn(3, D), torch.randn(3, S, 6), mask=torch.ones(3, 1, S, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask: expected a bool tensor"):
        attn(torch.randn(3, D), torch.randn(3, S, 6), mask=torch.ones(3, S))
    with pytest.raises(ValueError, match=r"keys: expected shape \(B, S, 4\).*got \(3, 5, 6\)"):
        seq2seq.DotAttention()(torch.randn(3, D), torch.randn(3, S, 6))


def test_encoder_shapes_and_padding_is_ignored():
    torch.manual_seed(0)
    enc = seq2seq.Encoder(vocab_size=10, emb_dim=6, hidden_size=5, bidirectional=True, pad_id=0)
    src = torch.tensor([[4, 5, 6, 0, 0], [7, 8, 9, 4, 5]])
    out, final = enc(src)
    assert out.shape == (2, 5, 10) and final.shape == (2, 10)
    assert (out[0, 3:] == 0).all()
    # the backward direction starts at the last real token, so padding changes nothing
    out_short, final_short = enc(src[:1, :3])
    torch.testing.assert_close(out[0, :3], out_short[0])
    torch.testing.assert_close(final[0], final_short[0])
    # final = [forward state after the last real token, backward state at position 0]
    torch.testing.assert_close(final[0], torch.cat([out[0, 2, :5], out[0, 0, 5:]]))


@pytest.mark.parametrize("attention", ["additive", "dot", "general", None])
def test_seq2seq_shapes(attention):
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(11, 9, emb_dim=8, hidden_size=12, attention=attention)
    src = torch.randint(3, 11, (B, S))
    tgt_in = torch.randint(3, 9, (B, 4))
    assert model(src, tgt_in).shape == (B, 4, 9)
    tokens = model.greedy_decode(src, max_len=6, bos_id=1, eos_id=2)
    assert isinstance(tokens, torch.Tensor) and tokens.dtype == torch.long
    assert tokens.shape[0] == B and tokens.shape[1] <= 6
    tgt_in = torch.cat([torch.ones(B, 1, dtype=torch.long), tokens[:, :-1]], dim=1)
    if attention is None:
        with pytest.raises(ValueError, match="alignment: this model has no attention"):
            model.alignment(src, tgt_in)
    else:
        attn = model.alignment(src, tgt_in)
        assert attn.shape == (B, tokens.shape[1], S)
        torch.testing.assert_close(attn.sum(-1), torch.ones_like(attn.sum(-1)))


def test_without_attention_the_decoder_sees_only_the_final_state():
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(11, 9, emb_dim=8, hidden_size=12, attention=None)
    memory, mask, _ = model.encode(torch.randint(3, 11, (B, S)))
    assert memory.shape == (B, 1, 12) and mask is None


def test_seq2seq_accepts_vocabularies_and_validates():
    model = seq2seq.Seq2Seq(list("abcdefgh"), 9, emb_dim=8, hidden_size=12)
    assert model.encoder.embedding.num_embeddings == 8
    with pytest.raises(ValueError, match="attention"):
        seq2seq.Seq2Seq(8, 8, attention="cosine")
    with pytest.raises(ValueError, match=r"tgt_in: expected shape \(3, T\), got \(2, 4\)"):
        model(torch.randint(3, 8, (3, 5)), torch.randint(3, 9, (2, 4)))
    with pytest.raises(ValueError, match=r"src: expected shape \(B, S\), got \(5,\)"):
        model(torch.randint(3, 8, (5,)), torch.randint(3, 9, (2, 4)))


def _reverse_task(n=8, length=4, vocab=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, vocab, (n, length), generator=g)
    tgt = torch.cat([src.flip(1), torch.full((n, 1), 2)], dim=1)  # reversed source, then EOS
    tgt_in = torch.cat([torch.full((n, 1), 1), tgt[:, :-1]], dim=1)  # BOS, shifted right
    return src, tgt_in, tgt


def test_overfits_eight_examples_and_greedy_decode_reproduces_them():
    torch.manual_seed(0)
    src, tgt_in, tgt = _reverse_task()
    model = seq2seq.Seq2Seq(8, 8, emb_dim=16, hidden_size=32, attention="additive")
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        logits = model(src, tgt_in)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 8), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    tokens = model.greedy_decode(src, max_len=10, bos_id=1, eos_id=2)
    assert tokens.shape[1] == tgt.shape[1], "decoding must stop once every row has produced EOS"
    assert torch.equal(tokens, tgt)
    # the alignment of the reversal is the anti-diagonal, read off a teacher-forced pass
    weights = model.alignment(src, torch.cat([torch.ones(8, 1, dtype=torch.long), tokens[:, :-1]], dim=1))
    assert weights.shape == (8, 5, 4)


def test_greedy_decode_pads_after_eos_and_stops_at_max_len():
    torch.manual_seed(0)
    model = seq2seq.Seq2Seq(8, 8, emb_dim=8, hidden_size=8, attention="dot")
    src = torch.randint(3, 8, (2, 4))
    with torch.no_grad():
        model.decoder.out.weight.zero_()
        model.decoder.out.bias.copy_(torch.arange(8.0))  # always predicts 7, never EOS
    tokens = model.greedy_decode(src, max_len=5, bos_id=1, eos_id=2)
    assert tokens.shape == (2, 5) and (tokens == 7).all()
    tokens = model.greedy_decode(src, max_len=5, bos_id=1, eos_id=7)
    assert tokens.shape == (2, 1)
    # one row finishes first: the other keeps going, the finished one is padded
    with torch.no_grad():
        model.decoder.out.bias.zero_()
        model.decoder.out.bias[2] = 5.0
        model.decoder.embedding.weight[2].zero_()
    original_step = model.decoder.step
    calls = []

    def scripted_step(y_prev, hidden, enc_outputs, src_mask):
        logits, hidden, w = original_step(y_prev, hidden, enc_outputs, src_mask)
        calls.append(1)
        script = torch.tensor([[3, 2], [4, 5], [2, 6]][len(calls) - 1])  # row 1 stops at step 2, row 0 at 3
        return torch.nn.functional.one_hot(script, 8).float() * 10, hidden, w

    model.decoder.step = scripted_step
    tokens = model.greedy_decode(src, max_len=9, bos_id=1, eos_id=2)
    assert tokens.tolist() == [[3, 4, 2], [2, 0, 0]]


def test_decoder_step_validates_shapes():
    dec = seq2seq.AttentionDecoder(9, 8, 12, 10, seq2seq.AdditiveAttention(12, 10, 6))
    with pytest.raises(ValueError, match=r"hidden: expected shape \(2, 12\), got \(2, 10\)"):
        dec.step(torch.tensor([1, 1]), torch.zeros(2, 10), torch.zeros(2, 5, 10))
    with pytest.raises(ValueError, match=r"enc_outputs: expected shape \(2, S, 10\), got \(2, 5, 12\)"):
        dec.step(torch.tensor([1, 1]), torch.zeros(2, 12), torch.zeros(2, 5, 12))
    plain = seq2seq.AttentionDecoder(9, 8, 12, 10, None)
    with pytest.raises(ValueError, match=r"enc_outputs: expected shape \(2, 1, 10\), got \(2, 5, 10\)"):
        plain.step(torch.tensor([1, 1]), torch.zeros(2, 12), torch.zeros(2, 5, 10))
