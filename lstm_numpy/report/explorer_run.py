"""Reading a finished run directory back for the explorer: one seed's tagger, the dev split it
was dissected on (prepared the way the run prepared it), and what the run measured.

A run directory holds metrics.json (the command, the data kind and, for runs since
metrics.json kept them, every split's file), analysis.json (per seed: the Xin
sensitivity that ranked the ablations and the ablation summaries) and
seed<N>/best.npz + best.json.  The dev split is read with pipeline.load_splits
and pipeline.normalise_labels and encoded with the checkpoint's vocabularies;
the sensitivity recomputed from it must equal analysis.json's, or the data is
not the run's and nothing is written.

Dimension legend: K labels, Hout neurons.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..analysis.measures import all_measures
from ..analysis.states import collect_states
from ..data.batching import encode_corpus, features_for
from ..data.readers import Corpus, default_conll2003_dir
from ..data.vocab import AffixVocab, CharVocab
from ..errors import DataNotFoundError, UsageError
from ..pipeline import FILE_KINDS, load_splits, load_tagger, normalise_labels, split_paths

GENERATED = ("generated", "generated-pos")


class RunView(NamedTuple):
    params: dict
    config: object          # TaggerConfig
    split: object           # EncodedSplit of dev, with the features config uses
    states: object          # States of dev
    label_names: list
    measures: dict          # {name: (K, Hout)}; "xin" is analysis.json's sensitivity of the seed
    summary: dict           # the seed's ablation summary {mode: {strategy: {label: {k: drop}}}}
    group_by: str
    seed: int
    metrics: dict           # metrics.json
    dev_path: str
    notes: list             # what was assumed, in words


def _read_json(path, what):
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file ({what})")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid JSON ({err})") from None


def _option(command, flag, default=None):
    """The value of ``flag`` in the command line metrics.json recorded (``--flag V`` or ``--flag=V``)."""
    tokens = shlex.split(command or "")
    for i, token in enumerate(tokens):
        if token == flag and i + 1 < len(tokens):
            return tokens[i + 1]
        if token.startswith(flag + "="):
            return token.split("=", 1)[1]
    return default


def _data_paths(run_dir, metrics, data_dir, notes):
    """(kind to read with, {split: Path}) of the files the run read."""
    kind, command = metrics.get("data"), metrics.get("command", "")
    if kind in GENERATED:       # written into the run directory; read back, never regenerated
        folder = Path(data_dir) if data_dir else run_dir / "data"
        recorded = {s: Path(v["path"]) for s, v in (metrics.get("splits") or {}).items()}
        if not recorded and not data_dir:
            notes.append(f"note: {run_dir / 'metrics.json'} does not record its files (a run from before it did); "
                         f"reading the corpus the run generated in {folder}")
        paths = {s: recorded[s] if s in recorded and recorded[s].is_file() and not data_dir else folder / f"{s}.txt"
                 for s in ("train", "dev", "test")}
        return "columns", paths
    if kind not in FILE_KINDS:
        raise UsageError(f"{run_dir / 'metrics.json'}: unknown data kind {kind!r}")
    if data_dir:
        return kind, split_paths(kind, data_dir)
    if metrics.get("splits"):
        return kind, {s: Path(v["path"]) for s, v in metrics["splits"].items()}
    given = {s: _option(command, f"--{s}") for s in ("train", "dev", "test")}
    folder = _option(command, "--data-dir") or (default_conll2003_dir() if kind == "conll2003" else None)
    notes.append(f"note: {run_dir / 'metrics.json'} does not record its files (a run from before it did); "
                 f"reading the {kind} data from {folder or 'the files its command names'} (--data-dir to change)")
    return kind, split_paths(kind, folder, **given)


def read_dev(run_dir, metrics, vocab, labels, data_dir=None, notes=None):
    """(dev EncodedSplit, dev Path): read and normalised as the run did, encoded with the checkpoint's
    vocabularies (labels the training split never had become O, as --unknown-labels O does)."""
    notes = [] if notes is None else notes
    kind, paths = _data_paths(Path(run_dir), metrics, data_dir, notes)
    missing = [str(p) for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise DataNotFoundError(f"{missing[0]}: no such file (the run's data; pass --data-dir if it moved)")
    command = metrics.get("command", "")
    corpora = load_splits(kind, train=paths["train"], dev=paths["dev"], test=paths["test"],
                          label_column=int(_option(command, "--label-column", -1)),
                          conllu_tag=_option(command, "--conllu-tag", "upos"))
    dev = normalise_labels(corpora)[0]["dev"]
    known = set(labels.labels)
    unknown = sorted({label for seq in dev.labels for label in seq} - known)
    if unknown:
        notes.append(f"note: dev labels {unknown} never occur in training; read as O")
        dev = Corpus(dev.sentences, [[x if x in known else "O" for x in seq] for seq in dev.labels], dev.path)
    encoded = encode_corpus(dev, vocab, labels, AffixVocab(vocab), CharVocab(vocab))
    expected = (metrics.get("splits") or {}).get("dev", {}).get("tokens")
    if expected is not None and encoded.n_tokens != expected:
        raise UsageError(f"{paths['dev']} has {encoded.n_tokens:,} tokens, the run's dev split had {expected:,}: "
                         "not the file the run read (pass --data-dir)")
    return encoded, Path(paths["dev"]).resolve()


def load_run(run_dir, seed=None, data_dir=None):
    """RunView of one seed of a finished run (default: its first seed, the one report.md details)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataNotFoundError(f"{run_dir}: no such run directory")
    metrics = _read_json(run_dir / "metrics.json", "a run directory written by run.py has one")
    analysis = _read_json(run_dir / "analysis.json", "written by the analysis; a run with --no-analysis has none")
    seeds = list(analysis.get("seeds") or metrics.get("seeds") or [])
    seed = seeds[0] if seed is None and seeds else seed
    if seed not in seeds:
        raise UsageError(f"{run_dir} has the seeds {seeds}, not {seed}")
    try:        # analysis.json before it kept every seed: the first seed's numbers at the top level
        per_seed = analysis.get("per_seed") or [{"seed": seeds[0], "sensitivity": analysis["sensitivity"]["matrix"],
                                                 "ablation": analysis["ablation"]}]
        entry = next((p for p in per_seed if p.get("seed") == seed), None)
        if entry is not None and not (entry["sensitivity"] and isinstance(entry["ablation"], dict)):
            raise TypeError("no sensitivity or ablation")
    except (KeyError, TypeError, AttributeError) as err:
        raise UsageError(f"{run_dir / 'analysis.json'}: not an analysis this package wrote ({err})") from None
    if entry is None:
        raise UsageError(f"{run_dir / 'analysis.json'} has no analysis of seed {seed}")
    params, config, vocab, labels = load_tagger(run_dir / f"seed{seed}" / "best")
    notes = []
    split, dev_path = read_dev(run_dir, metrics, vocab, labels, data_dir, notes)
    split = features_for(split, config)
    states = collect_states(params, config, split)
    group_by = analysis.get("sensitivity_group_by", "predicted")
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)
    measures = all_measures(states, W, b, group_by=group_by, measured=True, backend=config.backend)
    recorded = np.array([[np.nan if v is None else v for v in row] for row in entry["sensitivity"]], dtype=np.float64)
    if recorded.shape != measures["xin"].shape or not np.allclose(recorded, measures["xin"], rtol=1e-4, atol=1e-7,
                                                                  equal_nan=True):
        raise UsageError(f"the dev split read from {dev_path} does not reproduce the sensitivity in "
                         f"{run_dir / 'analysis.json'} (seed {seed}): not the data the run read (pass --data-dir)")
    measures["xin"] = recorded
    return RunView(params, config, split, states, labels.labels, measures, entry["ablation"], group_by, seed,
                   metrics, str(dev_path), notes)
