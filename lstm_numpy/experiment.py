"""One experiment, as the command line runs it: load and check the data, train one
model per seed (or reload the finished ones), dissect them, and write the run
directory (run.json, metrics.json, report.md, analysis.json, ablation.csv, figures/,
seed<N>/).  Everything it does follows one RunOptions record (lstm_numpy.options).

    data (pipeline) -> training (pipeline.train_tagger) -> analysis.dissect -> report.outputs
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numba
import numpy as np

from .analysis.dissect import compare_models, dissect_model
from .analysis.results import RunAnalysis
from .atomic import atomic_write_json
from .data.baseline import most_frequent_label_baseline
from .errors import DegenerateModelError, UsageError
from .evaluation.entities import entity_prf
from .evaluation.metrics import format_entity_f1
from .evaluation.scores import token_accuracy
from .labels import is_chunking
from .model.backend import get_backend
from .options import write_run_json
from .pipeline import GENERATED_KINDS, load_splits, load_tagger, make_config, normalise_labels, prepare, train_tagger
from .report.explorer import write_run_explorer
from .report.markdown import ReportFacts
from .report.outputs import write_outputs
from .training.verdict import SUGGESTION, degenerate_reasons


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


def per_seed(jobs, fn, calls, announce=None):
    """``[fn(*call) for call in calls]``, one seed per call: in this process, or with ``jobs``
    > 1 in that many spawned worker processes, where fn gets ``threads=cores // jobs`` (its
    Numba threads).  announce: what the workers do, printed with their count, or None."""
    if jobs <= 1 or len(calls) == 1:
        return [fn(*call) for call in calls]
    jobs = min(jobs, len(calls))
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if announce:
        print(f"{announce} {len(calls)} seeds in {jobs} processes of {threads} Numba thread(s) each")
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(fn, *call, threads=threads) for call in calls]
        return [future.result() for future in futures]


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
    return per_seed(options.output.jobs, _train_seed,
                    [(options, seed, prepared, config, out / f"seed{seed}") for seed in options.seeds],
                    announce="training")


def analysis_rng(base_seed, seed):
    """The random draws of the dissection of ``seed``'s model (a run started at ``base_seed``):
    a stream of its own, so the seeds can be dissected in any order or at once."""
    return np.random.default_rng([base_seed, seed])


def dissect_one_seed(options, seed, params, config, split, labels, recurrent, threads=None):
    """analysis.dissect.dissect_model of one seed's model with the run's options; in a worker
    process (``threads`` given) with that many Numba threads and no progress bars."""
    if threads is not None:
        numba.set_num_threads(threads)
    return dissect_model(params, config, split, labels, analysis_rng(options.train.seed, seed), options.analysis,
                         recurrent=recurrent, progress=threads is None and options.output.progress, seed=seed)


def dissect_seeds(options, trained, config, split, labels):
    """[dissect_one_seed of each seed]: one after the other, or with ``--jobs J`` in J worker
    processes (:func:`per_seed`; each seed's draws come from its own stream, so the results are
    the same)."""
    plans = []
    for index, (seed, (params, _)) in enumerate(zip(options.seeds, trained)):
        recurrent = options.analysis.recurrent_for(index)
        print(f"dissecting the model of seed {seed} on dev ({'output and recurrent' if recurrent else 'output'}"
              " ablation)")
        plans.append((seed, params, recurrent))
    return per_seed(options.output.jobs, dissect_one_seed,
                    [(options, seed, params, config, split, labels, recurrent) for seed, params, recurrent in plans])


def note_undefined_labels(models, group_by):
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
            parts.append(f"{what} on dev: " + ", ".join(f"{label} (seed {', '.join(s)})" for label, s in seeds_of.items()))
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


def check_models(seeds, trained, metrics, labels):
    """{seed: reasons} of the models that learned nothing (training.verdict), each named in a
    warning line with what to try; recorded in metrics."""
    baseline = {"token_acc": metrics["dev_baseline_token_acc"], "entity_f1": metrics.get("dev_baseline_entity_f1")}
    found = {}
    for seed, (_, summary) in zip(seeds, trained):
        reasons = degenerate_reasons(summary["dev"], baseline, labels)
        metrics["by_seed"][str(seed)]["degenerate"] = reasons
        if reasons:
            found[str(seed)] = reasons
            warnings.warn(f"the model of seed {seed} learned nothing: {'; '.join(reasons)}; {SUGGESTION}")
    metrics["degenerate"] = found
    return found


def run(options, command="python run.py"):
    """The whole run of ``options`` (a RunOptions, lstm_numpy.options); returns metrics.json's dict.

    command: the command line as typed, kept in run.json, metrics.json and the report."""
    start = time.perf_counter()
    data, model = options.data, options.model
    backend = get_backend(model.backend)       # --backend cuda without a GPU fails here, before any work
    out = prepare_out_dir(options.output)
    generated = data.kind in GENERATED_KINDS
    corpora = load_splits(data.kind, out / "data" if generated else data.data_dir, data.train, data.dev, data.test,
                          seed=options.train.seed, sizes=data.generated_sizes, label_column=data.label_column,
                          conllu_tag=data.conllu_tag)
    write_run_json(out, options, command, {split: corpus.path for split, corpus in corpora.items()})
    corpora, scheme = normalise_labels(corpora)
    data_summary = {}
    for split, corpus in corpora.items():
        s = corpus.summary()
        data_summary[split] = {"sentences": s["sentences"], "tokens": s["tokens"], "path": str(Path(corpus.path).resolve()),
                               "scheme": scheme.detected[split]}
        print(f"{split:5s}: {s['sentences']:6,d} sentences {s['tokens']:8,d} tokens  ({corpus.path})")
    print(f"label scheme: {scheme.describe()}")
    prepared = prepare(corpora, data.unknown_labels)
    labels = prepared.labels.labels
    chunking = is_chunking(labels)
    config = make_config(model.preset, prepared, model.backend, model.dtype, hidden=model.hidden,
                         char_filters=model.char_filters, affix_dim=model.affix_dim, variational=model.variational,
                         decode=model.decode)
    print(f"model: {model.preset} ({config.output_size} neurons, {'Bi' if config.bidirectional else ''}LSTM), "
          f"{config.decode} decoding{' (the argmax, for plain tags)' if not chunking and config.decode != 'argmax' else ''}, "
          f"vocabulary {len(prepared.vocab):,}, {len(labels)} labels, {config.dtype}, backend {backend.describe()}")
    seeds = list(options.seeds)
    try:
        trained = train_seeds(options, prepared, config, out)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"interrupted: the state after the last batch of each seed in training is saved "
                                f"in {out}/seed<N>; continue with the same command plus --resume") from None
    train_seconds = time.perf_counter() - start
    params, summary = trained[0]

    metrics = {"command": command, "data": data.kind, "preset": model.preset, "seeds": seeds,
               "label_scheme": {"detected": scheme.detected, "scheme": scheme.scheme, "chunking": chunking},
               "splits": data_summary, "config": config.to_dict(),
               "dev": summary["dev"], "test": summary["test"], "epochs": summary["epochs"],
               "best_epoch": summary["best_epoch"], "seconds_per_epoch": summary["seconds_per_epoch"],
               "train_seconds": summary["train_seconds"], "stopped": summary["stopped"],
               "schedule": summary["schedule"], "history": summary["history"],
               "embeddings_coverage": summary["embeddings_coverage"],
               "by_seed": {str(seed): {"dev": s["dev"], "test": s["test"], "epochs": s["epochs"],
                                        "best_epoch": s["best_epoch"], "stopped": s["stopped"],
                                        "train_seconds": s["train_seconds"]} for seed, (_, s) in zip(seeds, trained)}}
    metrics.update(baseline_scores(corpora, chunking))
    metrics.update(baseline_scores(corpora, chunking, "dev"))
    degenerate = check_models(seeds, trained, metrics, labels)
    if degenerate and options.analysis is not None and not options.force_analysis:
        metrics["total_seconds"] = time.perf_counter() - start
        atomic_write_json(out / "metrics.json", metrics)
        seed, reasons = next(iter(degenerate.items()))
        raise DegenerateModelError(
            f"not dissected: the model of seed {seed} learned nothing ({'; '.join(reasons)}); its checkpoint and "
            f"{out}/metrics.json are written; {SUGGESTION}, or pass --force-analysis to dissect it anyway")

    if options.analysis is not None:
        analysis_start = time.perf_counter()
        models = dissect_seeds(options, trained, config, prepared.splits["dev"], labels)
        note_undefined_labels(models, options.analysis.group_by)
        analysis = RunAnalysis(labels=tuple(labels), seeds=tuple(seeds), models=tuple(models),
                               consistency=compare_models(models, labels, np.random.default_rng(options.train.seed)))
        timings = {"training (all seeds)": train_seconds,
                   **{f"{step} (seed {seeds[0]})": sec for step, sec in models[0].timings.items()},
                   "analysis (all seeds)": time.perf_counter() - analysis_start}
        degenerate_note = None if not degenerate else (
            "This analysis describes models that learned nothing (" + "; ".join(
                f"seed {seed}: {', '.join(reasons)}" for seed, reasons in degenerate.items())
            + "): it was forced with --force-analysis, and its tables say nothing about how a working tagger works.")
        facts = ReportFacts(command=command, timings=timings,
                            data={"source": data.kind, "label scheme": scheme.describe(), "splits": data_summary},
                            model={**config.to_dict(), "preset": model.preset},
                            metrics={"dev": summary["dev"], "test": summary["test"]},
                            training={seed: {"history": s["history"], "stopped": s["stopped"],
                                             "schedule": s["schedule_text"], "best_epoch": s["best_epoch"],
                                             "degenerate": metrics["by_seed"][str(seed)]["degenerate"]}
                                      for seed, (_, s) in zip(seeds, trained)},
                            warning=degenerate_note)
        write_outputs(out, analysis, facts)
        metrics["analysis_seconds"] = time.perf_counter() - analysis_start
        print(f"wrote {out}/report.md and {out}/analysis.json")
        explorer_start = time.perf_counter()
        page = write_run_explorer(out, params, config, prepared.splits["dev"], labels, models[0], metrics)
        metrics["explorer_seconds"] = time.perf_counter() - explorer_start
        print(f"wrote {page} ({page.stat().st_size / 1e6:.2f} MB, seed {seeds[0]} on dev; open it in a browser)")
    metrics["total_seconds"] = time.perf_counter() - start
    atomic_write_json(out / "metrics.json", metrics)

    for split in ("dev", "test"):
        m = summary[split]
        argmax = f" (argmax read-out {m['argmax_entity_f1']:.2f})" if m.get("argmax_entity_f1") is not None else ""
        print(f"{split}: token accuracy {m['token_acc']:.4f}  entity F1 {format_entity_f1(m['entity_f1'])}{argmax}"
              f"  (seed {seeds[0]})")
    baseline_f1 = metrics.get("test_baseline_entity_f1")
    print(f"test: most-frequent-label baseline token accuracy {metrics['test_baseline_token_acc']:.4f}"
          + (f", entity F1 {baseline_f1:.2f}" if baseline_f1 is not None else ""))
    if summary["embeddings_coverage"] is not None:
        print(f"pretrained vectors from {data.embeddings} cover {100 * summary['embeddings_coverage']:.1f}% "
              "of the vocabulary")
    width = max(len(label) for label in labels)
    print("dev per-label accuracy: " + "  ".join(
        f"{label:>{width}s} {acc:.3f}" if acc is not None else f"{label} n/a"
        for label, acc in summary["dev"]["per_label_acc"].items()))
    print(f"{len(seeds)} seed(s), {summary['epochs']} epochs, {summary['seconds_per_epoch']:.1f} s/epoch, "
          f"total {metrics['total_seconds']:.1f} s; wrote {out}/metrics.json")
    return metrics
