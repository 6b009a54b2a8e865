"""A whole training epoch here against the same tagger trained in PyTorch, side by side in one run.

    python benchmarks/bench_epoch_torch.py                        # paper, uni 256, bi 256
    python benchmarks/bench_epoch_torch.py --models paper --threads 1 --json

The tagger on both sides: word embeddings (100) and casing embeddings (10), concatenated,
dropout 0.5, one LSTM (or BiLSTM) layer, dropout 0.5, a linear layer, softmax
cross-entropy over the real tokens; Adam at 3e-3, the gradient clipped to norm 5. The
same data (CoNLL-2003 train when present, else the generated corpus), cut the same way into
length-bucketed batches of 32 sentences, training singletons replaced by <unk> with
probability 0.5 on both sides (each side draws its own batch order and replacements: the same
tokens an epoch, not the same sequence of batches). Models:

    paper   the paper preset, one LSTM of 50 neurons
    uni256  the same with 256 neurons
    bi256   a BiLSTM of 2 x 256 neurons (casing and words only, as above)

Here: ``benchmarks/bench_train.py``'s epoch (lazy Adam on the embeddings, as training does).
PyTorch: a plain tagger (``nn.Embedding``, ``nn.LSTM`` over packed sequences, ``nn.Linear``,
``torch.optim.Adam`` over every parameter, as a PyTorch user writes it; its LSTM is
oneDNN's on CPU). Each (model, side) runs in a fresh process of this script, one after
the other, so that Numba's and PyTorch's thread pools never meet; both get --threads
threads, and BLAS one (OPENBLAS_NUM_THREADS=1, as run.py sets it). The first epoch pays
compilation (Numba) and warm-up on both sides; the last of --epochs is reported. The two sides
take turns --rounds times (default 3; each side goes first in every other round) and each side's
median round is reported, with every round's ratio: on a shared 2-core machine one epoch swung by 20% between runs.
Needs PyTorch (a CPU build); without it the script says so and stops.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads, as in run.py
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  (benchmarks/_install.py, beside this script)
from bench_analysis import machine_facts  # noqa: E402
from bench_train import load_model_data, time_epochs  # noqa: E402

MODELS = {"paper": dict(hidden=50, bidirectional=False), "uni256": dict(hidden=256, bidirectional=False),
          "bi256": dict(hidden=256, bidirectional=True)}


def torch_epochs(prepared, config, epochs, threads, seed=0):
    """[{"epoch", "seconds", "tokens"}] of ``epochs`` epochs of the same tagger in PyTorch."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from lstm_numpy.data.batching import features_for, make_batch, make_batches
    from lstm_numpy.data.vocab import replace_singletons

    torch.set_num_threads(threads)
    torch.manual_seed(seed)

    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.words = nn.Embedding(config.vocab_size, config.word_dim)
            self.cases = nn.Embedding(config.case_vocab_size, config.case_dim)
            self.lstm = nn.LSTM(config.word_dim + config.case_dim, config.hidden, batch_first=True,
                                bidirectional=config.bidirectional)
            self.drop = nn.Dropout(config.dropout)
            self.out = nn.Linear(config.hidden * (2 if config.bidirectional else 1), config.n_labels)

        def forward(self, words, cases, lengths):
            x = self.drop(torch.cat([self.words(words), self.cases(cases)], dim=-1))
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            h, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=words.shape[1])
            return self.out(self.drop(h))

    model = Tagger()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100)
    rng = np.random.default_rng(seed)
    split = features_for(prepared.splits["train"], config)
    singletons = prepared.vocab.singleton_mask()
    lengths = np.array([len(w) for w in split.words])
    results = []
    for epoch in range(epochs):
        start, tokens = time.perf_counter(), 0
        for index in make_batches(lengths, 32, rng, shuffle=True):
            words = [replace_singletons(split.words[i], singletons, 0.5, rng) for i in index]
            batch = make_batch(split, index, words)
            labels = torch.from_numpy(np.where(batch.mask, batch.labels, -100))
            logits = model(torch.from_numpy(batch.word_ids), torch.from_numpy(batch.case_ids),
                           torch.from_numpy(batch.mask.sum(1)))
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            tokens += int(batch.mask.sum())
        results.append({"epoch": epoch + 1, "seconds": time.perf_counter() - start, "tokens": tokens})
    return results, torch.__version__


def child(args):
    """One (model, side): the epochs' seconds as one JSON line."""
    import numba
    numba.set_num_threads(args.threads)
    data, prepared, config = load_model_data(args.data, "paper", **MODELS[args.models])
    if args.side == "here":
        epochs, version = time_epochs(prepared, config, args.epochs), None
    else:
        epochs, version = torch_epochs(prepared, config, args.epochs, args.threads)
    print(json.dumps({"model": args.models, "side": args.side, "data": data, "epochs": epochs,
                      "torch": version, "tokens": epochs[-1]["tokens"]}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INSTALL)
    parser.add_argument("--models", default="paper,uni256,bi256", help=f"comma-separated, of {', '.join(MODELS)}")
    parser.add_argument("--data", choices=("conll2003", "generated"), default=None,
                        help="default: conll2003 when ../shared/data/conll2003 exists, else generated")
    parser.add_argument("--threads", type=int, default=2, help="Numba and PyTorch threads (default 2)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per side; the last is reported (default 2)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the two sides taking turns; each side's median round is reported, and "
                             "each round's ratio beside it (default 3: single epochs here swung by 20%%)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--side", choices=("here", "torch"), help=argparse.SUPPRESS)   # a child process
    args = parser.parse_args(argv)
    if args.side:
        return child(args)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit("error: this benchmark needs PyTorch (python -m pip install torch, a CPU build is enough)")
    names = [name.strip() for name in args.models.split(",")]
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)} (choose from {', '.join(MODELS)})")
    rows = []
    for name in names:
        row = {"model": name, **MODELS[name], "rounds": []}
        for round_ in range(args.rounds):   # the two sides take turns, so a slow spell of the machine hits both
            measured_round = {}
            for side in ("here", "torch") if round_ % 2 == 0 else ("torch", "here"):   # each side first in turn
                command = [sys.executable, str(Path(__file__).resolve()), "--models", name, "--side", side,
                           "--threads", str(args.threads), "--epochs", str(args.epochs)]
                command += ["--data", args.data] if args.data else []
                result = subprocess.run(command, capture_output=True, text=True)
                if result.returncode != 0:
                    raise SystemExit(f"error: {name} ({side}) failed:\n{result.stderr[-2000:]}")
                measured = json.loads(result.stdout.strip().splitlines()[-1])
                measured_round[f"{side}_s"] = measured["epochs"][-1]["seconds"]
                row["data"], row[f"{side}_tokens"] = measured["data"], measured["tokens"]
                row["torch_version"] = measured["torch"] or row.get("torch_version")
            measured_round["speedup"] = measured_round["torch_s"] / measured_round["here_s"]
            row["rounds"].append(measured_round)
        if row["here_tokens"] != row["torch_tokens"]:
            raise SystemExit(f"error: {name}: the two sides read different data ({row['here_tokens']:,} and "
                             f"{row['torch_tokens']:,} tokens)")
        row["tokens"] = row["here_tokens"]
        for side in ("here", "torch"):   # the median round of each side
            row[f"{side}_s"] = float(np.median([r[f"{side}_s"] for r in row["rounds"]]))
        row["speedup"] = row["torch_s"] / row["here_s"]
        rows.append(row)
        if not args.json:
            each = " ".join(f"{r['speedup']:.2f}x" for r in row["rounds"])
            print(f"{name:7s} ({'bi' if row['bidirectional'] else 'uni'}LSTM of {row['hidden']}): here "
                  f"{row['here_s']:.2f} s, PyTorch {row['torch_s']:.2f} s an epoch -> {row['speedup']:.2f}x "
                  f"({row['tokens']:,} tokens of {row['data']}" + (f"; rounds {each}" if args.rounds > 1 else "")
                  + ")", flush=True)
    facts = {**machine_facts(), "threads": args.threads, "epochs": args.epochs, "rounds": args.rounds}
    if args.json:
        print(json.dumps({"command": " ".join(["bench_epoch_torch.py"] + (argv or sys.argv[1:])), "rows": rows,
                          **facts}))
    else:
        print(f"({facts['cpu']}, {args.threads} threads a side, OPENBLAS_NUM_THREADS={facts['openblas_threads']}, "
              f"torch {rows[0]['torch_version']}, epoch {args.epochs} of {args.epochs}, median of {args.rounds} "
              f"round{'s' if args.rounds > 1 else ''}, {facts['date']})")
    return rows


if __name__ == "__main__":
    main()
