"""Time activation patching (every pair x every step x every neuron x {h, c}) and the gate
clamps of the default model, the way a run does them.

The model is ``python run.py``'s: the bilstm preset (2 x 25 neurons, character CNN and
affixes) on the generated corpus, randomly initialised unless --epochs > 0 (timing does not
depend on the weights: every pair is patched whether the model reads it as intended or
not); the pairs are the generated corpus's own (lstm_numpy.data.pairs.generated_pairs).
One sweep runs every (step, neuron) of a direction as one copy of the batch of pairs in the
inference kernel; the first call includes Numba's compilation, the best of --repeats
further calls does not.  Like ``run.py`` it sets OPENBLAS_NUM_THREADS=1 and Numba's
workqueue layer unless set.

    python benchmarks/bench_patching.py --json
    python benchmarks/bench_patching.py --pairs 300 --hidden 100
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads, as in run.py
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  (benchmarks/_install.py, beside this script)
from bench_analysis import best_of, machine_facts  # noqa: E402

from lstm_numpy.analysis.patching import gate_clamps, patching_sweep  # noqa: E402
from lstm_numpy.analysis.states import collect_states  # noqa: E402
from lstm_numpy.data.pairs import generated_pairs, write_pairs  # noqa: E402
from lstm_numpy.model.tagger import init_tagger  # noqa: E402
from lstm_numpy.pipeline import load_pairs, load_splits, make_config, normalise_labels, prepare, train_tagger  # noqa: E402
from lstm_numpy.training.loop import TrainConfig  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INSTALL)
    parser.add_argument("--pairs", type=int, default=100, help="generated minimal pairs (default 100)")
    parser.add_argument("--hidden", type=int, default=None, help="neurons per direction (default: the preset's, 25)")
    parser.add_argument("--preset", choices=("bilstm", "paper"), default="bilstm")
    parser.add_argument("--epochs", type=int, default=0, help="train this long first (0: random init)")
    parser.add_argument("--clamp-neurons", type=int, default=20, help="neurons whose f, i, o gates are clamped")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        corpora, scheme = normalise_labels(load_splits("generated", folder, seed=args.seed))
    prepared = prepare(corpora)
    config = make_config(args.preset, prepared, hidden=args.hidden)
    if args.epochs > 0:
        params, _ = train_tagger(prepared, config, TrainConfig(epochs=args.epochs, seed=args.seed), progress=None)
    else:
        params = init_tagger(config, np.random.default_rng(args.seed))
    pairs = load_pairs("generated", prepared, scheme.scheme, args.seed)
    if args.pairs != len(pairs.pairs):
        with tempfile.TemporaryDirectory() as folder:
            path = write_pairs(Path(folder) / "pairs.txt", generated_pairs(args.pairs, args.seed))
            pairs = load_pairs(str(path), prepared, scheme.scheme, args.seed)
    lengths = np.array([len(p.clean) for p in pairs.pairs])

    def sweep():
        return patching_sweep(params, config, pairs.clean, pairs.corrupted, pairs.positions, pairs.clean_ids,
                              pairs.corrupted_ids)
    result, sweep_first, sweep_best = best_of(sweep, args.repeats)
    dev = prepared.splits["dev"]
    states = collect_states(params, config, dev)
    neurons = np.arange(min(args.clamp_neurons, config.output_size))
    _, clamp_first, clamp_best = best_of(lambda: gate_clamps(params, config, dev, states, neurons), args.repeats)
    report = {
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "preset": args.preset, "neurons": config.output_size, "bidirectional": bool(config.bidirectional),
        "epochs": args.epochs, "pairs": len(pairs.pairs), "mean_pair_tokens": float(lengths.mean()),
        "patched_positions": int(2 * lengths.sum() * config.output_size),     # pair tokens x neurons x {h, c}
        "pairs_used": result.n_used, "sweep_first_s": sweep_first, "sweep_s": sweep_best,
        "clamped_neurons": int(len(neurons)), "dev_tokens": int(states.n_tokens),
        "clamps_first_s": clamp_first, "clamps_s": clamp_best,
        **machine_facts(),
    }
    if args.json:
        print(json.dumps(report))
    else:
        describe(report, args, config, pairs, lengths, result, neurons, states)
    return report


def describe(report, args, config, pairs, lengths, result, neurons, states):
    """The report in words."""
    print(f"$ {report['command']}")
    print(f"model: {args.preset}, {config.output_size} neurons; {len(pairs.pairs)} pairs of "
          f"{lengths.mean():.1f} tokens on average ({result.n_used} read as intended)")
    print(f"patching sweep (every pair x step x neuron x h, c: {report['patched_positions']:,} patched positions): "
          f"{report['sweep_first_s']:.2f} s first (with compilation), {report['sweep_s']:.2f} s best of {args.repeats}")
    print(f"gate clamps ({len(neurons)} neurons x f, i, o on {states.n_tokens:,} dev tokens): "
          f"{report['clamps_first_s']:.2f} s first, {report['clamps_s']:.2f} s best of {args.repeats}")
    print(f"({report['cpu']}, {report['numba_threads']} Numba threads, OPENBLAS_NUM_THREADS="
          f"{report['openblas_threads']}, {report['date']})")


if __name__ == "__main__":
    main()
