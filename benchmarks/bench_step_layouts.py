"""Layouts and threadings tried for the BLAS path's time loop, against the one it uses, side by side.

    python benchmarks/bench_step_layouts.py                       # H 128 256 512, 1 then 2 threads
    python benchmarks/bench_step_layouts.py --hidden 256 --threads 1 --rounds 6

The project's path (``lstm_numpy.model.lstm_blas_numba``) keeps every per-step array
batch-major, (N, T, .): step t reads and writes the strided slices ``gates[:, t]``,
``hs[:, t]``, ...  At H = 256 and 512 their row stride is a multiple of 4,096 bytes, the
4K-aliasing case oneDNN's workspace avoids; oneDNN keeps its workspace time-major. Tried here,
each alone, with the same cell arithmetic (the time-major forward leaves out the separate
masked output ``out``, which saves it one write a step; the transposed and split variants get
their weights laid out once, outside the timed calls, while the project's forward pads its Wh
at every call):

    time-major   gates, h, c, tanh(c) and da as (T, N, .) arrays, so each step's block is
                 contiguous (x is transposed to (T, N, D) first; the weight gradients then sum
                 the tokens in time-major order, so dWx and dWh differ in the last bits)
    transposed   the forward product as (Wh^T h_{t-1}^T), (4H, N), as the backward's already is
                 from H = 256 (OpenBLAS ran it alone 1.1-1.4x faster with 2 threads), turned back
                 to (N, 4H) at the start of the cell kernel
    padded       the per-step product written into a buffer whose rows are 64 bytes more than
                 4H apart (not a multiple of 4,096 bytes), which the cell kernel then reads
    parallel     the project's forward with its cells on Numba's threads at every step
                 (``PARALLEL_MIN_CELLS`` set to 0; the project keeps them on one thread below 2^17
                 gate values a step)
    split        the forward's neurons in two halves, each with its own columns of Wh, its own
                 product and its own cells: with 2 threads on two Python threads (BLAS held to one
                 thread each) that meet at a barrier after every step; with 1 thread one half after
                 the other (what a rule by shape alone would run there)

Each variant is timed against the project's own forward (``lstm_forward_numba``) and
backward (``lstm_backward_numba``) in alternating rounds (best of --repeats calls a round,
best round kept, a --pause before each), N 32, T 30, D 100, float32. The kernels below are this script's: the
package has none of these variants. docs/performance.md ("The layer at every size") has the figures.
"""
from __future__ import annotations

import os

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numba  # noqa: E402
import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  (benchmarks/_install.py, beside this script)
from bench_lstm import machine  # noqa: E402
from numba import njit  # noqa: E402

try:
    from threadpoolctl import threadpool_limits
except ImportError:
    sys.exit(f"{__file__} sets BLAS threads with threadpoolctl, which is not installed:\n{INSTALL}")

from lstm_numpy.model.activations_numba import tanh as _tanh  # noqa: E402
from lstm_numpy.model import lstm_blas_numba  # noqa: E402
from lstm_numpy.model.lstm_blas_numba import (BLAS_TRANSPOSED_MIN_H, _add_recurrent,  # noqa: E402
                                               _forward_step_kernel, padded_rows)
from lstm_numpy.model.lstm_cells_numba import _forward_cells, _gate_scale  # noqa: E402
from lstm_numpy.model.lstm_numba import lstm_backward_numba, lstm_forward_numba  # noqa: E402


@njit(fastmath=True, error_model="numpy", nogil=True)
def _forward_step_time_major(t, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs):
    """lstm_cells_numba._forward_cells on (T, N, .) arrays (no separate ``out``: it is hs times the mask)."""
    N = gates.shape[1]
    H = np.uint64(hs.shape[2])
    H2, H3 = H + H, H + H + H
    one = hs.dtype.type(1)
    for n in range(N):
        m = mask[n, t]
        a, r = gates[t, n], rec[n]
        for j in range(a.size):
            s = gate_scale[j]
            a[j] = s * _tanh(s * (a[j] + r[j] + b[j])) + (one - s)
        prev_h = hs[t - 1, n] if t > 0 else h0[n]
        prev_c = cs[t - 1, n] if t > 0 else c0[n]
        tc, c, h, k = tanh_cs[t, n], cs[t, n], hs[t, n], keep[n]
        for j in range(H):
            tc[j] = a[H + j] * prev_c[j] + a[j] * a[H2 + j]
        for j in range(H):
            c[j] = m * tc[j] + (one - m) * prev_c[j]
        for j in range(H):
            tc[j] = _tanh(tc[j])
        for j in range(H):
            h[j] = m * (a[H3 + j] * tc[j] * k[j]) + (one - m) * prev_h[j]


@njit(fastmath=True, error_model="numpy", nogil=True)
def _backward_step_time_major(t, rec, transposed, dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """lstm_blas_numba._backward_step_kernel on (T, N, .) arrays (rec (H, N) if transposed, else (N, H))."""
    _add_recurrent(rec, transposed, dh_state)
    N, H = dh_state.shape
    H = np.uint64(H)
    H2, H3 = H + H, H + H + H
    one = cs.dtype.type(1)
    for n in range(N):
        m = mask[n, t]
        prev_c = cs[t - 1, n] if t > 0 else c0[n]
        g, d, tc, dh, dc, k, do = gates[t, n], da[t, n], tanh_cs[t, n], dh_state[n], dc_state[n], keep[n], dout[t, n]
        for j in range(H):
            dh[j] += m * do[j]
        for j in range(H):
            d[H3 + j] = m * dh[j] * k[j] * tc[j] * g[H3 + j] * (one - g[H3 + j])
        for j in range(H):
            d[H2 + j] = m * dc[j] + m * dh[j] * k[j] * g[H3 + j] * (one - tc[j] * tc[j])
        for j in range(H):
            d[j] = d[H2 + j] * g[H2 + j] * g[j] * (one - g[j])
        for j in range(H):
            d[H + j] = d[H2 + j] * prev_c[j] * g[H + j] * (one - g[H + j])
        for j in range(H):
            dc[j] = d[H2 + j] * g[H + j] + (one - m) * dc[j]
        for j in range(H):
            d[H2 + j] = d[H2 + j] * g[j] * (one - g[H2 + j] * g[H2 + j])
        for j in range(H):
            dh[j] = (one - m) * dh[j]


@njit(fastmath=True, error_model="numpy", nogil=True)
def _forward_step_transposed(t, recT, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out):
    """recT (4H, N) turned into rec (N, 4H) in blocks of 16 gates, then the project's cells."""
    H4, N = recT.shape
    for j0 in range(0, H4, 16):
        for n in range(N):
            for j in range(j0, min(j0 + 16, H4)):
                rec[n, j] = recT[j, n]
    _forward_cells(t, 0, N, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)


@njit(fastmath=True, error_model="numpy", nogil=True)
def _forward_step_half(t, j0, rec, mask, b, keep, h0, c0, gates, hs, cs, tanh_cs, out):
    """The project's cells for neurons j0:j0+Hk only, rec (N, 4Hk) their gates' products."""
    N, H, Hk = gates.shape[0], hs.shape[2], rec.shape[1] // 4
    one, half = hs.dtype.type(1), hs.dtype.type(0.5)
    for n in range(N):
        m = mask[n, t]
        for k in range(4):
            a, bk, rk = gates[n, t, k * H + j0:k * H + j0 + Hk], b[k * H + j0:k * H + j0 + Hk], rec[n, k * Hk:(k + 1) * Hk]
            if k == 2:
                for j in range(Hk):
                    a[j] = _tanh(a[j] + rk[j] + bk[j])
            else:
                for j in range(Hk):
                    a[j] = half * _tanh(half * (a[j] + rk[j] + bk[j])) + half
        gi, gf = gates[n, t, j0:j0 + Hk], gates[n, t, H + j0:H + j0 + Hk]
        gg, go = gates[n, t, 2 * H + j0:2 * H + j0 + Hk], gates[n, t, 3 * H + j0:3 * H + j0 + Hk]
        prev_h = hs[n, t - 1, j0:j0 + Hk] if t > 0 else h0[n, j0:j0 + Hk]
        prev_c = cs[n, t - 1, j0:j0 + Hk] if t > 0 else c0[n, j0:j0 + Hk]
        tc, c, h = tanh_cs[n, t, j0:j0 + Hk], cs[n, t, j0:j0 + Hk], hs[n, t, j0:j0 + Hk]
        kp, o = keep[n, j0:j0 + Hk], out[n, t, j0:j0 + Hk]
        for j in range(Hk):
            tc[j] = gf[j] * prev_c[j] + gi[j] * gg[j]
        for j in range(Hk):
            c[j] = m * tc[j] + (one - m) * prev_c[j]
        for j in range(Hk):
            tc[j] = _tanh(tc[j])
        for j in range(Hk):
            h[j] = m * (go[j] * tc[j] * kp[j]) + (one - m) * prev_h[j]
        for j in range(Hk):
            o[j] = h[j] * m


def _batch_major(x, Wx, H):
    """The project's arrays for a forward: gates (N, T, 4H) holding x Wx, and empty hs, cs, tanh_cs, out (N, T, H)."""
    N, T, D = x.shape
    gates = (x.reshape(N * T, D) @ Wx).reshape(N, T, 4 * H)
    hs = np.empty((N, T, H), x.dtype)
    return gates, hs, np.empty_like(hs), np.empty_like(hs), np.empty_like(hs)


_SECOND = ThreadPoolExecutor(1)


def split_weights(Wh):
    """Wh (H, 4H), H even, as two (H, 4 H/2) halves: the i, f, g, o columns of neurons 0:H/2 and of
    H/2:H, each with its rows padded like the project's Wh (padded_rows)."""
    H = Wh.shape[0]
    Hk = H // 2
    columns = [np.concatenate([np.arange(g * H + k * Hk, g * H + (k + 1) * Hk) for g in range(4)]) for k in range(2)]
    return [padded_rows(np.ascontiguousarray(Wh[:, cols])) for cols in columns]


def forward_split(x, mask, h0, c0, Wx, Whs, b, keep, threaded):
    """The layer's forward with the neurons in two halves (Whs from split_weights):
    (gates, hs, cs, tanh_cs, out)."""
    N, T, _ = x.shape
    H, Hk = Whs[0].shape[0], Whs[0].shape[1] // 4
    gates, hs, cs, tanh_cs, out = _batch_major(x, Wx, H)
    recs = [np.empty((N, 4 * Hk), x.dtype) for _ in range(2)]

    def step(k, t):
        np.matmul(hs[:, t - 1] if t > 0 else h0, Whs[k], out=recs[k])
        _forward_step_half(t, k * Hk, recs[k], mask, b, keep, h0, c0, gates, hs, cs, tanh_cs, out)

    if not threaded:
        for t in range(T):
            step(0, t)
            step(1, t)
        return gates, hs, cs, tanh_cs, out
    barrier = threading.Barrier(2)

    def half(k):
        for t in range(T):
            step(k, t)
            barrier.wait()

    other = _SECOND.submit(half, 1)  # the caller holds BLAS to one thread (one_blas_thread)
    half(0)
    other.result()
    return gates, hs, cs, tanh_cs, out


def one_blas_thread(name):
    """The context a variant is timed in: BLAS held to one thread for the threaded split (entered
    outside the timed calls: changing OpenBLAS's thread count costs milliseconds), else none."""
    return threadpool_limits(limits=1, user_api="blas") if name == "forward split" else contextlib.nullcontext()


def forward_padded(x, mask, h0, c0, Wx, Wh, b, keep):
    """The layer's forward with the product's buffer padded to rows of 4H + 16 floats."""
    N, T, _ = x.shape
    H = Wh.shape[0]
    gates, hs, cs, tanh_cs, out = _batch_major(x, Wx, H)
    rec = np.empty((N, 4 * H + 16), x.dtype)[:, :4 * H]
    scale, Wh_padded = _gate_scale(H, x.dtype), padded_rows(Wh)
    for t in range(T):
        np.matmul(hs[:, t - 1] if t > 0 else h0, Wh_padded, out=rec)
        _forward_step_kernel(t, rec, mask, b, scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)
    return gates, hs, cs, tanh_cs, out


def forward_parallel_cells(x, mask, h0, c0, Wx, Wh, b):
    """The project's forward with its cells on every Numba thread at each step."""
    before = lstm_blas_numba.PARALLEL_MIN_CELLS
    lstm_blas_numba.PARALLEL_MIN_CELLS = 0
    try:
        return lstm_forward_numba(x, mask, h0, c0, Wx, Wh, b)
    finally:
        lstm_blas_numba.PARALLEL_MIN_CELLS = before


def forward_time_major(x, mask, h0, c0, Wx, Wh, b, keep):
    """The layer's forward with (T, N, .) arrays: (xt (T, N, D), gates, hs, cs, tanh_cs (T, N, .))."""
    N, T, D = x.shape
    H = Wh.shape[0]
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
    gates = (xt.reshape(T * N, D) @ Wx).reshape(T, N, 4 * H)
    hs = np.empty((T, N, H), x.dtype)
    cs, tanh_cs = np.empty_like(hs), np.empty_like(hs)
    rec, scale, Wh_padded = np.empty((N, 4 * H), x.dtype), _gate_scale(H, x.dtype), padded_rows(Wh)
    for t in range(T):
        np.matmul(hs[t - 1] if t > 0 else h0, Wh_padded, out=rec)
        _forward_step_time_major(t, rec, mask, b, scale, keep, h0, c0, gates, hs, cs, tanh_cs)
    return xt, gates, hs, cs, tanh_cs


def backward_time_major(dout_tm, mask, c0, Wx, Wh, keep, h0, xt, gates, hs, cs, tanh_cs):
    """The layer's backward on forward_time_major's arrays: the gradient dict (dx time-major). The
    per-step product as the project's (transposed from BLAS_TRANSPOSED_MIN_H)."""
    T, N, H = hs.shape
    da = np.empty((T, N, 4 * H), hs.dtype)
    transposed = H >= BLAS_TRANSPOSED_MIN_H
    dh, dc = np.zeros((N, H), hs.dtype), np.zeros((N, H), hs.dtype)
    rec = np.zeros((H, N) if transposed else (N, H), hs.dtype)
    WhT = None if transposed else np.ascontiguousarray(Wh.T)
    for t in range(T - 1, -1, -1):
        _backward_step_time_major(t, rec, transposed, dout_tm, mask, c0, keep, gates, cs, tanh_cs, da, dh, dc)
        if transposed:
            np.matmul(Wh, da[t].T, out=rec)
        else:
            np.matmul(da[t], WhT, out=rec)
    dh += rec.T if transposed else rec
    da2 = da.reshape(T * N, 4 * H)
    h_prev = np.concatenate([h0[None], hs[:-1]]).reshape(T * N, H)
    return {"dx": (da2 @ Wx.T).reshape(T, N, -1), "dWx": xt.reshape(T * N, -1).T @ da2, "dWh": h_prev.T @ da2,
            "db": da2.sum(axis=0), "dh0": dh, "dc0": dc}


def forward_transposed(x, mask, h0, c0, Wx, WhT, b, keep):
    """The layer's forward with the per-step product transposed, given WhT (4H, H) C-contiguous:
    (gates, hs, cs, tanh_cs, out)."""
    N, T, _ = x.shape
    H = WhT.shape[1]
    gates, hs, cs, tanh_cs, out = _batch_major(x, Wx, H)
    rec, recT = np.empty((N, 4 * H), x.dtype), np.empty((4 * H, N), x.dtype)
    scale = _gate_scale(H, x.dtype)
    for t in range(T):
        np.matmul(WhT, (hs[:, t - 1] if t > 0 else h0).T, out=recT)
        _forward_step_transposed(t, recT, rec, mask, b, scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)
    return gates, hs, cs, tanh_cs, out


def best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__ + "\n" + INSTALL)
    parser.add_argument("--hidden", type=int, nargs="+", default=[128, 256, 512], help="hidden sizes H")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="threads for BLAS and Numba; several are run one after the other (default 1 2)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    parser.add_argument("--repeats", type=int, default=7, help="calls a round, the best kept (default 7)")
    parser.add_argument("--pause", type=float, default=0.3,
                        help="seconds of sleep before timing each variant (default 0.3): OpenBLAS's idle "
                             "threads keep spinning for a while after a product, and slowed the threaded split")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    if any(H < 2 or H % 2 for H in args.hidden):
        parser.error("--hidden: every H must be even (the split variant halves the neurons)")
    about = machine()
    N, T, D, dtype = 32, 30, 100, np.float32
    rows = []
    for threads in args.threads:
        numba.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            for H in args.hidden:
                rng = np.random.default_rng(0)
                x = rng.standard_normal((N, T, D)).astype(dtype)
                mask, keep = np.ones((N, T), dtype), np.ones((N, H), dtype)
                h0 = c0 = np.zeros((N, H), dtype)
                Wx = (rng.standard_normal((D, 4 * H)) * 0.1).astype(dtype)
                Wh = (rng.standard_normal((H, 4 * H)) * 0.1).astype(dtype)
                b = np.zeros(4 * H, dtype)
                dout = rng.standard_normal((N, T, H)).astype(dtype)
                dout_tm = np.ascontiguousarray(dout.transpose(1, 0, 2))
                _, _, cache = lstm_forward_numba(x, mask, h0, c0, Wx, Wh, b)
                grads = lstm_backward_numba(dout, None, None, cache)
                tm = forward_time_major(x, mask, h0, c0, Wx, Wh, b, keep)
                grads_tm = backward_time_major(dout_tm, mask, c0, Wx, Wh, keep, h0, *tm)
                WhT, Whs = np.ascontiguousarray(Wh.T), split_weights(Wh)
                tr = forward_transposed(x, mask, h0, c0, Wx, WhT, b, keep)
                pd = forward_padded(x, mask, h0, c0, Wx, Wh, b, keep)
                pc = forward_parallel_cells(x, mask, h0, c0, Wx, Wh, b)
                threaded = threads > 1
                with one_blas_thread("forward split"):
                    sp = forward_split(x, mask, h0, c0, Wx, Whs, b, keep, threaded)
                pairs = {"time-major h": (tm[2].transpose(1, 0, 2), cache.h),
                         "time-major dWh": (grads_tm["dWh"], grads["dWh"]),
                         "time-major dx": (grads_tm["dx"].transpose(1, 0, 2), grads["dx"]),
                         "transposed h": (tr[1], cache.h), "split h": (sp[1], cache.h),
                         "padded h": (pd[1], cache.h), "parallel h": (pc[2].h, cache.h)}
                same = {name: bool(np.array_equal(a, b)) for name, (a, b) in pairs.items()}
                diff = {name: float(np.abs(a - b).max()) for name, (a, b) in pairs.items()}
                calls = {"forward": lambda: lstm_forward_numba(x, mask, h0, c0, Wx, Wh, b),
                         "forward time-major": lambda: forward_time_major(x, mask, h0, c0, Wx, Wh, b, keep),
                         "forward transposed": lambda: forward_transposed(x, mask, h0, c0, Wx, WhT, b, keep),
                         "forward split": lambda: forward_split(x, mask, h0, c0, Wx, Whs, b, keep, threaded),
                         "forward padded": lambda: forward_padded(x, mask, h0, c0, Wx, Wh, b, keep),
                         "forward parallel": lambda: forward_parallel_cells(x, mask, h0, c0, Wx, Wh, b),
                         "backward": lambda: lstm_backward_numba(dout, None, None, cache),
                         "backward time-major": lambda: backward_time_major(dout_tm, mask, c0, Wx, Wh, keep, h0,
                                                                            *tm)}
                ms = {name: float("inf") for name in calls}
                for _ in range(args.rounds):
                    for name, fn in calls.items():
                        time.sleep(args.pause)  # OpenBLAS's idle threads spin for a while after a product
                        with one_blas_thread(name):
                            ms[name] = min(ms[name], best_ms(fn, args.repeats))
                rows.append({"H": H, "threads": threads, "ms": ms, "same_bits": same, "max_abs_diff": diff,
                             "time_major_forward_x": ms["forward"] / ms["forward time-major"],
                             "time_major_backward_x": ms["backward"] / ms["backward time-major"],
                             "transposed_forward_x": ms["forward"] / ms["forward transposed"],
                             "split_forward_x": ms["forward"] / ms["forward split"],
                             "padded_forward_x": ms["forward"] / ms["forward padded"],
                             "parallel_forward_x": ms["forward"] / ms["forward parallel"]})
    if args.json:
        print(json.dumps({"rows": rows, "settings": {"command": " ".join(["python", *sys.argv]), **about}}))
        return
    for key, value in about.items():
        print(f"  {key}: {value}")
    print(f"\nms a call, N={N} T={T} D={D} float32; x = the project's time over the variant's (above 1: faster)")
    print(f"{'H':>4} {'thr':>3} {'fwd':>7} {'fwd tm':>7} {'x':>5} {'fwd tr':>7} {'x':>5} {'fwd sp':>7} {'x':>5} "
          f"{'fwd pad':>7} {'x':>5} {'fwd par':>7} {'x':>5} {'bwd':>7} {'bwd tm':>7} {'x':>5}"
          "  same bits as the project")
    for r in rows:
        m = r["ms"]
        print(f"{r['H']:4d} {r['threads']:3d} {m['forward']:7.2f} {m['forward time-major']:7.2f} "
              f"{r['time_major_forward_x']:5.2f} {m['forward transposed']:7.2f} {r['transposed_forward_x']:5.2f} "
              f"{m['forward split']:7.2f} {r['split_forward_x']:5.2f} "
              f"{m['forward padded']:7.2f} {r['padded_forward_x']:5.2f} "
              f"{m['forward parallel']:7.2f} {r['parallel_forward_x']:5.2f} "
              f"{m['backward']:7.2f} {m['backward time-major']:7.2f} {r['time_major_backward_x']:5.2f}  "
              + ", ".join(f"{k}: {'yes' if v else 'no'}" for k, v in r["same_bits"].items()))


if __name__ == "__main__":
    main()
