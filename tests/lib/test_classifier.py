"""The sequence classifier: three ways to read a sentence vector, keyword-only arguments, masked mean pooling."""
import pytest
import torch
import torch.nn.functional as F

from transformer_course.bert import POOLINGS, BertConfig, BertForSequenceClassification, BertModel, mean_pool
from transformer_course.grading import randomize_parameters

SMALL = dict(vocab_size=40, hidden_size=24, num_hidden_layers=1, num_attention_heads=3, intermediate_size=40,
             max_position_embeddings=12, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=7)


def batch(gen):
    ids = torch.randint(0, 40, (3, 9), generator=gen)
    mask = (torch.arange(9) < torch.tensor([[9], [5], [2]])).long()
    return ids.masked_fill(mask == 0, 7), mask


def test_mean_pool_ignores_padding(gen):
    hidden = torch.randn(3, 9, 24, generator=gen, dtype=torch.float64)
    _, mask = batch(gen)
    pooled = mean_pool(hidden, mask)
    for b, n in enumerate((9, 5, 2)):
        torch.testing.assert_close(pooled[b], hidden[b, :n].mean(0))
    torch.testing.assert_close(mean_pool(hidden, mask.bool()), pooled)
    torch.testing.assert_close(mean_pool(hidden), hidden.mean(1))
    assert torch.equal(mean_pool(hidden, torch.zeros(3, 9)), torch.zeros(3, 24, dtype=torch.float64))  # no NaN
    with pytest.raises(ValueError, match=r"attention_mask: expected shape \(3, 9\) .*got \(3, 8\)"):
        mean_pool(hidden, mask[:, :8])


@pytest.mark.parametrize("pooling", POOLINGS)
def test_each_pooling_reads_its_own_vector(gen, pooling):
    torch.manual_seed(0)
    config = BertConfig(**SMALL)
    clf = randomize_parameters(BertForSequenceClassification(config, 3, pooling=pooling), gen).eval()
    ids, mask = batch(gen)
    hidden, pooled = clf.bert(ids, attention_mask=mask)
    vector = {"pooler": pooled, "cls": hidden[:, 0], "mean": mean_pool(hidden, mask)}[pooling]
    labels = torch.tensor([2, 0, 2])
    logits, loss = clf(ids, attention_mask=mask, labels=labels)
    torch.testing.assert_close(logits, clf.classifier(vector))
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    torch.testing.assert_close(clf.sentence_vector(ids, attention_mask=mask), vector)
    # padding never changes a sentence's logits: the short sentence alone, unpadded, gives the same
    alone, _ = clf(ids[2:, :2], attention_mask=mask[2:, :2])
    torch.testing.assert_close(alone, logits[2:], atol=1e-5, rtol=1e-5)


def test_arguments_after_input_ids_are_keyword_only(gen):
    clf = BertForSequenceClassification(BertConfig(**SMALL), 2)
    ids, mask = batch(gen)
    with pytest.raises(TypeError, match="positional"):
        clf(ids, mask)
    types = torch.ones_like(ids)
    logits, loss = clf.eval()(ids, attention_mask=mask, token_type_ids=types)
    assert loss is None
    torch.testing.assert_close(logits, clf.classifier(clf.bert(ids, types, mask)[1]))


def test_options_and_their_errors():
    config = BertConfig(**SMALL)
    assert BertForSequenceClassification(config, 2, pooling="mean").bert.pooler is None  # no unused parameters
    clf = BertForSequenceClassification(config, 4, dropout=0.3)
    assert clf.dropout.p == 0.3 and clf.classifier.out_features == 4 and clf.pooling == "pooler"
    assert BertForSequenceClassification(BertConfig(**{**SMALL, "hidden_dropout_prob": 0.2})).dropout.p == 0.2
    with pytest.raises(ValueError, match=r"pooling: expected one of \('pooler', 'cls', 'mean'\), got 'max'"):
        BertForSequenceClassification(config, 2, pooling="max")
    with pytest.raises(ValueError, match="num_labels: expected a positive int, got 0"):
        BertForSequenceClassification(config, 0)
    no_pooler = BertModel(config, add_pooling_layer=False)
    with pytest.raises(ValueError, match="bert: pooling='pooler' needs a BertModel with a pooler"):
        BertForSequenceClassification.from_bert(no_pooler)
    shared = BertForSequenceClassification.from_bert(no_pooler.double(), 2, pooling="cls")
    assert shared.bert is no_pooler and shared.classifier.weight.dtype == torch.float64


def test_gradients_reach_the_encoder_from_every_pooling(gen):
    ids, mask = batch(gen)
    for pooling in POOLINGS:
        clf = BertForSequenceClassification(BertConfig(**SMALL), 2, pooling=pooling)
        clf(ids, attention_mask=mask, labels=torch.tensor([0, 1, 1]))[1].backward()
        assert clf.bert.embeddings.word_embeddings.weight.grad.abs().sum() > 0, pooling
        pooler_grad = clf.bert.pooler.weight.grad if clf.bert.pooler is not None else None
        assert (pooler_grad is not None) == (pooling == "pooler")
