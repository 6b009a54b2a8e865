"""Tokens per second of whole training steps (batching, forward, backward, clipping, Adam).

    python benchmarks/bench_train.py                  # CoNLL-2003 if present
    python benchmarks/bench_train.py --data generated --json

One epoch over the training split with the ``paper`` preset (50 neurons, word
embeddings of 100, dropout 0.5), batch 32, no evaluation; the first epoch pays
JIT compilation (cached on disk by Numba, so a second run does not), so
``--epochs 2`` reports the second.  Each epoch also gives the seconds of each part of
its steps: making the batches, forward+backward, clipping, the optimizer.  Thread counts are printed with the result;
like ``run.py``, it sets OPENBLAS_NUM_THREADS=1, MKL_NUM_THREADS=1 and Numba's
workqueue layer unless they are set already (2-thread OpenBLAS next to the Numba
threads made an epoch 7 s instead of 2 on this 2-core machine; set
NUMBA_THREADING_LAYER=omp to compare layers).
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads, as in run.py
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  # benchmarks/_install.py, beside this script

PARTS = ("batches", "forward+backward", "clipping", "optimizer")
"""The parts of a training step timed in each epoch."""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INSTALL)
    parser.add_argument("--data", choices=("conll2003", "generated"), default=None,
                        help="default: conll2003 when ../shared/data/conll2003 exists, else generated")
    parser.add_argument("--preset", default="paper")
    parser.add_argument("--backend", default="numba", choices=("numba", "numpy"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    parser.add_argument("--threads", type=int, default=2, help="Numba threads (default 2)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs to time; the last is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    import numba

    numba.set_num_threads(args.threads)
    data, prepared, config = load_model_data(args.data, args.preset, args.backend, args.dtype)
    results = time_epochs(prepared, config, args.epochs)
    row = {"data": data, "preset": args.preset, "backend": args.backend, "dtype": args.dtype,
           "numba_threads": numba.get_num_threads(), "numba_threading_layer": _threading_layer(numba),
           "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"), "epochs": results}
    if args.json:
        print(json.dumps(row))
    else:
        for r in results:
            print(f"epoch {r['epoch']}: {r['tokens']:,} tokens in {r['seconds']:.2f} s = {r['tok_s']:,.0f} tok/s ("
                  + ", ".join(f"{part} {sec:.2f} s" for part, sec in r["parts_seconds"].items()) + ")")
        print(f"({data}, preset {args.preset}, {args.backend} {args.dtype}, numba threads "
              f"{row['numba_threads']} ({row['numba_threading_layer']} layer), "
              f"OPENBLAS_NUM_THREADS={row['OPENBLAS_NUM_THREADS']})")


def load_model_data(data=None, preset="paper", backend="numba", dtype="float32", **overrides):
    """(data name, pipeline.Prepared, TaggerConfig) of a preset on CoNLL-2003 (when present, or
    data=None: the generated corpus otherwise); overrides: TaggerConfig fields (hidden=256, ...)."""
    import dataclasses

    from lstm_numpy.data.readers import default_conll2003_dir
    from lstm_numpy.pipeline import load_splits, make_config, prepare

    data = data or ("conll2003" if (default_conll2003_dir() / "train.txt").is_file() else "generated")
    prepared = prepare(load_splits(data))
    config = dataclasses.replace(make_config(preset, prepared, backend, dtype), **overrides)
    return data, prepared, config


def time_epochs(prepared, config, epochs, seed=0):
    """[{"epoch", "seconds", "tok_s", "tokens", "parts_seconds"}] of ``epochs`` training epochs of a
    fresh tagger as training.loop runs them: length-bucketed batches of 32, singletons to <unk>,
    forward+backward, clipping at 5, Adam (lazy on the embeddings)."""
    from lstm_numpy.data.batching import features_for, make_batch, make_batches
    from lstm_numpy.data.vocab import replace_singletons
    from lstm_numpy.model.tagger import init_tagger, tagger_loss_and_grads
    from lstm_numpy.training.optim import Adam, clip_by_global_norm

    rng = np.random.default_rng(seed)
    params = init_tagger(config, rng)
    split = features_for(prepared.splits["train"], config)   # as training does: only the features used
    singletons = prepared.vocab.singleton_mask()
    optimizer = Adam()
    lengths = np.array([len(w) for w in split.words])
    results = []
    for epoch in range(epochs):
        start = time.perf_counter()
        tokens = 0
        parts = dict.fromkeys(PARTS, 0.0)
        for index in make_batches(lengths, 32, rng, shuffle=True):
            t0 = time.perf_counter()
            words = [replace_singletons(split.words[i], singletons, 0.5, rng) for i in index]
            batch = make_batch(split, index, words)
            t1 = time.perf_counter()
            _, grads, _ = tagger_loss_and_grads(params, config, batch, rng, train=True, sparse_embeddings=True)
            t2 = time.perf_counter()
            grads, _ = clip_by_global_norm(grads, 5.0)
            t3 = time.perf_counter()
            optimizer.step(params, grads)
            t4 = time.perf_counter()
            for part, seconds in zip(PARTS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                parts[part] += seconds
            tokens += int(batch.mask.sum())
        seconds = time.perf_counter() - start
        results.append({"epoch": epoch + 1, "seconds": seconds, "tok_s": tokens / seconds, "tokens": tokens,
                        "parts_seconds": parts})
    return results


def _threading_layer(numba):
    try:
        return numba.threading_layer()
    except ValueError:      # no parallel kernel ran (numpy backend)
        return None


if __name__ == "__main__":
    main()
