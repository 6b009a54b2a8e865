"""Tokens per second of the LSTM layer alone: numpy reference, numba, torch.nn.LSTM.

Every sentence is full length (no padding), so the three do the same work.
Forward+backward means: forward, then backward with a random upstream
gradient over all outputs, computing dx and every parameter gradient.
Thread counts are set explicitly for NumPy's BLAS (threadpoolctl), Numba and
torch, and printed with the table.  Each timing is the best of --repeats
runs, each run averaging enough calls to last about --min-time seconds,
after a warm-up call (which also JIT-compiles the Numba kernels).  Backends
are timed one after the other with a pause before each: idle OpenBLAS and
OpenMP threads keep spinning for a while after their last call, and torch's
backward measured right after NumPy/Numba work (or interleaved with it) ran
2-2.6x slower on this 2-core machine than torch measured alone.

    PYTHONPATH=. python benchmarks/bench_lstm.py --threads 2
    PYTHONPATH=. python benchmarks/bench_lstm.py --parts      # where numba's time goes
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time

import numba
import numpy as np
from _install import INSTALL  # benchmarks/_install.py, beside this script

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    sys.exit(f"{__file__} sets BLAS threads with threadpoolctl, which is not installed:\n{INSTALL}")

from lstm_numpy.model.lstm import init_lstm_params, lstm_backward, lstm_forward, lstm_param_grads
from lstm_numpy.model.lstm_numba import (
    _block_size,
    _lstm_backward_kernel,
    _lstm_forward_kernel,
    lstm_backward_numba,
    lstm_forward_numba,
)

OURS = {"numpy": (lstm_forward, lstm_backward), "numba": (lstm_forward_numba, lstm_backward_numba)}


def best_seconds(fns, repeats, min_time):
    """Best over `repeats` runs of the mean time of one call of each function in `fns`.

    One warm-up call each (it JIT-compiles), then the runs of the functions
    take turns; each run lasts about `min_time`.
    """
    calls_per_run = []
    for fn in fns:
        fn()
        start, calls = time.perf_counter(), 0
        while time.perf_counter() - start < min_time / 4:
            fn()
            calls += 1
        calls_per_run.append(max(1, calls * 4))
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for idx, (fn, calls) in enumerate(zip(fns, calls_per_run)):
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            best[idx] = min(best[idx], (time.perf_counter() - start) / calls)
    return best


def ours_calls(backend, dtype, N, T, D, H, rng):
    """(fwd_bwd, fwd) closures for the numpy or numba backend."""
    forward, backward = OURS[backend]
    p = init_lstm_params(D, H, rng, dtype)
    x = rng.normal(size=(N, T, D)).astype(dtype)
    mask = np.ones((N, T), dtype=bool)
    h0 = np.zeros((N, H), dtype)
    c0 = np.zeros((N, H), dtype)
    dout = rng.normal(size=(N, T, H)).astype(dtype)

    def fwd():
        return forward(x, mask, h0, c0, p["Wx"], p["Wh"], p["b"])

    def fwd_bwd():
        _, _, cache = fwd()
        return backward(dout, None, None, cache)

    return fwd_bwd, fwd


def torch_calls(torch, dtype, N, T, D, H, seed):
    torch.manual_seed(seed)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    lstm = torch.nn.LSTM(D, H, batch_first=True).to(tdtype)
    x = torch.randn(N, T, D, dtype=tdtype, requires_grad=True)
    dout = torch.randn(N, T, H, dtype=tdtype)

    def fwd():
        with torch.no_grad():
            return lstm(x)

    def fwd_bwd():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = lstm(x)
        out.backward(dout)

    return fwd_bwd, fwd


def numba_parts(dtype, N, T, D, H, rng, repeats, min_time):
    """Seconds per call of each part of numba forward+backward."""
    p = init_lstm_params(D, H, rng, dtype)
    x = rng.normal(size=(N, T, D)).astype(dtype)
    mask = np.ones((N, T), dtype=bool)
    zeros = np.zeros((N, H), dtype)
    dout = rng.normal(size=(N, T, H)).astype(dtype)
    _, _, cache = lstm_forward_numba(x, mask, zeros, zeros, p["Wx"], p["Wh"], p["b"])
    fmask, keep, block = mask.astype(dtype), np.ones(H, dtype), _block_size(N)
    buffers = [np.empty((N, T, H), dtype) for _ in range(4)]
    gates = np.empty((N, T, 4 * H), dtype)
    da = np.empty((N, T, 4 * H), dtype)

    def input_gemm():
        np.matmul(x.reshape(N * T, D), p["Wx"], out=gates.reshape(N * T, 4 * H))

    def forward_loop():
        _lstm_forward_kernel(fmask, p["b"], p["Wh"], keep, block, gates, *buffers, zeros.copy(), zeros.copy())

    def backward_loop():
        _lstm_backward_kernel(dout, fmask, zeros, p["Wh"], keep, cache.gates, cache.c, cache.tanh_c,
                              block, da, zeros.copy(), zeros.copy())

    def param_grads():
        lstm_param_grads(da, zeros, zeros, cache)

    names = ("input GEMM", "forward loop", "backward loop", "param GEMMs")
    seconds = best_seconds((input_gemm, forward_loop, backward_loop, param_grads), repeats, min_time)
    return dict(zip(names, seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__ + "\n" + INSTALL)
    parser.add_argument("--threads", type=int, default=2, help="threads for BLAS, Numba and torch (default 2)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[50, 128, 256], help="hidden sizes H")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba", "torch"],
                        choices=["numpy", "numba", "torch"])
    parser.add_argument("--batch", type=int, default=32, help="N sentences (default 32)")
    parser.add_argument("--time", type=int, default=30, help="T steps (default 30)")
    parser.add_argument("--input", type=int, default=100, help="D input size (default 100)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs; the best is kept")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timed run (about)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds of sleep before timing each backend (default 1)")
    parser.add_argument("--parts", action="store_true", help="also time the parts of numba fwd+bwd")
    parser.add_argument("--threading-layer", default="workqueue", choices=["workqueue", "omp", "tbb", "default"],
                        help="Numba threading layer (default workqueue: its idle threads sleep instead of "
                             "spinning, so they do not slow the BLAS and torch threads that run in between)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    torch, torch_reason = None, ""
    if "torch" in args.backends:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError as err:
            torch_reason = f"torch skipped: not importable ({err})"
    numba.config.THREADING_LAYER = args.threading_layer  # before the first parallel kernel runs
    numba.set_num_threads(args.threads)
    N, T, D = args.batch, args.time, args.input
    tokens = N * T
    rows, parts = [], []
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [f"{i['internal_api']} {i['version']} ({i['architecture']}, {i['num_threads']} threads)"
                for i in threadpool_info() if i["user_api"] == "blas"]
        for dtype_name in args.dtypes:
            dtype = getattr(np, dtype_name)
            for H in args.hidden:
                calls = {}
                for backend in args.backends:
                    if backend == "torch":
                        if torch is not None:
                            calls[backend] = torch_calls(torch, dtype, N, T, D, H, args.seed)
                    else:
                        calls[backend] = ours_calls(backend, dtype, N, T, D, H, np.random.default_rng(args.seed))
                timed = {}
                for backend in calls:
                    time.sleep(args.pause)  # let the previous backend's idle threads stop spinning
                    fb, f = best_seconds(calls[backend], args.repeats, args.min_time)
                    timed[backend] = row = {"backend": backend, "dtype": dtype_name, "H": H,
                                            "fwd_bwd_tok_s": tokens / fb, "fwd_tok_s": tokens / f,
                                            "threads": args.threads}
                    rows.append(row)
                if "numba" in timed and "torch" in timed:
                    for key in ("fwd_bwd", "fwd"):
                        timed["numba"][f"{key}_vs_torch"] = (timed["numba"][f"{key}_tok_s"]
                                                             / timed["torch"][f"{key}_tok_s"])
                if args.parts:
                    seconds = numba_parts(dtype, N, T, D, H, np.random.default_rng(args.seed),
                                          args.repeats, args.min_time)
                    parts.append({"dtype": dtype_name, "H": H, **{k: v * 1e3 for k, v in seconds.items()}})

    settings = {"threads": args.threads, "numba_threads": numba.get_num_threads(),
                "numba_threading_layer": numba.threading_layer(), "blas": blas,
                "torch_threads": torch.get_num_threads() if torch else None,
                "torch_version": torch.__version__ if torch else None,
                "numpy": np.__version__, "numba": numba.__version__,
                "N": N, "T": T, "D": D, "machine": platform.processor() or platform.machine()}
    if args.json:
        print(json.dumps({"rows": rows, "parts_ms": parts, "settings": settings,
                          "torch_skipped": torch_reason or None}))
        return
    print(" ".join(sys.argv))
    for key, value in settings.items():
        print(f"  {key}: {value}")
    if torch_reason:
        print(torch_reason)
    print(f"\ntokens/s, N={N} T={T} D={D} (best of {args.repeats})")
    print(f"{'backend':8} {'dtype':8} {'H':>4} {'fwd+bwd tok/s':>14} {'fwd tok/s':>12} "
          f"{'fwd+bwd /torch':>14} {'fwd /torch':>10}")
    for r in rows:
        ratio = (f"{r['fwd_bwd_vs_torch']:14.2f} {r['fwd_vs_torch']:10.2f}" if "fwd_bwd_vs_torch" in r else "")
        print(f"{r['backend']:8} {r['dtype']:8} {r['H']:4d} {r['fwd_bwd_tok_s']:14,.0f} "
              f"{r['fwd_tok_s']:12,.0f} {ratio}")
    if parts:
        print("\nnumba forward+backward, ms per batch by part")
        names = [k for k in parts[0] if k not in ("dtype", "H")]
        print(f"{'dtype':8} {'H':>4} " + " ".join(f"{n:>14}" for n in names))
        for p in parts:
            print(f"{p['dtype']:8} {p['H']:4d} " + " ".join(f"{p[n]:14.3f}" for n in names))


if __name__ == "__main__":
    main()
