"""Reading a finished run directory back for the explorer: one seed's tagger, the dev split it
was dissected on (prepared the way the run prepared it), and what the run measured.

A run directory holds run.json (every option of the run and each data file with its
SHA-256: lstm_numpy.options), metrics.json, analysis.json (the typed results:
report.analysis_json) and seed<N>/best.npz + best.json.  The dev split is read from
the file run.json names (or the file of that name under ``--data-dir``, if its
checksum matches) with the run's data options, normalised with
pipeline.normalise_labels and encoded with the checkpoint's vocabularies; the
sensitivity recomputed from it must equal analysis.json's, or nothing is written.

Dimension legend: K labels, Hout neurons.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..analysis.sensitivity import sensitivity_from_states
from ..analysis.states import collect_states
from ..data.batching import encode_corpus, features_for
from ..data.readers import Corpus
from ..data.vocab import AffixVocab, CharVocab
from ..errors import DataNotFoundError, RunFormatError, UsageError
from ..options import read_run_json
from ..pipeline import GENERATED_KINDS, load_splits, load_tagger, normalise_labels, read_column
from .analysis_json import read_analysis_json


class RunView(NamedTuple):
    params: dict
    config: object          # TaggerConfig
    split: object           # EncodedSplit of dev, with the features config uses
    states: object          # States of dev
    label_names: list
    measures: dict          # {name: (K, Hout)}: the seed's measures in analysis.json
    sweep: object           # the seed's Sweep (analysis.results)
    group_by: str
    seed: int
    metrics: dict           # metrics.json
    dev_path: str
    notes: list             # what was assumed, in words
    column: tuple | None    # (name, classes, (n,) ids) of the run's --probe-column on dev, or None


def read_dev(record, vocab, labels, notes):
    """(dev EncodedSplit, dev Path): read and normalised as the run did (run.json's data options and
    checked files), encoded with the checkpoint's vocabularies (labels the training split never had
    become O, as --unknown-labels O does)."""
    data, paths = record.options.data, record.files
    kind = "columns" if data.kind in GENERATED_KINDS else data.kind     # a generated corpus is read back, never regenerated
    corpora = load_splits(kind, train=paths["train"], dev=paths["dev"], test=paths["test"],
                          label_column=data.label_column, conllu_tag=data.conllu_tag)
    dev = normalise_labels(corpora)[0]["dev"]
    known = set(labels.labels)
    unknown = sorted({label for seq in dev.labels for label in seq} - known)
    if unknown:
        notes.append(f"note: dev labels {unknown} never occur in training; read as O")
        dev = Corpus(dev.sentences, [[x if x in known else "O" for x in seq] for seq in dev.labels], dev.path)
    return encode_corpus(dev, vocab, labels, AffixVocab(vocab), CharVocab(vocab)), Path(paths["dev"]).resolve()


def load_run(run_dir, seed=None, data_dir=None):
    """RunView of one seed of a finished run (default: its first seed, the one report.md details)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataNotFoundError(f"{run_dir}: no such run directory")
    record = read_run_json(run_dir, data_dir)
    if not (run_dir / "analysis.json").is_file():
        raise DataNotFoundError(f"{run_dir / 'analysis.json'}: no such file (written by the analysis; a run with "
                                "--no-analysis has none)")
    analysis = read_analysis_json(run_dir / "analysis.json")
    metrics_path = run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
    except FileNotFoundError:
        raise DataNotFoundError(f"{metrics_path}: no such file (a run directory written by run.py has one)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFormatError(f"{metrics_path}: not valid JSON ({err})") from None
    seed = analysis.seeds[0] if seed is None else seed
    if seed not in analysis.seeds:
        raise UsageError(f"{run_dir} has the seeds {list(analysis.seeds)}, not {seed}")
    model = analysis.model(seed)
    checkpoints = record.options.checkpoints     # a run of --checkpoint models: model i is the i-th of them
    stem = record.checkpoints[checkpoints[seed]].with_suffix("") if checkpoints else run_dir / f"seed{seed}" / "best"
    params, config, vocab, labels = load_tagger(stem)
    notes = []
    split, dev_path = read_dev(record, vocab, labels, notes)
    split = features_for(split, config)
    states = collect_states(params, config, split)
    W = params["out.W"].astype(np.float64)
    recomputed = sensitivity_from_states(states, W, model.group_by)
    if recomputed.shape != model.sensitivity.shape or not np.allclose(model.sensitivity, recomputed, rtol=1e-4,
                                                                      atol=1e-7, equal_nan=True):
        raise UsageError(f"the dev split read from {dev_path} does not reproduce the sensitivity in "
                         f"{run_dir / 'analysis.json'} (seed {seed}): not the model or data the run had")
    column = None
    if record.options.data.probe_column is not None:
        number = record.options.data.probe_column
        classes, ids = read_column(record.files["dev"], number, [len(w) for w in split.words])
        column = (f"column {number}", classes, ids)
    return RunView(params, config, split, states, labels.labels, model.measures, model.sweep, model.group_by, seed,
                   metrics, str(dev_path), notes, column)
