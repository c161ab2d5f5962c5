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
    for row, (human, _) in zip(enc.src, pairs):
        assert src_vocab.decode(row) == human
        assert (row[len(human):] == data.PAD_ID).all()
    ds = data.DatesDataset(pairs)
    assert ds.pairs == pairs and len(ds) == 6
    batch = data.pad_collate([ds[i] for i in range(6)])
    for a, b in zip(batch, enc):
        assert torch.equal(a, b)
    # a DataLoader batch is padded to its own longest source, not the data set's
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=data.pad_collate)
    for i, (src, tgt_in, tgt_out) in enumerate(loader):
        assert src.shape[1] == max(len(h) for h, _ in pairs[2 * i:2 * i + 2])
        assert tgt_in.shape == tgt_out.shape == (2, 11)
    with pytest.raises(ValueError, match="pairs: expected a sequence of"):
        data.DatesDataset(6)


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


def test_copy_task_strings_are_distinct_and_reversed():
    pairs = data.make_copy_task(500, 2, 6, seed=0)
    assert pairs == data.make_copy_task(500, 2, 6, seed=0)
    assert pairs != data.make_copy_task(500, 2, 6, seed=1)
    assert all(s == t for s, t in pairs)
    sources = [s for s, _ in pairs]
    assert len(set(sources)) == 500, "sources must be distinct, so a split of them is disjoint"
    assert set("".join(sources)) == set(data.DIGITS)
    assert {len(s) for s in sources} == {2, 3, 4, 5, 6}
    reversed_pairs = data.make_copy_task(500, 2, 6, seed=0, reverse=True)
    assert [s for s, _ in reversed_pairs] == sources and all(t == s[::-1] for s, t in reversed_pairs)
    assert set("".join(s for s, _ in data.make_copy_task(4, 3, 3, alphabet="ab"))) == {"a", "b"}
    train, held_out = data.train_val_split(pairs, val_fraction=0.2, seed=0)
    assert not {s for s, _ in train} & {s for s, _ in held_out}
    vocab = data.CharVocab(data.DIGITS)
    enc = data.encode_pairs(reversed_pairs[:3], vocab, vocab)
    for row, (_, t) in zip(enc.tgt_out, reversed_pairs[:3]):
        assert vocab.decode(row) == t
    with pytest.raises(ValueError, match="n: expected at most 5"):
        data.make_copy_task(6, 1, 1)
    with pytest.raises(ValueError, match="min_len, max_len"):
        data.make_copy_task(6, 5, 4)
    with pytest.raises(ValueError, match="alphabet"):
        data.make_copy_task(6, 5, 5, alphabet="aa")


def test_recall_task():
    x, y = data.make_recall_task(64, 30, 12, seed=0)
    assert x.shape == (64, 30) and y.shape == (64,)
    assert torch.equal(y, x[:, 0]) and x.min() >= 4 and x.max() < 12
    assert torch.equal(data.make_recall_task(64, 30, 12, seed=0)[0], x)
    assert len(set(y.tolist())) > 4
    with pytest.raises(ValueError, match="vocab_size"):
        data.make_recall_task(4, 5, 4, seed=0)
    state = torch.random.get_rng_state()
    data.make_recall_task(4, 4, 8, seed=0)
    data.make_copy_task(4, 4, 8, seed=0)
    assert torch.equal(state, torch.random.get_rng_state()), "generators must not touch the global RNG"


def test_recall_held_out_set_excludes_the_training_sequences():
    train, _ = data.make_recall_task(40, 3, 7, seed=0)             # 27 possible sequences, most of them drawn
    train_rows = {tuple(r) for r in train.tolist()}
    assert 10 < len(train_rows) < 27
    held_out, y = data.make_recall_task(50, 3, 7, seed=1, exclude=train)
    assert not {tuple(r) for r in held_out.tolist()} & train_rows
    assert torch.equal(y, held_out[:, 0]) and held_out.shape == (50, 3)
    assert torch.equal(data.make_recall_task(50, 3, 7, seed=1, exclude=train)[0], held_out)
    with pytest.raises(ValueError, match=r"exclude: expected shape \(m, 3\), got \(300, 4\)"):
        data.make_recall_task(5, 3, 7, exclude=torch.zeros(300, 4, dtype=torch.long))
    every = torch.cartesian_prod(*[torch.arange(4, 7)] * 2)
    with pytest.raises(ValueError, match="none is left"):
        data.make_recall_task(5, 2, 7, exclude=every)


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


def test_mlm_test_split_is_held_out_but_made_of_known_words():
    """No test sentence is ever a training sentence, whatever the seeds; every test word is a training word."""
    train = set(data.make_mlm_sentences(20_000, seed=3))
    test = data.make_mlm_sentences(600, seed=4, split="test", unique=True)
    assert len(set(test)) == 600 and not set(test) & train
    pools = data._mlm_pools()
    assert not set().union(*pools["train"]) & set().union(*pools["test"])
    train_words = {w for s in train for w in s.replace(",", " ").replace(".", " ").split()}
    assert {w for s in test for w in s.replace(",", " ").replace(".", " ").split()} <= train_words
    # every template keeps most of its fillings for training and holds some out
    for train_pool, test_pool in zip(pools["train"], pools["test"]):
        assert len(test_pool) >= 5 and len(train_pool) >= 3 * len(test_pool)
    assert data.make_mlm_sentences(50, seed=1, split="test") == data.make_mlm_sentences(50, seed=1, split="test")
    assert any(" bank" in s and "river" in s for s in test) and any("money in the bank" in s for s in test)


def test_mlm_sentences_errors():
    with pytest.raises(ValueError, match=r"split: expected one of \('train', 'test'\), got 'dev'"):
        data.make_mlm_sentences(5, split="dev")
    with pytest.raises(ValueError, match="n: the 'test' split has .* distinct sentences, got n = 100000"):
        data.make_mlm_sentences(100_000, split="test", unique=True)
    with pytest.raises(ValueError, match="n: expected a non-negative int, got -1"):
        data.make_mlm_sentences(-1)


def test_char_vocab_is_the_one_char_tokenizer_with_the_seq2seq_specials():
    from transformer_course.tokenizers import CharTokenizer
    vocab = data.CharVocab("ba-b")
    assert isinstance(vocab, CharTokenizer)
    assert vocab.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "b", "a", "-"]   # order kept, each once
    assert CharTokenizer("ba-b").itos == ["-", "a", "b"]                          # sorted by default
    assert vocab.encode("abz", bos=True, eos=True) == [data.BOS_ID, 5, 4, data.UNK_ID, data.EOS_ID]
    with pytest.raises(ValueError, match="chars: expected single characters, got 'ab'"):
        data.CharVocab(["ab"])
