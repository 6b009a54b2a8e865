"""Tokens per second of the LSTM layer alone: numpy reference, numba, torch.nn.LSTM.

Every sentence is full length (no padding), so the three do the same work.
Each row also gives the fraction of a GEMM bound: 24 H (D + H) flops per
token of forward+backward (8 H (D + H) forward), done at the GFLOP/s NumPy's
BLAS reaches for the per-step product (N, H) @ (H, 4H), measured in the same
run with the same threads.
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

    PYTHONPATH=. python benchmarks/bench_lstm.py --threads 2 1
    PYTHONPATH=. python benchmarks/bench_lstm.py --parts      # where numba's time goes
    PYTHONPATH=. python benchmarks/bench_lstm.py --dtypes float32 --backends numba torch torch-generic
                                                              # torch with and without oneDNN
    PYTHONPATH=. python benchmarks/bench_lstm.py --dtypes float32 --backends numba \
        --recurrence fused blas                                # both numba paths, for the crossover
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import warnings

import numba
import numpy as np
from _install import INSTALL  # benchmarks/_install.py, beside this script

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:
    sys.exit(f"{__file__} sets BLAS threads with threadpoolctl, which is not installed:\n{INSTALL}")

from lstm_numpy.model.lstm import init_lstm_params, lstm_backward, lstm_forward, lstm_param_grads
from lstm_numpy.model.lstm_blas_numba import BLAS_TRANSPOSED_MIN_H, padded_rows
from lstm_numpy.model.lstm_numba import (_backward_loop, _forward_loop, backward_with_recurrence,
                                         choose_recurrence, forward_with_recurrence, lstm_backward_numba,
                                         lstm_forward_numba)

# torch.backends.mkldnn.flags() warns on every use that TF32 on oneDNN needs an Intel GPU
warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")

OURS = {"numpy": (lstm_forward, lstm_backward), "numba": (lstm_forward_numba, lstm_backward_numba)}
VECTOR_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16", "amx_tile")


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


def ours_calls(backend, dtype, N, T, D, H, rng, recurrence="auto"):
    """(fwd_bwd, fwd) closures for the numpy or numba backend; for numba, ``recurrence``
    "fused" or "blas" forces that path ("auto": the one lstm_forward_numba chooses)."""
    forward, backward = OURS[backend]
    if backend == "numba" and recurrence != "auto":
        def forward(*args):
            return forward_with_recurrence(recurrence, *args)

        def backward(*args):
            return backward_with_recurrence(recurrence, *args)
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


def torch_calls(torch, dtype, N, T, D, H, seed, onednn=True):
    """(fwd_bwd, fwd) closures for torch.nn.LSTM; ``onednn=False`` runs them with oneDNN
    switched off (``torch.backends.mkldnn.flags(enabled=False)``), so torch takes its generic
    path: one MKL ``mm`` per step plus separate elementwise ops, as for float64."""
    torch.manual_seed(seed)
    tdtype = {np.float32: torch.float32, np.float64: torch.float64}[dtype]
    lstm = torch.nn.LSTM(D, H, batch_first=True).to(tdtype)
    x = torch.randn(N, T, D, dtype=tdtype, requires_grad=True)
    dout = torch.randn(N, T, H, dtype=tdtype)

    def fwd():
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=onednn):
            return lstm(x)

    def fwd_bwd():
        lstm.zero_grad(set_to_none=True)
        x.grad = None
        with torch.backends.mkldnn.flags(enabled=onednn):
            out, _ = lstm(x)
            out.backward(dout)

    return fwd_bwd, fwd


def numba_parts(dtype, N, T, D, H, rng, repeats, min_time, recurrence):
    """Seconds per call of each part of numba forward+backward on path ``recurrence``."""
    p = init_lstm_params(D, H, rng, dtype)
    x = rng.normal(size=(N, T, D)).astype(dtype)
    mask = np.ones((N, T), dtype=bool)
    zeros = np.zeros((N, H), dtype)
    dout = rng.normal(size=(N, T, H)).astype(dtype)
    _, _, cache = forward_with_recurrence(recurrence, x, mask, zeros, zeros, p["Wx"], p["Wh"], p["b"])
    fmask, keep = mask.astype(dtype), np.ones((N, H), dtype)  # one neuron mask per sentence, as the kernels read it
    buffers = [np.empty((N, T, H), dtype) for _ in range(4)]
    gates = np.empty((N, T, 4 * H), dtype)
    da = np.empty((N, T, 4 * H), dtype)

    def input_gemm():
        np.matmul(x.reshape(N * T, D), p["Wx"], out=gates.reshape(N * T, 4 * H))

    def forward_loop():
        _forward_loop(recurrence, fmask, zeros, zeros, p["Wh"], p["b"], keep, gates, *buffers)

    def backward_loop():
        _backward_loop(recurrence, dout, fmask, zeros, p["Wh"], keep, cache.gates, cache.c, cache.tanh_c,
                       da, zeros.copy(), zeros.copy())

    def param_grads():
        lstm_param_grads(da, zeros, zeros, cache)

    names = ["input GEMM", "forward loop", "backward loop", "param GEMMs"]
    fns = [input_gemm, forward_loop, backward_loop, param_grads]
    if recurrence == "blas":  # the loops' own products, alone: the rest of each loop is the cell kernels and calls
        Wh, WhT = padded_rows(p["Wh"]), np.ascontiguousarray(p["Wh"].T)
        rec, rec_back = np.empty((N, 4 * H), dtype), np.empty((H, N) if H >= BLAS_TRANSPOSED_MIN_H else (N, H), dtype)

        def forward_products():
            for t in range(T):
                np.matmul(cache.h[:, t - 1] if t else zeros, Wh, out=rec)

        def backward_products():
            for t in range(T):
                if H >= BLAS_TRANSPOSED_MIN_H:
                    np.matmul(p["Wh"], cache.gates[:, t].T, out=rec_back)
                else:
                    np.matmul(cache.gates[:, t], WhT, out=rec_back)

        names += ["fwd step GEMMs", "bwd step GEMMs"]
        fns += [forward_products, backward_products]
    seconds = best_seconds(fns, repeats, min_time)
    return dict(zip(names, seconds))


def onednn_parts(torch, dtype, N, T, D, H, seed, repeats):
    """Seconds of oneDNN's own LSTM primitives inside torch.nn.LSTM forward+backward (training
    mode), the best of ``repeats`` single calls (oneDNN logs each call; numba's parts are the best
    of averaged runs, so this side gets the kinder statistic), without its weight reorders: {"oneDNN forward": s, "oneDNN backward": s}, read from oneDNN's
    verbose log (``torch.backends.mkldnn.verbose``; its C-level stdout is caught through a file).
    Empty where torch took another path (float64)."""
    import re
    import tempfile
    fwd_bwd, _ = torch_calls(torch, dtype, N, T, D, H, seed)
    fwd_bwd()
    sys.stdout.flush()
    with tempfile.TemporaryFile("w+") as log:
        saved = os.dup(1)
        os.dup2(log.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                for _ in range(repeats):
                    fwd_bwd()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        log.seek(0)
        found = {}
        for line in log:
            if ",exec,cpu,rnn," in line:  # ...,exec,cpu,rnn,<impl>,<forward_training|backward>,...,<ms>
                kind = "oneDNN backward" if ",backward," in line else "oneDNN forward"
                ms = float(re.split(r",", line.strip())[-1])
                found[kind] = min(found.get(kind, float("inf")), ms / 1e3)
    return found


def step_gemm_gflops(dtype, N, H, rng, repeats, min_time):
    """GFLOP/s of NumPy's BLAS for the per-step product (N, H) @ (H, 4H), into a preallocated buffer."""
    h = rng.normal(size=(N, H)).astype(dtype)
    Wh = rng.normal(size=(H, 4 * H)).astype(dtype)
    buffer = np.empty((N, 4 * H), dtype)
    (seconds,) = best_seconds((lambda: np.matmul(h, Wh, out=buffer),), repeats, min_time)
    return 2 * N * H * 4 * H / seconds / 1e9


def machine():
    """CPU model and vector extensions (lscpu / /proc/cpuinfo), cores, load average, time."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
    except OSError:
        pass
    try:  # lscpu names the model when /proc/cpuinfo says only "Intel(R) Xeon(R) Processor"
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        model = fields.get("Model name", model).strip()
        model += f" (family {fields.get('CPU family', '?').strip()}, model {fields.get('Model', '?').strip()})"
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    return {"cpu": model, "vector_extensions": [f for f in VECTOR_FLAGS if f in flags],
            "cores": os.cpu_count(), "load_average_before": os.getloadavg()[0],
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__ + "\n" + INSTALL)
    parser.add_argument("--threads", type=int, nargs="+", default=[2],
                        help="threads for BLAS, Numba and torch; several values are run one after the other "
                             "(default 2)")
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 50, 128, 256, 512], help="hidden sizes H")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba", "torch"],
                        choices=["numpy", "numba", "torch", "torch-generic"],
                        help="torch-generic: torch.nn.LSTM with oneDNN switched off (its per-step MKL path); "
                             "the numba/torch ratios are always against plain torch")
    parser.add_argument("--recurrence", nargs="+", default=["auto"], choices=["auto", "fused", "blas"],
                        help="numba's per-step recurrent product: auto (what lstm_forward_numba chooses), or "
                             "force fused or blas; several give one numba row each")
    parser.add_argument("--batch", type=int, default=32, help="N sentences (default 32)")
    parser.add_argument("--time", type=int, default=30, help="T steps (default 30)")
    parser.add_argument("--input", type=int, default=100, help="D input size (default 100)")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs; the best is kept")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timed run (about)")
    parser.add_argument("--pause", type=float, default=1.0,
                        help="seconds of sleep before timing each backend (default 1)")
    parser.add_argument("--parts", action="store_true",
                        help="also time the parts of numba fwd+bwd (its GEMMs apart from its loops) and, with the "
                             "torch backend in float32, oneDNN's own forward and backward primitives")
    parser.add_argument("--threading-layer", default="workqueue", choices=["workqueue", "omp", "tbb", "default"],
                        help="Numba threading layer (default workqueue: its idle threads sleep instead of "
                             "spinning, so they do not slow the BLAS and torch threads that run in between)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    about = machine()  # the load average before anything runs
    torch, torch_reason = None, ""
    if {"torch", "torch-generic"} & set(args.backends):
        try:
            import torch
        except ImportError as err:
            torch_reason = f"torch skipped: not importable ({err})"
    numba.config.THREADING_LAYER = args.threading_layer  # before the first parallel kernel runs
    N, T, D = args.batch, args.time, args.input
    tokens = N * T
    rows, parts, blas = [], [], []
    for threads in args.threads:
        numba.set_num_threads(threads)
        if torch is not None:
            torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            blas = [f"{i['internal_api']} {i['version']} ({i['architecture']})"
                    for i in threadpool_info() if i["user_api"] == "blas"]
            for dtype_name in args.dtypes:
                dtype = getattr(np, dtype_name)
                for H in args.hidden:
                    gflops = step_gemm_gflops(dtype, N, H, np.random.default_rng(args.seed),
                                              args.repeats, args.min_time)
                    bound = gflops * 1e9 / (24 * H * (D + H))  # fwd+bwd tokens/s; forward: 3x that
                    calls = {}
                    for backend in args.backends:
                        if backend in ("torch", "torch-generic"):
                            if torch is not None:
                                calls[(backend, None)] = torch_calls(torch, dtype, N, T, D, H, args.seed,
                                                                     onednn=backend == "torch")
                        elif backend == "numba":
                            for recurrence in args.recurrence:
                                path = choose_recurrence(N, H, dtype) if recurrence == "auto" else recurrence
                                calls[("numba", recurrence, path)] = ours_calls(
                                    backend, dtype, N, T, D, H, np.random.default_rng(args.seed), recurrence)
                        else:
                            calls[(backend, None)] = ours_calls(backend, dtype, N, T, D, H,
                                                                np.random.default_rng(args.seed))
                    timed = {}
                    for key in calls:
                        time.sleep(args.pause)  # let the previous backend's idle threads stop spinning
                        fb, f = best_seconds(calls[key], args.repeats, args.min_time)
                        timed[key] = row = {"backend": key[0], "dtype": dtype_name, "H": H, "threads": threads,
                                            "fwd_bwd_tok_s": tokens / fb, "fwd_tok_s": tokens / f,
                                            "step_gemm_gflops": gflops, "bound_fwd_bwd_tok_s": bound,
                                            "fwd_bwd_of_bound": tokens / fb / bound,
                                            "fwd_of_bound": tokens / f / (3 * bound)}
                        if key[0] == "numba":
                            row["recurrence"] = key[2] if key[1] == "auto" else key[1]
                            row["recurrence_forced"] = key[1] != "auto"
                        rows.append(row)
                    for baseline in ("torch", "torch-generic"):  # JSON keys fwd_bwd_vs_torch, ..._vs_torch_generic
                        base = timed.get((baseline, None))
                        for key, row in timed.items():
                            if key[0] == "numba" and base is not None:
                                for part in ("fwd_bwd", "fwd"):
                                    name = f"{part}_vs_{baseline.replace('-', '_')}"
                                    row[name] = row[f"{part}_tok_s"] / base[f"{part}_tok_s"]
                    if args.parts and "numba" in args.backends:
                        for recurrence in args.recurrence:
                            path = choose_recurrence(N, H, dtype) if recurrence == "auto" else recurrence
                            seconds = numba_parts(dtype, N, T, D, H, np.random.default_rng(args.seed),
                                                  args.repeats, args.min_time, path)
                            if "torch" in args.backends and torch is not None:
                                time.sleep(args.pause)
                                seconds.update(onednn_parts(torch, dtype, N, T, D, H, args.seed, args.repeats))
                            parts.append({"dtype": dtype_name, "H": H, "threads": threads, "recurrence": path,
                                          **{k: v * 1e3 for k, v in seconds.items()}})

    settings = {"command": " ".join(["python", *sys.argv]), **about,
                "load_average_after": os.getloadavg()[0], "threads": args.threads,
                "numba_threading_layer": numba.threading_layer(), "blas": blas,
                "torch_version": torch.__version__ if torch else None,
                "numpy": np.__version__, "numba": numba.__version__,
                "N": N, "T": T, "D": D, "repeats": args.repeats}
    if args.json:
        print(json.dumps({"rows": rows, "parts_ms": parts, "settings": settings,
                          "torch_skipped": torch_reason or None}))
        return
    for key, value in settings.items():
        print(f"  {key}: {value}")
    if torch_reason:
        print(torch_reason)
    print(f"\ntokens/s, N={N} T={T} D={D} (best of {args.repeats}); 'of bound': fraction of the GEMM bound "
          f"(24 H (D+H) flops per token at the per-step GEMM rate, 'GEMM GF/s')")
    print(f"{'backend':13} {'path':6} {'dtype':8} {'H':>4} {'thr':>3} {'fwd+bwd tok/s':>14} {'fwd tok/s':>12} "
          f"{'fwd+bwd /torch':>14} {'fwd /torch':>10} {'of bound':>8} {'fwd of bound':>12} {'GEMM GF/s':>9}")
    for r in rows:
        ratio = (f"{r['fwd_bwd_vs_torch']:14.2f} {r['fwd_vs_torch']:10.2f}" if "fwd_bwd_vs_torch" in r
                 else f"{'':14} {'':10}")
        print(f"{r['backend']:13} {r.get('recurrence', ''):6} {r['dtype']:8} {r['H']:4d} {r['threads']:3d} "
              f"{r['fwd_bwd_tok_s']:14,.0f} {r['fwd_tok_s']:12,.0f} {ratio} {r['fwd_bwd_of_bound']:8.2f} "
              f"{r['fwd_of_bound']:12.2f} {r['step_gemm_gflops']:9.0f}")
    if parts:
        print("\nnumba forward+backward, ms per batch by part")
        names = list(dict.fromkeys(k for p in parts for k in p if k not in ("dtype", "H", "threads", "recurrence")))
        print(f"{'dtype':8} {'H':>4} {'thr':>3} {'path':6} " + " ".join(f"{n:>15}" for n in names))
        for p in parts:
            print(f"{p['dtype']:8} {p['H']:4d} {p['threads']:3d} {p['recurrence']:6} "
                  + " ".join(f"{p[n]:15.3f}" if n in p else f"{'':15}" for n in names))
        print("(the step GEMMs are the loops' own products timed alone; with the input and param GEMMs they are "
              "every product of numba fwd+bwd; oneDNN's forward and backward are its primitives' own times, "
              "torch's Python and autograd aside)")


if __name__ == "__main__":
    main()
