import pytest
import torch

from transformer_course.transformer import Transformer


def _model(seed=0):
    torch.manual_seed(seed)
    return Transformer(src_vocab=20, tgt_vocab=15, d_model=32, n_heads=4, n_layers=2, dropout=0.0).eval()


def test_shapes_and_loss_ignores_padding(gen):
    model = _model()
    src = torch.randint(3, 20, (3, 9), generator=gen)
    tgt = torch.randint(3, 15, (3, 6), generator=gen)
    assert model(src, tgt[:, :-1]).shape == (3, 5, 15)
    tgt_padded = torch.cat([tgt, torch.zeros(3, 2, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model.loss(src, tgt), model.loss(src, tgt_padded))


def test_future_target_tokens_do_not_change_earlier_logits(gen):
    model = _model()
    src = torch.randint(3, 20, (2, 8), generator=gen)
    tgt = torch.randint(3, 15, (2, 6), generator=gen)
    changed = tgt.clone()
    changed[:, 4:] = (tgt[:, 4:] + 1) % 15
    a, b = model(src, tgt), model(src, changed)
    torch.testing.assert_close(a[:, :4], b[:, :4])
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_source_padding_does_not_change_outputs(gen):
    model = _model()
    src = torch.randint(3, 20, (1, 6), generator=gen)
    tgt = torch.randint(3, 15, (1, 5), generator=gen)
    padded = torch.cat([src, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model(src, tgt), model(padded, tgt), atol=1e-5, rtol=1e-5)


def test_greedy_decode_learns_to_copy():
    torch.manual_seed(0)
    model = Transformer(src_vocab=12, tgt_vocab=12, d_model=32, n_heads=4, n_layers=1, dropout=0.0, norm_first=True)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(500):
        body = torch.randint(3, 12, (32, 5), generator=gen)
        tgt = torch.cat([torch.ones(32, 1, dtype=torch.long), body, torch.full((32, 1), 2)], dim=1)
        loss = model.loss(body, tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src = torch.randint(3, 12, (16, 5), generator=gen)
    out = model.greedy_decode(src, max_len=8, bos_id=1, eos_id=2)
    assert (out[:, :5] == src).float().mean() > 0.9
    assert (out[:, 5] == 2).all()


def test_greedy_decode_is_the_argmax_of_teacher_forcing(gen):
    model = _model()
    src = torch.randint(3, 20, (4, 7), generator=gen)
    # an EOS id the model never produces: no row stops, every position is a real choice
    out = model.greedy_decode(src, max_len=5, bos_id=1, eos_id=-1)
    assert out.shape == (4, 5)
    tgt_in = torch.cat([torch.ones(4, 1, dtype=torch.long), out[:, :-1]], dim=1)
    memory, src_mask = model.encode(src)
    torch.testing.assert_close(model.decoder(tgt_in, memory, memory_mask=src_mask).argmax(-1), out)


@torch.no_grad()
def test_greedy_decode_pads_after_eos_with_the_models_pad_id_and_stops_when_all_rows_end(gen):
    torch.manual_seed(3)
    model = Transformer(src_vocab=12, tgt_vocab=9, d_model=16, n_heads=2, n_layers=1, dropout=0.0,
                        pad_id=3).double().eval()
    with torch.no_grad():
        model.decoder.lm_head.weight.mul_(4.0)
    src = torch.randint(4, 12, (6, 5), generator=gen)
    free = model.greedy_decode(src, 8, bos_id=1, eos_id=-1)              # no row stops: 8 real choices
    eos = int(free[0, 2])                                                 # row 0 ends at step 3 at the latest
    out = model.greedy_decode(src, 8, bos_id=1, eos_id=eos)
    ends = []
    for row, unstopped in zip(out.tolist(), free.tolist()):
        end = row.index(eos) + 1 if eos in row else len(row)
        assert row[:end] == unstopped[:end], "before its EOS a row makes the same choices as without one"
        assert all(t == model.pad_id for t in row[end:]), f"pad id 3 expected after EOS, got {row}"
        ends.append(end)
    assert max(ends) == out.shape[1], "no column may be padding in every row"
    finished = [i for i, row in enumerate(out.tolist()) if eos in row]
    assert 0 < len(finished) < len(ends), "the test needs finished and unfinished rows"
    early = model.greedy_decode(src[finished], 8, bos_id=1, eos_id=eos)
    assert early.shape[1] == max(ends[i] for i in finished) < 8, "the loop must stop once every row has ended"


def _peaked_model(seed=0, vocab=7):
    """A small random model whose next-token distributions are far from uniform (a real search problem)."""
    torch.manual_seed(seed)
    model = Transformer(src_vocab=10, tgt_vocab=vocab, d_model=16, n_heads=2, n_layers=1, dropout=0.0).double().eval()
    with torch.no_grad():
        model.decoder.lm_head.weight.mul_(4.0)
    return model


def test_beam_search_with_one_beam_is_greedy_and_returns_the_same_type(gen):
    model = _peaked_model()
    src = torch.randint(3, 10, (5, 6), generator=gen)
    for eos in (3, 4, 5):
        greedy = model.greedy_decode(src, 6, bos_id=1, eos_id=eos)
        beam = model.beam_search(src, 6, bos_id=1, eos_id=eos, beam_size=1)
        assert beam.dtype == greedy.dtype == torch.long
        torch.testing.assert_close(beam, greedy)


def _exhaustive_best(model, src, max_len, eos):
    """The most likely sequence of at most max_len tokens (ending at EOS, or of length max_len)."""
    import itertools
    vocab = model.decoder.lm_head.out_features
    candidates = [seq + (model.pad_id,) * (max_len - len(seq))
                  for length in range(1, max_len + 1) for seq in itertools.product(range(vocab), repeat=length)
                  if eos not in seq[:-1] and (length == max_len or seq[-1] == eos)]
    scores = model.log_prob(src.expand(len(candidates), -1), torch.tensor(candidates), bos_id=1, eos_id=eos)
    best = int(scores.argmax())
    return float(scores[best]), candidates[best]


def test_a_wide_beam_finds_the_most_likely_sequence_and_never_loses_to_a_narrow_one(gen):
    hits = 0
    for seed in range(3):
        model = _peaked_model(seed, vocab=5)
        src = torch.randint(3, 10, (1, 6), generator=gen)
        score, seq = _exhaustive_best(model, src, 3, eos=4)
        wide = model.beam_search(src, 3, bos_id=1, eos_id=4, beam_size=5)
        assert float(model.log_prob(src, wide, 1, 4)) == pytest.approx(score, abs=1e-9)
        hits += wide[0].tolist() == list(seq[:wide.shape[1]]) and all(t == model.pad_id for t in seq[wide.shape[1]:])
    assert hits == 3


def test_beam_search_pads_after_eos_and_trims_to_the_longest_row(gen):
    model = _peaked_model(1)
    src = torch.randint(3, 10, (6, 5), generator=gen)
    out = model.beam_search(src, 8, bos_id=1, eos_id=3, beam_size=3)
    assert out.shape[0] == 6 and 1 <= out.shape[1] <= 8
    lengths = []
    for row in out.tolist():
        if 3 in row:
            end = row.index(3) + 1
            assert all(t == model.pad_id for t in row[end:]), row
            lengths.append(end)
        else:
            lengths.append(len(row))
    assert max(lengths) == out.shape[1], "no column may be padding in every row"
    # beam scores are never worse than greedy's by more than the search can lose, and usually better
    greedy = model.greedy_decode(src, 8, bos_id=1, eos_id=3)
    gain = model.log_prob(src, out, 1, 3) - model.log_prob(src, greedy, 1, 3)
    assert (gain > -1e-9).float().mean() >= 0.5


@torch.no_grad()
def test_log_prob_ignores_what_follows_eos_and_matches_the_decoding_loop(gen):
    model = _peaked_model(2)
    src = torch.randint(3, 10, (3, 6), generator=gen)
    tokens = torch.tensor([[5, 6, 3, 0, 0], [4, 3, 0, 0, 0], [6, 6, 5, 4, 5]])
    lp = model.log_prob(src, tokens, bos_id=1, eos_id=3)
    changed = tokens.clone()
    changed[0, 3:] = 6                                      # after row 0's EOS
    torch.testing.assert_close(model.log_prob(src, changed, 1, 3), lp)
    # the same number, one decoder call per token as in the loops
    memory, mask = model.encode(src[2:3])
    prefix, total = torch.tensor([[1]]), 0.0
    for t in tokens[2].tolist():  # a row without EOS: every token counts
        total += float(model.decoder(prefix, memory, memory_mask=mask)[0, -1].log_softmax(-1)[t])
        prefix = torch.cat([prefix, torch.tensor([[t]])], dim=1)
    assert float(lp[2]) == pytest.approx(total, abs=1e-9)


def test_decoding_validates_its_arguments():
    model = _model()
    src = torch.randint(3, 20, (2, 5))
    with pytest.raises(ValueError, match="max_len: expected a positive int, got 0"):
        model.greedy_decode(src, 0, 1, 2)
    with pytest.raises(ValueError, match=r"src: expected shape \(B, S\), got \(5,\)"):
        model.beam_search(src[0], 4, 1, 2)
    with pytest.raises(ValueError, match="beam_size: expected an int from 1 to the vocabulary size 15, got 16"):
        model.beam_search(src, 4, 1, 2, beam_size=16)
    with pytest.raises(ValueError, match=r"tokens: expected shape \(2, T\)"):
        model.log_prob(src, torch.zeros(3, 4, dtype=torch.long), 1, 2)


def test_scaled_token_embeddings_start_as_loud_as_the_positions():
    model = _model()
    for embed in (model.encoder.embed, model.decoder.embed):
        std = (embed.tokens.weight * embed.scale).std().item()
        assert 0.8 < std < 1.2
