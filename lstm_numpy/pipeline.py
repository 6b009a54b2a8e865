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

from .data.readers import load_conll2003, read_conll, read_conllu, read_token_label
from .data.generated import generate_corpus
from .data.vocab import CASES, AffixVocab, CharVocab, LabelVocab, Vocab, load_glove
from .model.tagger import TaggerConfig, init_tagger
from .training.loop import TrainConfig, encode_corpus, evaluate_split, predict_split, train
from .training.metrics import evaluate

CHAR_DIM, CHAR_FILTERS = 25, 30  # the character CNN (model.chars): 25-d characters, 30 filters of width 3
AFFIX_DIM = 20      # per affix kind: 5 kinds x 20 = 100 inputs next to the 100-d word vector
PRESETS = {
    # the paper's tagger: one unidirectional LSTM of 50 neurons, 100-d words, dropout 0.5, no CRF
    "paper": dict(hidden=50, bidirectional=False, word_dim=100, dropout=0.5),
    # 25 neurons per direction, 50 in total, so the analysis sees as many neurons as in "paper"
    # and, unlike "paper", a view inside each word: a character CNN (model.chars) and
    # embeddings of the word's affixes (data.vocab.AFFIXES), for the words it never saw;
    # its dropout masks are drawn once per sentence ("variational"), and its entity scores
    # read the best well-formed label sequence (model.decoding), both of which scored
    # higher on the CoNLL-2003 dev split (docs/results/training.md)
    "bilstm": dict(hidden=25, bidirectional=True, word_dim=100, dropout=0.5, variational=True,
                   affix_dim=AFFIX_DIM, char_filters=CHAR_FILTERS, decode="constrained"),
}
CASE_DIM = 10
GENERATED_SIZES = {"full": dict(n_train=3000, n_dev=500, n_test=500),
                   "quick": dict(n_train=400, n_dev=100, n_test=100)}


def load_splits(data="generated", data_dir=None, train=None, dev=None, test=None,
                seed=0, quick=False, label_column=-1, conllu_tag="upos"):
    """Return {"train", "dev", "test"} -> Corpus.

    data: "generated" (written to data_dir, default a new temporary folder), "conll2003" (data_dir, default ../shared/data/conll2003),
    "conllu" or "columns" (train/dev/test paths; "columns" is CoNLL column
    format with the label in ``label_column``; token<TAB>label files also read).
    """
    if data == "generated":
        sizes = GENERATED_SIZES["quick" if quick else "full"]
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="lstm_numpy_generated_")
        paths = generate_corpus(data_dir, seed=seed, **sizes)
        return {split: read_conll(path) for split, path in paths.items()}
    if data == "conll2003":
        splits = load_conll2003(data_dir)
        return {"train": splits["train"], "dev": splits["valid"], "test": splits["test"]}
    paths = {"train": train, "dev": dev, "test": test}
    if data_dir is not None:
        for split, names in (("train", ("train",)), ("dev", ("dev", "valid")), ("test", ("test",))):
            for name in names:
                for ext in (".txt", ".conllu", ".tsv"):
                    candidate = Path(data_dir) / f"{name}{ext}"
                    if paths[split] is None and candidate.is_file():
                        paths[split] = candidate
    missing = [s for s, p in paths.items() if p is None]
    if missing:
        raise FileNotFoundError(f"--data {data} needs --train, --dev and --test (or --data-dir); missing {missing}")
    if data == "conllu":
        return {s: read_conllu(p, tag=conllu_tag) for s, p in paths.items()}
    if data == "columns":
        return {s: read_conll(p, label_column=label_column, scheme=None) for s, p in paths.items()}
    if data == "tsv":
        return {s: read_token_label(p) for s, p in paths.items()}
    raise ValueError(f"unknown data source {data!r}")


class Prepared(NamedTuple):
    vocab: Vocab
    labels: LabelVocab
    splits: dict        # split name -> EncodedSplit
    affixes: AffixVocab  # built from vocab, so a checkpoint's Vocab rebuilds it
    chars: CharVocab     # likewise


def prepare(corpora, unknown_labels="error"):
    """Vocabularies from the training split; every split encoded.

    unknown_labels: "error" (default) raises on a dev/test label the training
    split never had; "O" maps such labels to O with a warning.
    """
    vocab = Vocab.build(corpora["train"].sentences)
    labels = LabelVocab.build(corpora["train"].labels)
    for name in ("dev", "test"):
        seen = {label for seq in corpora[name].labels for label in seq}
        unknown = sorted(seen - set(labels.labels))
        if not unknown:
            continue
        where = corpora[name].path
        if unknown_labels == "error":
            raise ValueError(f"{where}: labels {unknown} never occur in the training split; "
                             "pass --unknown-labels O to map them to O")
        warnings.warn(f"{where}: labels {unknown} not in training; mapped to O")
        for seq in corpora[name].labels:
            seq[:] = [label if label in labels.index else "O" for label in seq]
    affixes, chars = AffixVocab(vocab), CharVocab(vocab)
    splits = {name: encode_corpus(c, vocab, labels, affixes, chars) for name, c in corpora.items()}
    return Prepared(vocab, labels, splits, affixes, chars)


def make_config(preset, prepared, backend="numba", dtype="float32", hidden=None, case_dim=CASE_DIM,
                char_filters=None, affix_dim=None, variational=None, decode=None):
    """TaggerConfig of a preset, sized by the Prepared data's vocabularies.

    hidden (per direction), char_filters, affix_dim, variational and decode
    override the preset's when given (0 turns the character CNN or the affixes off).
    """
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
    from .training.checkpoint import load_checkpoint
    from .errors import CheckpointError
    _, meta = load_checkpoint(path)
    try:
        config = TaggerConfig(**meta["config"])
        vocab, labels = Vocab.from_dict(meta["vocab"]), LabelVocab.from_dict(meta["labels"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: not a tagger checkpoint ({err})") from None
    params, _ = load_checkpoint(path, expected_shapes(config))
    return params, config, vocab, labels
