"""Reading a finished run directory back for the explorer: one seed's tagger, the dev split it
was dissected on (prepared the way the run prepared it), and what the run measured.

A run directory holds run.json (every option of the run and each data file with its
SHA-256: lstm_numpy.options), metrics.json, analysis.json (the typed results:
report.analysis_json) and seed<N>/best.npz + best.json.  The dev split is read from
the file run.json names (or the file of that name under ``--data-dir``, if its
checksum matches) with the run's data options, normalised with
pipeline.normalise_labels and encoded with the checkpoint's vocabularies; the
sensitivity recomputed from it must equal analysis.json's, or nothing is written.  A run
that patched minimal pairs (run.json's data.pairs: "generated" regenerates them with the
run's seed, a pair file is re-read after its checksum) is patched again
(analysis.patching.patching_sweep: the per-pair effects are not in analysis.json), and must
give analysis.json's totals.

Dimension legend: K labels, Hout neurons.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..analysis.patching import patching_sweep
from ..analysis.sensitivity import sensitivity_from_states
from ..analysis.states import collect_states
from ..data.batching import encode_corpus, features_for
from ..data.readers import Corpus
from ..data.vocab import AffixVocab, CharVocab
from ..errors import DataNotFoundError, RunFormatError, UsageError
from ..labels import scheme_of_names
from ..options import read_run_json
from ..pipeline import GENERATED_KINDS, encode_with, load_pairs, load_splits, load_tagger, normalise_labels, read_column
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
    pairs: tuple | None     # ([MinimalPair], PatchingResult with per_pair) of the run's minimal pairs, or None


def read_dev(record, vocab, labels, notes):
    """(dev EncodedSplit, dev Path, the run's label scheme): read and normalised as the run did
    (run.json's data options and checked files; a run of --checkpoint models reads them in the
    scheme of the models' labels), encoded with the checkpoint's vocabularies (labels the training
    split never had become O, as --unknown-labels O does)."""
    data, paths = record.options.data, record.files
    kind = "columns" if data.kind in GENERATED_KINDS else data.kind     # a generated corpus is read back, never regenerated
    corpora = load_splits(kind, train=paths["train"], dev=paths["dev"], test=paths["test"],
                          label_column=data.label_column, conllu_tag=data.conllu_tag)
    corpora, scheme = normalise_labels(corpora, scheme_of_names(labels.labels) if record.options.checkpoints else None)
    dev = corpora["dev"]
    known = set(labels.labels)
    unknown = sorted({label for seq in dev.labels for label in seq} - known)
    if unknown:
        notes.append(f"note: dev labels {unknown} never occur in training; read as O")
        dev = Corpus(dev.sentences, [[x if x in known else "O" for x in seq] for seq in dev.labels], dev.path)
    return (encode_corpus(dev, vocab, labels, AffixVocab(vocab), CharVocab(vocab)), Path(paths["dev"]).resolve(),
            scheme.scheme)


def patch_pairs(record, patching, params, config, vocab, labels, scheme, run_dir, seed):
    """([MinimalPair], PatchingResult with per_pair) of the run's minimal pairs patched again, or None
    where the run patched none; UsageError where they do not give analysis.json's totals
    (``patching``, the seed's PatchingResult read back)."""
    pairs = record.options.data.pairs
    if pairs is None or patching is None:
        return None
    encoded = load_pairs(pairs if record.pairs_file is None else record.pairs_file, encode_with({}, vocab, labels),
                         scheme, record.options.train.seed)
    again = patching_sweep(params, config, encoded.clean, encoded.corrupted, encoded.positions, encoded.clean_ids,
                           encoded.corrupted_ids, encoded.source)
    if again.restored_total.shape != patching.restored_total.shape or not np.array_equal(again.used, patching.used) \
            or not np.allclose(again.restored_total, patching.restored_total, rtol=1e-4, atol=1e-6, equal_nan=True):
        raise UsageError(f"the minimal pairs {encoded.source} do not reproduce the patching in "
                         f"{run_dir / 'analysis.json'} (seed {seed}): not the pairs the run patched")
    return encoded.pairs, again


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
    split, dev_path, scheme = read_dev(record, vocab, labels, notes)
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
    pairs = patch_pairs(record, model.patching, params, config, vocab, labels, scheme, run_dir, seed)
    return RunView(params, config, split, states, labels.labels, model.measures, model.sweep, model.group_by, seed,
                   metrics, str(dev_path), notes, column, pairs)
