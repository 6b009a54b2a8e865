"""Minimal pairs for activation patching: two sentences of the same length, identical but for
the context that decides a label, and the position whose label they disagree on.

A pair file (``read_pairs``) holds blocks separated by blank lines; ``#`` lines are comments::

    # clean sentence, corrupted sentence (tokens separated by tabs), then the position to read
    officials<TAB>met<TAB>with<TAB>Varnok<TAB>on<TAB>Monday<TAB>.
    officials<TAB>met<TAB>in<TAB>Varnok<TAB>on<TAB>Monday<TAB>.
    3

The position counts tokens from 0.  The two sentences must have the same number of tokens;
a block that does not fit is an error naming the file and the line.

:func:`generated_pairs` writes pairs for the generated corpus (data.generated): the same
invented name after one of two context words that the corpus uses to decide an entity's
type ("met with X" makes a person of X, "met in X" a place).
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
        if len(block) != 3:
            raise DataFormatError(f"{path}:{first}: a pair is three lines (clean sentence, corrupted sentence, "
                                  f"position), this block has {len(block)}")
        (_, clean), (line_b, corrupted), (line_p, position) = block
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
        pairs.append(MinimalPair(clean, corrupted, index, None, None))
    if not pairs:
        raise DataFormatError(f"{path}: no pairs")
    return pairs


def write_pairs(path, pairs):
    """Write MinimalPairs in read_pairs' format."""
    text = "".join("\t".join(p.clean) + "\n" + "\t".join(p.corrupted) + f"\n{p.position}\n\n" for p in pairs)
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)
