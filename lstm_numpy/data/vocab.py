"""Word and label vocabularies, casing, affix and character features, word dropout and GloVe vectors.

Dimension legend: T tokens in a sentence, V words in the vocabulary, E
embedding size.  Ids are ``int64``.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Collection, Iterable, Sequence

import numpy as np

from lstm_numpy.data.readers import iter_lines
from lstm_numpy.errors import DataFormatError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

# Casing of the original token, a small categorical feature (id 0 is padding).
CASES = ("pad", "lower", "upper", "title", "digit", "other")
CASE_PAD, CASE_LOWER, CASE_UPPER, CASE_TITLE, CASE_DIGIT, CASE_OTHER = range(len(CASES))


class Vocab:
    """Lower-cased word -> id, with ``<pad>`` = 0 and ``<unk>`` = 1.

    ``counts[i]`` is how often word ``i`` occurred in the training sentences
    (0 for the two specials); words seen fewer than ``min_count`` times are left out.
    ``lowercase=False`` keeps the case of words (a vocabulary imported from a model
    trained on cased words, interop.torch_tagger); this project's own training lowercases.
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int], min_count: int = 1, lowercase: bool = True):
        if list(words[:2]) != [PAD, UNK]:
            raise ValueError(f"a Vocab starts with {PAD!r}, {UNK!r}; got {list(words[:2])}")
        if len(words) != len(counts):
            raise ValueError(f"{len(words)} words but {len(counts)} counts")
        self.words = list(words)
        self.counts = [int(c) for c in counts]
        self.min_count = int(min_count)
        self.lowercase = bool(lowercase)
        self.index = {word: i for i, word in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise ValueError("duplicate words in a Vocab")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_count: int = 1) -> "Vocab":
        """Vocabulary of the lower-cased training words, most frequent first (ties alphabetical)."""
        counter = Counter(word.lower() for words in sentences for word in words)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        return cls([PAD, UNK, *kept], [0, 0, *(counter[w] for w in kept)], min_count)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return (word.lower() if self.lowercase else word) in self.index

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """``(T,) int64`` ids of the (lower-cased) words; unknown words get ``UNK_ID``."""
        if self.lowercase:
            return np.array([self.index.get(w.lower(), UNK_ID) for w in words], dtype=np.int64)
        return np.array([self.index.get(w, UNK_ID) for w in words], dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.words[int(i)] for i in ids]

    def singleton_mask(self) -> np.ndarray:
        """``(V,) bool``: True for words seen exactly once in training."""
        return np.array(self.counts, dtype=np.int64) == 1

    def to_dict(self) -> dict:
        data = {"kind": "Vocab", "words": list(self.words), "counts": list(self.counts), "min_count": self.min_count}
        if not self.lowercase:                  # written only when it is not the default, so older files read alike
            data["lowercase"] = False
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        if data.get("kind") != "Vocab":
            raise ValueError(f"not a Vocab dict (kind={data.get('kind')!r})")
        return cls(data["words"], data["counts"], data.get("min_count", 1), data.get("lowercase", True))

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words, min_count={self.min_count})"


def case_id(word: str) -> int:
    """One of ``CASE_*``: digit wins, then lower, UPPER, Title, else other."""
    if any(ch.isdigit() for ch in word):
        return CASE_DIGIT
    if word.islower():
        return CASE_LOWER
    if word.isupper():
        return CASE_UPPER
    if word[:1].isupper() and not any(ch.isupper() for ch in word[1:]):
        return CASE_TITLE
    return CASE_OTHER


def case_ids(words: Sequence[str]) -> np.ndarray:
    """``(T,) int64`` casing ids of the original (not lower-cased) tokens."""
    return np.array([case_id(w) for w in words], dtype=np.int64)


# Word affixes, the tagger's only view inside a word: "p3" is the first three
# letters of the lower-cased word, "s2" the last two (the whole word when shorter).
# An unseen word such as "Kowalczyk" still shares "s2:yk" with names it has
# seen; the test split of CoNLL-2003 has 28% unseen entity tokens.
AFFIXES = ("p2", "p3", "s2", "s3", "s4")


def affix(word: str, kind: str) -> str:
    """The ``kind`` affix of the lower-cased ``word`` ("s3", "johnson" -> "son")."""
    n, word = int(kind[1:]), word.lower()
    return word[:n] if kind[0] == "p" else word[-n:]


class AffixVocab:
    """Affix strings -> ids, ``<pad>`` = 0 and ``<unk>`` = 1, one table for every kind.

    Built from a word ``Vocab`` (its words and training counts), so a
    checkpoint that stores the Vocab can rebuild it exactly: an affix is kept
    when the training tokens that carry it number at least ``min_count``.
    Keys are ``"s3:son"``, so equal strings of different kinds get different ids.
    """

    def __init__(self, vocab: Vocab, kinds: Sequence[str] = AFFIXES, min_count: int = 2):
        for kind in kinds:
            if kind[:1] not in ("p", "s") or not kind[1:].isdigit() or int(kind[1:]) < 1:
                raise ValueError(f"affix kinds look like 'p3' or 's2', got {kind!r}")
        self.kinds, self.min_count = tuple(kinds), int(min_count)
        counter = Counter()
        for word, count in zip(vocab.words[2:], vocab.counts[2:]):
            for kind in self.kinds:
                counter[f"{kind}:{affix(word, kind)}"] += count
        kept = sorted((k for k, c in counter.items() if c >= min_count), key=lambda k: (-counter[k], k))
        self.keys = [PAD, UNK, *kept]
        self.index = {key: i for i, key in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """``(T, A) int64``: column ``a`` holds the ids of affix kind ``kinds[a]``."""
        ids = [[self.index.get(f"{kind}:{affix(w, kind)}", UNK_ID) for kind in self.kinds] for w in words]
        return np.array(ids, dtype=np.int64).reshape(len(words), len(self.kinds))

    def __repr__(self) -> str:
        return f"AffixVocab({len(self)} affixes of kinds {','.join(self.kinds)}, min_count={self.min_count})"


MAX_WORD_CHARS = 20   # a longer token keeps its first and last 10 characters


class CharVocab:
    """Characters of the lower-cased training words -> ids, ``<pad>`` = 0 and ``<unk>`` = 1.

    Built from a word ``Vocab``, so a checkpoint that stores the Vocab rebuilds
    it exactly (casing reaches the tagger through the casing feature).
    Ids are ordered by how many training tokens contain the character, then alphabetically.
    """

    def __init__(self, vocab: Vocab):
        counter = Counter()
        for word, count in zip(vocab.words[2:], vocab.counts[2:]):
            for ch in set(word):
                counter[ch] += count
        self.chars = [PAD, UNK, *sorted(counter, key=lambda ch: (-counter[ch], ch))]
        self.index = {ch: i for i, ch in enumerate(self.chars)}

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, words: Sequence[str]) -> np.ndarray:
        """``(T, L) int64``, L the longest word (at most MAX_WORD_CHARS); 0 pads shorter words."""
        half = MAX_WORD_CHARS // 2
        words = [w.lower() if len(w) <= MAX_WORD_CHARS else (w[:half] + w[-half:]).lower() for w in words]
        ids = np.zeros((len(words), max((len(w) for w in words), default=0)), dtype=np.int64)
        for t, word in enumerate(words):
            ids[t, :len(word)] = [self.index.get(ch, UNK_ID) for ch in word]
        return ids

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters)"


class LabelVocab:
    """Label -> id; ``build`` puts "O" first and the rest sorted, the constructor keeps the given order."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.index = {label: i for i, label in enumerate(self.labels)}
        if len(self.index) != len(self.labels):
            raise ValueError(f"duplicate labels in {self.labels}")

    @classmethod
    def build(cls, label_seqs: Iterable[Sequence[str]]) -> "LabelVocab":
        seen = {label for labels in label_seqs for label in labels}
        return cls((["O"] if "O" in seen else []) + sorted(seen - {"O"}))

    def __len__(self) -> int:
        return len(self.labels)

    def encode(self, labels: Sequence[str], sentence_index: int | None = None) -> np.ndarray:
        """``(T,) int64`` label ids; an unknown label raises DataFormatError naming it."""
        try:
            return np.array([self.index[label] for label in labels], dtype=np.int64)
        except KeyError as err:
            where = "" if sentence_index is None else f" in sentence {sentence_index}"
            raise DataFormatError(
                f"unknown label {err.args[0]!r}{where}; known labels: {', '.join(self.labels)}"
            ) from None

    def encode_all(self, label_seqs: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [self.encode(labels, i) for i, labels in enumerate(label_seqs)]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.labels[int(i)] for i in ids]

    def to_dict(self) -> dict:
        return {"kind": "LabelVocab", "labels": list(self.labels)}

    @classmethod
    def from_dict(cls, data: dict) -> "LabelVocab":
        if data.get("kind") != "LabelVocab":
            raise ValueError(f"not a LabelVocab dict (kind={data.get('kind')!r})")
        return cls(data["labels"])

    def __eq__(self, other) -> bool:
        return isinstance(other, LabelVocab) and self.labels == other.labels

    def __repr__(self) -> str:
        return f"LabelVocab({self.labels})"


def replace_singletons(
    ids: np.ndarray, singletons: np.ndarray | Collection[int], p: float, rng: np.random.Generator,
    p_other: float = 0.0,
) -> np.ndarray:
    """Word dropout: each training singleton in ``ids`` becomes ``UNK_ID`` with
    probability ``p``, every other word (not ``<pad>``/``<unk>``) with ``p_other``.

    ``ids`` any shape, int; ``singletons`` a ``(V,) bool`` mask (``Vocab.singleton_mask()``)
    or a collection of ids.  Returns a new array; ``ids`` is not changed.
    ``p_other`` > 0 makes the tagger practise on unknown words whose casing,
    affixes and characters it still sees: at test time those are common.
    """
    for name, value in (("p", p), ("p_other", p_other)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")
    ids = np.asarray(ids)
    if isinstance(singletons, np.ndarray) and singletons.dtype == bool:
        is_singleton = singletons[ids]
    else:
        is_singleton = np.isin(ids, np.fromiter(singletons, dtype=np.int64))
    if p_other > 0:
        drop = rng.random(ids.shape) < np.where(is_singleton, p, np.where(ids > UNK_ID, p_other, 0.0))
    else:
        drop = is_singleton & (rng.random(ids.shape) < p)        # the same draws, fewer temporaries
    return np.where(drop, UNK_ID, ids).astype(ids.dtype)


def load_glove(
    path: str | os.PathLike, vocab: Vocab, dim: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """Read GloVe text (``word f1 ... f_dim`` a line) into a ``(V, dim) float64`` matrix.

    Words match lower-cased (an exact lower-case entry wins over a cased one).
    Rows of words not found are drawn from ``rng`` as normal noise with the
    standard deviation of the found vectors (``1/sqrt(dim)`` if none); the
    ``<pad>`` row is zero.  Returns ``(vectors, coverage)`` where coverage is the
    fraction of vocabulary words (specials excluded) found in the file.
    """
    vectors = np.zeros((len(vocab), dim), dtype=np.float64)
    found = np.zeros(len(vocab), dtype=bool)
    exact = np.zeros(len(vocab), dtype=bool)
    for number, line in iter_lines(path):
        if not line.strip():
            continue
        fields = line.rstrip().split(" ")
        if len(fields) != dim + 1:
            raise DataFormatError(
                f"{path} line {number}: expected a word and {dim} numbers, got {len(fields)} fields"
            )
        word = fields[0]
        i = vocab.index.get(word.lower())
        if i is None or i < 2 or exact[i]:
            continue
        try:
            vectors[i] = [float(x) for x in fields[1:]]
        except ValueError:
            raise DataFormatError(f"{path} line {number}: expected {dim} numbers after {word!r}") from None
        found[i] = True
        exact[i] = word == word.lower()
    missing = ~found
    missing[PAD_ID] = False
    scale = float(vectors[found].std()) if found.any() else 0.0
    scale = scale if scale > 0 else 1.0 / np.sqrt(dim)
    vectors[missing] = rng.normal(0.0, scale, size=(int(missing.sum()), dim))
    n_words = len(vocab) - 2
    coverage = float(found.sum()) / n_words if n_words else 0.0
    return vectors, coverage
