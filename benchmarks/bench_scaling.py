"""How the cost of the LSTM layer grows with hidden size H, length T and batch N.

For backends numpy, numba and torch (float32) it measures tokens/s of training
(forward+backward of the LSTM layer, as in bench_lstm.py: random upstream
gradient over all outputs, dx and every parameter gradient) and of inference
(forward only), and the peak memory of one forward+backward (tracemalloc, for
numpy/numba: NumPy's allocations are traced; the inputs and parameters are
allocated before tracing starts, so they are not counted; torch: the running
sum of its profiler's memory events, since tracemalloc cannot see its allocator).

Sweeps (D=100 input size throughout):
    H: 32 64 128 256 512      (N=32, T=30)
    T: 10 25 50 100 200       (N=32, H=50)
    N: 1 4 16 64 256          (T=30, H=50)

Then it prints
  * exponents: least-squares slope of log(seconds per batch) on log H, log T
    and log N, next to the slope the FLOP count predicts.  FLOPs per token:
    forward 2*4H*(D+H) (input and recurrent products; the elementwise work is
    O(H) and ignored), backward about twice that (dx, dh and the weight
    gradients), so training ~ 24H(D+H) per token;
  * GEMM fraction: float32 NumPy GEMM GFLOP/s for (N*T, D+H) @ (D+H, 4H) with
    the same threads, against the LSTM's achieved GFLOP/s (formula / time);
  * memory: bytes per token from the cache contents
    (gates 4H + h, c, tanh_c 3H, + backward da 4H + h_prev H + dx D)
    x 4 bytes, plus the weight gradients, against tracemalloc's peak;
  * a profile of one training step of the whole tagger
    (tagger_loss_and_grads + clip + Adam, numba backend, length-bucketed
    CoNLL-like batches) by parts (cProfile).

The machine is shared: every measurement is short and noisy; the load average
is printed with each table.

    PYTHONPATH=. python benchmarks/bench_scaling.py --quick
    PYTHONPATH=. python benchmarks/bench_scaling.py --quick --backends numba --sweeps H
    PYTHONPATH=. python benchmarks/bench_scaling.py --json > scaling.json
    PYTHONPATH=. python benchmarks/bench_scaling.py --profile-only --thread-check --threads 2

On a machine where another process holds a core, 2-thread BLAS calls were
10-100x slower than 1-thread ones (see docs/scaling.md); --threads 1 gave the
usable tables there.
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")  # before numba is imported (bench_lstm imports it)

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  # benchmarks/_install.py, beside this script

try:
    from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
except ImportError:
    sys.exit(f"{__file__} sets BLAS threads with threadpoolctl, which is not installed:\n{INSTALL}")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_lstm import best_seconds, ours_calls, torch_calls  # noqa: E402

D_DEFAULT = 100
SWEEPS = {
    "H": {"values": [32, 64, 128, 256, 512], "fixed": {"N": 32, "T": 30, "D": D_DEFAULT}},
    "T": {"values": [10, 25, 50, 100, 200], "fixed": {"N": 32, "H": 50, "D": D_DEFAULT}},
    "N": {"values": [1, 4, 16, 64, 256], "fixed": {"T": 30, "H": 50, "D": D_DEFAULT}},
}
BYTES = 4  # float32


def flops_per_token(D, H, train):
    """Forward 2*4H*(D+H) multiply-adds x2; training adds about twice that for backward."""
    fwd = 2 * 4 * H * (D + H)
    return 3 * fwd if train else fwd


def memory_formula(N, T, D, H, bytes_per=BYTES):
    """Bytes one forward+backward allocates beyond its inputs, from what is alive at the peak.

    Per token: cache gates 4H + h, c, tanh_c 3H (forward); backward da 4H,
    h_prev H (lstm_param_grads concatenates h0 and h[:, :-1]), dx D: 12H + D
    floats.  The forward output out (H per token) is not counted: the timed
    call drops it before backward (a caller that keeps it, like the tagger,
    holds H more per token).  Constant: dWx (D,4H), dWh (H,4H), db 4H,
    dh0/dc0 (N,H) each.
    """
    per_token = (4 * H + 3 * H) + (4 * H + H + D)
    constant = (D * 4 * H + H * 4 * H + 4 * H) + 2 * N * H
    return {"per_token_floats": per_token, "per_token_bytes": per_token * bytes_per,
            "constant_bytes": constant * bytes_per,
            "total_bytes": (per_token * N * T + constant) * bytes_per}


def traced_peak(fwd_bwd):
    """Peak bytes traced during one call, above what was allocated before it."""
    fwd_bwd()  # warm (JIT, caches)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        result = fwd_bwd()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        tracemalloc.stop()
    return peak - base


def torch_peak(torch, fwd_bwd):
    """Peak bytes torch's CPU allocator holds during one call, from the profiler's
    memory events (tracemalloc cannot see torch's allocator): the running sum of
    every event's own allocations minus frees, in time order, and its maximum."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fwd_bwd()
    current = peak = 0
    for _, change in sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()):
        current += change
        peak = max(peak, current)
    return peak


def fit_slope(xs, ys):
    """Least-squares slope of log y on log x."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def loadavg():
    return [round(v, 2) for v in os.getloadavg()]


def gemm_gflops(M, K, Nc, repeats, min_time, rng):
    a = rng.normal(size=(M, K)).astype(np.float32)
    b = rng.normal(size=(K, Nc)).astype(np.float32)
    out = np.empty((M, Nc), np.float32)
    (sec,) = best_seconds((lambda: np.matmul(a, b, out=out),), repeats, min_time)
    return 2.0 * M * K * Nc / sec / 1e9


def run_sweeps(args, torch):
    rows = []
    for sweep in args.sweeps:
        spec = SWEEPS[sweep]
        for value in spec["values"]:
            shape = dict(spec["fixed"], **{sweep: value})
            N, T, D, H = shape["N"], shape["T"], shape["D"], shape["H"]
            tokens = N * T
            for backend in args.backends:
                if backend == "torch":
                    if torch is None:
                        continue
                    calls = torch_calls(torch, np.float32, N, T, D, H, args.seed)
                else:
                    calls = ours_calls(backend, np.float32, N, T, D, H, np.random.default_rng(args.seed))
                time.sleep(args.pause)
                fb, f = best_seconds(calls, args.repeats, args.min_time)
                peak = traced_peak(calls[0]) if backend != "torch" else torch_peak(torch, calls[0])
                rows.append({"sweep": sweep, "backend": backend, "N": N, "T": T, "D": D, "H": H,
                             "fwd_bwd_s": fb, "fwd_s": f,
                             "fwd_bwd_tok_s": tokens / fb, "fwd_tok_s": tokens / f,
                             "fwd_bwd_gflops": tokens * flops_per_token(D, H, True) / fb / 1e9,
                             "fwd_gflops": tokens * flops_per_token(D, H, False) / f / 1e9,
                             "peak_bytes": peak, "formula_bytes": memory_formula(N, T, D, H)["total_bytes"],
                             "load": loadavg()})
                print(f"  [{sweep}] {backend:6} N={N:3d} T={T:3d} H={H:3d}: "
                      f"{tokens / fb:10,.0f} train tok/s {tokens / f:10,.0f} infer tok/s  load {loadavg()[0]}",
                      file=sys.stderr, flush=True)
    return rows


def exponents(rows, backends):
    out = []
    for sweep in ("H", "T", "N"):
        for backend in backends:
            sel = [r for r in rows if r["sweep"] == sweep and r["backend"] == backend]
            if len(sel) < 2:
                continue
            xs = [r[sweep] for r in sel]
            # FLOP-predicted slope of seconds per batch over the same points
            pred = fit_slope(xs, [r["N"] * r["T"] * flops_per_token(r["D"], r["H"], True) for r in sel])
            row = {"sweep": sweep, "backend": backend,
                   "train_exponent": fit_slope(xs, [r["fwd_bwd_s"] for r in sel]),
                   "infer_exponent": fit_slope(xs, [r["fwd_s"] for r in sel]),
                   "predicted": pred}
            if sweep == "H":  # the upper half alone (H >= 128), where H dominates D
                big = [r for r in sel if r["H"] >= 128]
                if len(big) >= 2:
                    row["train_exponent_H>=128"] = fit_slope([r["H"] for r in big], [r["fwd_bwd_s"] for r in big])
                    row["predicted_H>=128"] = fit_slope([r["H"] for r in big],
                                                        [flops_per_token(r["D"], r["H"], True) for r in big])
            out.append(row)
    return out


def gemm_fraction(rows, args):
    rng = np.random.default_rng(args.seed)
    out = []
    for H in SWEEPS["H"]["values"]:
        sel = {r["backend"]: r for r in rows if r["sweep"] == "H" and r["H"] == H}
        if not sel:
            continue
        any_row = next(iter(sel.values()))
        M, K = any_row["N"] * any_row["T"], any_row["D"] + H
        g = gemm_gflops(M, K, 4 * H, args.repeats, args.min_time, rng)
        row = {"H": H, "gemm_shape": f"({M}, {K}) @ ({K}, {4 * H})", "gemm_gflops": g, "load": loadavg()}
        for backend, r in sel.items():
            row[f"{backend}_train_gflops"] = r["fwd_bwd_gflops"]
            row[f"{backend}_train_fraction"] = r["fwd_bwd_gflops"] / g
            row[f"{backend}_infer_fraction"] = r["fwd_gflops"] / g
        out.append(row)
    return out


def memory_check(rows):
    out = []
    for r in rows:
        if r["peak_bytes"] is None:
            continue
        f = memory_formula(r["N"], r["T"], r["D"], r["H"])
        out.append({"sweep": r["sweep"], "backend": r["backend"], "N": r["N"], "T": r["T"], "H": r["H"],
                    "formula_per_token_bytes": f["per_token_bytes"],
                    "measured_per_token_bytes": (r["peak_bytes"] - f["constant_bytes"]) / (r["N"] * r["T"]),
                    "formula_MiB": f["total_bytes"] / 2**20, "measured_MiB": r["peak_bytes"] / 2**20,
                    "ratio": r["peak_bytes"] / f["total_bytes"]})
    return out


PROFILE_PARTS = [  # (label, module file suffix, function name)
    ("embedding lookup (forward)", None, None),
    ("LSTM forward", "lstm_numba.py", "lstm_forward_numba"),
    ("dropout fwd", "layers.py", "dropout_forward"),
    ("linear forward", "layers.py", "linear_forward"),
    ("masked cross-entropy", "layers.py", "masked_cross_entropy"),
    ("linear backward", "layers.py", "linear_backward"),
    ("dropout bwd", "layers.py", "dropout_backward"),
    ("LSTM backward", "lstm_numba.py", "lstm_backward_numba"),
    ("  of which param GEMMs", "lstm.py", "lstm_param_grads"),
    ("embedding backward (sparse)", "layers.py", "embedding_backward"),
    ("clip_by_global_norm", "optim.py", "clip_by_global_norm"),
    ("Adam.step", "optim.py", "step"),
]


def training_profile(args, steps):
    """cProfile of `steps` training steps of the whole tagger on CoNLL-like batches."""
    from lstm_numpy.data.batching import Batch, make_batches
    from lstm_numpy.model.tagger import TaggerConfig, init_tagger, tagger_loss_and_grads
    from lstm_numpy.training.optim import clip_by_global_norm, make_optimizer

    rng = np.random.default_rng(args.seed)
    V, K, N, H = 20000, 9, 32, args.profile_hidden
    config = TaggerConfig(vocab_size=V, n_labels=K, word_dim=100, hidden=H, dropout=0.5, backend="numba")
    params = init_tagger(config, rng)
    optimizer = make_optimizer("adam")
    # CoNLL-2003-like lengths (geometric, mean ~14 tokens, 2..60), bucketed by length as the trainer
    # does (data.batching.make_batches), each batch padded to its longest sentence
    pool = np.clip(rng.geometric(1 / 14, size=8 * N), 2, 60)
    batches = []
    for index in make_batches(pool, N, rng=rng, shuffle=True):
        lengths = pool[index]
        T = int(lengths.max())
        mask = np.arange(T)[None, :] < lengths[:, None]
        words = rng.integers(1, V, size=(N, T)) * mask
        labels = rng.integers(0, K, size=(N, T)) * mask
        batches.append(Batch(words.astype(np.int64), mask, labels.astype(np.int64)))

    def step(batch):
        loss, grads, _ = tagger_loss_and_grads(params, config, batch, rng, train=True, sparse_embeddings=True)
        grads, _ = clip_by_global_norm(grads, 5.0)
        optimizer.step(params, grads)

    for b in batches[:2]:
        step(b)  # warm-up (JIT)
    start = time.perf_counter()
    for i in range(steps):
        step(batches[i % len(batches)])
    plain = (time.perf_counter() - start) / steps
    prof = cProfile.Profile()
    prof.enable()
    for i in range(steps):
        step(batches[i % len(batches)])
    prof.disable()
    stats = pstats.Stats(prof).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = sum(v[2] for v in stats.values())

    def cum(file_suffix, name):
        return sum(v[3] for k, v in stats.items() if k[0].endswith(file_suffix) and k[2] == name) / steps

    parts = []
    named = 0.0
    for label, suffix, name in PROFILE_PARTS:
        if suffix is None:
            continue
        sec = cum(suffix, name)
        parts.append({"part": label, "ms": sec * 1e3})
        if not label.startswith("  "):
            named += sec
    total_step = total / steps
    parts.append({"part": "rest (embedding gather, concatenation, Python glue)", "ms": (total_step - named) * 1e3})
    for p in parts:
        p["share"] = p["ms"] / (total_step * 1e3)
    tokens = sum(int(b.mask.sum()) for b in batches) / len(batches)
    padded = sum(b.mask.size for b in batches) / len(batches)
    return {"H": H, "N": N, "real_tokens_per_batch": tokens, "padded_tokens_per_batch": padded, "steps": steps,
            "ms_per_step_unprofiled": plain * 1e3, "ms_per_step_profiled": total_step * 1e3,
            "parts": parts, "load": loadavg()}


def thread_check(args):
    """Best-of-20 time of one small parameter GEMM, x^T da (100, 604) @ (604, 200) float32 (the dWx of
    a bucketed tagger batch at H=50), with 1 BLAS thread and with --threads BLAS threads."""
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(604, 100)).astype(np.float32)
    da = rng.normal(size=(604, 200)).astype(np.float32)
    out = {"shape": "(100, 604) @ (604, 200)", "load": loadavg()}
    for threads in sorted({1, args.threads}):
        with threadpool_limits(limits=threads, user_api="blas"):
            best = float("inf")
            for _ in range(20):
                start = time.perf_counter()
                np.matmul(x.T, da)
                best = min(best, time.perf_counter() - start)
        out[f"ms_{threads}_threads"] = best * 1e3
    return out


def print_report(res, args):
    print(" ".join(sys.argv))
    for k, v in res["settings"].items():
        print(f"  {k}: {v}")
    for reason in res["skipped"]:
        print(reason)
    print("NOTE: shared 2-core machine; these numbers are noisy.")
    rows = res["rows"]
    for sweep in args.sweeps:
        sel = [r for r in rows if r["sweep"] == sweep]
        if not sel:
            continue
        fixed = ", ".join(f"{k}={v}" for k, v in SWEEPS[sweep]["fixed"].items())
        loads = [r["load"][0] for r in sel]
        print(f"\n== {sweep} sweep ({fixed}), float32, best of {args.repeats}; "
              f"load avg (1 min) {min(loads):.2f}-{max(loads):.2f}")
        print(f"{'backend':8} {sweep:>4} {'train tok/s':>12} {'infer tok/s':>12} {'train GFLOP/s':>13} "
              f"{'peak MiB':>9} {'formula MiB':>11}")
        for r in sel:
            peak = f"{r['peak_bytes'] / 2**20:9.2f}" if r["peak_bytes"] is not None else f"{'n/a':>9}"
            print(f"{r['backend']:8} {r[sweep]:4d} {r['fwd_bwd_tok_s']:12,.0f} {r['fwd_tok_s']:12,.0f} "
                  f"{r['fwd_bwd_gflops']:13.2f} {peak} {r['formula_bytes'] / 2**20:11.2f}")
    if res["exponents"]:
        print("\n== exponents: slope of log(seconds per batch) vs log(swept size)")
        print(f"{'sweep':5} {'backend':8} {'train':>6} {'infer':>6} {'FLOP-predicted':>14} "
              f"{'train H>=128':>12} {'pred H>=128':>11}")
        for e in res["exponents"]:
            extra = (f"{e['train_exponent_H>=128']:12.2f} {e['predicted_H>=128']:11.2f}"
                     if "train_exponent_H>=128" in e else "")
            print(f"{e['sweep']:5} {e['backend']:8} {e['train_exponent']:6.2f} {e['infer_exponent']:6.2f} "
                  f"{e['predicted']:14.2f} {extra}")
    if res["gemm"]:
        print(f"\n== fraction of NumPy float32 GEMM throughput (same threads); load {res['gemm'][0]['load']}")
        backends = [b for b in args.backends if f"{b}_train_fraction" in res["gemm"][0]]
        print(f"{'H':>4} {'GEMM shape':>26} {'GEMM GFLOP/s':>12} "
              + " ".join(f"{b + ' train':>12} {b + ' infer':>12}" for b in backends))
        for g in res["gemm"]:
            print(f"{g['H']:4d} {g['gemm_shape']:>26} {g['gemm_gflops']:12.1f} "
                  + " ".join(f"{g[f'{b}_train_fraction']:12.0%} {g[f'{b}_infer_fraction']:12.0%}"
                             for b in backends))
    if res["memory"]:
        print("\n== memory of one forward+backward: formula vs tracemalloc peak "
              f"(formula per token = (12H + D) x {BYTES} B + weight gradients)")
        print(f"{'sweep':5} {'backend':8} {'N':>4} {'T':>4} {'H':>4} {'formula B/tok':>13} "
              f"{'measured B/tok':>14} {'formula MiB':>11} {'measured MiB':>12} {'ratio':>6}")
        for m in res["memory"]:
            print(f"{m['sweep']:5} {m['backend']:8} {m['N']:4d} {m['T']:4d} {m['H']:4d} "
                  f"{m['formula_per_token_bytes']:13,d} {m['measured_per_token_bytes']:14,.0f} "
                  f"{m['formula_MiB']:11.2f} {m['measured_MiB']:12.2f} {m['ratio']:6.2f}")
    if res["thread_check"]:
        c = res["thread_check"]
        print(f"\n== one small GEMM {c['shape']} float32, best of 20; load {c['load']}")
        for k, v in c.items():
            if k.startswith("ms_"):
                print(f"  {k[3:].replace('_', ' ')}: {v:.3f} ms")
    if res["profile"]:
        p = res["profile"]
        print(f"\n== one training step of the tagger (numba, H={p['H']}, N={p['N']}, "
              f"~{p['real_tokens_per_batch']:.0f} real / {p['padded_tokens_per_batch']:.0f} padded tokens per batch, "
              f"{p['steps']} steps, cProfile); "
              f"load {p['load']}")
        print(f"  {p['ms_per_step_unprofiled']:.2f} ms/step without profiler, "
              f"{p['ms_per_step_profiled']:.2f} ms/step under cProfile")
        for part in p["parts"]:
            print(f"  {part['part']:52} {part['ms']:8.3f} ms {part['share']:6.1%}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__ + "\n" + INSTALL)
    parser.add_argument("--threads", type=int, default=2, help="threads for BLAS, Numba and torch (default 2)")
    parser.add_argument("--backends", nargs="+", default=["numpy", "numba", "torch"],
                        choices=["numpy", "numba", "torch"])
    parser.add_argument("--sweeps", nargs="+", default=["H", "T", "N"], choices=["H", "T", "N"])
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed runs; the best is kept (default 7, 3 with --quick)")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per timed run (about)")
    parser.add_argument("--pause", type=float, default=0.5, help="sleep before timing each backend")
    parser.add_argument("--quick", action="store_true",
                        help="fewer, shorter repeats (3 x 0.02 s unless --repeats, pause 0.2 s, 10 profiled steps)")
    parser.add_argument("--no-profile", action="store_true", help="skip the tagger training-step profile")
    parser.add_argument("--profile-only", action="store_true", help="only the tagger training-step profile")
    parser.add_argument("--thread-check", action="store_true",
                        help="also time one small parameter GEMM with 1 and with --threads BLAS threads")
    parser.add_argument("--profile-hidden", type=int, default=50, help="H of the profiled tagger (default 50)")
    parser.add_argument("--profile-steps", type=int, default=None, help="profiled steps (default 40, 10 with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = parser.parse_args(argv)
    if args.quick:
        args.min_time, args.pause = 0.02, 0.2
    if args.repeats is None:
        args.repeats = 3 if args.quick else 7
    if args.profile_steps is None:
        args.profile_steps = 10 if args.quick else 40

    torch, skipped = None, []
    if "torch" in args.backends:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError as err:
            skipped.append(f"torch skipped: not importable ({err})")
    numba.config.THREADING_LAYER = os.environ["NUMBA_THREADING_LAYER"]
    numba.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [f"{i['internal_api']} {i['version']} ({i['architecture']}, {i['num_threads']} threads)"
                for i in threadpool_info() if i["user_api"] == "blas"]
        load_start = loadavg()
        if args.profile_only:
            args.sweeps, args.no_profile = [], False
        rows = run_sweeps(args, torch)
        res = {"rows": rows, "exponents": exponents(rows, args.backends),
               "gemm": gemm_fraction(rows, args), "memory": memory_check(rows),
               "profile": None if args.no_profile else training_profile(args, args.profile_steps)}
    res["settings"] = {"threads": args.threads, "numba_threads": numba.get_num_threads(),
                       "numba_threading_layer": numba.threading_layer(), "blas": blas,
                       "torch": torch.__version__ if torch else None,
                       "torch_threads": torch.get_num_threads() if torch else None,
                       "numpy": np.__version__, "numba": numba.__version__,
                       "repeats": args.repeats, "min_time": args.min_time,
                       "load_avg_start": load_start, "load_avg_end": loadavg()}
    res["skipped"] = skipped
    res["thread_check"] = thread_check(args) if args.thread_check else None
    if args.json:
        print(json.dumps(res))
    else:
        print_report(res, args)


if __name__ == "__main__":
    main()
