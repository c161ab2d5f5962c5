"""The synthetic data sets: deterministic, well formed, and as hard as they claim to be."""
import datetime as dt
import re
from collections import Counter, defaultdict

import pytest
import torch

from transformer_course import data

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]


def test_dates_are_deterministic_and_seed_dependent():
    assert data.make_dates(50, seed=3) == data.make_dates(50, seed=3)
    assert data.make_dates(50, seed=3) != data.make_dates(50, seed=4)
    assert data.make_dates(10, seed=3) == data.make_dates(50, seed=3)[:10]


def test_dates_iso_is_valid_and_in_range():
    pairs = data.make_dates(500, seed=0)
    for _, iso in pairs:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso), iso
        assert data.DATE_MIN <= dt.date.fromisoformat(iso) <= data.DATE_MAX
    formats_seen = {_shape(h) for h, _ in pairs}
    assert len(formats_seen) >= 10, "human formats should vary"
    lengths = [len(h) for h, _ in pairs]
    assert min(lengths) <= 10 and max(lengths) >= 30


def _shape(text):
    return re.sub(r"[a-z]+", "a", re.sub(r"[A-Z]", "A", re.sub(r"\d", "9", text)))


def _parse(human):
    """An independent reader for the formats with numbers only, and for '... 21st of November 2026'."""
    if m := re.fullmatch(r"(\d\d)/(\d\d)/(\d\d)", human):
        year = int(m[3]) + (1900 if int(m[3]) >= 50 else 2000)
        return dt.date(year, int(m[1]), int(m[2]))
    if m := re.fullmatch(r"(\d\d)\.(\d\d)\.(\d{4})", human):
        return dt.date(int(m[3]), int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{4})\.(\d\d)\.(\d\d)", human):
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.search(r"(\d+)(st|nd|rd|th) of (\w+),? (\d{4})", human):
        return dt.date(int(m[4]), MONTHS.index(m[3].lower()) + 1, int(m[1]))
    return None


def test_human_text_denotes_the_iso_date():
    checked = Counter()
    for human, iso in data.make_dates(600, seed=1):
        parsed = _parse(human)
        if parsed is not None:
            assert parsed.isoformat() == iso, (human, iso)
            checked[_shape(human)[:4]] += 1
        for i, name in enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]):
            if name.lower() in human.lower() or re.match(name[:3] + " ", human):
                assert dt.date.fromisoformat(iso).weekday() == i, (human, iso)
    assert sum(checked.values()) > 100 and len(checked) >= 4


def test_format_date_examples_from_the_course():
    d = dt.date(2026, 11, 21)
    texts = {data.format_date(d, i) for i in range(data.DATE_FORMAT_COUNT)}
    for expected in ["Saturday, 21 Nov 2026", "11/21/26", "21 november 2026", "NOVEMBER 21, 2026",
                     "2026.11.21", "the 21st of November 2026"]:
        assert expected in texts
    assert data.format_date(dt.date(2001, 3, 12), 6) == "the 12th of March 2001"
    assert data.format_date(dt.date(2049, 3, 2), 1) == "03/02/49"
    with pytest.raises(ValueError, match="style"):
        data.format_date(d, data.DATE_FORMAT_COUNT)


def test_char_vocab_round_trip_and_specials():
    src, tgt = data.date_vocabularies()
    assert (src.pad_id, src.bos_id, src.eos_id, src.unk_id) == (0, 1, 2, 3)
    assert src.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    for human, iso in data.make_dates(200, seed=2):
        assert data.UNK_ID not in src.encode(human)
        assert src.decode(src.encode(human)) == human
        assert tgt.decode(tgt.encode(iso, bos=True, eos=True) + [5, 6]) == iso
    assert src.encode("é") == [data.UNK_ID]
    assert len(tgt) == 4 + 11
    again = data.CharVocab("0123456789-")
    assert again.itos == tgt.itos


def test_encode_dates_and_dataset_agree():
    pairs = data.make_dates(6, seed=5)
    enc = data.encode_dates(pairs)
    src_vocab, tgt_vocab = data.date_vocabularies()
    assert enc.tgt_in.shape == enc.tgt_out.shape == (6, 11)
    assert (enc.tgt_in[:, 0] == data.BOS_ID).all() and (enc.tgt_out[:, -1] == data.EOS_ID).all()
    assert torch.equal(enc.tgt_in[:, 1:], enc.tgt_out[:, :-1])
    assert enc.src.shape == (6, max(len(h) for h, _ in pairs))
    for row, (human, iso) in zip(enc.src, pairs):
        assert src_vocab.decode(row) == human
        assert (row[len(human):] == data.PAD_ID).all()
    ds = data.DatesDataset(6, seed=5)
    assert ds.pairs == pairs
    batch = data.pad_collate([ds[i] for i in range(6)])
    for a, b in zip(batch, enc):
        assert torch.equal(a, b)


def test_pad_collate_and_split():
    assert data.pad_collate([[5, 6, 7], [8]], pad_id=9).tolist() == [[5, 6, 7], [8, 9, 9]]
    seqs, labels = data.pad_collate([(torch.tensor([1, 2]), 1), (torch.tensor([3]), 0)])
    assert seqs.tolist() == [[1, 2], [3, 0]] and labels.tolist() == [1, 0]
    items = list(range(20))
    train, val = data.train_val_split(items, val_fraction=0.25, seed=0)
    assert len(val) == 5 and sorted(train + val) == items
    assert (train, val) == data.train_val_split(items, val_fraction=0.25, seed=0)
    x, y = torch.arange(20), torch.arange(20) * 10
    (x_tr, y_tr), (x_va, y_va) = data.train_val_split((x, y), val_fraction=0.25, seed=0)
    assert torch.equal(y_tr, x_tr * 10) and x_va.tolist() == val


def test_copy_and_recall_tasks():
    src, tgt = data.make_copy_task(16, 7, 10, seed=0)
    assert src.shape == tgt.shape == (16, 7) and torch.equal(src, tgt)
    assert src.min() >= 4 and src.max() < 10
    src_r, tgt_r = data.make_copy_task(16, 7, 10, seed=0, reverse=True)
    assert torch.equal(src_r, src) and torch.equal(tgt_r, src.flip(1))
    assert not torch.equal(data.make_copy_task(16, 7, 10, seed=1)[0], src)
    x, y = data.make_recall_task(64, 30, 12, seed=0)
    assert x.shape == (64, 30) and y.shape == (64,)
    assert torch.equal(y, x[:, 0]) and x.min() >= 4 and x.max() < 12
    assert torch.equal(data.make_recall_task(64, 30, 12, seed=0)[0], x)
    assert len(set(y.tolist())) > 4
    with pytest.raises(ValueError, match="vocab_size"):
        data.make_recall_task(4, 5, 4, seed=0)
    state = torch.random.get_rng_state()
    data.make_copy_task(4, 4, 8, seed=0)
    assert torch.equal(state, torch.random.get_rng_state()), "generators must not touch the global RNG"


def test_sentiment_is_deterministic_balanced_and_has_negation():
    examples = data.make_sentiment(1000, seed=0)
    assert examples == data.make_sentiment(1000, seed=0)
    assert examples != data.make_sentiment(1000, seed=1)
    assert len(examples) == 1000 and len(data.make_sentiment(7, seed=0)) == 7
    counts = Counter(label for _, label in examples)
    assert counts[0] == counts[1] == 500
    negated = [(s, y) for s, y in examples if data.has_negation(s)]
    assert 0.2 * len(examples) < len(negated) < 0.8 * len(examples)
    assert 0.3 < sum(y for _, y in negated) / len(negated) < 0.7, "negation alone must not predict the label"


def test_has_negation():
    assert data.has_negation("not bad at all")
    assert data.has_negation("never boring")
    assert data.has_negation("i wouldn't call it dull")
    assert data.has_negation("the plot was anything but good")
    assert not data.has_negation("bad at first, then good")
    assert not data.has_negation("nothingness is notable")


def _polarity_words(sentence):
    words = re.findall(r"[a-z']+", sentence)
    return [w for w in words if w in data.POSITIVE_WORDS or w in data.NEGATIVE_WORDS]


def test_sentiment_labels_follow_negation_and_order():
    examples = data.make_sentiment(1000, seed=2)
    for sentence, label in examples:
        polar = _polarity_words(sentence)
        if len(set(polar)) == 1 and ("?" not in sentence):
            positive = polar[0] in data.POSITIVE_WORDS
            assert label == int(positive != data.has_negation(sentence)), sentence
        if re.search(r", but actually |, then | but ends |, it was |, but it was ", sentence):
            assert label == int(polar[-1] in data.POSITIVE_WORDS), sentence
        if re.fullmatch(r".* was \w+, not \w+", sentence):  # "good, not bad": the first word decides
            assert label == int(polar[0] in data.POSITIVE_WORDS), sentence
    by_words = defaultdict(set)
    for sentence, label in examples:
        by_words[tuple(sorted(re.findall(r"[a-z']+", sentence)))].add(label)
    conflicting = [words for words, labels in by_words.items() if len(labels) == 2]
    assert len(conflicting) >= 50, "bag-of-words must be unable to separate same-word pairs"


def test_sentiment_course_examples_are_labelled_right():
    examples = dict(data.make_sentiment(3000, seed=0))
    assert examples.get("not bad at all", 1) == 1
    assert examples.get("never boring", 1) == 1
    found = [s for s in examples if re.fullmatch(r"(\w+)\? no, not \1", s)]
    assert found and all(examples[s] == int(s.split("?")[0] in data.NEGATIVE_WORDS) for s in found)


def test_sentiment_splits_share_no_sentence_and_no_negated_combination():
    sets = {split: data.make_sentiment(3000, seed=i, split=split) for i, split in enumerate(data.SENTIMENT_SPLITS)}
    sentences = {split: {s for s, _ in examples} for split, examples in sets.items()}
    for a, b in (("train", "test"), ("train", "validation"), ("validation", "test")):
        assert not sentences[a] & sentences[b], (a, b)
    assert not {s for s, _ in data.make_sentiment(3000, seed=7)} & sentences["test"]  # whatever the seeds

    def negated_pairs(split):
        pairs = set()
        for s in sentences[split]:
            for phrase in ("was never", "was far from", "was anything but", "was hardly", "wasn't"):
                match = re.search(rf"{phrase} (\w+)$", s)
                if match:
                    pairs.add((phrase, match.group(1)))
        return pairs
    train, test = negated_pairs("train"), negated_pairs("test")
    assert train and test and not train & test
    # every held-out adjective still occurs in training, negated by other words and plain
    train_words = {w for s in sentences["train"] for w in s.replace(",", " ").replace("?", " ").split()}
    assert {adjective for _, adjective in test} <= train_words
    for split, examples in sets.items():
        assert sum(y for _, y in examples) == len(examples) // 2, split
        negated = [y for s, y in examples if data.has_negation(s)]
        assert 0.3 < len(negated) / len(examples) < 0.7 and 0.4 < sum(negated) / len(negated) < 0.6, split


def test_sentiment_mirror_pairs_stay_in_one_split():
    for split in data.SENTIMENT_SPLITS:
        examples = dict(data.make_sentiment(600, seed=3, split=split, pair_fraction=1.0))
        starts = [s for s in examples if s.startswith("it starts ")]
        assert starts
        for s in starts:
            first, second = re.fullmatch(r"it starts (\w+) but ends (\w+)", s).groups()
            assert f"it starts {second} but ends {first}" in examples, s


def test_sentiment_rejects_unknown_splits():
    with pytest.raises(ValueError, match=r"split: expected one of \('train', 'validation', 'test'\), got 'dev'"):
        data.make_sentiment(10, split="dev")
    with pytest.raises(ValueError, match="n: expected a non-negative int, got -1"):
        data.make_sentiment(-1)
    assert data.make_sentiment(0) == []


def test_python_docs_corpus():
    text = data.python_docs_corpus(max_chars=20_000)
    assert len(text) == 20_000 and text.isascii()
    assert text == data.python_docs_corpus(max_chars=20_000)
    full = data.python_docs_corpus(max_chars=None)
    assert len(full) > 100_000 and full.startswith(text)
    shuffled = data.python_docs_corpus(max_chars=20_000, seed=1)
    assert shuffled != text and shuffled == data.python_docs_corpus(max_chars=20_000, seed=1)
    assert "Return" in full and "\n\n" in full


def test_mlm_sentences():
    sentences = data.make_mlm_sentences(400, seed=0)
    assert sentences == data.make_mlm_sentences(400, seed=0)
    assert sentences != data.make_mlm_sentences(400, seed=1)
    assert all(s == s.lower() and s.endswith(".") and "{" not in s for s in sentences)
    bank = [s for s in sentences if " bank" in s]
    river = [s for s in bank if "river" in s or "water" in s]
    money = [s for s in bank if any(w in s for w in ("money", "loan", "cash", "account", "works at"))]
    assert len(river) > 40 and len(money) > 40 and len(river) + len(money) == len(bank)
