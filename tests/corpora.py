"""Small corpora written in every format the command line reads, for end-to-end tests.

The "easy" corpus is learnable word by word: every entity's first word comes
from a list of its type's first words and any second word from its second
words, and other words are O, so the most-frequent-label baseline scores
about 100 and a trained tagger must come close.  Entities of one type
sometimes touch, so IOB1 needs its B- tags.  The part-of-speech version tags
each word with one fixed UPOS tag.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_numpy.labels import convert

OTHER_WORDS = ("the said on in of a to and was for has by at with from that it were is new").split()
ENTITY_WORDS = {  # type -> (first words, second words)
    "PER": ("Anna Boris Carla Dmitri Elena Farid Greta Hugo".split(), "Smith Novak Ortiz Lind".split()),
    "LOC": ("Paris Lagos Quito Oslo Perth Hanoi Lima Riga".split(), "City Bay Falls Heights".split()),
    "ORG": ("Acme Globex Initech Umbrella Hooli Vandelay Wonka Soylent".split(), "Corp Group Bank Ltd".split()),
}
POS_WORDS = {"DET": "the a this every".split(), "NOUN": "dog plan city report team".split(),
             "VERB": "runs saw made said took".split(), "ADP": "in on of with".split(),
             "PROPN": "Anna Paris Acme Oslo".split(), "PUNCT": [",", "."]}


def easy_ner(n, seed):
    """n sentences: (tokens, IOB2 labels)."""
    rng = np.random.default_rng(seed)
    sentences, labels = [], []
    for _ in range(n):
        words, tags = [], []
        length = rng.integers(4, 12)
        while len(words) < length:
            if rng.random() < 0.35:
                kind = ("PER", "LOC", "ORG")[rng.integers(3)]
                first, second = ENTITY_WORDS[kind]
                repeat = 2 if rng.random() < 0.1 else 1        # two entities of one type, touching
                for _ in range(repeat):
                    words.append(first[rng.integers(len(first))])
                    tags.append("B-" + kind)
                    if rng.random() < 0.5:
                        words.append(second[rng.integers(len(second))])
                        tags.append("I-" + kind)
            else:
                words.append(OTHER_WORDS[rng.integers(len(OTHER_WORDS))])
                tags.append("O")
        sentences.append(words)
        labels.append(tags)
    return sentences, labels


def easy_pos(n, seed):
    """n sentences: (tokens, UPOS tags), one tag per word type."""
    rng = np.random.default_rng(seed)
    tags_of = list(POS_WORDS)
    sentences, labels = [], []
    for _ in range(n):
        tags = [tags_of[rng.integers(len(tags_of) - 1)] for _ in range(rng.integers(3, 10))] + ["PUNCT"]
        sentences.append([POS_WORDS[t][rng.integers(len(POS_WORDS[t]))] if t != "PUNCT" else "." for t in tags])
        labels.append(tags)
    return sentences, labels


SIZES = {"train": (300, 1), "dev": (60, 2), "test": (60, 3)}


def write_columns(folder, scheme="iob2", kind="columns"):
    """The easy NER corpus as train/dev/test files; returns {split: Path}.

    kind: "columns" (word POS NER, whitespace), "conll2003" (word POS chunk NER
    with -DOCSTART- lines), "tsv" (word<TAB>label). scheme: iob1, iob2 or bioes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, (n, seed) in SIZES.items():
        sentences, labels = easy_ner(n, seed)
        lines = ["-DOCSTART- -X- -X- O", ""] if kind == "conll2003" else []
        for words, tags in zip(sentences, labels):
            for word, tag in zip(words, convert(tags, "iob2", scheme)):
                pos = "NNP" if tag != "O" else "DT"
                lines.append({"columns": f"{word} {pos} {tag}", "conll2003": f"{word} {pos} I-NP {tag}",
                              "tsv": f"{word}\t{tag}"}[kind])
            lines.append("")
        paths[split] = folder / f"{split}.{'tsv' if kind == 'tsv' else 'txt'}"
        paths[split].write_text("\n".join(lines), encoding="utf-8")
    return paths


def write_conllu(folder):
    """The easy POS corpus as CoNLL-U, with comments and a multiword range per sentence."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, (n, seed) in SIZES.items():
        sentences, tags = easy_pos(n, seed)
        lines = []
        for s, (words, upos) in enumerate(zip(sentences, tags)):
            lines += [f"# sent_id = {split}-{s}", f"# text = {' '.join(words)}"]
            lines.append(f"1-2\t{words[0]}{words[1]}\t_\t_\t_\t_\t_\t_\t_\t_")   # a range line, to be skipped
            for t, (word, tag) in enumerate(zip(words, upos), start=1):
                lines.append(f"{t}\t{word}\t{word.lower()}\t{tag}\t_\t_\t0\tdep\t_\t_")
            lines.append("")
        paths[split] = folder / f"{split}.conllu"
        paths[split].write_text("\n".join(lines) + "\n", encoding="utf-8")
    return paths


def subset(source, target, n_sentences, conllu=False):
    """The first n sentences of a real corpus file, written to ``target`` (kept out of the repository)."""
    blocks, current = [], []
    for line in Path(source).read_text(encoding="utf-8").splitlines():
        if line.startswith("-DOCSTART-"):
            continue
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
            if len(blocks) == n_sentences:
                break
    if current and len(blocks) < n_sentences:
        blocks.append(current)
    Path(target).write_text("".join("\n".join(b) + "\n\n" for b in blocks), encoding="utf-8")
    return Path(target)
