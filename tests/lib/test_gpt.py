"""GPT: equivalence with Hugging Face GPT-2, causality, the KV cache, sampling filters, sizes, errors."""
import pytest
import torch

from transformer_course.gpt import (GPT, IGNORE_INDEX, Block, GPTConfig, config_from_hf_gpt2, filter_logits,
                                    gpt_parameter_count, gpt_state_dict_from_hf, lm_loss, sample_next, top_k_filter,
                                    top_p_filter)

VOCAB, CONTEXT = 61, 24


def small_config(**overrides):
    defaults = {"vocab_size": VOCAB, "block_size": CONTEXT, "n_layer": 2, "n_head": 4, "n_embd": 32}
    return GPTConfig(**{**defaults, **overrides})


@pytest.fixture(scope="module")
def pair(transformers):
    """A random small GPT-2 from transformers and our GPT holding the same weights."""
    torch.manual_seed(0)
    hf_config = transformers.GPT2Config(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=32, n_layer=2, n_head=4,
                                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                                        bos_token_id=0, eos_token_id=0, pad_token_id=0)
    hf = transformers.GPT2LMHeadModel(hf_config).eval()
    ours = GPT(config_from_hf_gpt2(hf_config)).load_hf_gpt2_state_dict(hf.state_dict()).eval()
    return ours, hf


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(1)
    return GPT(small_config()).eval()


def test_same_logits_as_hf_gpt2(pair, gen):
    ours, hf = pair
    idx = torch.randint(0, VOCAB, (3, CONTEXT), generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(ours(idx)[0], hf(idx).logits, atol=1e-5, rtol=1e-5)


def test_same_loss_and_gradients_as_hf_gpt2(pair, gen):
    ours, hf = pair
    idx = torch.randint(0, VOCAB, (2, 12), generator=gen)
    # HF shifts the labels itself; ours takes targets already aligned (-100 = ignore the last position).
    targets = torch.cat([idx[:, 1:], torch.full((2, 1), IGNORE_INDEX)], dim=1)
    ours.zero_grad(), hf.zero_grad()
    _, loss = ours(idx, targets)
    hf_loss = hf(idx, labels=idx).loss
    torch.testing.assert_close(loss, hf_loss, atol=1e-6, rtol=1e-5)
    loss.backward(), hf_loss.backward()
    grads = gpt_state_dict_from_hf({k: p.grad for k, p in hf.named_parameters()}, ours.config)
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, grads[name], atol=1e-6, rtol=1e-4, msg=lambda m, name=name: f"{name}: {m}")


def test_same_greedy_tokens_as_hf_gpt2(pair, gen):
    ours, hf = pair
    prompt = torch.randint(0, VOCAB, (2, 5), generator=gen)
    want = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=10, do_sample=False,
                       pad_token_id=0, eos_token_id=None)
    for use_cache in (True, False):
        assert torch.equal(ours.generate(prompt, 10, temperature=0, use_cache=use_cache), want)


def test_weights_are_tied_and_counted_once(model):
    assert model.lm_head.weight is model.wte.weight
    untied = GPT(small_config(tie_weights=False))
    assert untied.num_parameters() == model.num_parameters() + VOCAB * 32


@pytest.mark.parametrize("overrides", [{}, {"bias": False}, {"tie_weights": False}, {"n_layer": 3, "n_embd": 48}])
def test_parameter_formula_matches_the_module(overrides):
    cfg = small_config(**overrides)
    formula = gpt_parameter_count(cfg.vocab_size, cfg.block_size, cfg.n_layer, cfg.n_embd,
                                  tie_weights=cfg.tie_weights, bias=cfg.bias)
    assert formula == GPT(cfg).num_parameters()


def test_gpt1_has_about_117m_parameters():
    # GPT-1: 40,478 BPE tokens, 512 positions, 12 layers of width 768 (FFN 3072), tied read-out.
    count = gpt_parameter_count(vocab_size=40478, block_size=512, n_layer=12, n_embd=768)
    assert abs(count - 117e6) / 117e6 < 0.02, count


def test_future_tokens_never_change_earlier_logits(model, gen):
    idx = torch.randint(0, VOCAB, (2, 16), generator=gen)
    changed = idx.clone()
    changed[:, 9:] = torch.randint(0, VOCAB, (2, 7), generator=gen)
    with torch.no_grad():
        a, b = model(idx)[0], model(changed)[0]
    torch.testing.assert_close(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_logits_for_every_position_and_loss_ignores_minus_100(model, gen):
    idx = torch.randint(0, VOCAB, (2, 7), generator=gen)
    logits, loss = model(idx)
    assert logits.shape == (2, 7, VOCAB) and loss is None
    targets = torch.randint(0, VOCAB, (2, 7), generator=gen)
    masked = targets.clone()
    masked[:, 3:] = -100
    assert IGNORE_INDEX == -100  # torch's and Hugging Face's value: labels made for either work here
    want = torch.nn.functional.cross_entropy(logits[:, :3].reshape(-1, VOCAB), targets[:, :3].reshape(-1))
    torch.testing.assert_close(model(idx, masked)[1], want)


def test_lm_loss_is_the_forward_loss_with_shifted_targets(model, gen):
    idx = torch.randint(0, VOCAB, (3, 9), generator=gen)
    targets = torch.cat([idx[:, 1:], torch.full((3, 1), IGNORE_INDEX)], dim=1)
    logits, loss = model(idx, targets)
    torch.testing.assert_close(lm_loss(logits, idx), loss)
    with pytest.raises(ValueError, match="logits, idx"):
        lm_loss(logits, idx[:, :-1])


def test_block_is_a_causal_pre_norm_layer(gen):
    block = Block(small_config()).eval()
    x = torch.randn(2, 6, 32, generator=gen)
    with torch.no_grad():
        h = x + block.self_attn(*(block.norm1(x),) * 3, is_causal=True)[0]
        want = h + block.ff(block.norm2(h))
        torch.testing.assert_close(block(x), want)


def test_kv_cache_gives_the_same_logits_step_by_step(model, gen):
    idx = torch.randint(0, VOCAB, (2, 10), generator=gen)
    with torch.no_grad():
        full = model(idx)[0]
        cache = model.new_kv_cache()
        steps = [model(idx[:, :4], kv_cache=cache)[0]]
        steps += [model(idx[:, t:t + 1], kv_cache=cache)[0] for t in range(4, 10)]
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)
    assert len(cache[0]) == 10 and cache[0].k.shape == (2, 4, 10, 8)


@pytest.mark.parametrize("prompt_len,new", [(3, 15), (5, 40)])  # 40: past block_size, the window slides
def test_kv_cache_gives_identical_tokens(model, prompt_len, new):
    prompt = torch.randint(0, VOCAB, (2, prompt_len), generator=torch.Generator().manual_seed(7))
    greedy = [model.generate(prompt, new, temperature=0, use_cache=c) for c in (True, False)]
    assert torch.equal(*greedy) and greedy[0].shape == (2, prompt_len + new)
    sampled = [model.generate(prompt, new, temperature=1.0, top_k=20, top_p=0.95, use_cache=c,
                              generator=torch.Generator().manual_seed(3)) for c in (True, False)]
    assert torch.equal(*sampled)
    assert torch.equal(sampled[0][:, :prompt_len], prompt)


def test_generate_restores_training_mode(gen):
    m = GPT(small_config(dropout=0.1)).train()
    m.generate(torch.zeros(1, 1, dtype=torch.long), 2)
    assert m.training
    m.eval().generate(torch.zeros(1, 1, dtype=torch.long), 2)
    assert not m.training


def test_generate_restores_training_mode_when_interrupted():
    m = GPT(small_config(dropout=0.1)).train()
    calls = []

    def fail_on_third_call(module, inputs):
        calls.append(module.training)
        if len(calls) == 3:
            raise RuntimeError("interrupted")
    m.wte.register_forward_pre_hook(fail_on_third_call)
    with pytest.raises(RuntimeError, match="interrupted"):
        m.generate(torch.zeros(1, 1, dtype=torch.long), 5)
    assert calls == [False, False, False] and m.training


def test_generate_feeds_one_token_per_step_with_the_cache_and_slides_the_window(model):
    fed = []
    handle = model.wte.register_forward_pre_hook(lambda module, inputs: fed.append(inputs[0].shape[1]))
    try:
        model.generate(torch.zeros(1, 20, dtype=torch.long), 8, temperature=0, use_cache=True)
        with_cache, fed[:] = list(fed), []
        model.generate(torch.zeros(1, 20, dtype=torch.long), 8, temperature=0, use_cache=False)
    finally:
        handle.remove()
    # The fifth step fills the cache (24 = block_size); from then on the window slides and is recomputed.
    assert with_cache == [20, 1, 1, 1, 1, 24, 24, 24]
    assert fed == [20, 21, 22, 23, 24, 24, 24, 24]


def test_top_k_filter_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 5.0, 3.0, 4.0, 2.0], [0.0, -1.0, 2.0, 2.0, 1.0]])
    kept = torch.isfinite(top_k_filter(logits, 2))
    assert kept.tolist() == [[False, True, False, True, False], [False, False, True, True, False]]
    assert torch.equal(top_k_filter(logits, 2)[kept], logits[kept])
    assert torch.isfinite(top_k_filter(logits, 100)).all()


def test_top_p_filter_keeps_the_nucleus():
    probs = torch.tensor([[0.05, 0.5, 0.2, 0.25], [0.97, 0.01, 0.01, 0.01]])
    logits = probs.log()
    # 0.5 alone < 0.6, 0.5 + 0.25 >= 0.6: keep two. The top token always survives.
    kept = [[False, True, False, True], [True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.6)).tolist() == kept
    kept = [[False, True, True, True], [True, False, False, False]]
    assert torch.isfinite(top_p_filter(logits, 0.9)).tolist() == kept
    assert torch.isfinite(top_p_filter(logits, 1.0)).all()
    assert torch.isfinite(top_p_filter(logits, 0.01)).sum(dim=1).tolist() == [1, 1]


def test_filter_logits_tempers_then_top_k_then_top_p_on_renormalised_probabilities():
    logits = torch.tensor([[0.4, 0.3, 0.2, 0.1]]).log()
    kept = lambda **kw: torch.isfinite(filter_logits(logits, **kw))[0].tolist()  # noqa: E731
    # After top-3 the renormalised probabilities are 0.44, 0.33, 0.22: the first two hold 0.78 >= 0.75.
    assert kept(top_k=3, top_p=0.75) == [True, True, False, False]
    # At temperature 0.5 the probabilities are 0.53, 0.30, 0.13, 0.03: the first two hold 0.83 >= 0.75.
    assert kept(top_p=0.75) == [True, True, True, False]
    assert kept(temperature=0.5, top_p=0.75) == [True, True, False, False]
    torch.testing.assert_close(filter_logits(logits, 0.5, top_k=2), top_k_filter(logits / 0.5, 2))
    assert kept(top_k=9) == [True] * 4 and kept(top_p=0.01) == [True, False, False, False]


def test_filter_logits_keeps_ties_leaves_its_input_alone_and_refuses_temperature_0():
    logits = torch.tensor([[2.0, 1.0, 2.0, 0.0], [0.5, 0.5, 0.5, 0.5]])
    before = logits.clone()
    assert torch.isfinite(filter_logits(logits, top_k=1)).tolist() == [[True, False, True, False], [True] * 4]
    assert torch.equal(logits, before)
    with pytest.raises(ValueError, match="temperature.*greedy"):
        filter_logits(logits, temperature=0)
    assert filter_logits(logits.double(), 2.0).dtype == torch.float64


def test_sample_next_respects_the_filters_and_temperature(gen):
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.9]]).repeat(500, 1)
    assert set(sample_next(logits, 1.0, top_k=2, generator=gen).unique().tolist()) == {1, 3}
    assert set(sample_next(logits, 1.0, top_p=0.5, generator=gen).unique().tolist()) == {1, 3}
    assert torch.equal(sample_next(logits, 0), logits.argmax(-1, keepdim=True))
    assert torch.equal(sample_next(logits, 1e-4, generator=gen), logits.argmax(-1, keepdim=True))
    assert sample_next(logits, 1.0, generator=gen).shape == (500, 1)


def test_temperature_towards_zero_is_greedy(model, gen):
    prompt = torch.randint(0, VOCAB, (2, 4), generator=gen)
    greedy = model.generate(prompt, 8, temperature=0)
    assert torch.equal(model.generate(prompt, 8, temperature=1e-6, generator=gen), greedy)


def test_hf_mapping_without_prefix_and_untied_head(pair):
    ours, hf = pair
    bare = {k.removeprefix("transformer."): v for k, v in hf.transformer.state_dict().items()}
    mapped = gpt_state_dict_from_hf(bare, ours.config)
    assert set(mapped) == set(ours.state_dict())


def test_configure_optimizer_decays_only_matrices(model):
    opt = model.configure_optimizer(weight_decay=0.1, lr=1e-3)
    decayed = {id(p) for g in opt.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    assert all((id(p) in decayed) == (p.dim() >= 2) for p in model.parameters())
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


@pytest.mark.parametrize("idx,words", [
    (torch.zeros(1, CONTEXT + 1, dtype=torch.long), ["idx", "(1, 25)", "block_size = 24"]),
    (torch.zeros(CONTEXT, dtype=torch.long), ["idx", "(B, T)", "(24,)"]),
    (torch.zeros(1, 2, 3, dtype=torch.long), ["idx", "(B, T)", "(1, 2, 3)"]),
    (torch.zeros(1, 3), ["idx", "integer", "(1, 3)"]),
])
def test_bad_idx_raises(model, idx, words):
    for call in (lambda: model(idx), lambda: model.generate(idx, 1)):
        with pytest.raises(ValueError) as err:
            call()
        assert all(w in str(err.value) for w in words), str(err.value)


def test_cache_overflow_and_bad_targets_raise(model):
    cache = model.new_kv_cache()
    model(torch.zeros(1, CONTEXT - 1, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match=r"idx: got shape \(1, 2\) after 23 cached.*block_size = 24"):
        model(torch.zeros(1, 2, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match=r"targets: expected shape \(1, 4\).*got \(1, 3\)"):
        model(torch.zeros(1, 4, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long))


@pytest.mark.parametrize("kwargs,name", [
    ({"temperature": -1.0}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"top_k": 0}, "top_k"), ({"top_k": 2.5}, "top_k"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"),
    ({"max_new_tokens": -1}, "max_new_tokens"),
])
def test_bad_sampling_arguments_raise(model, kwargs, name):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=name):
        model.generate(torch.zeros(1, 1, dtype=torch.long), **kwargs)
    if name != "max_new_tokens":
        with pytest.raises(ValueError, match=name):
            sample_next(torch.zeros(1, 5), **{k: v for k, v in kwargs.items() if k != "max_new_tokens"})


@pytest.mark.parametrize("kwargs,name", [({"n_embd": 30}, "n_head"), ({"vocab_size": 0}, "vocab_size")])
def test_bad_config_raises(kwargs, name):
    with pytest.raises(ValueError, match=name):
        small_config(**kwargs)
