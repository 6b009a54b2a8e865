"""Train LSTM taggers end to end, dissect their neurons, and write everything under runs/<name>/.

    python run.py                      # generated NER corpus, no download, ~2 minutes
    python run.py --quick              # tiny smoke run, seconds
    python run.py --data generated-pos # the same corpus tagged with part of speech
    python run.py --data conll2003 --data-dir PATH
    python run.py --data conllu --train tr.conllu --dev dev.conllu --test te.conllu
    python -m lstm_numpy ...           # the same command, from an installed package

With no arguments it generates a corpus (written into the run directory),
trains three models (seeds 0, 1, 2), evaluates them on dev and test, dissects
their neurons on dev (sensitivity, ablation, consistency across seeds) and
writes metrics.json, report.md, analysis.json, ablation.csv, figures/ and,
per seed, seed<N>/best.npz + best.json and train_log.jsonl.

Labels: IOB1 files are read as IOB2, IOB2 and BIOES as they are; plain tags
(part of speech) have no entities, so models are chosen by token accuracy
and no entity F1 is reported. The run prints the scheme it detected.
Errors in the input (a missing or malformed file, an unseen label, options
that do not go together) print one line, "error: ...", and exit with status 2.
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
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from .atomic import atomic_write_json  # noqa: E402
from .data.baseline import most_frequent_label_baseline  # noqa: E402
from .dissect import RANDOM_POOLS, dissect_model, write_outputs  # noqa: E402
from .errors import LSTMNumpyError, UsageError  # noqa: E402
from .labels import is_chunking  # noqa: E402
from .model.backend import BACKENDS, get_backend  # noqa: E402
from .model.decoding import DECODERS  # noqa: E402
from .pipeline import (DATA_KINDS, FILE_KINDS, PRESETS, load_splits, load_tagger, make_config,  # noqa: E402
                       normalise_labels, prepare, train_tagger)
from .training.loop import TrainConfig  # noqa: E402
from .training.metrics import entity_prf, format_entity_f1, token_accuracy  # noqa: E402

# Options whose default is None so that giving them where they mean nothing can be refused.
ANALYSIS_OPTIONS = ("group_by", "random_draws", "random_pool", "recurrent_seeds", "no_recurrent")
DEFAULTS = {"label_column": -1, "conllu_tag": "upos", "group_by": "predicted", "random_draws": 20,
            "random_pool": "all", "recurrent_seeds": "first"}


def _count(minimum):
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser(prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data", choices=DATA_KINDS, default="generated",
                      help="generated NER corpus (default), the same corpus with part-of-speech tags "
                           "(generated-pos), CoNLL-2003 (word POS chunk NER), a CoNLL-U treebank, "
                           "whitespace column files, or token<TAB>label files")
    data.add_argument("--data-dir", help="folder with train/dev (or valid)/test files (.txt, .conllu, .tsv); "
                                         "for conll2003 the default is ../shared/data/conll2003")
    data.add_argument("--train", help=f"training file ({', '.join(FILE_KINDS)}; overrides --data-dir)")
    data.add_argument("--dev", help="development file")
    data.add_argument("--test", help="test file")
    data.add_argument("--label-column", type=int, help="label column for --data columns (default -1, the last)")
    data.add_argument("--conllu-tag", choices=("upos", "xpos"), help="CoNLL-U tag to predict (default upos)")
    data.add_argument("--unknown-labels", choices=("error", "O"), default="error",
                      help="a dev/test label never seen in training: stop (default) or map it to O")
    data.add_argument("--embeddings", help="pretrained vectors in GloVe text format (dimension must equal 100)")
    model = p.add_argument_group("model")
    model.add_argument("--preset", choices=sorted(PRESETS), default="bilstm",
                       help="paper: 1 LSTM of 50 neurons; bilstm: 25 neurons per direction (default)")
    model.add_argument("--hidden", type=_count(1), help="neurons per direction (overrides the preset)")
    model.add_argument("--char-filters", type=_count(0),
                       help="character-CNN filters per token, 0 for none (overrides the preset; bilstm: 30)")
    model.add_argument("--dropout-mask", choices=("token", "sentence"),
                       help="a dropout mask per token, or one per sentence shared by its tokens "
                            "(overrides the preset; paper: token, bilstm: sentence)")
    model.add_argument("--affix-dim", type=_count(0),
                       help="size of each affix embedding, 0 for none (overrides the preset; bilstm: 20)")
    model.add_argument("--decode", choices=DECODERS,
                       help="labels from the logits: per-token argmax, or the best sequence the label scheme "
                            "allows (IOB2/BIOES; the same as argmax for POS tags); used for every reported "
                            "score, the analysis always reads the argmax (overrides the preset; "
                            "paper: argmax, bilstm: constrained)")
    model.add_argument("--backend", choices=BACKENDS, default="numba", help="LSTM implementation (default numba)")
    model.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=_count(1), help="maximum epochs (default 15; 8 with --quick)")
    train.add_argument("--batch-size", type=_count(1), default=32)
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    train.add_argument("--lr", type=_positive_float,
                       help="learning rate (default: adam 1e-3, sgd 0.1; 2e-2 with --quick)")
    train.add_argument("--patience", type=_count(1), default=3, help="early stopping patience in epochs")
    train.add_argument("--lr-decay", type=_positive_float, default=1.0,
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
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    analysis = p.add_argument_group("analysis")
    analysis.add_argument("--seeds", type=_count(1), default=3,
                          help="train this many models, seeds --seed, --seed+1, ... (default 3), "
                               "for the consistency analysis")
    analysis.add_argument("--group-by", choices=("predicted", "gold"),
                          help="count a token for its predicted label (default, as the public reproduction "
                               "does) or its gold label in the sensitivity that ranks neurons and in the "
                               "tuning curves; the report compares both groupings either way")
    analysis.add_argument("--random-draws", type=_count(0),
                          help="random-k ablations per label and k in output mode (default 20; recurrent mode "
                               "draws 5)")
    analysis.add_argument("--random-pool", choices=RANDOM_POOLS,
                          help="draw random-k neurons from all neurons (default; a draw may include the label's "
                               "own top-k) or only from those outside the label's top-k")
    analysis.add_argument("--no-recurrent", action="store_true", default=None,
                          help="skip recurrent-mode ablation (slow)")
    analysis.add_argument("--recurrent-seeds", choices=("first", "all"),
                          help="recurrent ablation (it reruns the LSTM hundreds of times) for the first "
                               "seed's model only (default) or for every seed")
    analysis.add_argument("--no-analysis", action="store_true", help="train and evaluate only")
    return p


def check_options(args):
    """Refuse options that would be ignored; fill in the defaults of the rest."""
    given = lambda name: getattr(args, name) is not None  # noqa: E731
    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    if args.data in ("generated", "generated-pos"):
        for name in ("train", "dev", "test", "data_dir"):
            if given(name):
                raise UsageError(f"{flag(name)} reads files, but --data {args.data} writes its own corpus "
                                 f"(into the run directory); for your files use --data {'|'.join(FILE_KINDS)}")
    if given("label_column") and args.data != "columns":
        raise UsageError(f"--label-column is for --data columns, not --data {args.data}")
    if given("conllu_tag") and args.data != "conllu":
        raise UsageError(f"--conllu-tag is for --data conllu, not --data {args.data}")
    if args.no_analysis:
        ignored = [flag(name) for name in ANALYSIS_OPTIONS if given(name)]
        if ignored:
            raise UsageError(f"{', '.join(ignored)} configure the analysis, which --no-analysis skips")
    if args.no_recurrent and given("recurrent_seeds"):
        raise UsageError("--recurrent-seeds chooses the models for recurrent ablation, which --no-recurrent skips")
    if args.resume and args.force:
        raise UsageError("--resume continues the run in its directory and --force deletes it; choose one")
    for name, value in DEFAULTS.items():
        if not given(name):
            setattr(args, name, value)
    args.no_recurrent = bool(args.no_recurrent)
    return args


def prepare_out_dir(args):
    out = Path(args.out) if args.out else Path("runs") / f"{args.data}-{args.preset}-seed{args.seed}"
    if args.resume:
        states = list(out.glob("seed*/resume.json")) + list(out.glob("seed*/summary.json"))
        if not states:
            raise UsageError(f"nothing to resume in {out}: no seed*/resume.json or seed*/summary.json")
        return out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a directory")
    if out.exists() and any(out.iterdir()):
        if not args.force:
            raise UsageError(f"{out} already exists and is not empty; pass --force to overwrite it "
                             "or --out to choose another directory")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def train_one_seed(args, seed, prepared, config, seed_dir):
    """Train (or, with --resume, finish or reload) the model of one seed."""
    done = seed_dir / "summary.json"
    if args.resume and done.is_file():
        params, _, _, _ = load_tagger(seed_dir / "best")
        return params, json.loads(done.read_text())
    train_cfg = TrainConfig(epochs=args.epochs or (8 if args.quick else 15), batch_size=args.batch_size,
                            optimizer=args.optimizer, lr=args.lr or (2e-2 if args.quick else None),
                            patience=args.patience, seed=seed, unk_replace=args.unk_replace, word_unk=args.word_unk,
                            lr_decay=args.lr_decay, restore_best=args.restore_best, average=args.average)
    resume = args.resume and (seed_dir / "resume.json").is_file()
    print(f"seed {seed}: {'resuming' if resume else 'training'} -> {seed_dir}")
    params, summary = train_tagger(prepared, config, train_cfg, seed_dir, args.embeddings,
                                   not args.no_progress, resume=resume)
    atomic_write_json(done, summary)
    return params, summary


def baseline_scores(corpora, chunking):
    """The most-frequent-label baseline on test: token accuracy and, for chunk labels, entity F1."""
    train, test = corpora["train"], corpora["test"]
    guess = most_frequent_label_baseline(train.sentences, train.labels, test.sentences)
    names = sorted({label for seq in train.labels + test.labels for label in seq})
    index = {name: i for i, name in enumerate(names)}
    flat = lambda seqs: np.array([index[label] for seq in seqs for label in seq], dtype=np.int64)  # noqa: E731
    scores = {"test_baseline_token_acc": token_accuracy(flat(test.labels), flat(guess))}
    if chunking:
        scores["test_baseline_entity_f1"] = entity_prf(test.labels, guess)[2]
    return scores


def run(args, command="python run.py"):
    """The whole run of ``args`` (parsed and checked); returns metrics.json's dict.

    command: the command line as typed, kept in metrics.json and the report."""
    start = time.perf_counter()
    get_backend(args.backend)       # --backend cuda without a GPU fails here, before any work
    out = prepare_out_dir(args)
    data_dir = out / "data" if args.data in ("generated", "generated-pos") else args.data_dir
    corpora = load_splits(args.data, data_dir, args.train, args.dev, args.test, seed=args.seed,
                          quick=args.quick, label_column=args.label_column, conllu_tag=args.conllu_tag)
    corpora, scheme = normalise_labels(corpora)
    data_summary = {}
    for split, corpus in corpora.items():
        s = corpus.summary()
        data_summary[split] = {"sentences": s["sentences"], "tokens": s["tokens"], "path": str(corpus.path),
                               "scheme": scheme.detected[split]}
        print(f"{split:5s}: {s['sentences']:6,d} sentences {s['tokens']:8,d} tokens  ({corpus.path})")
    print(f"label scheme: {scheme.describe()}")
    prepared = prepare(corpora, args.unknown_labels)
    labels = prepared.labels.labels
    chunking = is_chunking(labels)
    config = make_config(args.preset, prepared, args.backend, args.dtype,
                         hidden=16 if args.quick and args.hidden is None else args.hidden,
                         char_filters=args.char_filters, affix_dim=args.affix_dim,
                         variational=None if args.dropout_mask is None else args.dropout_mask == "sentence",
                         decode=args.decode)
    print(f"model: {args.preset} ({config.output_size} neurons, {'Bi' if config.bidirectional else ''}LSTM), "
          f"{config.decode} decoding{' (the argmax, for plain tags)' if not chunking and config.decode != 'argmax' else ''}, "
          f"vocabulary {len(prepared.vocab):,}, {len(labels)} labels, backend {config.backend}, {config.dtype}")
    seeds = [args.seed + i for i in range(args.seeds)]
    trained = []
    for seed in seeds:
        try:
            trained.append(train_one_seed(args, seed, prepared, config, out / f"seed{seed}"))
        except KeyboardInterrupt:
            raise KeyboardInterrupt(f"interrupted: the state after the last batch is saved in {out / f'seed{seed}'}; "
                                    "continue with the same command plus --resume"
                                    + ("" if args.out else f" (or --out {out})")) from None
    train_seconds = time.perf_counter() - start
    params, summary = trained[0]

    metrics = {"command": command, "data": args.data, "preset": args.preset, "seeds": seeds,
               "label_scheme": {"detected": scheme.detected, "scheme": scheme.scheme, "chunking": chunking},
               "config": config.to_dict(),
               "dev": summary["dev"], "test": summary["test"], "epochs": summary["epochs"],
               "best_epoch": summary["best_epoch"], "seconds_per_epoch": summary["seconds_per_epoch"],
               "train_seconds": summary["train_seconds"], "history": summary["history"],
               "embeddings_coverage": summary["embeddings_coverage"],
               "by_seed": {str(seed): {"dev": s["dev"], "test": s["test"], "epochs": s["epochs"],
                                        "train_seconds": s["train_seconds"]} for seed, (_, s) in zip(seeds, trained)}}
    metrics.update(baseline_scores(corpora, chunking))

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
                                        progress=not args.no_progress, group_by=args.group_by,
                                        random_pool=args.random_pool))
        timings = {"training (all seeds)": train_seconds,
                   **{f"{step} (seed {seeds[0]})": sec for step, sec in models[0]["timings"].items()},
                   "analysis (all seeds)": time.perf_counter() - analysis_start}
        write_outputs(out, models, labels, command, seeds,
                      {"dev": summary["dev"], "test": summary["test"]}, timings, rng,
                      {"source": args.data, "label scheme": scheme.describe(), "splits": data_summary},
                      {**config.to_dict(), "preset": args.preset})
        metrics["analysis_seconds"] = time.perf_counter() - analysis_start
        print(f"wrote {out}/report.md and {out}/analysis.json")
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
        print(f"pretrained vectors from {args.embeddings} cover {100 * summary['embeddings_coverage']:.1f}% "
              "of the vocabulary")
    width = max(len(label) for label in labels)
    print("dev per-label accuracy: " + "  ".join(
        f"{label:>{width}s} {acc:.3f}" if acc is not None else f"{label} n/a"
        for label, acc in summary["dev"]["per_label_acc"].items()))
    print(f"{len(seeds)} seed(s), {summary['epochs']} epochs, {summary['seconds_per_epoch']:.1f} s/epoch, "
          f"total {metrics['total_seconds']:.1f} s; wrote {out}/metrics.json")
    return metrics


def main(argv=None, prog=None):
    """The command line: 0 on success, 2 on the project's own errors (one line on stderr),
    130 on Ctrl-C; any other exception is a bug and keeps its traceback."""
    prog = prog or ("python " + Path(sys.argv[0]).name)
    args = build_parser(prog).parse_args(argv)
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    command = " ".join([prog] + list(sys.argv[1:] if argv is None else argv))
    try:
        run(check_options(args), command)
    except LSTMNumpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"\n{interrupt}" if str(interrupt) else "\ninterrupted", file=sys.stderr)
        return 130
    return 0
