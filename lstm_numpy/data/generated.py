"""A generated NER corpus, so the project runs without downloading anything.

Every sentence is built from invented names and hand-written templates; the
same seed gives byte-identical files.  The point is *ambiguity*: most entity
heads come from one shared pool of invented names, and the template decides
the type through context words a few tokens away, before or after::

    We met with Varnok yesterday .          Varnok -> B-PER  (cue before)
    The talks were held in Varnok .         Varnok -> B-LOC
    Varnok shares rose 3 percent .          Varnok -> B-ORG  (cue after)
    She speaks fluent Varnok .              Varnok -> B-MISC

A per-word most-frequent-label baseline therefore gets many entities wrong,
while a BiLSTM that reads a few words of context can get them right.  Labels
are IOB2 over PER, LOC, ORG and MISC; ``tagset="upos"`` tags the same sentences
with part of speech instead (a task with no chunk scheme).  A clause is an
entity-free filler with probability ``filler_p``: 0.12 by default (about 18% of
tokens in entities), :data:`RARE_FILLER_P` for a corpus where entities are rare
(about 2% of tokens, most sentences without one), as in social-media NER.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_numpy.data.generated_words import (ENTITY_AFFIXES, LITERAL_UPOS, SLOT_UPOS, SLOTS, SYLLABLES, TEMPLATES,
                                             WORDS)
from lstm_numpy.data.readers import Corpus, read_conll, write_conll

SPLITS = ("train", "dev", "test")
TAGSETS = ("ner", "upos")
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")
LEXICON_SEED = 20190  # fixed: the invented names are the same for every corpus seed
MIN_LENGTH, MAX_LENGTH = 5, 40
AMBIGUOUS_HEAD_P = 0.45  # share of entity heads drawn from the shared pool
FILLER_P = 0.12          # share of clauses without an entity
RARE_FILLER_P = 0.9      # ... in the rare-entity corpus: about 2% of tokens in entities

@dataclass(frozen=True)
class Lexicon:
    """Invented names: a shared pool of ambiguous heads and type-specific pools."""

    ambiguous: list[str]
    first_names: list[str]
    surnames: list[str]
    places: list[str]
    firms: list[str]
    nationalities: list[str]
    events: list[str]


def build_lexicon(rng: np.random.Generator | None = None) -> Lexicon:
    """Invent the names from syllables (a fixed rng unless one is passed)."""
    rng = np.random.default_rng(LEXICON_SEED) if rng is None else rng
    taken = {w.lower() for words in WORDS.values() for w in words}
    names: list[str] = []
    while len(names) < 330:
        word = "".join(rng.choice(SYLLABLES, size=rng.integers(2, 4)))
        if 4 <= len(word) <= 9 and word not in taken:
            taken.add(word)
            names.append(word.capitalize())
    sizes = {"ambiguous": 160, "first_names": 45, "surnames": 30, "places": 30, "firms": 30,
             "nationalities": 0, "events": 20}
    pools, start = {}, 0
    for key, size in sizes.items():
        pools[key] = names[start:start + size]
        start += size
    pools["nationalities"] = [p + ("ian" if p[-1] not in "aeiou" else "n") for p in pools["places"][:20]]
    return Lexicon(**pools)


def _entity(kind: str, form: str | None, lexicon: Lexicon, rng) -> list[str]:
    """Tokens of one entity of type ``kind``; ``form`` picks a shape (bare, full, firm, ...)."""
    pick = lambda pool: pool[rng.integers(len(pool))]  # noqa: E731
    own = {"PER": lexicon.surnames, "LOC": lexicon.places, "ORG": lexicon.firms, "MISC": lexicon.events}[kind]
    head = pick(lexicon.ambiguous) if rng.random() < AMBIGUOUS_HEAD_P else pick(own)
    if kind == "PER":
        if form == "full" or (form is None and rng.random() < 0.5):
            return [pick(lexicon.first_names), head]
        return [pick(lexicon.first_names)] if rng.random() < 0.1 else [head]
    if kind == "LOC":
        r = rng.random()
        if r < 0.15:
            return [pick(ENTITY_AFFIXES["loc_prefix"]), head]
        return [head, pick(ENTITY_AFFIXES["loc_suffix"])] if r < 0.3 else [head]
    if kind == "ORG":
        if form == "team":
            return [head, pick(ENTITY_AFFIXES["org_team"])]
        if form == "firm" or rng.random() < 0.5:
            return [head, pick(ENTITY_AFFIXES["org_firm"])]
        return [head]
    if form == "nat":
        return [pick(lexicon.nationalities)]
    if form == "event":
        return [head, pick(ENTITY_AFFIXES["misc_event"])]
    return [head]


def _fill(template: str, lexicon: Lexicon, rng) -> tuple[list[str], list[str], list[str]]:
    """Expand one template string into ``(tokens, NER labels, UPOS tags)``."""
    words, labels, upos = [], [], []
    for piece in template.split():
        if not (piece.startswith("{") and piece.endswith("}")):
            words.append(piece)
            labels.append("O")
            upos.append(LITERAL_UPOS[piece.lower()])
            continue
        name, _, form = piece[1:-1].partition(":")
        if name in ENTITY_TYPES:
            tokens = _entity(name, form or None, lexicon, rng)
            words += tokens
            labels += ["B-" + name] + ["I-" + name] * (len(tokens) - 1)
            upos += ["ADJ" if form == "nat" else "PROPN"] * len(tokens)   # "Varnokian troops"
            continue
        if name == "num":
            text = str(rng.integers(2, 100))
        elif name == "age":
            text = str(rng.integers(19, 80))
        elif name == "year":
            text = str(rng.integers(1950, 2024))
        elif name == "score":
            text = f"{rng.integers(0, 5)}-{rng.integers(0, 5)}"
        else:
            choices = SLOTS.get(name) or WORDS[name]
            text = choices[rng.integers(len(choices))]
            if "{" in text:  # an opener, tail or filler holding slots of its own
                more_words, more_labels, more_upos = _fill(text, lexicon, rng)
                words += more_words
                labels += more_labels
                upos += more_upos
                continue
        tokens = text.split()
        words += tokens
        labels += ["O"] * len(tokens)
        tag = SLOT_UPOS.get(name)
        upos += [tag] * len(tokens) if tag else [LITERAL_UPOS[t.lower()] for t in tokens]
    return words, labels, upos


def _tidy(*columns: list[str]) -> tuple[list[str], ...]:
    """Drop a comma that runs into more punctuation (``, ,`` or ``, .``), in every column."""
    words = columns[0]
    keep = [t for t, w in enumerate(words) if not (w == "," and t + 1 < len(words) and words[t + 1] in ",;.")]
    return tuple([column[t] for t in keep] for column in columns)


def generate_sentence(lexicon: Lexicon, rng: np.random.Generator, tagset: str = "ner",
                      filler_p: float = FILLER_P) -> tuple[list[str], list[str]]:
    """One sentence of ``MIN_LENGTH`` to ``MAX_LENGTH`` tokens: ``(tokens, labels)``.

    tagset: "ner" (IOB2 entity labels) or "upos" (part-of-speech tags of the
    same sentence: the rng is drawn from identically, so a seed gives the same
    tokens under either tag set); filler_p: the probability that a clause has no entity.
    """
    if tagset not in TAGSETS:
        raise ValueError(f"tagset must be one of {TAGSETS}, got {tagset!r}")
    while True:
        parts = ["{opener}"] if rng.random() < 0.35 else []
        n_clauses = rng.choice([1, 2, 3, 4], p=[0.5, 0.32, 0.13, 0.05])
        for k in range(n_clauses):
            if k:
                parts.append("{joiner}")
            if rng.random() < filler_p:
                parts.append("{filler}")
            else:
                kind = ENTITY_TYPES[rng.choice(4, p=[0.3, 0.28, 0.26, 0.16])]
                templates = TEMPLATES[kind]
                parts.append(templates[rng.integers(len(templates))])
        if rng.random() < 0.3:
            parts.append("{tail}")
        words, labels, upos = _tidy(*_fill(" ".join(parts) + " .", lexicon, rng))
        if MIN_LENGTH <= len(words) <= MAX_LENGTH:
            break
    words[0] = words[0][:1].upper() + words[0][1:]
    if rng.random() < 0.03:  # a headline in capitals, as newswire has
        words = [w.upper() for w in words]
    return words, (labels if tagset == "ner" else upos)


def generate_sentences(n: int, rng: np.random.Generator, lexicon: Lexicon | None = None, tagset: str = "ner",
                       filler_p: float = FILLER_P):
    """``n`` sentences: ``(list of token lists, list of label lists)``; tagset "ner" or "upos"."""
    lexicon = build_lexicon() if lexicon is None else lexicon
    pairs = [generate_sentence(lexicon, rng, tagset, filler_p) for _ in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def generate_corpus(
    out_dir: str | os.PathLike, seed: int = 0, n_train: int = 3000, n_dev: int = 500, n_test: int = 500,
    tagset: str = "ner", filler_p: float = FILLER_P,
) -> dict[str, Path]:
    """Write ``train.txt``, ``dev.txt``, ``test.txt`` (``token label``) into ``out_dir``.

    Each split has its own stream ``default_rng([seed, split_index])``, so
    changing one split's size leaves the others unchanged.  ``tagset="upos"``
    writes the same sentences with part-of-speech tags; ``filler_p`` sets how
    rare entities are (:data:`RARE_FILLER_P`).  Returns split -> path.
    """
    lexicon = build_lexicon()
    paths = {}
    for index, (split, n) in enumerate(zip(SPLITS, (n_train, n_dev, n_test))):
        if n < 1:
            raise ValueError(f"n_{split} must be at least 1, got {n}")
        sentences, labels = generate_sentences(n, np.random.default_rng([seed, index]), lexicon, tagset, filler_p)
        paths[split] = write_conll(Path(out_dir) / f"{split}.txt", sentences, labels)
    return paths


def load_generated(out_dir: str | os.PathLike | None = None, seed: int = 0, tagset: str = "ner",
                   **sizes) -> dict[str, Corpus]:
    """Generate the corpus (into a temporary directory if ``out_dir`` is None) and read it back.

    ``sizes`` are passed to :func:`generate_corpus` (``n_train``, ``n_dev``, ``n_test``).
    """
    if out_dir is None:
        with tempfile.TemporaryDirectory(prefix="lstm_numpy_generated_") as tmp:
            return load_generated(tmp, seed, tagset, **sizes)
    paths = generate_corpus(out_dir, seed, tagset=tagset, **sizes)
    return {split: read_conll(path) for split, path in paths.items()}
