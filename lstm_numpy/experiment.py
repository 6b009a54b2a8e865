"""One experiment, as the command line runs it: load and check the data, train one
model per seed (or reload the finished ones, or take the models of ``--checkpoint``),
dissect them, and write the run directory (run.json, metrics.json, report.md,
analysis.json, ablation.csv, figures/, seed<N>/).  Everything it does follows one
RunOptions record (lstm_numpy.options).

    data (pipeline) -> training (pipeline.train_tagger) or checkpoints (pipeline.load_tagger)
      -> analysis.dissect -> report.outputs
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from .analysis.dissect import compare_models, dissect_model
from .analysis.results import RunAnalysis
from .atomic import atomic_write_json
from .data.baseline import most_frequent_label_baseline
from .data.pairs import read_pairs
from .errors import DegenerateModelError, UsageError
from .evaluation.entities import entity_prf
from .evaluation.metrics import evaluate, format_entity_f1
from .evaluation.scores import token_accuracy
from .interop.files import checkpoint_of
from .labels import is_chunking, scheme_of_names
from .model.backend import get_backend
from .options import write_run_json
from .pipeline import (GENERATED_KINDS, encode_with, load_pairs, load_splits, load_tagger, make_config,
                       normalise_labels, prepare, read_column, train_tagger)
from .prediction import evaluate_split, predict_split
from .training.checkpoint import load_checkpoint
from .report.explorer import write_run_explorer
from .report.markdown import ReportFacts
from .report.outputs import write_outputs
from .training.verdict import SUGGESTION, degenerate_reasons
from .workers import check_cluster, per_seed


def prepare_out_dir(output):
    """The run directory of OutputOptions ``output``: made (or emptied with force), or found
    with something to resume."""
    out = Path(output.out)
    if output.resume:
        states = list(out.glob("seed*/resume.json")) + list(out.glob("seed*/summary.json"))
        if not states:
            raise UsageError(f"nothing to resume in {out}: no seed*/resume.json or seed*/summary.json")
        return out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()):
        if not output.force:
            raise UsageError(f"{out} already exists and is not empty; pass --force to overwrite it "
                             "or --out to choose another directory")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def train_one_seed(options, seed, prepared, config, seed_dir):
    """Train (or, with --resume, finish or reload) the model of one seed."""
    done = seed_dir / "summary.json"
    if options.output.resume and done.is_file():
        params, _, _, _ = load_tagger(seed_dir / "best")
        return params, json.loads(done.read_text())
    train_cfg = dataclasses.replace(options.train, seed=seed)
    resume = options.output.resume and (seed_dir / "resume.json").is_file()
    print(f"seed {seed}: {'resuming' if resume else 'training'} -> {seed_dir}")
    params, summary = train_tagger(prepared, config, train_cfg, seed_dir, options.data.embeddings,
                                   options.output.progress, resume=resume)
    atomic_write_json(done, summary)
    return params, summary


def _train_seed(options, seed, prepared, config, seed_dir, threads=None):
    """train_one_seed; in a worker process (``threads`` given) with that many Numba threads and
    progress as lines only."""
    if threads is not None:
        numba.set_num_threads(threads)
        options = dataclasses.replace(options, output=dataclasses.replace(options.output, progress=False))
    return train_one_seed(options, seed, prepared, config, seed_dir)


def train_seeds(options, prepared, config, out):
    """[(params, summary)] of every seed: one after the other, or with ``--jobs J`` in J
    worker processes (:func:`per_seed`). Every kernel gives each sentence to one thread, so
    the weights do not depend on the thread count: the models are bit for bit those of a
    sequential run (tests/test_cli.py checks it)."""
    return per_seed(_train_seed, [(options, seed, prepared, config, out / f"seed{seed}") for seed in options.seeds],
                    options.output.jobs, options.output.cluster, announce="training",
                    names=[f"seed {seed}" for seed in options.seeds])


def analysis_rng(base_seed, seed):
    """The random draws of the dissection of ``seed``'s model (a run started at ``base_seed``):
    a stream of its own, so the seeds can be dissected in any order or at once."""
    return np.random.default_rng([base_seed, seed])


def dissect_one_seed(options, seed, params, config, split, labels, recurrent, probe_column=None, pairs=None,
                     threads=None):
    """analysis.dissect.dissect_model of one seed's model with the run's options; in a worker
    process (``threads`` given) with that many Numba threads and no progress bars."""
    if threads is not None:
        numba.set_num_threads(threads)
    return dissect_model(params, config, split, labels, analysis_rng(options.train.seed, seed), options.analysis,
                         recurrent=recurrent, progress=threads is None and options.output.progress, seed=seed,
                         probe_column=probe_column, pairs=pairs)


def probed_column(options, corpora):
    """(name, classes, (n,) class ids of every dev token) of --probe-column N, or None."""
    column = options.data.probe_column
    if column is None:
        return None
    dev = corpora["dev"]
    classes, ids = read_column(dev.path, column, [len(s) for s in dev.sentences])
    print(f"probing the hidden states for column {column} of {dev.path}: {len(classes)} classes")
    return f"column {column}", classes, ids


class ModelRun(NamedTuple):
    """One model of a run: trained here, or read from a --checkpoint."""

    seed: int                # its seed, or its index among the --checkpoint models
    params: dict
    config: object           # TaggerConfig
    summary: dict            # "dev", "test": evaluate dicts; and, when trained here, the training summary
    prepared: object         # pipeline.Prepared: the splits encoded with the model's vocabularies
    source: dict | None      # a --checkpoint model's origin: {"checkpoint", "sha256", "imported from"}

    @property
    def name(self):
        return f"seed {self.seed}" if self.source is None else f"model {self.seed}"


def dissect_seeds(options, runs, labels, scheme, probe_column=None):
    """[dissect_one_seed of each model]: one after the other, or with ``--jobs J`` in J worker
    processes (:func:`per_seed`; each model's draws come from its own stream, so the results are
    the same).  The run's minimal pairs (DataOptions.pairs) are encoded with each model's
    vocabularies, its labels in the run's label ``scheme``."""
    calls = []
    for index, one in enumerate(runs):
        pairs = None
        if options.data.pairs is not None:
            pairs = load_pairs(options.data.pairs, one.prepared, scheme, options.train.seed)
            if index == 0:
                print(f"patching {len(pairs.pairs)} minimal pairs ({pairs.source}) and clamping the gates of each "
                      "label's top neurons")
        recurrent = options.analysis.recurrent_for(index)
        print(f"dissecting {'the model of ' if one.source is None else ''}{one.name} on dev "
              f"({'output and recurrent' if recurrent else 'output'} ablation)")
        calls.append((options, one.seed, one.params, one.config, one.prepared.splits["dev"], labels, recurrent,
                      probe_column, pairs))
    return per_seed(dissect_one_seed, calls, options.output.jobs, options.output.cluster, announce="dissecting",
                    names=[one.name for one in runs])


def note_undefined_labels(models, group_by, word="seed"):
    """One line for the whole run naming the labels a model never predicts (or that dev lacks):
    they have no sensitivity row and are not ranked or ablated."""
    parts = []
    for attribute, what in (("unranked", "never predicted" if group_by == "predicted" else "without a ranking"),
                            ("absent", "without a gold token")):
        seeds_of = {}
        for model in models:
            for label in getattr(model, attribute):
                seeds_of.setdefault(label, []).append(str(model.seed))
        if seeds_of:
            parts.append(f"{what} on dev: " + ", ".join(f"{label} ({word} {', '.join(s)})"
                                                       for label, s in seeds_of.items()))
    if parts:
        print(f"note: labels {'; '.join(parts)}; they have no sensitivity row and are not ranked or ablated")


def baseline_scores(corpora, chunking, split="test"):
    """The most-frequent-label baseline on ``split``: {"<split>_baseline_token_acc", and for chunk
    labels "<split>_baseline_entity_f1"}."""
    train, target = corpora["train"], corpora[split]
    guess = most_frequent_label_baseline(train.sentences, train.labels, target.sentences)
    names = sorted({label for seq in train.labels + target.labels for label in seq})
    index = {name: i for i, name in enumerate(names)}
    flat = lambda seqs: np.array([index[label] for seq in seqs for label in seq], dtype=np.int64)  # noqa: E731
    scores = {f"{split}_baseline_token_acc": token_accuracy(flat(target.labels), flat(guess))}
    if chunking:
        scores[f"{split}_baseline_entity_f1"] = entity_prf(target.labels, guess)[2]
    return scores


def check_models(runs, metrics, labels):
    """{seed: reasons} of the models that learned nothing (training.verdict), each named in a
    warning line with what to try; recorded in metrics.  Without a training split (a
    --checkpoint run without --train) there is no baseline, and only the other checks run."""
    baseline = {"token_acc": metrics.get("dev_baseline_token_acc", -np.inf),
                "entity_f1": metrics.get("dev_baseline_entity_f1")}
    if baseline["entity_f1"] is None and is_chunking(labels) and "dev_baseline_token_acc" not in metrics:
        baseline["entity_f1"] = -np.inf
    found = {}
    for one in runs:
        reasons = degenerate_reasons(one.summary["dev"], baseline, labels)
        metrics["by_seed"][str(one.seed)]["degenerate"] = reasons
        if reasons:
            found[str(one.seed)] = reasons
            advice = SUGGESTION if one.source is None else "check that the data is the kind the model was trained on"
            warnings.warn(f"the model of {one.name} learned nothing: {'; '.join(reasons)}; {advice}")
    metrics["degenerate"] = found
    return found


def load_data(options, out, command, target_scheme=None):
    """(corpora normalised, LabelScheme, data summary) of the run's data; writes run.json.
    target_scheme: the label scheme of the --checkpoint models, which the data is read in."""
    data = options.data
    generated = data.kind in GENERATED_KINDS
    corpora = load_splits(data.kind, out / "data" if generated else data.data_dir, data.train, data.dev, data.test,
                          seed=options.train.seed, sizes=data.generated_sizes, label_column=data.label_column,
                          conllu_tag=data.conllu_tag, required=("dev", "test") if options.checkpoints else None)
    checkpoints = {path: checkpoint_of(path) for path in options.checkpoints}
    write_run_json(out, options, command, {split: corpus.path for split, corpus in corpora.items()},
                   {path: stem.with_suffix(".npz") for path, stem in checkpoints.items()})
    if data.pairs not in (None, "generated"):
        read_pairs(data.pairs)           # a malformed pair file is refused now, not after training
    corpora, scheme = normalise_labels(corpora, target_scheme)
    summary = {}
    for split, corpus in corpora.items():
        s = corpus.summary()
        summary[split] = {"sentences": s["sentences"], "tokens": s["tokens"], "path": str(Path(corpus.path).resolve()),
                          "scheme": scheme.detected[split]}
        print(f"{split:5s}: {s['sentences']:6,d} sentences {s['tokens']:8,d} tokens  ({corpus.path})")
    print(f"label scheme: {scheme.describe()}")
    return corpora, scheme, summary


def train_models(options, corpora, out, backend):
    """[ModelRun] of the models trained here, one per seed (Ctrl-C saves each for --resume)."""
    model = options.model
    prepared = prepare(corpora, options.data.unknown_labels)
    labels = prepared.labels.labels
    config = make_config(model.preset, prepared, model.backend, model.dtype, hidden=model.hidden,
                         char_filters=model.char_filters, affix_dim=model.affix_dim, variational=model.variational,
                         decode=model.decode, case_dim=model.case_dim)
    plain = not is_chunking(labels) and config.decode != "argmax"
    print(f"model: {model.preset} ({config.output_size} neurons, {'Bi' if config.bidirectional else ''}LSTM), "
          f"{config.decode} decoding{' (the argmax, for plain tags)' if plain else ''}, "
          f"vocabulary {len(prepared.vocab):,}, {len(labels)} labels, {config.dtype}, backend {backend.describe()}")
    try:
        trained = train_seeds(options, prepared, config, out)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted: the state after the last batch of each seed in training is saved "
                                f"in {out}/seed<N>; continue with the same command plus --resume") from None
    return [ModelRun(seed, params, config, summary, prepared, None)
            for seed, (params, summary) in zip(options.seeds, trained)]


def read_checkpoints(options, backend):
    """[(params, config, vocab, labels, source)] of the --checkpoint models, which must share one
    label list; the backend is the run's (--backend)."""
    read = []
    for index, path in enumerate(options.checkpoints):
        stem = checkpoint_of(path)
        params, config, vocab, labels = load_tagger(stem)
        config = dataclasses.replace(config, backend=options.model.backend)
        meta = load_checkpoint(stem)[1]
        origin = meta.get("source") or {"kind": "lstm_numpy", "file": str(stem.with_suffix(".npz").resolve())}
        source = {"checkpoint": str(Path(path).resolve()), "imported from": origin}
        if read and labels.labels != read[0][3].labels:
            raise UsageError(f"--checkpoint {path} has the labels {labels.labels}, the first checkpoint "
                             f"{read[0][4]['checkpoint']} has {read[0][3].labels}: the models of one run share "
                             "their labels")
        kind = "imported from PyTorch" if origin.get("kind") == "pytorch" else "trained by lstm_numpy"
        print(f"model {index}: {stem} ({kind}; {'Bi' if config.bidirectional else ''}LSTM of "
              f"{config.output_size} neurons, {len(labels)} labels, backend {backend.describe()})")
        read.append((params, config, vocab, labels, source))
    return read


def evaluate_checkpoints(options, corpora, read):
    """[ModelRun] of the --checkpoint models, each scored on dev and test with its own vocabularies."""
    runs = []
    for index, (params, config, vocab, labels, source) in enumerate(read):
        prepared = encode_with({name: corpus for name, corpus in corpora.items()}, vocab, labels,
                               options.data.unknown_labels)
        summary = {}
        for split in ("dev", "test"):
            summary[split] = evaluate_split(params, config, prepared.splits[split], labels.labels)
            if config.decode != "argmax":
                argmax = predict_split(params, config, prepared.splits[split])
                summary[split]["argmax_entity_f1"] = evaluate(prepared.splits[split].labels, argmax,
                                                              labels.labels)["entity_f1"]
        runs.append(ModelRun(index, params, config, summary, prepared, source))
    return runs


def run_metrics(options, command, runs, scheme, data_summary, labels, corpora):
    """metrics.json's dict of the run's models (the first in detail) and the baselines."""
    first = runs[0]
    summary, trained = first.summary, first.source is None
    chunking = is_chunking(labels)
    metrics = {"command": command, "data": options.data.kind, "preset": options.model.preset if trained else None,
               "seeds": [one.seed for one in runs],
               "label_scheme": {"detected": scheme.detected, "scheme": scheme.scheme, "chunking": chunking},
               "splits": data_summary, "config": first.config.to_dict(),
               "dev": summary["dev"], "test": summary["test"],
               **{key: summary.get(key) for key in ("epochs", "best_epoch", "seconds_per_epoch", "train_seconds",
                                                     "stopped", "schedule", "history", "embeddings_coverage")},
               "by_seed": {str(one.seed): {"dev": one.summary["dev"], "test": one.summary["test"],
                                           **{key: one.summary.get(key) for key in ("epochs", "best_epoch", "stopped",
                                                                                    "train_seconds")}}
                           for one in runs}}
    if not trained:
        metrics["models"] = [{"model": one.seed, **one.source} for one in runs]
    if "train" in corpora:
        metrics.update(baseline_scores(corpora, chunking))
        metrics.update(baseline_scores(corpora, chunking, "dev"))
    return metrics


def report_facts(command, timings, options, scheme, data_summary, runs, metrics, degenerate):
    """ReportFacts of the run: where its models came from, how they trained, what is wrong with them."""
    first = runs[0]
    note = None if not degenerate else (
        "This analysis describes models that learned nothing (" + "; ".join(
            f"{name}: {', '.join(reasons)}" for name, reasons in
            ((next(one.name for one in runs if str(one.seed) == seed), reasons) for seed, reasons in degenerate.items()))
        + "): it was forced with --force-analysis, and its tables say nothing about how a working tagger works.")
    data = {"source": options.data.kind, "label scheme": scheme.describe(), "splits": data_summary}
    model = {**first.config.to_dict(), "preset": options.model.preset if first.source is None else None}
    if first.source is not None:
        data["models"] = {one.name: {"checkpoint": one.source["checkpoint"],
                                     "from": one.source["imported from"].get("file"),
                                     "kind": one.source["imported from"].get("kind")} for one in runs}
    training = {one.seed: {"history": one.summary["history"], "stopped": one.summary["stopped"],
                           "schedule": one.summary["schedule_text"], "best_epoch": one.summary["best_epoch"],
                           "degenerate": metrics["by_seed"][str(one.seed)]["degenerate"]}
                for one in runs if one.source is None}
    return ReportFacts(command=command, timings=timings, data=data, model=model,
                       metrics={"dev": first.summary["dev"], "test": first.summary["test"]}, training=training,
                       warning=note)


def run(options, command="python run.py"):
    """The whole run of ``options`` (a RunOptions, lstm_numpy.options); returns metrics.json's dict.

    command: the command line as typed, kept in run.json, metrics.json and the report."""
    start = time.perf_counter()
    backend = get_backend(options.model.backend)   # --backend cuda without a GPU fails here, before any work
    if options.output.cluster is not None:         # an unreachable scheduler, too
        check_cluster(options.output.cluster)
    out = prepare_out_dir(options.output)
    if options.checkpoints:
        read = read_checkpoints(options, backend)
        corpora, scheme, data_summary = load_data(options, out, command, scheme_of_names(read[0][3].labels))
        runs = evaluate_checkpoints(options, corpora, read)
    else:
        corpora, scheme, data_summary = load_data(options, out, command)
        runs = train_models(options, corpora, out, backend)
    labels = runs[0].prepared.labels.labels
    model_seconds = time.perf_counter() - start
    metrics = run_metrics(options, command, runs, scheme, data_summary, labels, corpora)
    degenerate = check_models(runs, metrics, labels)
    if degenerate and options.analysis is not None and not options.force_analysis:
        metrics["total_seconds"] = time.perf_counter() - start
        atomic_write_json(out / "metrics.json", metrics)
        seed, reasons = next(iter(degenerate.items()))
        name = next(one.name for one in runs if str(one.seed) == seed)
        advice = SUGGESTION if runs[0].source is None else "check that the data is the kind the model was trained on"
        raise DegenerateModelError(
            f"not dissected: the model of {name} learned nothing ({'; '.join(reasons)}); "
            f"{out}/metrics.json is written; {advice}, or pass --force-analysis to dissect it anyway")

    if options.analysis is not None:
        analysis_start = time.perf_counter()
        column = probed_column(options, corpora)
        models = dissect_seeds(options, runs, labels, scheme.scheme, column)
        note_undefined_labels(models, options.analysis.group_by, "seed" if runs[0].source is None else "model")
        analysis = RunAnalysis(labels=tuple(labels), seeds=tuple(one.seed for one in runs), models=tuple(models),
                               consistency=compare_models(models, labels, np.random.default_rng(options.train.seed)))
        step = "training (all seeds)" if runs[0].source is None else "reading and scoring the checkpoints"
        timings = {step: model_seconds, **{f"{what} ({runs[0].name})": sec for what, sec in models[0].timings.items()},
                   "analysis (all models)": time.perf_counter() - analysis_start}
        write_outputs(out, analysis, report_facts(command, timings, options, scheme, data_summary, runs, metrics,
                                                  degenerate))
        metrics["analysis_seconds"] = time.perf_counter() - analysis_start
        print(f"wrote {out}/report.md and {out}/analysis.json")
        explorer_start = time.perf_counter()
        first = runs[0]
        pairs = (None if options.data.pairs is None else      # the pairs models[0].patching measured, encoded again
                 load_pairs(options.data.pairs, first.prepared, scheme.scheme, options.train.seed))
        page = write_run_explorer(out, first.params, first.config, first.prepared.splits["dev"], labels, models[0],
                                  metrics, column, pairs)
        metrics["explorer_seconds"] = time.perf_counter() - explorer_start
        print(f"wrote {page} ({page.stat().st_size / 1e6:.2f} MB, {first.name} on dev; open it in a browser)")
    metrics["total_seconds"] = time.perf_counter() - start
    atomic_write_json(out / "metrics.json", metrics)
    print_summary(options, runs, metrics, labels, out)
    return metrics


def print_summary(options, runs, metrics, labels, out):
    first = runs[0]
    summary = first.summary
    for split in ("dev", "test"):
        m = summary[split]
        argmax = f" (argmax read-out {m['argmax_entity_f1']:.2f})" if m.get("argmax_entity_f1") is not None else ""
        print(f"{split}: token accuracy {m['token_acc']:.4f}  entity F1 {format_entity_f1(m['entity_f1'])}{argmax}"
              f"  ({first.name})")
    if "test_baseline_token_acc" in metrics:
        baseline_f1 = metrics.get("test_baseline_entity_f1")
        print(f"test: most-frequent-label baseline token accuracy {metrics['test_baseline_token_acc']:.4f}"
              + (f", entity F1 {baseline_f1:.2f}" if baseline_f1 is not None else ""))
    if summary.get("embeddings_coverage") is not None:
        print(f"pretrained vectors from {options.data.embeddings} cover {100 * summary['embeddings_coverage']:.1f}% "
              "of the vocabulary")
    width = max(len(label) for label in labels)
    print("dev per-label accuracy: " + "  ".join(
        f"{label:>{width}s} {acc:.3f}" if acc is not None else f"{label} n/a"
        for label, acc in summary["dev"]["per_label_acc"].items()))
    trained = (f"{summary['epochs']} epochs, {summary['seconds_per_epoch']:.1f} s/epoch, "
               if first.source is None else "")
    print(f"{len(runs)} {'seed' if first.source is None else 'checkpoint'}(s), {trained}"
          f"total {metrics['total_seconds']:.1f} s; wrote {out}/metrics.json")
