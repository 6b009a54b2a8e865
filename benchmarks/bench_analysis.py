"""Time the analysis: one dev pass, Xin sensitivity, the other measures, the output-mode
ablation sweep, a few single recurrent-mode ablations and the whole recurrent-mode sweep.

Data: CoNLL-2003 dev (51,362 tokens) when ../shared/data/conll2003 (or
--data-dir) exists, else synthetic random sentences of the same size (synthetic
runs the ``paper`` model only: no characters). The model is ``--preset`` (50
neurons, 9 labels), randomly initialised unless --epochs > 0 (then trained
quickly on the training split first). Timing does not depend on how good the
model is; with a random model some labels are never predicted, so the ablation
ranking groups tokens by gold label to keep all 9.

The recurrent sweep is the one ``run.py`` runs (analysis.dissect: k in 1, 3, 5,
10 x top / bottom / 5 random / control per label, then every neuron alone);
``recurrent_sweep_seconds / one_dev_pass_seconds`` says how many dev passes it costs.
Like ``run.py`` it sets OPENBLAS_NUM_THREADS=1 and Numba's workqueue layer unless set.

    python benchmarks/bench_analysis.py --json
    python benchmarks/bench_analysis.py --preset paper --data synthetic
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads, as in run.py
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  (benchmarks/_install.py, beside this script)

from lstm_numpy.analysis.ablation import ablate_recurrent  # noqa: E402
from lstm_numpy.analysis.dissect import DissectOptions  # noqa: E402
from lstm_numpy.analysis.engine import Target  # noqa: E402
from lstm_numpy.analysis.measures import all_measures  # noqa: E402
from lstm_numpy.analysis.sensitivity import sensitivity_from_states, xin_sensitivity  # noqa: E402
from lstm_numpy.analysis.states import collect_states  # noqa: E402
from lstm_numpy.analysis.sweep import run_sweep, single_neuron_drops  # noqa: E402
from lstm_numpy.data.batching import EncodedSplit  # noqa: E402
from lstm_numpy.data.readers import load_conll2003  # noqa: E402
from lstm_numpy.model.tagger import TaggerConfig, init_tagger  # noqa: E402
from lstm_numpy.pipeline import make_config, prepare, train_tagger  # noqa: E402
from lstm_numpy.training.loop import TrainConfig  # noqa: E402

CONLL_LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]
N_TOKENS = 51362


def conll_setup(data_dir, epochs, seed, preset):
    splits = load_conll2003(data_dir)
    prepared = prepare({"train": splits["train"], "dev": splits["valid"], "test": splits["test"]})
    config = make_config(preset, prepared)
    if epochs > 0:
        params, _ = train_tagger(prepared, config, TrainConfig(epochs=epochs, seed=seed), progress=None)
    else:
        params = init_tagger(config, np.random.default_rng(seed))
    return params, config, prepared.splits["dev"], prepared.labels.labels


def synthetic_setup(seed, vocab_size=2000, mean_length=14):
    rng = np.random.default_rng(seed)
    config = TaggerConfig(vocab_size=vocab_size, n_labels=len(CONLL_LABELS), hidden=50)
    params = init_tagger(config, rng)
    lengths = []
    while sum(lengths) < N_TOKENS:
        lengths.append(int(min(rng.integers(2, 2 * mean_length), N_TOKENS - sum(lengths))))
    words = [rng.integers(0, vocab_size, L) for L in lengths]
    labels = [rng.choice(len(CONLL_LABELS), L, p=[0.83] + [0.02125] * 8) for L in lengths]
    split = EncodedSplit(words, [np.zeros(L, dtype=np.int64) for L in lengths], labels, [["w"] * L for L in lengths])
    return params, config, split, CONLL_LABELS


def best_of(fn, repeats):
    """(result, first-call seconds, best of ``repeats`` further calls)."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return result, first, min(times) if times else first


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INSTALL)
    parser.add_argument("--data", choices=("auto", "conll2003", "synthetic"), default="auto")
    parser.add_argument("--data-dir", default=None, help="CoNLL-2003 folder (default ../shared/data/conll2003)")
    parser.add_argument("--preset", choices=("bilstm", "paper"), default="bilstm",
                        help="the model (CoNLL-2003 only; default bilstm, the one whose recurrent sweep is slowest)")
    parser.add_argument("--no-sweep", action="store_true", help="skip the whole recurrent sweep")
    parser.add_argument("--epochs", type=int, default=0, help="train the paper model this long first (0: random init)")
    parser.add_argument("--n-random", type=int, default=DissectOptions().n_random, help="random draws per (label, k)")
    parser.add_argument("--recurrent", type=int, default=3, help="recurrent-mode ablations to time")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of the fast timings (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)

    data_dir = Path(args.data_dir) if args.data_dir else Path(__file__).resolve().parents[2] / "shared/data/conll2003"
    use_conll = args.data == "conll2003" or (args.data == "auto" and (data_dir / "valid.txt").is_file())
    setup_start = time.perf_counter()
    if use_conll:
        params, config, split, names = conll_setup(data_dir, args.epochs, args.seed, args.preset)
    else:
        params, config, split, names = synthetic_setup(args.seed)
    setup_seconds = time.perf_counter() - setup_start
    W, b = params["out.W"], params["out.b"]

    states, states_first, states_best = best_of(lambda: collect_states(params, config, split), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # a random model leaves labels unpredicted: NaN rows
        _, xin_first, xin_best = best_of(lambda: xin_sensitivity(states.hidden, states.pred, W), args.repeats)
        target = Target(params, config, split, states)
        _, _, measures_best = best_of(lambda: all_measures(states, W, b, names, measured=False), 1)
        _, _, single_best = best_of(lambda: single_neuron_drops(target, names), 1)
        ranking = sensitivity_from_states(states, W, "gold")
        sweep_start = time.perf_counter()
        defaults = DissectOptions()
        result = run_sweep(target, names, ranking, {"output": (defaults.ks, args.n_random)},
                           np.random.default_rng(args.seed), single_neuron=False)
        sweep_seconds = time.perf_counter() - sweep_start
    rng = np.random.default_rng(args.seed)
    recurrent_times = []
    for _ in range(args.recurrent):
        neurons = rng.choice(W.shape[1], size=5, replace=False)
        start = time.perf_counter()
        ablate_recurrent(params, config, split, neurons)
        recurrent_times.append(time.perf_counter() - start)
    sweep_seconds_recurrent, n_sets = None, None
    if not args.no_sweep:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            rec = run_sweep(target, names, ranking, {"recurrent": (defaults.recurrent_ks, defaults.n_random_recurrent)},
                            np.random.default_rng(args.seed))
            sweep_seconds_recurrent = time.perf_counter() - start
        n_sets = len({entry.neurons for entry in rec.outcomes.items}) + W.shape[1]

    report = {
        "command": " ".join([Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "data": "conll2003 dev" if use_conll else "synthetic", "epochs": args.epochs,
        "n_tokens": states.n_tokens, "n_neurons": int(W.shape[1]), "n_labels": int(W.shape[0]),
        "backend": config.backend, "setup_s": setup_seconds,
        "collect_states_s": states_first,
        "xin_sensitivity_first_s": xin_first, "xin_sensitivity_s": xin_best,
        "other_measures_s": measures_best, "single_neuron_sweep_s": single_best,
        "output_sweep_s": sweep_seconds, "output_sweep_ablations": len(result.outcomes.items),
        "output_sweep_labels": int(np.isfinite(result.modes["output"].top).any(axis=1).sum()),
        "recurrent_ablation_s": recurrent_times,
        "one_dev_pass_seconds": states_best, "recurrent_sweep_seconds": sweep_seconds_recurrent,
        "recurrent_sweep_neuron_sets": n_sets,
        "recurrent_sweep_dev_passes": None if sweep_seconds_recurrent is None else sweep_seconds_recurrent / states_best,
        "preset": args.preset if use_conll else "paper", "machine": platform.processor() or platform.machine(),
        **machine_facts(),
    }
    if args.json:
        print(json.dumps(report))
        return report
    print(f"$ {report['command']}")
    print(f"data: {report['data']}, {report['n_tokens']:,} tokens x {report['n_neurons']} neurons x "
          f"{report['n_labels']} labels (setup {setup_seconds:.1f} s)")
    print(f"collect_states ({config.backend}):       {states_first:8.3f} s first, {states_best:.3f} s best of 3 "
          "(one dev pass)")
    print(f"xin sensitivity (first / best):  {xin_first:8.4f} s / {xin_best:.4f} s")
    print(f"competitor, spread, grad x act:  {measures_best:8.3f} s")
    print(f"single-neuron sweep (output):    {single_best:8.3f} s")
    print(f"output sweep ({report['output_sweep_ablations']} ablations, {report['output_sweep_labels']} labels): "
          f"{sweep_seconds:.2f} s")
    if recurrent_times:
        print(f"recurrent ablation (k=5), each:  {np.mean(recurrent_times):8.3f} s "
              f"(n={len(recurrent_times)})")
    if sweep_seconds_recurrent is not None:
        print(f"whole recurrent sweep ({n_sets} neuron sets incl. single neurons): {sweep_seconds_recurrent:.2f} s "
              f"= {report['recurrent_sweep_dev_passes']:.1f} dev passes")
    print(f"({report['cpu']}, {report['numba_threads']} Numba threads, OPENBLAS_NUM_THREADS="
          f"{report['openblas_threads']}, {report['date']})")
    return report


def machine_facts():
    """What a figure needs beside it: the CPU, the thread counts and the date."""
    return {"cpu": _cpu_model(), "numba_threads": numba.get_num_threads(),
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"), "date": time.strftime("%Y-%m-%d %H:%M")}


def _cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
