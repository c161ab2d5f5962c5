"""Tokenizers: text -> integer ids and back.

``CharTokenizer`` is the smallest useful one (one id per character), enough for
the char-level models of the early notebooks. ``WordPieceTokenizer`` follows
BERT's uncased rules exactly, so it reads a real ``vocab.txt`` and gives the
same ids as Hugging Face's ``BertTokenizer``:

1. clean: drop NUL, U+FFFD and control characters, turn every whitespace into " ";
2. put spaces around CJK ideographs (each becomes its own word);
3. lowercase and strip accents (NFD, then drop combining marks);
4. split on whitespace and on every punctuation character;
5. WordPiece: split each word greedily into the longest vocabulary pieces,
   later pieces written ``##piece``; a word that cannot be split (or is longer
   than 100 characters) becomes ``[UNK]`` as a whole.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from collections.abc import Iterable, Sequence

import torch


class CharTokenizer:
    """One id per character; special tokens (e.g. ``"<pad>"``) come first.

    The characters are sorted (``sort=True``) or kept in the order given, each
    once. The course's one character vocabulary: ``data.CharVocab`` is this with
    the sequence-to-sequence specials.

    >>> tok = CharTokenizer.from_text("hello world", special_tokens=["<pad>"])
    >>> tok.decode(tok.encode("hello"))
    'hello'
    """

    def __init__(self, chars: Iterable[str], special_tokens: Sequence[str] = (), sort: bool = True):
        chars = list(chars)
        wrong = [c for c in chars if not isinstance(c, str) or len(c) != 1]
        if wrong:
            raise ValueError(f"chars: expected single characters, got {wrong[0]!r}")
        chars = [c for c in dict.fromkeys(chars) if c not in set(special_tokens)]
        if sort:
            chars = sorted(chars)
        self.special_tokens = list(special_tokens)
        self.itos: list[str] = self.special_tokens + chars
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}
        self.special_ids = {self.stoi[s] for s in self.special_tokens}
        self.unk_id = self.stoi.get("<unk>")

    @classmethod
    def from_text(cls, text: str, special_tokens: Sequence[str] = ()) -> CharTokenizer:
        """The sorted set of characters of ``text`` (after the special tokens) is the vocabulary."""
        return cls(text, special_tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; an unknown one maps to ``<unk>`` if present, else raises."""
        if self.unk_id is not None:
            return [self.stoi.get(c, self.unk_id) for c in text]
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise ValueError(f"text: character {e.args[0]!r} is not in the vocabulary "
                             f"({self.vocab_size} symbols) and there is no '<unk>' token") from None

    def decode(self, ids: Iterable[int] | torch.Tensor, skip_special_tokens: bool = False) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        return "".join(self.itos[i] for i in ids if not (skip_special_tokens and i in self.special_ids))


# --- BERT's basic tokenizer: character classes -------------------------------------------------

def _is_whitespace(c: str) -> bool:
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def _is_control(c: str) -> bool:
    # \t \n \r are control characters to Unicode but whitespace to BERT.
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def _is_punctuation(c: str) -> bool:
    # All non-letter/number ASCII counts ("$", "^", "`" are symbols to Unicode), plus Unicode P*.
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_cjk(c: str) -> bool:
    # CJK ideographs only (each one is a word); BERT leaves Hangul, Hiragana and Katakana to WordPiece.
    cp = ord(c)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def basic_tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Steps 1-4 of the module docstring: clean, CJK split, lowercase/strip accents, punctuation split."""
    out = []
    for c in text:
        if c == "\0" or c == "\ufffd" or _is_control(c):
            continue
        out.append(" " if _is_whitespace(c) else f" {c} " if _is_cjk(c) else c)
    # NFC first so the same character written two ways is one character (as HF does).
    words = unicodedata.normalize("NFC", "".join(out)).split()
    tokens = []
    for word in words:
        if lowercase:
            word = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if unicodedata.category(c) != "Mn")
        piece = ""
        for c in word:
            if _is_punctuation(c):
                tokens += [piece, c] if piece else [c]
                piece = ""
            else:
                piece += c
        if piece:
            tokens.append(piece)
    return tokens


class WordPieceTokenizer:
    """BERT's tokenizer: basic tokenization, then greedy longest-match-first WordPiece.

    ``vocab`` is the list of tokens, id = position (the lines of ``vocab.txt``).
    Attributes: ``vocab`` (token -> id), ``ids_to_tokens``, ``vocab_size``,
    ``pad_id``, ``unk_id``, ``cls_id``, ``sep_id``, ``mask_id``, ``special_ids``.
    Special tokens written in the text (``"the [MASK] sat"``) stay whole.
    """

    SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}

    def __init__(self, vocab: Sequence[str], lowercase: bool = True, max_input_chars_per_word: int = 100,
                 source: str = "vocab"):
        self.ids_to_tokens = list(vocab)
        self.vocab = {t: i for i, t in enumerate(self.ids_to_tokens)}
        self.lowercase, self.max_input_chars_per_word = lowercase, max_input_chars_per_word
        for name, token in self.SPECIALS.items():
            if token not in self.vocab:
                raise ValueError(f"{source}: special token {token!r} is missing from the vocabulary")
            setattr(self, f"{name}_token", token)
            setattr(self, f"{name}_id", self.vocab[token])
        self.special_ids = {self.vocab[t] for t in self.SPECIALS.values()}
        # Longest first, so "[MASK]" is matched before any shorter special token it contains.
        specials = sorted(self.SPECIALS.values(), key=len, reverse=True)
        self._special_re = re.compile("(" + "|".join(re.escape(t) for t in specials) + ")")

    @classmethod
    def from_vocab_file(cls, path: str | Path, lowercase: bool = True) -> WordPieceTokenizer:
        """Read a BERT ``vocab.txt``: one token per line, the line number is the id."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"path: vocabulary file {str(path)!r} does not exist")
        with open(path, encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f]
        return cls(vocab, lowercase=lowercase, source=str(path))

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 2000, lowercase: bool = True,
              min_frequency: int = 1) -> WordPieceTokenizer:
        """A small vocabulary for a small corpus: specials, every character (alone and as ``##c``),
        then the most frequent whole words until ``vocab_size``.

        Not the likelihood-driven WordPiece training of the BERT paper: frequent words
        are whole tokens, rare ones fall back to characters, and nothing is ever
        ``[UNK]`` for characters seen in training. Enough for a tiny BERT.
        """
        counts = Counter(w for text in texts for w in basic_tokenize(text, lowercase))
        chars = sorted({c for w in counts for c in w})
        vocab = list(cls.SPECIALS.values()) + chars + ["##" + c for c in chars]
        if vocab_size < len(vocab):
            raise ValueError(f"vocab_size: the specials and characters alone need {len(vocab)} tokens, "
                             f"got vocab_size = {vocab_size}")
        seen = set(vocab)
        for word, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if len(vocab) >= vocab_size or n < min_frequency:
                break
            if word not in seen:
                vocab.append(word)
                seen.add(word)
        return cls(vocab, lowercase=lowercase, source="train")

    def save_vocab(self, path: str | Path) -> None:
        """Write ``vocab.txt`` (readable by this class and by Hugging Face's ``BertTokenizer``)."""
        Path(path).write_text("".join(t + "\n" for t in self.ids_to_tokens), encoding="utf-8")

    @property
    def vocab_size(self) -> int:
        return len(self.ids_to_tokens)

    def __len__(self) -> int:
        return len(self.ids_to_tokens)

    def wordpiece(self, word: str) -> list[str]:
        """Greedy longest-match-first split of one word: "unaffable" -> ["una", "##ffa", "##ble"]."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:  # no piece matches: the whole word is unknown, not just this part
                return [self.unk_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        """Text -> WordPiece tokens, without [CLS]/[SEP]."""
        tokens = []
        for i, part in enumerate(self._special_re.split(text)):
            if i % 2:  # odd parts are the special tokens the split kept
                tokens.append(part)
                continue
            for word in basic_tokenize(part, self.lowercase):
                tokens += self.wordpiece(word)
        return tokens

    def convert_tokens_to_ids(self, tokens: str | Iterable[str]) -> int | list[int]:
        if isinstance(tokens, str):
            return self.vocab.get(tokens, self.unk_id)
        return [self.vocab.get(t, self.unk_id) for t in tokens]

    def convert_ids_to_tokens(self, ids: int | Iterable[int]) -> str | list[str]:
        if isinstance(ids, int):
            return self.ids_to_tokens[ids]
        return [self.ids_to_tokens[int(i)] for i in ids]

    def encode(self, text: str, text_pair: str | None = None, max_length: int | None = None,
               add_special_tokens: bool = True) -> dict[str, list[int]]:
        """``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]`` with segment ids 0 for a, 1 for b.

        ``max_length`` truncates (counting the special tokens) one token at a time
        from the end of the longer sequence, the second on a tie, as HF's
        ``longest_first``. Returns lists ``input_ids``, ``token_type_ids``, ``attention_mask``.
        """
        a = self.convert_tokens_to_ids(self.tokenize(text))
        b = self.convert_tokens_to_ids(self.tokenize(text_pair)) if text_pair is not None else None
        if max_length is not None:
            n_special = (3 if b is not None else 2) if add_special_tokens else 0
            if max_length < n_special + 1 + (b is not None):
                raise ValueError(f"max_length: need at least {n_special + 1 + (b is not None)} to keep one "
                                 f"token of each text, got {max_length}")
            while len(a) + len(b or ()) + n_special > max_length:
                if b is None or len(a) > len(b):
                    a = a[:-1]
                else:
                    b = b[:-1]
        if add_special_tokens:
            a = [self.cls_id] + a + [self.sep_id]
            b = b + [self.sep_id] if b is not None else None
        ids = a + (b or [])
        return {"input_ids": ids, "token_type_ids": [0] * len(a) + [1] * len(b or []), "attention_mask": [1] * len(ids)}

    def batch_encode(self, texts: Sequence[str | tuple[str, str]], padding: bool | str = True,
                     max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Encode many texts (or ``(a, b)`` pairs) into ``(B, T)`` LongTensors.

        ``padding=True`` pads with ``[PAD]`` to the longest in the batch,
        ``"max_length"`` to ``max_length``; ``attention_mask`` is 1 on real tokens.
        """
        if isinstance(texts, str):
            raise ValueError("texts: expected a list of strings or (text, text_pair) pairs, got one str")
        encs = [self.encode(*t, max_length=max_length) if isinstance(t, (tuple, list)) else
                self.encode(t, max_length=max_length) for t in texts]
        lengths = [len(e["input_ids"]) for e in encs]
        if padding == "max_length":
            if max_length is None:
                raise ValueError("max_length: padding='max_length' needs an int max_length, got None")
            T = max_length
        elif padding:
            T = max(lengths, default=0)
        elif len(set(lengths)) > 1:
            raise ValueError(f"padding: texts encode to different lengths {sorted(set(lengths))}; use padding=True")
        else:
            T = lengths[0] if lengths else 0
        pad_value = {"input_ids": self.pad_id, "token_type_ids": 0, "attention_mask": 0}
        return {k: torch.tensor([e[k] + [v] * (T - len(e[k])) for e in encs], dtype=torch.long).view(len(encs), T)
                for k, v in pad_value.items()}

    def decode(self, ids: Iterable[int] | torch.Tensor, skip_special_tokens: bool = True) -> str:
        """Ids -> text: pieces joined with spaces, ``##`` continuations glued to their word."""
        if isinstance(ids, torch.Tensor):
            ids = ids.flatten().tolist()
        tokens = [self.ids_to_tokens[i] for i in ids if not (skip_special_tokens and i in self.special_ids)]
        return " ".join(tokens).replace(" ##", "")
