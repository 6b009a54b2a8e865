"""The acceptance matrix of training: the default command on corpora of every size and balance,
against the most-frequent-label baseline, and the same corpora with other settings beside it.

    python docs/results/training_matrix.py --out docs/results/training_matrix.md
    python docs/results/training_matrix.py --corpora conll-1500 sequoia-500 \\
        --config "lr 3e-3=--lr 3e-3 --epochs 80 --patience 10" --out /tmp/matrix.md

Each corpus is trained by ``run.py`` as a user would run it (one seed, ``--no-analysis``;
the default command trains three seeds the same way and dissects them), with every
option left at its default unless a ``--config`` adds some.  Subsets are the first N
sentences of the training file, with the full dev and test files, written to a
temporary folder (the shared data are never copied into the repository).  The
rare-entity corpus is generated (``lstm_numpy.data.generated``, ``RARE_FILLER_P``) and
passed as files, so that any checkout of the project can be measured on it
(``--checkout``: run another checkout's run.py, e.g. the code before a change).

The document gives per corpus and configuration: the test score (entity F1 for chunk
labels, token accuracy for plain tags), the most-frequent-label baseline's, whether
the model beats it, the epochs run and the best, the training seconds, and what the
run said of a model that learned nothing; and when, where and how long.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
CONLL, SEQUOIA = SHARED / "conll2003", SHARED / "ud_french_sequoia"
CORPORA = ("generated", "generated-rare", "conll-500", "conll-1500", "conll-5000", "conll-all",
           "sequoia-500", "sequoia-all")
SMALL = ("generated", "generated-rare", "conll-500", "conll-1500", "sequoia-500")


def subset(source, target, n_sentences):
    """The first n sentences (blank-line separated blocks, -DOCSTART- lines dropped) of a file."""
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


def corpus_args(name, folder):
    """The run.py data options of a corpus of the matrix (its files written under ``folder``)."""
    if name == "generated":
        return ["--data", "generated"]
    if name == "generated-rare":
        sys.path.insert(0, str(ROOT))
        from lstm_numpy.data.generated import RARE_FILLER_P, generate_corpus
        paths = generate_corpus(folder / "rare", seed=0, filler_p=RARE_FILLER_P)
        return ["--data", "columns", "--train", paths["train"], "--dev", paths["dev"], "--test", paths["test"]]
    kind, size = name.split("-")
    if kind == "conll":
        train = CONLL / "train.txt" if size == "all" else subset(CONLL / "train.txt", folder / f"{name}.txt", int(size))
        return ["--data", "conll2003", "--train", train, "--dev", CONLL / "valid.txt", "--test", CONLL / "test.txt"]
    train = SEQUOIA / "train.conllu" if size == "all" else \
        subset(SEQUOIA / "train.conllu", folder / f"{name}.conllu", int(size))
    return ["--data", "conllu", "--train", train, "--dev", SEQUOIA / "dev.conllu", "--test", SEQUOIA / "test.conllu"]


def machine():
    """The CPU's model name (from /proc/cpuinfo where there is one) and its core count."""
    try:
        name = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores"


def run_one(checkout, data_args, extra, out):
    command = [sys.executable, str(Path(checkout) / "run.py"), *map(str, data_args), "--seeds", "1",
               "--no-analysis", "--no-progress", "--out", str(out), *extra]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=checkout,
                            env={**os.environ, "PYTHONPATH": str(checkout)})
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"failed: {shlex.join(command)}\n{result.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    chunking = metrics["label_scheme"]["chunking"]
    score = "entity_f1" if chunking else "token_acc"
    scale = 1.0 if chunking else 100.0
    test = scale * metrics["test"][score]
    baseline = scale * metrics["test_baseline_" + ("entity_f1" if chunking else "token_acc")]
    warnings = [line.removeprefix("warning: ") for line in result.stderr.splitlines() if line.startswith("warning:")]
    return {"what": "entity F1" if chunking else "token accuracy (%)", "test": test, "baseline": baseline,
            "dev": scale * metrics["dev"][score], "epochs": metrics["epochs"], "best_epoch": metrics["best_epoch"],
            "train_seconds": metrics["train_seconds"], "wall_seconds": seconds,
            "degenerate": next(iter((metrics.get("degenerate") or {}).values()), []),
            "history": [{key: r.get(key) for key in ("epoch", "dev_entity_f1", "dev_token_acc", "dev_loss", "lr",
                                                     "event")} for r in metrics["history"]],
            "warnings": warnings, "command": shlex.join(["python", "run.py", *map(str, data_args), "--seeds", "1",
                                                         "--no-analysis", *extra])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA),
                        help=f"which corpora (default all; 'small' for {', '.join(SMALL)}): {', '.join(CORPORA)}")
    parser.add_argument("--config", action="append", default=[],
                        help='"NAME=OPTIONS": another configuration beside the defaults, e.g. '
                             '"lr 3e-3=--lr 3e-3 --epochs 80"; repeatable')
    parser.add_argument("--no-default", action="store_true", help="only the --config configurations")
    parser.add_argument("--checkout", default=str(ROOT), help="the checkout whose run.py to measure (default this one)")
    parser.add_argument("--json", help="also write every result to this JSON file")
    parser.add_argument("--include", action="append", default=[],
                        help='"NAME=FILE.json": rows of an earlier run of this script (its --json), e.g. the code '
                             "before a change measured with --checkout, shown under NAME beside this run's; repeatable")
    args = parser.parse_args(argv)
    corpora = list(SMALL) if args.corpora == ["small"] else args.corpora
    configs = ([] if args.no_default else [("default", [])]) + \
        [(text.split("=", 1)[0], shlex.split(text.split("=", 1)[1])) for text in args.config]
    started = datetime.datetime.now().astimezone()
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="lstm_numpy_matrix_") as tmp:
        tmp = Path(tmp)
        for corpus in corpora:
            data_args = corpus_args(corpus, tmp)
            for name, extra in configs:
                r = run_one(args.checkout, data_args, extra, tmp / f"{corpus}-{len(results)}")
                r.update(corpus=corpus, config=name)
                results.append(r)
                print(f"{corpus:15s} {name:12s} test {r['test']:6.2f}  baseline {r['baseline']:6.2f}  "
                      f"epochs {r['epochs']} (best {r['best_epoch']})  {r['train_seconds']:.0f} s", flush=True)
    seconds = (datetime.datetime.now().astimezone() - started).total_seconds()
    for text in args.include:
        name, path = text.split("=", 1)
        earlier = [r for r in json.loads(Path(path).read_text()) if r["corpus"] in corpora]
        results += [{**r, "config": name} for r in earlier]
    rows = []
    for corpus in corpora:
        for r in (r for r in results if r["corpus"] == corpus):
            rows.append(f"| {corpus} | {r['config']} | {r['what']} | {r['test']:.2f} | {r['baseline']:.2f} | "
                        f"{'yes' if r['test'] > r['baseline'] else '**no**'} | {r['dev']:.2f} | "
                        f"{r['epochs']} ({r['best_epoch']}) | {r['train_seconds']:.0f} | "
                        f"{'; '.join(r['degenerate']) or '-'} |")
    commands = list(dict.fromkeys(f"{r['config']}: `{r['command']}`" for r in results if r["corpus"] == corpora[0]))
    text = "\n".join([
        "# Training on corpora of every size and balance", "",
        f"Made by `python docs/results/training_matrix.py {' '.join(shlex.quote(a) for a in (argv or sys.argv[1:]))}` "
        f"on {started:%Y-%m-%d} in {seconds / 60:.0f} min: {machine()}, Python {platform.python_version()}; "
        "one seed per cell, `--no-analysis`; training s: seed 0's training and its dev evaluations.", "",
        "| corpus | settings | test score | test | most-frequent-label baseline | beats it | dev | epochs (best) "
        "| training s | degenerate |",
        "|---|---|---|---:|---:|---|---:|---:|---:|---|", *rows, "",
        "Commands (for the first corpus; the others differ only in their data options):", "",
        *[f"- {c}" for c in commands], ""])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
