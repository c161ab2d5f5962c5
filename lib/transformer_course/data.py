"""Seeded synthetic data sets, and a text corpus read from files every Python has.

Nothing is downloaded. Every generator takes a ``seed`` and uses its own
``random.Random`` / ``torch.Generator``, so the same seed gives the same data on
every machine and no generator disturbs (or depends on) the global RNG state.

    dates       "Saturday, 21 Nov 2026" -> "2026-11-21"          (notebook 07)
    copy        "40173" -> "37104": strings to copy or reverse  (notebook 02)
    recall      integer sequences for long-range recall           (notebook 01)
    sentiment   short reviews whose label depends on negation and word order (10)
    text        standard-library docstrings (09); template sentences for MLM (08)
"""
from __future__ import annotations

import ast
import datetime as dt
import itertools
import random
import re
import sysconfig
from collections.abc import Iterable, Sequence
from functools import lru_cache, cache
from pathlib import Path
from typing import NamedTuple

import torch

from .tokenizers import CharTokenizer

PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


# --------------------------------------------------------------------------- padding and splits
def pad_sequences(seqs: Sequence, pad_id: int = PAD_ID) -> torch.Tensor:
    """Right-pad 1-D sequences (lists or tensors of ids) into a (B, L_max) long tensor."""
    rows = [torch.as_tensor(s, dtype=torch.long) for s in seqs]
    out = torch.full((len(rows), max((len(r) for r in rows), default=0)), pad_id, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def pad_collate(batch: Sequence, pad_id: int = PAD_ID):
    """A DataLoader ``collate_fn`` for variable-length data.

    A batch of sequences (lists / 1-D tensors) -> (B, L_max) long tensor, right-padded.
    A batch of tuples -> a tuple, each field collated the same way; fields that are
    numbers or 0-d tensors (labels) are stacked into a (B,) tensor.
    """
    first = batch[0]
    if isinstance(first, tuple):
        return tuple(pad_collate([item[i] for item in batch], pad_id) for i in range(len(first)))
    if isinstance(first, (int, float)):
        return torch.tensor(list(batch))
    if isinstance(first, torch.Tensor) and first.dim() == 0:
        return torch.stack(list(batch))
    return pad_sequences(batch, pad_id)


def train_val_split(items, val_fraction: float = 0.1, seed: int = 0):
    """Shuffle with ``seed`` and split into (train, val); val gets round(n * val_fraction) items.

    Works on lists (returns lists) and on tensors or tuples of tensors sharing their
    first dimension (returns the same kind, indexed along dim 0).
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction: expected a number in [0, 1], got {val_fraction}")
    n = len(items[0]) if isinstance(items, tuple) else len(items)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_val = round(n * val_fraction)
    val_idx, train_idx = order[:n_val], order[n_val:]

    def take(x, idx):
        return x[torch.tensor(idx, dtype=torch.long)] if isinstance(x, torch.Tensor) else [x[i] for i in idx]

    if isinstance(items, tuple):
        return tuple(take(x, train_idx) for x in items), tuple(take(x, val_idx) for x in items)
    return take(items, train_idx), take(items, val_idx)


# --------------------------------------------------------------------------- characters
class CharVocab(CharTokenizer):
    """A ``CharTokenizer`` for sequence-to-sequence tasks: the specials first, <pad>=0,
    <bos>=1, <eos>=2, <unk>=3, then the characters in the order given.

    Unknown characters encode to <unk>; ``decode`` skips <pad>/<bos> and stops at <eos>.
    """

    def __init__(self, chars: Iterable[str]):
        super().__init__(chars, SPECIALS, sort=False)
        self.pad_id, self.bos_id, self.eos_id = PAD_ID, BOS_ID, EOS_ID

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = super().encode(text)
        return ([BOS_ID] if bos else []) + ids + ([EOS_ID] if eos else [])

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in (int(i) for i in ids):
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(self.itos[i])
        return "".join(out)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} ids: {''.join(self.itos[len(SPECIALS):])!r})"


# --------------------------------------------------------------------------- dates
DATE_MIN, DATE_MAX = dt.date(1950, 1, 1), dt.date(2049, 12, 31)  # 100 years: a two-digit year is unambiguous

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"]
_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(day: int) -> str:
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# Each format turns a date into text; all are unambiguous: slashes are always US
# month/day/year, dots with the year last are day.month.year, dots with the year first are ISO order.
_DATE_FORMATS = [
    lambda d: f"{_WEEKDAYS[d.weekday()]}, {d.day} {_MONTHS[d.month - 1][:3]} {d.year}",   # Saturday, 21 Nov 2026
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year % 100:02d}",                              # 11/21/26
    lambda d: f"{d.month}/{d.day}/{d.year}",                                                # 11/21/2026
    lambda d: f"{d.day} {_MONTHS[d.month - 1].lower()} {d.year}",                          # 21 november 2026
    lambda d: f"{_MONTHS[d.month - 1].upper()} {d.day}, {d.year}",                         # NOVEMBER 21, 2026
    lambda d: f"{d.year}.{d.month:02d}.{d.day:02d}",                                        # 2026.11.21
    lambda d: f"the {_ordinal(d.day)} of {_MONTHS[d.month - 1]} {d.year}",                 # the 21st of November 2026
    lambda d: f"{_MONTHS[d.month - 1][:3]} {d.day} {d.year}",                              # Nov 21 2026
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",                                        # 21.11.2026
    lambda d: f"{_MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",                        # November 21st, 2026
    lambda d: f"{d.day}-{_MONTHS[d.month - 1][:3].upper()}-{d.year % 100:02d}",            # 21-NOV-26
    # saturday november 21 2026; Sat 21 Nov. '26
    lambda d: f"{_WEEKDAYS[d.weekday()].lower()} {_MONTHS[d.month - 1].lower()} {d.day} {d.year}",
    lambda d: f"{_WEEKDAYS[d.weekday()][:3]} {d.day} {_MONTHS[d.month - 1][:3]}. '{d.year % 100:02d}",
    lambda d: f"{_WEEKDAYS[d.weekday()]}, the {_ordinal(d.day)} of {_MONTHS[d.month - 1]}, {d.year}",  # long form
]
DATE_FORMAT_COUNT = len(_DATE_FORMATS)


def format_date(date: dt.date, style: int) -> str:
    """The human-readable text of ``date`` in format number ``style`` (0 <= style < DATE_FORMAT_COUNT)."""
    if not 0 <= style < DATE_FORMAT_COUNT:
        raise ValueError(f"style: expected 0..{DATE_FORMAT_COUNT - 1}, got {style}")
    return _DATE_FORMATS[style](date)


def make_dates(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """``n`` pairs (human_text, iso_text), e.g. ("Saturday, 21 Nov 2026", "2026-11-21").

    Dates are uniform over 1950-01-01 .. 2049-12-31; the format is uniform over the
    DATE_FORMAT_COUNT styles (8 to ~40 characters). Two-digit years mean 1950-2049.
    """
    rng = random.Random(seed)
    lo, hi = DATE_MIN.toordinal(), DATE_MAX.toordinal()
    pairs = []
    for _ in range(n):
        date = dt.date.fromordinal(rng.randint(lo, hi))
        pairs.append((format_date(date, rng.randrange(DATE_FORMAT_COUNT)), date.isoformat()))
    return pairs


@lru_cache(maxsize=1)
def date_vocabularies() -> tuple[CharVocab, CharVocab]:
    """Fixed (source, target) vocabularies for the dates task, independent of any sample.

    source: specials + a-z, A-Z, 0-9, space and ,./-' (every character a format can produce);
    target: specials + 0-9 and '-' (the ISO alphabet).
    """
    import string
    src = CharVocab(string.ascii_lowercase + string.ascii_uppercase + string.digits + " ,./-'")
    tgt = CharVocab(string.digits + "-")
    return src, tgt


class EncodedPairs(NamedTuple):
    src: torch.Tensor      # (N, S_max) source ids, right-padded with <pad>
    tgt_in: torch.Tensor   # (N, T) <bos> + target ids: the decoder's teacher-forced input
    tgt_out: torch.Tensor  # (N, T) target ids + <eos>: what the decoder must predict


def encode_pairs(pairs: Sequence[tuple[str, str]], src_vocab: CharVocab, tgt_vocab: CharVocab) -> EncodedPairs:
    """Turn (source, target) text pairs into padded long tensors (see EncodedPairs)."""
    src = pad_sequences([src_vocab.encode(s) for s, _ in pairs])
    tgt_in = pad_sequences([tgt_vocab.encode(t, bos=True) for _, t in pairs])
    tgt_out = pad_sequences([tgt_vocab.encode(t, eos=True) for _, t in pairs])
    return EncodedPairs(src, tgt_in, tgt_out)


def encode_dates(pairs: Sequence[tuple[str, str]], src_vocab: CharVocab | None = None,
                 tgt_vocab: CharVocab | None = None) -> EncodedPairs:
    """``encode_pairs`` with the dates vocabularies by default; T = 11 for ISO dates."""
    default_src, default_tgt = date_vocabularies()
    return encode_pairs(pairs, src_vocab or default_src, tgt_vocab or default_tgt)


class DatesDataset(torch.utils.data.Dataset):
    """(human, iso) pairs as a Dataset of (src (S_i,), tgt_in (T,), tgt_out (T,)) long tensors.

    Use ``DataLoader(ds, batch_size=..., collate_fn=pad_collate)``: each batch is padded
    to its own longest source. ``ds.pairs`` keeps the text.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], src_vocab: CharVocab | None = None,
                 tgt_vocab: CharVocab | None = None):
        if isinstance(pairs, int) or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
            raise ValueError(f"pairs: expected a sequence of (human, iso) string pairs such as "
                             f"make_dates(n, seed), got {type(pairs).__name__}")
        default_src, default_tgt = date_vocabularies()
        self.src_vocab, self.tgt_vocab = src_vocab or default_src, tgt_vocab or default_tgt
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int):
        human, iso = self.pairs[i]
        return (torch.tensor(self.src_vocab.encode(human)),
                torch.tensor(self.tgt_vocab.encode(iso, bos=True)),
                torch.tensor(self.tgt_vocab.encode(iso, eos=True)))


# --------------------------------------------------------------------------- integer sequences
def _check_vocab(vocab_size: int) -> None:
    if vocab_size <= len(SPECIALS) + 1:
        raise ValueError(f"vocab_size: expected > {len(SPECIALS) + 1} (ids 0-3 are reserved), got {vocab_size}")


DIGITS = "0123456789"


def make_copy_task(n: int, min_len: int, max_len: int, seed: int = 0, reverse: bool = False,
                   alphabet: str = DIGITS) -> list[tuple[str, str]]:
    """``n`` pairs (source, target) of *distinct* random strings: target = source, or reversed.

    Lengths are uniform over ``min_len .. max_len``, characters uniform over ``alphabet``;
    "40173" -> "40173" (copy) or "37104" (``reverse=True``). A string of L digits holds
    L log2(10) bits, so unlike a date its content grows with its length. The sources are
    all different, so ``train_val_split`` of the result gives disjoint sets.
    """
    if not isinstance(min_len, int) or not isinstance(max_len, int) or not 1 <= min_len <= max_len:
        raise ValueError(f"min_len, max_len: expected ints with 1 <= min_len <= max_len, got {min_len!r}, {max_len!r}")
    if len(set(alphabet)) < 2:
        raise ValueError(f"alphabet: expected at least two different characters, got {alphabet!r}")
    possible = sum(len(set(alphabet)) ** length for length in range(min_len, max_len + 1))
    if n > possible // 2:
        raise ValueError(f"n: expected at most {possible // 2} (half the {possible} possible strings of lengths "
                         f"{min_len}..{max_len}), got {n}")
    rng = random.Random(seed)
    chars = sorted(set(alphabet))
    seen: set[str] = set()
    pairs = []
    while len(pairs) < n:
        source = "".join(rng.choice(chars) for _ in range(rng.randint(min_len, max_len)))
        if source not in seen:  # short lengths repeat often; a repeat is drawn again
            seen.add(source)
            pairs.append((source, source[::-1] if reverse else source))
    return pairs


def make_recall_task(n: int, length: int, vocab_size: int, seed: int = 0,
                     exclude: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n, length), y (n,)): y = x[:, 0], the first token, to be recalled after reading all of x.

    Every other position is noise from the same alphabet (ids 4 .. vocab_size-1), so the
    only way to score above chance (1 / (vocab_size - 4)) is to carry the first token
    through ``length - 1`` steps: the gradient must travel that far back, too.

    ``exclude`` (m, length): sequences that must not occur in x, such as the training
    inputs when drawing a held-out set; a row that repeats one is drawn again.
    """
    _check_vocab(vocab_size)
    if length < 1:
        raise ValueError(f"length: expected >= 1, got {length}")
    if exclude is not None and (exclude.dim() != 2 or exclude.shape[1] != length):
        raise ValueError(f"exclude: expected shape (m, {length}), got {tuple(exclude.shape)}")
    seen = set() if exclude is None else {tuple(row) for row in exclude.tolist()}
    if len(seen) >= (vocab_size - len(SPECIALS)) ** length:
        raise ValueError(f"exclude: it holds all {len(seen)} possible sequences of length {length}; none is left")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(len(SPECIALS), vocab_size, (n, length), generator=g)
    for i, row in enumerate(x.tolist() if seen else []):
        while tuple(row) in seen:
            x[i] = torch.randint(len(SPECIALS), vocab_size, (length,), generator=g)
            row = x[i].tolist()
    return x, x[:, 0].clone()


# --------------------------------------------------------------------------- sentiment
POSITIVE_WORDS = ["good", "great", "fun", "wonderful", "brilliant", "charming", "enjoyable", "clever"]
NEGATIVE_WORDS = ["bad", "awful", "boring", "dull", "terrible", "disappointing", "tedious", "bland"]
_ADJECTIVES = POSITIVE_WORDS + NEGATIVE_WORDS  # an adjective's index j decides, with the template, its split
_SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending",
             "the story", "the dialogue", "the cast", "this show"]
_INTENSIFIERS = ["very", "really", "truly", "incredibly", "so", "quite", "absolutely"]
NEGATORS = frozenset({"not", "never", "no", "hardly", "nothing", "nobody", "neither", "nor", "without"})
_NEGATED_PHRASES = ("anything but", "far from")
SENTIMENT_SPLITS = ("train", "validation", "test")


def has_negation(sentence: str) -> bool:
    """True if the sentence contains a negator ("not", "never", "no", "n't", "anything but", ...)."""
    text = sentence.lower()
    words = re.findall(r"[a-z']+", text)
    return (any(w in NEGATORS or w.endswith("n't") for w in words)
            or any(p in text for p in _NEGATED_PHRASES))


# Templates: {s} a subject, {i} an intensifier, {a} and {b} adjectives. Every template has a
# number t (its place in _TEMPLATES); with the indices j of its adjectives it makes the key
# that decides the split (_split_of), so a (template, adjective) combination, such as
# "far from" + "boring", occurs in one split only.
_PLAIN = ["{s} was {a}", "{s} was {i} {a}", "{s} is {a}", "{s} was {a} and {b}"]  # label = polarity of {a}
_NEGATED = [  # label = the opposite of {a}'s polarity
    "{s} was not {a}", "{s} was not {a} at all", "not {a} at all", "{s} was never {a}", "never {a}",
    "{s} was anything but {a}", "{s} was far from {a}", "{s} wasn't {a}", "i wouldn't call {s} {a}",
    "nothing about {s} was {a}", "{s} was hardly {a}",
    "{s} was not {i} {a}",  # only with a positive {a}: "not very bad" is not praise
]
# "good? no, not good" is negative, "good? yes, very good" positive: the '?' decides nothing
_QUESTIONS = ["{a}? no, not {a}", "{a}? yes, {i} {a}"]
# Order templates: the label follows {b} ("second") for "but"-like contrasts and {a} ("first")
# for "X, not Y". Swapping the two adjectives keeps the words and flips the label: a bag of
# words cannot tell the two sentences apart.
_ORDERED = [("{s} was {a}, but actually {b}", "second"), ("{s} was {a}, not {b}", "first"),
            ("it starts {a} but ends {b}", "second"), ("i expected {s} to be {a}, but it was {b}", "second"),
            ("{s} was not {a}, it was {b}", "second"), ("{a} at first, then {b}", "second")]
_TEMPLATES = _PLAIN + _NEGATED + _QUESTIONS + [t for t, _ in _ORDERED]


def _split_of(template: str, *adjectives: str) -> str:
    """The split a (template, adjectives) combination belongs to: 2 of 8 residues test, 2 validation.

    Residues of ``t + sum(j)`` modulo 8 spread every template's combinations over the
    splits, a quarter of its adjectives in test, half of them positive (j and j + 8
    share a residue); a mirror pair has the same sum, so both halves share a split.
    """
    r = (_TEMPLATES.index(template) + sum(_ADJECTIVES.index(a) for a in adjectives)) % 8
    return "test" if r in (0, 4) else "validation" if r in (2, 6) else "train"


def _adj(rng: random.Random, positive: bool) -> str:
    return rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS)


def _fill(rng, template: str, a: str, b: str | None = None) -> str:
    return template.format(s=rng.choice(_SUBJECTS), i=rng.choice(_INTENSIFIERS), a=a, b=b)


# Each kind takes (rng, label) and returns (sentence with that true label, template, adjectives).
def _plain(rng, y):
    template, a, b = rng.choice(_PLAIN), _adj(rng, y), _adj(rng, y)
    if "{b}" in template:
        return _fill(rng, template, a, b), template, (a, b)
    return _fill(rng, template, a), template, (a,)


def _negated(rng, y):
    template, a = rng.choice(_NEGATED if not y else _NEGATED[:-1]), _adj(rng, not y)
    return _fill(rng, template, a), template, (a,)


def _question(rng, y):
    if rng.random() < 0.5:
        a = _adj(rng, not y)
        return _fill(rng, _QUESTIONS[0], a), _QUESTIONS[0], (a,)
    a = _adj(rng, y)
    return _fill(rng, _QUESTIONS[1], a), _QUESTIONS[1], (a,)


def _ordered(rng, y):
    """((sentence with label y, its mirror with label 1 - y), template, adjectives): same words, other order."""
    template, decides = rng.choice(_ORDERED)
    s = rng.choice(_SUBJECTS)
    deciding, other = _adj(rng, y), _adj(rng, not y)
    a, b = (other, deciding) if decides == "second" else (deciding, other)
    return (template.format(s=s, a=a, b=b), template.format(s=s, a=b, b=a)), template, (a, b)


def _draw(rng, kind, y, split):
    """A draw of ``kind`` whose (template, adjectives) combination belongs to ``split``."""
    while True:
        sentence, template, adjectives = kind(rng, y)
        if _split_of(template, *adjectives) == split:
            return sentence


def make_sentiment(n: int, seed: int = 0, pair_fraction: float = 0.3, split: str = "train") -> list[tuple[str, int]]:
    """``n`` (sentence, label) pairs, label 1 = positive, 0 = negative; exactly balanced (+-1).

    Lowercase short reviews built from polar adjectives, intensifiers, negation
    ("not bad at all" -> 1, "never boring" -> 1, "good? no, not good" -> 0) and contrast
    ("bad, but actually good" -> 1). About ``pair_fraction`` of the examples come as
    minimal pairs: the same words in another order with the opposite label, so a
    bag-of-words model cannot reach 100 %. Use ``has_negation`` to split by negation.

    ``split`` (``"train"``, ``"validation"`` or ``"test"``) chooses which (template,
    adjective) combinations may occur: each combination, such as "was far from" with
    "boring" or "it starts ... but ends ..." with "dull" and "great", belongs to exactly one
    split (a quarter of them to test, a quarter to validation, half to train). Sets drawn from different
    splits therefore share no sentence, whatever their seeds, and a test set measures
    whether a model composes a negator with an adjective it has never seen it negate.
    """
    if split not in SENTIMENT_SPLITS:
        raise ValueError(f"split: expected one of {SENTIMENT_SPLITS}, got {split!r}")
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n!r}")
    rng = random.Random(seed)
    examples: list[tuple[str, int]] = []
    while len(examples) < n - 1:
        y = rng.randint(0, 1)
        if rng.random() < pair_fraction:
            sentence, mirror = _draw(rng, _ordered, y, split)
            examples += [(sentence, y), (mirror, 1 - y)]
        else:
            # singles also come in opposite-label twos, which keeps the labels balanced
            for label in (y, 1 - y):
                kind = rng.choices([_plain, _negated, _question], weights=[3, 4, 1])[0]
                examples.append((_draw(rng, kind, label, split), label))
    if len(examples) < n:
        y = rng.randint(0, 1)
        examples.append((_draw(rng, _negated, y, split), y))
    rng.shuffle(examples)
    return examples


# --------------------------------------------------------------------------- text corpora
# Fixed, sorted list: the corpus depends on the Python version only, not on what else is installed.
STDLIB_DOC_MODULES = (
    "abc.py", "argparse.py", "base64.py", "bisect.py", "calendar.py", "collections/__init__.py",
    "contextlib.py", "copy.py", "csv.py", "dataclasses.py", "datetime.py", "difflib.py", "enum.py",
    "fractions.py", "functools.py", "glob.py", "gzip.py", "heapq.py", "inspect.py", "json/__init__.py",
    "logging/__init__.py", "os.py", "pathlib.py", "pickle.py", "pprint.py", "queue.py", "random.py",
    "shutil.py", "statistics.py", "string.py", "subprocess.py", "tempfile.py", "textwrap.py",
    "threading.py", "typing.py", "unittest/case.py", "urllib/parse.py", "uuid.py", "zipfile.py",
)


@lru_cache(maxsize=4)
def _stdlib_docstrings() -> tuple[str, ...]:
    root = Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for rel in STDLIB_DOC_MODULES:
        path = root / rel
        if not path.is_file():  # some distributions strip modules; skip rather than fail
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in [tree, *ast.walk(tree)]:
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node, clean=True)
                if doc and len(doc) > 40:
                    docs.append(doc.encode("ascii", "ignore").decode())
    return tuple(dict.fromkeys(docs))  # drop repeats, keep first-seen order


def python_docs_corpus(max_chars: int | None = 200_000, seed: int | None = None) -> str:
    """Plain ASCII text for a character-level language model: standard-library docstrings.

    Docstrings of the modules in STDLIB_DOC_MODULES, parsed with ``ast`` (nothing is
    imported or executed), longer than 40 characters, separated by blank lines,
    non-ASCII characters dropped. ``seed=None`` keeps file order; an int shuffles the
    docstrings with that seed. Truncated to ``max_chars`` (None: everything, ~0.5 MB).
    Deterministic for a given Python version.
    """
    docs = list(_stdlib_docstrings())
    if seed is not None:
        random.Random(seed).shuffle(docs)
    text = "\n\n".join(docs) + "\n"
    return text if max_chars is None else text[:max_chars]


_MLM_SLOTS = {
    "person": ["the man", "the woman", "my friend", "the teacher", "a child", "the farmer", "my sister",
               "the old man", "the doctor", "our neighbour"],
    "animal": ["the dog", "the cat", "a bird", "the horse", "a small fox", "the cow"],
    "food": ["bread", "soup", "an apple", "rice", "fresh fish", "a cake", "cheese"],
    "place": ["the park", "the school", "the market", "the library", "the station", "the garden"],
    "time": ["in the morning", "after lunch", "every day", "on sunday", "at night", "last week"],
    "weather": ["sunny", "cold", "rainy", "windy", "warm", "cloudy"],
    "thing": ["a house", "a car", "a farm", "a shop", "a boat", "a truck"],
}
_MLM_TEMPLATES = [
    # "bank": river sense
    "{person} sat on the bank of the river {time}.",
    "{animal} drank water from the river bank {time}.",
    "the river flooded its bank {time}, so {person} stayed away.",
    "{person} walked along the bank and watched the water {time}.",
    "{person} had a picnic on the grassy bank of the river {time}.",
    # "bank": money sense
    "{person} put money in the bank {time}.",
    "the bank gave {person} a loan to buy {thing}.",
    "{person} works at the bank near {place}.",
    "the bank was closed {time}, so {person} could not get cash.",
    "{person} opened an account at the bank {time}.",
    # everyday sentences
    "{person} went to {place} {time}.",
    "{person} ate {food} {time}.",
    "{animal} slept in the sun {time}.",
    "it was {weather} {time}, so {person} stayed home.",
    "{person} gave {food} to {animal}.",
    "{person} read a book at {place}.",
    "{animal} ran across {place}.",
    "{person} bought {food} at the market.",
    "the weather was {weather} and {animal} was hungry.",
    "{person} met {person2} at {place} {time}.",
]
MLM_SPLITS = ("train", "test")
MLM_TEST_FRACTION = 0.2  # of each template's fillings, held out for evaluation


def _mlm_fillings(template: str) -> list[dict[str, str]]:
    """Every way to fill `template`'s slots (``person2`` is another person than ``person``)."""
    slots = [s for s in (*_MLM_SLOTS, "person2") if "{" + s + "}" in template]
    choices = [_MLM_SLOTS["person" if s == "person2" else s] for s in slots]
    fillings = [dict(zip(slots, words)) for words in itertools.product(*choices)]
    return [f for f in fillings if "person2" not in f or f["person2"] != f["person"]]


@cache
def _mlm_pools() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Per split, per template, its sentences. Fixed (no seed): the held-out split is part of the data set,
    so every training seed is evaluated on the same unseen sentences."""
    pools: dict[str, list[tuple[str, ...]]] = {split: [] for split in MLM_SPLITS}
    for index, template in enumerate(_MLM_TEMPLATES):
        sentences = [template.format(**filling) for filling in _mlm_fillings(template)]
        random.Random(1_000 + index).shuffle(sentences)
        n_test = max(1, round(MLM_TEST_FRACTION * len(sentences)))
        pools["test"].append(tuple(sorted(sentences[:n_test])))
        pools["train"].append(tuple(sorted(sentences[n_test:])))
    return {split: tuple(per_template) for split, per_template in pools.items()}


def make_mlm_sentences(n: int, seed: int = 0, split: str = "train", unique: bool = False) -> list[str]:
    """``n`` simple lowercase English sentences from templates, for tiny masked-LM pretraining.

    Each sentence is a template ("{person} ate {food} {time}.") filled with words
    from small lists. The fillings of every template are split once and for all:
    ``split="train"`` draws from 80 % of them, ``split="test"`` from the other 20 %,
    so no test sentence ever occurs in a training set, whatever the seeds, while
    every word and every template of the test split is also seen in training: the
    test measures whether a model generalises to new combinations of known words.
    A draw picks a template, then one of its sentences; with ``unique=False`` draws
    repeat (as in a corpus), with ``unique=True`` every sentence is new (for an
    evaluation set; a template whose sentences are used up is skipped).

    Includes "bank" in river contexts and in money contexts (about a quarter of the
    sentences each), so a model can learn that a word's meaning depends on its neighbours.
    """
    if split not in MLM_SPLITS:
        raise ValueError(f"split: expected one of {MLM_SPLITS}, got {split!r}")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n: expected a non-negative int, got {n!r}")
    rng = random.Random(seed)
    pool = _mlm_pools()[split]
    if not unique:
        return [rng.choice(pool[rng.randrange(len(pool))]) for _ in range(n)]
    if n > sum(map(len, pool)):
        raise ValueError(f"n: the {split!r} split has {sum(map(len, pool))} distinct sentences, "
                         f"got n = {n} with unique=True")
    left = [rng.sample(sentences, len(sentences)) for sentences in pool]
    sentences = []
    while len(sentences) < n:
        sentences.append(rng.choice([s for s in left if s]).pop())
    return sentences
