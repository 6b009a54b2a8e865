"""Seconds per pair of seeds in the consistency across seeds, with the neuron matching in
NumPy and in its Numba kernel, side by side in one run.

    python benchmarks/bench_consistency.py                 # 8 models: 28 pairs of 9 x 50
    python benchmarks/bench_consistency.py --models 4 --hidden 256 --json

``analysis.consistency.pairwise_consistency`` compares every pair of M models: a Mantel test
of 9,999 permutations on their label correlations, and the Hungarian matching of their
neurons once plus once for each of 100 shufflings of one model's labels (the chance level).
A study of M seeds has M (M - 1) / 2 pairs: 1,225 for 50 seeds. The matching is timed both
ways on the same random sensitivity matrices (K labels x H neurons, standard normal, seed 0):
``linear_assignment`` (the NumPy reference) and ``linear_assignment_numba`` (what the
matching runs), after a warm-up pair that compiles the kernel. The two results are compared
field by field; they must be the same bits.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np
from _install import INSTALL  # benchmarks/_install.py, beside this script
from bench_lstm import machine

from lstm_numpy.analysis import consistency


def timed(Ss, labels, matching):
    """(seconds, Consistency) of pairwise_consistency with ``matching`` as the neuron matching's solver."""
    kept = consistency.linear_assignment_numba
    consistency.linear_assignment_numba = matching   # match_neurons looks the name up when it runs
    try:
        start = time.perf_counter()
        result = consistency.pairwise_consistency(Ss, labels, np.random.default_rng(0))
        return time.perf_counter() - start, result
    finally:
        consistency.linear_assignment_numba = kept


def same(a, b):
    """Whether two Consistency results hold the same values (NaN equal to NaN): the Mantel r and p,
    the matched counts, chance levels and mean profile correlations of every pair; not the
    assignments themselves, which tests/test_consistency.py compares kernel against reference."""
    def flat(x):
        if dataclasses.is_dataclass(x):
            return [flat(getattr(x, f.name)) for f in dataclasses.fields(x)]
        if isinstance(x, (tuple, list)):
            return [flat(y) for y in x]
        return x

    def equal(x, y):
        if isinstance(x, list):
            return isinstance(y, list) and len(x) == len(y) and all(equal(p, q) for p, q in zip(x, y))
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            return np.array_equal(np.asarray(x), np.asarray(y), equal_nan=np.asarray(x).dtype.kind == "f")
        return x == y or (isinstance(x, float) and isinstance(y, float) and np.isnan(x) and np.isnan(y))
    return equal(flat(a), flat(b))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__ + "\n" + INSTALL)
    parser.add_argument("--models", type=int, default=8, help="M models; M (M - 1) / 2 pairs (default 8: 28 pairs)")
    parser.add_argument("--hidden", type=int, default=50, help="H neurons a model (default 50, the paper's)")
    parser.add_argument("--labels", type=int, default=9, help="K labels (default 9, CoNLL-2003's BIO tags)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args(argv)
    if args.models < 2:
        parser.error("--models must be at least 2 (one pair)")
    about = machine()
    rng = np.random.default_rng(0)
    Ss = [rng.standard_normal((args.labels, args.hidden)) for _ in range(args.models)]
    labels = [f"L{k}" for k in range(args.labels)]
    timed(Ss[:2], labels, consistency.linear_assignment_numba)   # compiles the kernel (or loads it from disk)
    pairs = args.models * (args.models - 1) // 2
    numpy_s, numpy_result = timed(Ss, labels, consistency.linear_assignment)
    numba_s, numba_result = timed(Ss, labels, consistency.linear_assignment_numba)
    report = {"models": args.models, "pairs": pairs, "labels": args.labels, "hidden": args.hidden,
              "numpy_s_per_pair": numpy_s / pairs, "numba_s_per_pair": numba_s / pairs,
              "speedup": numpy_s / numba_s, "same_results": same(numpy_result, numba_result),
              "settings": {"command": " ".join(["python", *sys.argv]), **about}}
    if args.json:
        print(json.dumps(report))
        return report
    for key, value in about.items():
        print(f"  {key}: {value}")
    print(f"\n{pairs} pairs of {args.labels} x {args.hidden} sensitivities (a Mantel test of 9,999 permutations "
          f"and 101 matchings a pair):")
    print(f"  matching in NumPy: {report['numpy_s_per_pair']:.3f} s a pair")
    print(f"  matching in Numba: {report['numba_s_per_pair']:.4f} s a pair ({report['speedup']:.0f}x)")
    print(f"  the same results: {'yes' if report['same_results'] else 'NO'}")
    print(f"  a 50-seed study's 1,225 pairs: {1225 * report['numpy_s_per_pair'] / 60:.1f} min with NumPy's matching, "
          f"{1225 * report['numba_s_per_pair']:.0f} s with Numba's")
    return report


if __name__ == "__main__":
    main()
