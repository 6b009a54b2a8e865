"""Train an LSTM tagger end to end and write everything under runs/<name>/.

    python run.py                      # generated corpus, no download, ~1-3 minutes
    python run.py --quick              # tiny smoke run, seconds
    python run.py --data conll2003 --preset bilstm
    python run.py --data conllu --train tr.conllu --dev dev.conllu --test te.conllu

With no arguments it generates a corpus (written into the run directory),
trains three models (seeds 0, 1, 2), evaluates them on dev and test, dissects
their neurons on dev (sensitivity, ablation, consistency across seeds) and
writes metrics.json, report.md, analysis.json, ablation.csv, figures/ and,
per seed, seed<N>/best.npz + best.json and train_log.jsonl.
"""
from __future__ import annotations

import os

# The Numba kernels already use both cores; BLAS threads on top of them oversubscribe a
# small machine (GEMMs 10x slower measured on 2 cores). This must happen before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Numba's default OpenMP layer leaves idle worker threads spinning between kernels, which
# measurably slowed the BLAS calls in between; the workqueue layer's threads sleep.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from lstm_numpy.atomic import atomic_write_json
from lstm_numpy.data.baseline import most_frequent_label_baseline
from lstm_numpy.errors import TrainingError
from lstm_numpy.model.backend import BACKENDS, get_backend
from lstm_numpy.model.decoding import DECODERS
from lstm_numpy.dissect import dissect_model, write_outputs
from lstm_numpy.pipeline import PRESETS, load_splits, load_tagger, make_config, prepare, train_tagger
from lstm_numpy.training.loop import TrainConfig
from lstm_numpy.training.metrics import entity_prf


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data", choices=("generated", "conll2003", "conllu", "columns", "tsv"), default="generated",
                      help="generated corpus (default), CoNLL-2003, CoNLL-U treebank, CoNLL column files, "
                           "or token<TAB>label files")
    data.add_argument("--data-dir", help="folder with the split files (conll2003: default ../shared/data/conll2003)")
    data.add_argument("--train", help="training file (conllu/columns/tsv)")
    data.add_argument("--dev", help="development file")
    data.add_argument("--test", help="test file")
    data.add_argument("--label-column", type=int, default=-1, help="label column for --data columns (default last)")
    data.add_argument("--conllu-tag", choices=("upos", "xpos"), default="upos", help="CoNLL-U tag to predict")
    data.add_argument("--unknown-labels", choices=("error", "O"), default="error",
                      help="a dev/test label never seen in training: stop (default) or map it to O")
    data.add_argument("--embeddings", help="pretrained vectors in GloVe text format (dimension must equal 100)")
    model = p.add_argument_group("model")
    model.add_argument("--preset", choices=sorted(PRESETS), default="bilstm",
                       help="paper: 1 LSTM of 50 neurons; bilstm: 25 neurons per direction (default)")
    model.add_argument("--hidden", type=int, help="neurons per direction (overrides the preset)")
    model.add_argument("--char-filters", type=int,
                       help="character-CNN filters per token, 0 for none (overrides the preset; bilstm: 30)")
    model.add_argument("--dropout-mask", choices=("token", "sentence"),
                       help="a dropout mask per token, or one per sentence shared by its tokens "
                            "(overrides the preset; paper: token, bilstm: sentence)")
    model.add_argument("--affix-dim", type=int,
                       help="size of each affix embedding, 0 for none (overrides the preset; bilstm: 20)")
    model.add_argument("--decode", choices=DECODERS,
                       help="labels from the logits: per-token argmax, or the best sequence the label scheme "
                            "allows (IOB2/BIOES; the same as argmax for POS tags); used for every reported "
                            "score, the analysis always reads the argmax (overrides the preset; "
                            "paper: argmax, bilstm: constrained)")
    model.add_argument("--backend", choices=BACKENDS, default="numba", help="LSTM implementation (default numba)")
    model.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=int, help="maximum epochs (default 15; 8 with --quick)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    train.add_argument("--lr", type=float, help="learning rate (default: adam 1e-3, sgd 0.1; 2e-2 with --quick)")
    train.add_argument("--patience", type=int, default=3, help="early stopping patience in epochs")
    train.add_argument("--lr-decay", type=float, default=1.0,
                       help="multiply the learning rate by this after each epoch without dev improvement (default 1)")
    train.add_argument("--restore-best", action="store_true",
                       help="after an epoch without dev improvement, go on from the best weights so far")
    train.add_argument("--average", type=float, default=0.0,
                       help="evaluate and keep a moving average of the weights with this decay per step, "
                            "e.g. 0.999 (default 0: the weights themselves)")
    train.add_argument("--unk-replace", type=float, default=0.5,
                       help="probability a training singleton is replaced by <unk> (default 0.5)")
    train.add_argument("--word-unk", type=float, default=0.0,
                       help="probability any other training word is replaced by <unk> (default 0)")
    train.add_argument("--seed", type=int, default=0)
    out = p.add_argument_group("output")
    out.add_argument("--out", help="run directory (default runs/<data>-<preset>-seed<seed>)")
    out.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    out.add_argument("--resume", action="store_true",
                     help="continue the run in --out (or the default directory) that Ctrl-C interrupted; "
                          "seeds already finished are reloaded, not retrained, and the analysis is redone")
    out.add_argument("--quick", action="store_true", help="tiny corpus, hidden 16, 8 epochs: a smoke test")
    analysis = p.add_argument_group("analysis")
    analysis.add_argument("--seeds", type=int, default=3,
                          help="train this many models, seeds --seed, --seed+1, ... (default 3), "
                               "for the consistency analysis")
    analysis.add_argument("--group-by", choices=("predicted", "gold"), default="predicted",
                          help="count a token for its predicted label (default, as the public reproduction "
                               "does) or its gold label in the sensitivity that ranks neurons; the report "
                               "compares both groupings either way")
    analysis.add_argument("--random-draws", type=int, default=20, help="random-k ablations per label and k")
    analysis.add_argument("--no-recurrent", action="store_true", help="skip recurrent-mode ablation (slow)")
    analysis.add_argument("--recurrent-seeds", choices=("first", "all"), default="first",
                          help="recurrent ablation (it reruns the LSTM hundreds of times) for the first "
                               "seed's model only (default) or for every seed")
    analysis.add_argument("--no-analysis", action="store_true", help="train and evaluate only")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def prepare_out_dir(args):
    out = Path(args.out) if args.out else Path("runs") / f"{args.data}-{args.preset}-seed{args.seed}"
    if args.resume:
        states = list(out.glob("seed*/resume.json")) + list(out.glob("seed*/summary.json"))
        if not states:
            sys.exit(f"error: nothing to resume in {out}: no seed*/resume.json or seed*/summary.json")
        return out
    if out.exists() and any(out.iterdir()):
        if not args.force:
            sys.exit(f"error: {out} already exists and is not empty; pass --force to overwrite it "
                     "or --out to choose another directory")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def train_one_seed(args, seed, prepared, config, is_ner, seed_dir):
    """Train (or, with --resume, finish or reload) the model of one seed."""
    from lstm_numpy.atomic import atomic_write_json as write_json
    done = seed_dir / "summary.json"
    if args.resume and done.is_file():
        params, _, _, _ = load_tagger(seed_dir / "best")
        return params, json.loads(done.read_text())
    train_cfg = TrainConfig(epochs=args.epochs or (8 if args.quick else 15), batch_size=args.batch_size,
                            optimizer=args.optimizer, lr=args.lr or (2e-2 if args.quick else None),
                            patience=args.patience, seed=seed, unk_replace=args.unk_replace, word_unk=args.word_unk,
                            lr_decay=args.lr_decay, restore_best=args.restore_best, average=args.average,
                            select="entity_f1" if is_ner else "token_acc")
    resume = args.resume and (seed_dir / "resume.json").is_file()
    print(f"seed {seed}: {'resuming' if resume else 'training'} -> {seed_dir}")
    params, summary = train_tagger(prepared, config, train_cfg, seed_dir, args.embeddings,
                                   not args.no_progress, resume=resume)
    write_json(done, summary)
    return params, summary


def main(argv=None):
    args = parse_args(argv)
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    start = time.perf_counter()
    try:
        get_backend(args.backend)       # --backend cuda without a GPU fails here, before any work
    except RuntimeError as err:
        sys.exit(f"error: {err}")
    out = prepare_out_dir(args)
    data_dir = args.data_dir
    if args.data == "generated":
        data_dir = out / "data"
    corpora = load_splits(args.data, data_dir, args.train, args.dev, args.test, seed=args.seed,
                          quick=args.quick, label_column=args.label_column, conllu_tag=args.conllu_tag)
    data_summary = {}
    for split, corpus in corpora.items():
        s = corpus.summary()
        data_summary[split] = {"sentences": s["sentences"], "tokens": s["tokens"], "path": str(corpus.path)}
        print(f"{split:5s}: {s['sentences']:6,d} sentences {s['tokens']:8,d} tokens  ({corpus.path})")
    prepared = prepare(corpora, args.unknown_labels)
    labels = prepared.labels.labels
    is_ner = any(label.startswith(("B-", "I-")) for label in labels)
    config = make_config(args.preset, prepared, args.backend, args.dtype,
                         hidden=16 if args.quick and args.hidden is None else args.hidden,
                         char_filters=args.char_filters, affix_dim=args.affix_dim,
                         variational=None if args.dropout_mask is None else args.dropout_mask == "sentence",
                         decode=args.decode)
    print(f"model: {args.preset} ({config.output_size} neurons, {'Bi' if config.bidirectional else ''}LSTM), "
          f"{config.decode} decoding, "
          f"vocabulary {len(prepared.vocab):,}, {len(labels)} labels, backend {config.backend}, {config.dtype}")
    seeds = [args.seed + i for i in range(args.seeds)]
    trained = []
    for seed in seeds:
        try:
            trained.append(train_one_seed(args, seed, prepared, config, is_ner, out / f"seed{seed}"))
        except KeyboardInterrupt:
            sys.exit(f"\ninterrupted: the state after the last batch is saved in {out / f'seed{seed}'}; "
                     f"continue with the same command plus --resume" + ("" if args.out else f" (or --out {out})"))
        except TrainingError as err:
            sys.exit(f"error: {err}")
    train_seconds = time.perf_counter() - start
    params, summary = trained[0]

    metrics = {"command": "python " + " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
               "data": args.data, "preset": args.preset, "seeds": seeds, "config": config.to_dict(),
               "dev": summary["dev"], "test": summary["test"], "epochs": summary["epochs"],
               "best_epoch": summary["best_epoch"], "seconds_per_epoch": summary["seconds_per_epoch"],
               "train_seconds": summary["train_seconds"], "history": summary["history"],
               "embeddings_coverage": summary["embeddings_coverage"],
               "by_seed": {str(seed): {"dev": s["dev"], "test": s["test"], "epochs": s["epochs"],
                                        "train_seconds": s["train_seconds"]} for seed, (_, s) in zip(seeds, trained)}}
    if is_ner:
        baseline = most_frequent_label_baseline(corpora["train"].sentences, corpora["train"].labels,
                                                corpora["test"].sentences)
        metrics["test_baseline_entity_f1"] = entity_prf(corpora["test"].labels, baseline)[2]

    if not args.no_analysis:
        analysis_start = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        models = []
        for seed, (seed_params, _) in zip(seeds, trained):
            # recurrent ablation reruns the LSTM hundreds of times: by default the first model only
            recurrent = not args.no_recurrent and (args.recurrent_seeds == "all" or seed == seeds[0])
            print(f"dissecting the model of seed {seed} on dev ({'output and recurrent' if recurrent else 'output'}"
                  " ablation)")
            models.append(dissect_model(seed_params, config, prepared.splits["dev"], labels, rng,
                                        recurrent=recurrent, n_random=args.random_draws,
                                        progress=not args.no_progress, group_by=args.group_by))
        timings = {"training (all seeds)": train_seconds,
                   **{f"{step} (seed {seeds[0]})": sec for step, sec in models[0]["timings"].items()},
                   "analysis (all seeds)": time.perf_counter() - analysis_start}
        write_outputs(out, models, labels, metrics["command"], seeds,
                      {"dev": summary["dev"], "test": summary["test"]}, timings, rng,
                      {"source": args.data, "splits": data_summary},
                      {**config.to_dict(), "preset": args.preset})
        metrics["analysis_seconds"] = time.perf_counter() - analysis_start
        print(f"wrote {out}/report.md and {out}/analysis.json")
    metrics["total_seconds"] = time.perf_counter() - start
    atomic_write_json(out / "metrics.json", metrics)

    for split in ("dev", "test"):
        m = summary[split]
        argmax = f" (argmax read-out {m['argmax_entity_f1']:.2f})" if m.get("argmax_entity_f1") is not None else ""
        print(f"{split}: token accuracy {m['token_acc']:.4f}  entity F1 {m['entity_f1']:.2f}{argmax}  (seed {seeds[0]})")
    if is_ner:
        print(f"test: most-frequent-label baseline entity F1 {metrics['test_baseline_entity_f1']:.2f}")
    if summary["embeddings_coverage"] is not None:
        print(f"pretrained vectors from {args.embeddings} cover {100 * summary['embeddings_coverage']:.1f}% "
              "of the vocabulary")
    width = max(len(label) for label in labels)
    print("dev per-label accuracy: " + "  ".join(
        f"{label:>{width}s} {acc:.3f}" if acc is not None else f"{label} n/a"
        for label, acc in summary["dev"]["per_label_acc"].items()))
    print(f"{len(seeds)} seed(s), {summary['epochs']} epochs, {summary['seconds_per_epoch']:.1f} s/epoch, "
          f"total {metrics['total_seconds']:.1f} s; wrote {out}/metrics.json")
    return metrics


if __name__ == "__main__":
    main()
