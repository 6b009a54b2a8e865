"""The steps ``run.py`` and the lessons share: load splits, build vocabularies,
configure a tagger from a preset, train it and evaluate it.

data -> vocabulary -> model -> training -> evaluation; analysis and the
report build on what :func:`train_tagger` returns.
"""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .defaults import (CASE_DIM, CHAR_DIM, DATA_KINDS, FILE_KINDS, GENERATED_KINDS,  # noqa: F401 (the pipeline's names)
                       GENERATED_SIZES, PRESETS)
from .data.readers import Corpus, default_conll2003_dir, read_conll, read_conllu, read_token_label
from .data.batching import encode_corpus
from .data.generated import FILLER_P, RARE_FILLER_P, generate_corpus
from .data.pairs import generated_pairs, read_pairs
from .errors import CheckpointError, DataNotFoundError, LabelSchemeError, UsageError
from .labels import convert, detect_scheme
from .data.vocab import CASES, AffixVocab, CharVocab, LabelVocab, Vocab, load_glove
from .model.tagger import TaggerConfig, init_tagger
from .prediction import evaluate_split, predict_split
from .training.loop import train
from .training.checkpoint import load_checkpoint
from .evaluation.metrics import evaluate



SPLIT_FILE_NAMES = {"train": ("train",), "dev": ("dev", "valid"), "test": ("test",)}
SPLIT_FILE_SUFFIXES = (".txt", ".conllu", ".tsv")


def split_paths(data, data_dir=None, train=None, dev=None, test=None, required=None):
    """{"train", "dev", "test"} -> Path of a file kind (one of FILE_KINDS).

    A path given for a split is used as it is; the others are looked up in
    ``data_dir`` (``train``, ``dev`` or ``valid``, ``test`` with suffix .txt,
    .conllu or .tsv), and for conll2003 without ``data_dir`` in
    :func:`~lstm_numpy.data.readers.default_conll2003_dir`.  A split that is
    not found raises UsageError (for the ``required`` splits, default all three; another is
    left out), a path that does not exist DataNotFoundError.
    """
    if data not in FILE_KINDS:
        raise UsageError(f"--data {data} reads no files; file kinds are {', '.join(FILE_KINDS)}")
    given = {"train": train, "dev": dev, "test": test}
    folder = data_dir
    if folder is None and data == "conll2003" and None in given.values():
        folder = default_conll2003_dir()
    if folder is not None and not Path(folder).is_dir():
        raise DataNotFoundError(f"{folder}: no such folder")
    paths = {}
    for split, names in SPLIT_FILE_NAMES.items():
        if given[split] is not None:
            paths[split] = Path(given[split])
        elif folder is not None:
            found = [Path(folder) / f"{name}{suffix}" for name in names for suffix in SPLIT_FILE_SUFFIXES]
            paths[split] = next((path for path in found if path.is_file()), None)
    missing = [split for split in (required or SPLIT_FILE_NAMES) if paths.get(split) is None]
    paths = {split: path for split, path in paths.items() if path is not None}
    if missing:
        where = f" and none was found in {folder}" if folder is not None else ""
        raise UsageError(f"--data {data} needs a file for {', '.join(missing)}: give "
                         + " ".join(f"--{split} FILE" for split in missing) + f" or --data-dir{where}")
    for split, path in paths.items():
        if not path.is_file():
            raise DataNotFoundError(f"--{split} {path}: no such file")
    return paths


def load_splits(data="generated", data_dir=None, train=None, dev=None, test=None,
                seed=0, sizes=GENERATED_SIZES["full"], label_column=-1, conllu_tag="upos", required=None):
    """Return {"train", "dev", "test"} -> Corpus, labels as the files write them.

    data: "generated" / "generated-pos" / "generated-rare" (the generated corpus
    with entity or part-of-speech labels, or with rare entities, ``sizes`` =
    (train, dev, test) sentences, written to data_dir, default a new temporary
    folder), or a file kind (:data:`FILE_KINDS`) whose paths come from
    :func:`split_paths`: "conll2003" (word POS chunk NER), "conllu" (FORM and
    UPOS, or XPOS with ``conllu_tag``), "columns" (whitespace columns, the
    label in ``label_column``) or "tsv" (token<TAB>label).
    ``required``: the splits that must have a file (default all three; a trained model
    to dissect needs only dev and test).  Pass the result to :func:`normalise_labels`.
    """
    if data in GENERATED_KINDS:
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="lstm_numpy_generated_")
        tagset = "upos" if data == "generated-pos" else "ner"
        filler_p = RARE_FILLER_P if data == "generated-rare" else FILLER_P
        n_train, n_dev, n_test = sizes
        paths = generate_corpus(data_dir, seed=seed, tagset=tagset, n_train=n_train, n_dev=n_dev, n_test=n_test,
                                filler_p=filler_p)
        return {split: read_conll(path, scheme=None) for split, path in paths.items()}
    if data not in DATA_KINDS:
        raise UsageError(f"unknown data source {data!r}; choose one of {', '.join(DATA_KINDS)}")
    paths = split_paths(data, data_dir, train, dev, test, required)
    if data == "conll2003":
        return {s: read_conll(p, n_columns=4, scheme=None) for s, p in paths.items()}
    if data == "conllu":
        return {s: read_conllu(p, tag=conllu_tag) for s, p in paths.items()}
    if data == "columns":
        return {s: read_conll(p, label_column=label_column, scheme=None) for s, p in paths.items()}
    return {s: read_token_label(p) for s, p in paths.items()}


def read_column(path, column, lengths):
    """(classes, (n,) int64 class ids) of whitespace column ``column`` of a file's tokens (e.g. the part
    of speech of CoNLL-2003, column 1), checked to give the sentences of ``lengths``."""
    try:
        values = read_conll(path, label_column=column, scheme=None).labels
    except IndexError:
        raise UsageError(f"column {column}: {path} has fewer columns") from None
    if [len(v) for v in values] != list(lengths):
        raise UsageError(f"column {column} of {path} reads as other sentences than the split's")
    classes = sorted({v for seq in values for v in seq})
    index = {c: i for i, c in enumerate(classes)}
    return classes, np.array([index[v] for seq in values for v in seq], dtype=np.int64)


class LabelScheme(NamedTuple):
    detected: dict     # split -> the scheme its file is written in (labels.detect_scheme)
    scheme: str        # the scheme training reads: iob2, bioes or none

    def describe(self):
        """What was found and what is used, in words: "IOB2 (train IOB1, ...; converted to IOB2)"."""
        if self.scheme == "none":
            return "none: plain tags, not a chunking task (no entity scores; models chosen by token accuracy)"
        found = ", ".join(f"{split} {scheme.upper()}" for split, scheme in self.detected.items())
        converted = [s for s, scheme in self.detected.items() if scheme not in (self.scheme, "none")]
        how = f"; {', '.join(converted)} converted to {self.scheme.upper()}" if converted else ""
        return f"{self.scheme.upper()} (detected: {found}{how})"


def normalise_labels(corpora, target=None):
    """Every split's labels in the scheme of the training split (or ``target``, the scheme of a
    trained model's labels), IOB1 read as IOB2 (BIOES stays BIOES, plain tags stay as they are).

    Returns (corpora, LabelScheme).  A split whose labels fit no scheme (chunk
    tags mixed with plain tags) raises LabelSchemeError naming its file.
    """
    detected = {}
    for split, corpus in corpora.items():
        try:
            detected[split] = detect_scheme(corpus.labels)
        except LabelSchemeError as err:
            raise LabelSchemeError(f"{corpus.path}: {err}") from None
    source = target if target is not None else detected["train"]
    scheme = {"iob1": "iob2"}.get(source, source)
    converted = {}
    for split, corpus in corpora.items():
        if "none" in (detected[split], scheme):
            converted[split] = corpus
            continue
        # IOB2 to IOB2 too: a stray I-X (CoNLL-2003 train has five) becomes B-X, as conlleval reads it
        labels = [convert(seq, detected[split], scheme) for seq in corpus.labels]
        converted[split] = Corpus(corpus.sentences, labels, corpus.path)
    return converted, LabelScheme(detected, scheme)


class Prepared(NamedTuple):
    vocab: Vocab
    labels: LabelVocab
    splits: dict        # split name -> EncodedSplit
    affixes: AffixVocab  # built from vocab, so a checkpoint's Vocab rebuilds it
    chars: CharVocab     # likewise


def _map_unknown_labels(corpora, labels, unknown_labels, known_from):
    """Labels of the dev/test splits that ``labels`` lacks: an error, or O with a warning."""
    for name in ("dev", "test"):
        if name not in corpora:
            continue
        seen = {label for seq in corpora[name].labels for label in seq}
        unknown = sorted(seen - set(labels.labels))
        if not unknown:
            continue
        where = corpora[name].path
        if unknown_labels == "error":
            raise LabelSchemeError(f"{where}: labels {unknown} never occur in {known_from}; "
                                   "pass --unknown-labels O to map them to O")
        if "O" not in labels.index:
            raise LabelSchemeError(f"{where}: labels {unknown} never occur in {known_from}, and "
                                   "they cannot be mapped to O: its labels have no O")
        warnings.warn(f"{where}: labels {unknown} not in {known_from.removeprefix('the ').removesuffix(' split')}; "
                      "mapped to O")
        for seq in corpora[name].labels:
            seq[:] = [label if label in labels.index else "O" for label in seq]


def prepare(corpora, unknown_labels="error"):
    """Vocabularies from the training split; every split encoded.

    unknown_labels: "error" (default) raises on a dev/test label the training
    split never had; "O" maps such labels to O with a warning.
    """
    vocab = Vocab.build(corpora["train"].sentences)
    labels = LabelVocab.build(corpora["train"].labels)
    return encode_with(corpora, vocab, labels, unknown_labels, "the training split")


def encode_with(corpora, vocab, labels, unknown_labels=None, known_from="the model's labels"):
    """Prepared of ``corpora`` encoded with given vocabularies (a trained model's); with
    ``unknown_labels`` ("error" or "O") dev/test labels ``labels`` lacks are refused or mapped."""
    if unknown_labels is not None:
        _map_unknown_labels(corpora, labels, unknown_labels, known_from)
    affixes, chars = AffixVocab(vocab), CharVocab(vocab)
    splits = {name: encode_corpus(c, vocab, labels, affixes, chars) for name, c in corpora.items()}
    return Prepared(vocab, labels, splits, affixes, chars)


class EncodedPairs(NamedTuple):
    """Minimal pairs (data.pairs) encoded with a model's vocabularies, for analysis.patching."""

    pairs: list             # [MinimalPair] as read
    clean: object           # EncodedSplit of the P clean sentences
    corrupted: object       # EncodedSplit of the P corrupted sentences
    positions: np.ndarray   # (P,) the token to read
    clean_ids: np.ndarray   # (P,) the label id the clean sentence should give there; -1: the model's reading
    corrupted_ids: np.ndarray   # (P,) likewise for the corrupted sentence
    source: str             # where they came from, for the report


N_GENERATED_PAIRS = 100


def load_pairs(pairs, prepared, scheme, seed=0):
    """EncodedPairs of DataOptions.pairs ("generated" or a pair file) with ``prepared``'s
    vocabularies; a pair's intended labels as the model's label ids (an IOB2 name the model
    lacks converted to its label ``scheme``), -1 where not given or not among its labels."""
    if pairs == "generated":
        found, source = generated_pairs(N_GENERATED_PAIRS, seed), f"{N_GENERATED_PAIRS} pairs of the generated corpus"
    else:
        found, source = read_pairs(pairs), str(pairs)
    filler = prepared.labels.labels[0]

    def encode(sentences):
        corpus = Corpus([list(s) for s in sentences], [[filler] * len(s) for s in sentences])
        return encode_corpus(corpus, prepared.vocab, prepared.labels, prepared.affixes, prepared.chars)

    unknown = set()

    def label_id(label):
        if label is None:
            return -1
        name = label
        if name not in prepared.labels.index and scheme != "none":
            try:
                name = convert([name], "iob2", scheme)[0]
            except LabelSchemeError:
                pass
        if name not in prepared.labels.index:
            unknown.add(label)
        return prepared.labels.index.get(name, -1)
    clean_ids = np.array([label_id(p.clean_label) for p in found], dtype=np.int64)
    corrupted_ids = np.array([label_id(p.corrupted_label) for p in found], dtype=np.int64)
    if unknown:
        warnings.warn(f"{source}: labels {sorted(unknown)} are not the model's; the model's own readings decide "
                      "those pairs")
    return EncodedPairs(found, encode([p.clean for p in found]), encode([p.corrupted for p in found]),
                        np.array([p.position for p in found], dtype=np.int64), clean_ids, corrupted_ids, source)


def make_config(preset, prepared, backend="numba", dtype="float32", hidden=None, case_dim=None,
                char_filters=None, affix_dim=None, variational=None, decode=None):
    """TaggerConfig of a preset, sized by the Prepared data's vocabularies.

    hidden (per direction), char_filters, affix_dim, variational and decode
    override the preset's when given (0 turns the character CNN or the affixes off), and
    case_dim the casing embedding's size (default CASE_DIM; 0 for none).
    """
    case_dim = CASE_DIM if case_dim is None else case_dim
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    options = dict(PRESETS[preset])
    for name, value in (("hidden", hidden), ("char_filters", char_filters), ("affix_dim", affix_dim),
                        ("variational", variational), ("decode", decode)):
        if value is not None:
            options[name] = value
    if options.get("affix_dim", 0) > 0:
        options.update(n_affixes=len(prepared.affixes.kinds), affix_vocab_size=len(prepared.affixes))
    if options.get("char_filters", 0) > 0:
        options.update(char_vocab_size=len(prepared.chars), char_dim=CHAR_DIM)
    return TaggerConfig(vocab_size=len(prepared.vocab), n_labels=len(prepared.labels), case_vocab_size=len(CASES),
                        case_dim=case_dim, backend=backend, dtype=dtype, **options)


def train_tagger(prepared, config, train_cfg, out_dir=None, embeddings=None, progress=True, resume=False):
    """Initialise (seeded by train_cfg.seed), train, evaluate on dev and test.

    embeddings: optional GloVe text file; its vectors replace the random rows.
    resume: continue the interrupted run saved in out_dir (see training.loop.train).
    Returns (params, summary) with summary["dev"], summary["test"] metric dicts
    (read as config.decode says; with constrained decoding they also hold
    "argmax_entity_f1", the entity F1 of the per-token argmax).
    """
    rng = np.random.default_rng(train_cfg.seed)
    params = init_tagger(config, rng)
    coverage = None
    if embeddings is not None:
        table, coverage = load_glove(embeddings, prepared.vocab, config.word_dim, rng)
        params["embed.word"][...] = table
    meta = {"config": config.to_dict(), "vocab": prepared.vocab.to_dict(),
            "labels": prepared.labels.to_dict(), "embeddings_coverage": coverage}
    singletons = prepared.vocab.singleton_mask()
    summary = train(params, config, train_cfg, prepared.splits["train"], prepared.splits["dev"],
                    prepared.labels.labels, out_dir, meta, singletons, progress, resume)
    names = prepared.labels.labels
    for split in ("dev", "test"):
        summary[split] = evaluate_split(params, config, prepared.splits[split], names)
        if config.decode != "argmax":     # the same weights read token by token, for comparison
            argmax = predict_split(params, config, prepared.splits[split])
            summary[split]["argmax_entity_f1"] = evaluate(prepared.splits[split].labels, argmax, names)["entity_f1"]
    summary["embeddings_coverage"] = coverage
    return params, summary


def expected_shapes(config):
    """name -> shape of every parameter a tagger with ``config`` has."""
    params = init_tagger(config, np.random.default_rng(0))
    return {name: value.shape for name, value in params.items()}


def load_tagger(path):
    """A trained tagger from a checkpoint written by training: (params, config, vocab, labels).

    The checkpoint's every shape is checked against its own config, so a
    checkpoint whose weights were edited or mismatched is refused.
    """
    _, meta = load_checkpoint(path)
    try:
        config = TaggerConfig(**meta["config"])
        vocab, labels = Vocab.from_dict(meta["vocab"]), LabelVocab.from_dict(meta["labels"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: not a tagger checkpoint ({err})") from None
    params, _ = load_checkpoint(path, expected_shapes(config))
    return params, config, vocab, labels
