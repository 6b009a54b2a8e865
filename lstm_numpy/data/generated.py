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
with part of speech instead (a task with no chunk scheme).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm_numpy.data.readers import Corpus, read_conll, write_conll

SPLITS = ("train", "dev", "test")
ENTITY_TYPES = ("PER", "LOC", "ORG", "MISC")
LEXICON_SEED = 20190  # fixed: the invented names are the same for every corpus seed
MIN_LENGTH, MAX_LENGTH = 5, 40
AMBIGUOUS_HEAD_P = 0.45  # share of entity heads drawn from the shared pool

_SYLLABLES = (
    "var no kel dra mi tor sa len qua bri zen hal ost ru vin mar tel oka dun fer "
    "lys gor ima pe thal wen ska cor ul nad bex tro sil ka vel jor mun esk ta rin"
).split()

# Ordinary words.  Capitalised days and months are O, as in newswire.
_W = {
    "day": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "month": "January February March April May June July August September October November December".split(),
    "time": "yesterday today earlier later recently again overnight".split(),
    "det": "the a this that another every".split(),
    "adj": (
        "new old large small strong weak early late final annual local national foreign "
        "public private official quiet busy difficult important recent possible major "
        "similar further senior junior fresh open"
    ).split(),
    "noun": (
        "plan report meeting market deal season match price crowd team vote budget decision "
        "project company government agreement statement committee league result policy "
        "contract economy election inquiry offer proposal strike tournament weather winter "
        "summer harvest factory bridge road court hospital school museum festival study"
    ).split(),
    "nouns": (
        "prices talks officials fans workers farmers analysts voters players doctors teachers "
        "investors shares exports sales taxes rates costs wages troops police"
    ).split(),
    "verb": (
        "failed improved changed collapsed continued started ended stalled recovered fell rose "
        "doubled slowed surprised worried pleased divided"
    ).split(),
    "adv": "sharply slightly quickly slowly steadily suddenly again already still".split(),
    "opener": [
        "On {day} ,", "In {month} ,", "Earlier , ", "However ,", "Meanwhile ,", "As expected ,",
        "By {month} ,", "Late on {day} ,", "For the first time ,", "In {year} ,",
    ],
    "tail": [
        ", analysts said", ", the report showed", ", officials said", "as expected",
        "for the {ordinal} time", "on {day}", "in {month}", "last {noun_time}", ", sources said",
        "after {num} days of talks", "despite the {adj} {noun}",
    ],
    "filler": [
        "the {adj} {noun} {verb} {adv}", "{nouns} {verb} {num} percent", "{det} {noun} was {adj}",
        "{nouns} {verb} {adv} in {month}", "the {noun} will take {num} weeks",
        "{num} {nouns} were hurt", "the {adj} {noun} {verb} on {day}",
    ],
    "joiner": [", and", ", while", ";", ", but", "and", ", although"],
    "ordinal": "second third fourth fifth sixth".split(),
    "noun_time": "week month year season weekend".split(),
}

# Core clauses: each slot {TYPE} or {TYPE:form} is an entity; cue words decide its type.
TEMPLATES = {
    "PER": [
        "we {met} {PER} {time}", "coach {PER} said the {noun} {verb}", "{PER} told reporters {time}",
        "{PER} , {age} , said the {noun} was {adj}", "{title} {PER} resigned on {day}",
        "{PER} scored {num} goals", "the {adj} {role} {PER} was {adj}", "according to {PER:full} , {nouns} {verb}",
        "{PER} 's wife said she was {adj}", "{title} {PER} arrived {time}", "officials {met} {PER:full} on {day}",
        "{PER} , who was born in {year} ,", "a letter from {PER} was read", "{PER} herself denied it",
        "{PER} himself was not available",
    ],
    "LOC": [
        "{nouns} flew to {LOC} {time}", "heavy rain fell in {LOC}", "{nouns} arrived in {LOC} on {day}",
        "the city of {LOC}", "{num} km north of {LOC}", "{LOC} 's capital was {adj}",
        "the talks were held in {LOC}", "{LOC} , where {num} people live ,", "the {LOC} border was closed",
        "{nouns} live near {LOC}", "a {noun} south of {LOC}", "the road to {LOC} was blocked",
        "{LOC} 's coast was hit by storms", "{nouns} travelled from {LOC} to {LOC}",
    ],
    "ORG": [
        "{ORG} shares rose {num} percent", "shares in {ORG} {verb}", "a spokesman for {ORG} said",
        "{ORG} reported a net profit of {num} million", "{PER} joined {ORG:firm} in {year}",
        "{ORG:team} beat {ORG:team} {score}", "analysts at {ORG} {verb}", "{ORG} said in a statement",
        "{nouns} signed a deal with {ORG}", "the chief executive of {ORG} said", "{ORG} 's board met",
        "{ORG:firm} cut {num} jobs", "{ORG} stock {verb} {adv}",
    ],
    "MISC": [
        "she speaks fluent {MISC:bare}", "{MISC:bare} cuisine is {adj}", "the {MISC:bare} language",
        "{PER} won the {MISC:event}", "the {MISC:event} final", "{MISC:nat} troops arrived",
        "the {MISC:nat} government said", "a {MISC:nat} official said", "tickets for the {MISC:event} sold out",
        "{MISC:bare} music was played", "the {ordinal} {MISC:event} opened", "{nouns} read {MISC:bare} poetry",
    ],
}
_SLOTS = {
    "met": ["met with", "spoke with", "interviewed", "thanked", "praised", "criticised", "phoned"],
    "title": ["Mr.", "Mrs.", "Dr.", "President", "minister", "striker", "judge", "actor"],
    "role": ["singer", "goalkeeper", "lawyer", "writer", "captain"],
}
# Part of speech (Universal Dependencies UPOS) of the generated corpus's words, for
# ``tagset="upos"``: slot words by their slot, template words by this table.  A few
# words are tagged by where they stand ("official" is ADJ as a slot adjective and
# NOUN in "a ... official said"; "final" likewise), entity words are PROPN and
# nationalities ADJ.  The text is the NER corpus's, word for word.
TAGSETS = ("ner", "upos")
_SLOT_UPOS = {"day": "PROPN", "month": "PROPN", "time": "ADV", "det": "DET", "adj": "ADJ", "noun": "NOUN",
              "nouns": "NOUN", "verb": "VERB", "adv": "ADV", "ordinal": "ADJ", "noun_time": "NOUN",
              "num": "NUM", "age": "NUM", "year": "NUM", "score": "NUM"}
_LITERAL_UPOS = {
    **dict.fromkeys([",", ";", "."], "PUNCT"), "'s": "PART", "not": "PART",
    **dict.fromkeys("by for in on after at despite from near of to with out".split(), "ADP"),
    **dict.fromkeys("as while although".split(), "SCONJ"), **dict.fromkeys(["and", "but"], "CCONJ"),
    **dict.fromkeys("earlier however late meanwhile where north south".split(), "ADV"),
    **dict.fromkeys(["a", "the"], "DET"), **dict.fromkeys("herself himself it she we who".split(), "PRON"),
    **dict.fromkeys("is was were will".split(), "AUX"), "million": "NUM",
    **dict.fromkeys(["mr.", "mrs.", "dr.", "president"], "PROPN"),
    **dict.fromkeys("chief heavy fluent net available first last".split(), "ADJ"),
    **dict.fromkeys(
        "actor analysts board border capital captain city coach coast cuisine days deal executive final "
        "goalkeeper goals government jobs judge km language lawyer letter minister music official officials "
        "people percent poetry profit rain report reporters road shares singer sources spokesman statement "
        "stock storms striker talks tickets time troops weeks wife writer".split(), "NOUN"),
    **dict.fromkeys(
        "according arrived beat blocked born closed criticised cut denied expected fell flew held hit hurt "
        "interviewed joined live met opened phoned played praised read reported resigned rose said scored "
        "showed signed sold speaks spoke take thanked told travelled won".split(), "VERB"),
}

_AFFIXES = {
    "loc_prefix": ["Port", "Lake", "Mount", "Fort"],
    "loc_suffix": ["Valley", "Bay", "Heights", "Springs"],
    "org_firm": ["Motors", "Group", "Bank", "Holdings", "Airlines", "Energy", "Telecom", "Insurance"],
    "org_team": ["United", "Rovers", "Athletic", "Wanderers"],
    "misc_event": ["Cup", "Open", "Festival", "Prize", "Games", "Marathon"],
}


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
    taken = {w.lower() for words in _W.values() for w in words}
    names: list[str] = []
    while len(names) < 330:
        word = "".join(rng.choice(_SYLLABLES, size=rng.integers(2, 4)))
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
            return [pick(_AFFIXES["loc_prefix"]), head]
        return [head, pick(_AFFIXES["loc_suffix"])] if r < 0.3 else [head]
    if kind == "ORG":
        if form == "team":
            return [head, pick(_AFFIXES["org_team"])]
        if form == "firm" or rng.random() < 0.5:
            return [head, pick(_AFFIXES["org_firm"])]
        return [head]
    if form == "nat":
        return [pick(lexicon.nationalities)]
    if form == "event":
        return [head, pick(_AFFIXES["misc_event"])]
    return [head]


def _fill(template: str, lexicon: Lexicon, rng) -> tuple[list[str], list[str], list[str]]:
    """Expand one template string into ``(tokens, NER labels, UPOS tags)``."""
    words, labels, upos = [], [], []
    for piece in template.split():
        if not (piece.startswith("{") and piece.endswith("}")):
            words.append(piece)
            labels.append("O")
            upos.append(_LITERAL_UPOS[piece.lower()])
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
            choices = _SLOTS.get(name) or _W[name]
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
        tag = _SLOT_UPOS.get(name)
        upos += [tag] * len(tokens) if tag else [_LITERAL_UPOS[t.lower()] for t in tokens]
    return words, labels, upos


def _tidy(*columns: list[str]) -> tuple[list[str], ...]:
    """Drop a comma that runs into more punctuation (``, ,`` or ``, .``), in every column."""
    words = columns[0]
    keep = [t for t, w in enumerate(words) if not (w == "," and t + 1 < len(words) and words[t + 1] in ",;.")]
    return tuple([column[t] for t in keep] for column in columns)


def generate_sentence(lexicon: Lexicon, rng: np.random.Generator, tagset: str = "ner") -> tuple[list[str], list[str]]:
    """One sentence of ``MIN_LENGTH`` to ``MAX_LENGTH`` tokens: ``(tokens, labels)``.

    tagset: "ner" (IOB2 entity labels) or "upos" (part-of-speech tags of the
    same sentence: the rng is drawn from identically, so a seed gives the same
    tokens under either tag set).
    """
    if tagset not in TAGSETS:
        raise ValueError(f"tagset must be one of {TAGSETS}, got {tagset!r}")
    while True:
        parts = ["{opener}"] if rng.random() < 0.35 else []
        n_clauses = rng.choice([1, 2, 3, 4], p=[0.5, 0.32, 0.13, 0.05])
        for k in range(n_clauses):
            if k:
                parts.append("{joiner}")
            if rng.random() < 0.12:
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


def generate_sentences(n: int, rng: np.random.Generator, lexicon: Lexicon | None = None, tagset: str = "ner"):
    """``n`` sentences: ``(list of token lists, list of label lists)``; tagset "ner" or "upos"."""
    lexicon = build_lexicon() if lexicon is None else lexicon
    pairs = [generate_sentence(lexicon, rng, tagset) for _ in range(n)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def generate_corpus(
    out_dir: str | os.PathLike, seed: int = 0, n_train: int = 3000, n_dev: int = 500, n_test: int = 500,
    tagset: str = "ner",
) -> dict[str, Path]:
    """Write ``train.txt``, ``dev.txt``, ``test.txt`` (``token label``) into ``out_dir``.

    Each split has its own stream ``default_rng([seed, split_index])``, so
    changing one split's size leaves the others unchanged.  ``tagset="upos"``
    writes the same sentences with part-of-speech tags.  Returns split -> path.
    """
    lexicon = build_lexicon()
    paths = {}
    for index, (split, n) in enumerate(zip(SPLITS, (n_train, n_dev, n_test))):
        if n < 1:
            raise ValueError(f"n_{split} must be at least 1, got {n}")
        sentences, labels = generate_sentences(n, np.random.default_rng([seed, index]), lexicon, tagset)
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
