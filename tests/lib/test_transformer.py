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
    src = torch.randint(3, 20, (2, 7), generator=gen)
    out = model.greedy_decode(src, max_len=5, bos_id=1, eos_id=2)
    tgt_in = torch.cat([torch.ones(2, 1, dtype=torch.long), out[:, :-1]], dim=1)
    torch.testing.assert_close(model(src, tgt_in).argmax(-1)[out.ne(0).all(1)], out[out.ne(0).all(1)])


def test_scaled_token_embeddings_start_as_loud_as_the_positions():
    model = _model()
    for embed in (model.encoder.embed, model.decoder.embed):
        std = (embed.tokens.weight * embed.scale).std().item()
        assert 0.8 < std < 1.2
