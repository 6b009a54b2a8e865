"""Minimal pairs for activation patching: two sentences of the same length, identical but for
the context that decides a label, and the position whose label they disagree on.

A pair file (``read_pairs``) holds blocks separated by blank lines; ``#`` lines are comments::

    # clean sentence, corrupted sentence (tokens separated by tabs), then the position to read
    officials<TAB>met<TAB>with<TAB>Varnok<TAB>on<TAB>Monday<TAB>.
    officials<TAB>met<TAB>in<TAB>Varnok<TAB>on<TAB>Monday<TAB>.
    3
    B-PER<TAB>B-LOC

The position counts tokens from 0.  The fourth line is optional: the label each sentence
should give the token read (the model's label names; IOB2 names are converted to the
model's scheme).  Without it the model's own readings decide.  The two sentences must have
the same number of tokens; a block that does not fit is an error naming the file and the line.

:func:`generated_pairs` writes pairs for the generated corpus (data.generated): the same
invented name after one of two context words that the corpus uses to decide an entity's
type ("met with X" makes a person of X, "met in X" a place).  :func:`context_swap_pairs`
builds pairs from a real corpus with IOB2 labels (docs/results/conll2003_pairs.py runs it on
CoNLL-2003): a one-token entity after a context word that, in the training split, precedes
one entity type almost only, with that word swapped for the strongest such word of another
type.
"""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataFormatError
from .generated import build_lexicon
from .generated_words import WORDS


class MinimalPair(NamedTuple):
    clean: list              # (T,) tokens
    corrupted: list          # (T,) tokens, the same number
    position: int            # the token whose label the two disagree on
    clean_label: str | None  # the label the clean sentence should give it (None: not known)
    corrupted_label: str | None


# One context word flips the type of the entity at {X}: (template, its two words, their two labels).
# Kept: the templates whose pairs a BiLSTM trained by `python run.py` read as intended at least 43
# times in 60 (seed 0 of that run; "a spokesman for/from X", "held in/with X" and "live near/with X"
# were read as one type both ways, and were dropped).
PAIR_TEMPLATES = (
    ("{nouns} met {cue} {X} on {day} .", ("with", "in"), ("B-PER", "B-LOC")),
    ("{nouns} arrived {cue} {X} {time} .", ("in", "with"), ("B-LOC", "B-PER")),
    ("{nouns} signed a deal with {X} {cue} .", ("shares", "herself"), ("B-ORG", "B-PER")),
    ("{X} {cue} denied it .", ("herself", "shares"), ("B-PER", "B-ORG")),
    ("the {X} {cue} said", ("government", "herself"), ("B-MISC", "B-PER")),
    ("{nouns} read {X} {cue} .", ("poetry", "shares"), ("B-MISC", "B-ORG")),
    ("a {X} {cue} said", ("official", "spokesman"), ("B-MISC", "B-ORG")),
)


def generated_pairs(n, seed=0):
    """n MinimalPairs over the invented names of the generated corpus (its ambiguous heads, whose
    type only context decides), drawn from PAIR_TEMPLATES with a seeded rng."""
    rng = np.random.default_rng(seed)
    names = build_lexicon().ambiguous
    pairs = []
    for _ in range(n):
        template, cues, labels = PAIR_TEMPLATES[rng.integers(len(PAIR_TEMPLATES))]
        fill = {slot: WORDS[slot][rng.integers(len(WORDS[slot]))] for slot in ("nouns", "day", "time")}
        fill["X"] = names[rng.integers(len(names))]
        sentences = [template.format(cue=cue, **fill).split() for cue in cues]
        sentences = [[s[0][:1].upper() + s[0][1:]] + s[1:] for s in sentences]
        position = sentences[0].index(fill["X"])
        pairs.append(MinimalPair(sentences[0], sentences[1], position, labels[0], labels[1]))
    return pairs


def read_pairs(path):
    """[MinimalPair] of a pair file (see the module docstring); DataFormatError naming the file and
    line of a block that does not fit."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: not UTF-8 ({err})") from None
    blocks, current = [], []
    for number, line in enumerate(lines + [""], start=1):
        if line.startswith("#"):
            continue
        if line.strip():
            current.append((number, line))
        elif current:
            blocks.append(current)
            current = []
    pairs = []
    for block in blocks:
        first = block[0][0]
        if len(block) not in (3, 4):
            raise DataFormatError(f"{path}:{first}: a pair is three lines (clean sentence, corrupted sentence, "
                                  f"position) and an optional fourth (the two labels), this block has {len(block)}")
        (_, clean), (line_b, corrupted), (line_p, position) = block[:3]
        labels = (None, None)
        if len(block) == 4:
            line_l, text = block[3]
            labels = tuple(text.split("\t"))
            if len(labels) != 2 or not all(label.strip() for label in labels):
                raise DataFormatError(f"{path}:{line_l}: the fourth line of a pair is two labels separated by a tab "
                                      f"(the clean sentence's, the corrupted sentence's), got {text!r}")
        clean, corrupted = clean.split("\t"), corrupted.split("\t")
        if len(clean) != len(corrupted):
            raise DataFormatError(f"{path}:{line_b}: {len(corrupted)} tokens, the clean sentence above has "
                                  f"{len(clean)}: the two must align token by token (separate tokens by tabs)")
        try:
            index = int(position.strip())
        except ValueError:
            raise DataFormatError(f"{path}:{line_p}: the position to read must be a token number, got "
                                  f"{position.strip()!r}") from None
        if not 0 <= index < len(clean):
            raise DataFormatError(f"{path}:{line_p}: position {index} is outside the {len(clean)} tokens")
        pairs.append(MinimalPair(clean, corrupted, index, *labels))
    if not pairs:
        raise DataFormatError(f"{path}: no pairs")
    return pairs


def write_pairs(path, pairs, comment=None):
    """Write MinimalPairs in read_pairs' format (their labels too, when both are known), after
    ``comment`` lines (each written as a # line)."""
    head = "".join(f"# {line}\n" for line in (comment or "").splitlines())
    text = "".join("\t".join(p.clean) + "\n" + "\t".join(p.corrupted) + f"\n{p.position}\n"
                   + (f"{p.clean_label}\t{p.corrupted_label}\n" if p.clean_label and p.corrupted_label else "") + "\n"
                   for p in pairs)
    Path(path).write_text(head + text, encoding="utf-8")
    return Path(path)


def _one_token_entities(tokens, labels):
    """(position, type, the word before) of each one-token entity of an IOB2 sentence whose
    previous token is outside any entity."""
    for i in range(1, len(tokens)):
        if labels[i].startswith("B-") and labels[i - 1] == "O" and \
                (i + 1 == len(tokens) or labels[i + 1] != "I-" + labels[i][2:]):
            yield i, labels[i][2:], tokens[i - 1]


def context_cues(corpus, min_count=10, purity=0.8, words_only=True):
    """{word: (entity type, count)}: the words that precede a one-token entity at least
    ``min_count`` times in ``corpus`` (IOB2 labels), that type at least ``purity`` of them;
    words_only: only words of two or more letters (CoNLL-2003's sports tables make cues of
    ")", digits and the cricket scorecard's "b" and "c")."""
    counts = {}
    for tokens, labels in zip(corpus.sentences, corpus.labels):
        for _, kind, word in _one_token_entities(tokens, labels):
            if words_only and not (word.isalpha() and len(word) > 1):
                continue
            counts.setdefault(word, {}).setdefault(kind, 0)
            counts[word][kind] += 1
    cues = {}
    for word, by_type in counts.items():
        total = sum(by_type.values())
        kind, count = max(by_type.items(), key=lambda item: (item[1], item[0]))
        if total >= min_count and count >= purity * total:
            cues[word] = (kind, total)
    return cues


def context_swap_pairs(train, target, min_count=10, purity=0.8, words_only=True):
    """(pairs, cues, strongest): MinimalPairs of ``target``'s one-token entities that follow a
    context cue of their type (:func:`context_cues` of ``train``), one pair per other type with
    a cue, the cue swapped for that type's strongest (most frequent) cue; the pair's labels
    are B-<type> for the clean sentence and B-<other type> for the corrupted one (what the cues
    predict; the model's readings decide which pairs are used).  cues: {word: (type, count)};
    strongest: {type: word}.  Both corpora in IOB2."""
    cues = context_cues(train, min_count, purity, words_only)
    strongest = {}
    for word, (kind, count) in sorted(cues.items()):
        if kind not in strongest or count > cues[strongest[kind]][1]:
            strongest[kind] = word
    pairs = []
    for tokens, labels in zip(target.sentences, target.labels):
        for i, kind, word in _one_token_entities(tokens, labels):
            if cues.get(word, (None,))[0] != kind:
                continue
            for other, swap in sorted(strongest.items()):
                if other == kind:
                    continue
                corrupted = list(tokens)
                corrupted[i - 1] = swap
                pairs.append(MinimalPair(list(tokens), corrupted, i, f"B-{kind}", f"B-{other}"))
    return pairs, cues, strongest
