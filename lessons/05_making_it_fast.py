"""Lesson 05: making it fast with Numba, and knowing why it is faster.

Goal
    The NumPy reference LSTM (lessons 01-03) runs its time loop in Python:
    every step issues a few dozen small NumPy operations, each with a fixed
    cost (a Python call, a temporary array) of around a microsecond.  With a
    small hidden size the arithmetic of a step is tiny and that overhead is
    nearly all of the time.  The Numba backend compiles the whole time loop,
    gates, cell update and masking fused, into one machine-code function.
    This lesson first checks that the two backends compute the same numbers
    (``get_backend("numpy")`` vs ``get_backend("numba")``), then measures the
    per-step overhead, then times forward+backward at a few hidden sizes.

What you will see
    "float64: max |out_numba - out_numpy|: 1.7e-16" and the worst difference
    over every output and gradient, in float64 and float32; the overhead of one NumPy time step (microseconds, with almost no
    arithmetic in it); a table of tokens/s and speedup per hidden size, with
    the GFLOP/s each backend reaches; a note on threads and on the CUDA kernel
    that will be added later.  Timings vary from machine to machine and from
    run to run on a shared machine: read the ratios, not the digits.

Run it (from the repository root, after ``pip install .``)::

    python lessons/05_making_it_fast.py

Runtime: about 5 seconds (quick mode about 2), plus up to a minute the very
first time, while Numba compiles the kernels (they are cached on disk after).

Dimension legend: N batch, T time, D input size, H hidden size.
"""
import importlib.util
import time

import numba
import numpy as np
from _quick import QUICK

from lstm_numpy.model.backend import get_backend
from lstm_numpy.model.lstm import init_lstm_params

rng = np.random.default_rng(0)
reference, fast = get_backend("numpy"), get_backend("numba")
# One core each.  The matrix products run on NumPy's BLAS threads and the
# kernels on Numba's; on a small machine shared with other programs, two pools
# of threads that spin-wait for work steal each other's cores and the timings
# become noise (see "Threads" in lstm_numpy/model/lstm_numba.py).  So BLAS gets
# one thread for the whole lesson (when threadpoolctl is installed) and Numba
# one thread until section 4, which looks at threads on their own.
try:
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(limits=1, user_api="blas")
except ImportError:
    threadpool_info = threadpool_limits = None
numba_threads = numba.get_num_threads()
numba.set_num_threads(1)


def make_problem(N, T, D, H, dtype, rng, padded=True):
    """Random inputs with padding, non-zero biases and states, and an upstream gradient."""
    p = init_lstm_params(D, H, rng, dtype)
    lengths = rng.integers(1, T + 1, size=N) if padded else np.full(N, T)
    return dict(
        x=rng.normal(size=(N, T, D)).astype(dtype),
        mask=np.arange(T)[None, :] < lengths[:, None],
        h0=rng.normal(size=(N, H)).astype(dtype), c0=rng.normal(size=(N, H)).astype(dtype),
        Wx=p["Wx"], Wh=p["Wh"], b=(p["b"] + rng.normal(0, 0.5, size=4 * H)).astype(dtype),
        dout=rng.normal(size=(N, T, H)).astype(dtype),
        dhT=rng.normal(size=(N, H)).astype(dtype), dcT=rng.normal(size=(N, H)).astype(dtype))


def forward_backward(backend, p):
    """One forward and one backward pass of ``backend`` on problem ``p``."""
    out, (hT, cT), cache = backend.lstm_forward(p["x"], p["mask"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    grads = backend.lstm_backward(p["dout"], p["dhT"], p["dcT"], cache)
    return {"out": out, "hT": hT, "cT": cT, **grads}


def best_time(fn, repeats):
    """Best of ``repeats`` calls, in seconds: the least disturbed by other processes."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# ---------------------------------------------------------------------------
# 1. Parity first: a fast wrong answer is worth nothing
# ---------------------------------------------------------------------------
start = time.perf_counter()
forward_backward(fast, make_problem(2, 3, 2, 2, np.float64, rng))
forward_backward(fast, make_problem(2, 3, 2, 2, np.float32, rng))
print(f"first numba calls (compile, or load the compiled kernels from the disk cache): "
      f"{time.perf_counter() - start:.1f} s")

parity = {}
for dtype, rtol, atol in ((np.float64, 1e-9, 1e-10), (np.float32, 1e-4, 1e-5)):
    p = make_problem(8, 12, 6, 7, dtype, rng)
    ours, theirs = forward_backward(fast, p), forward_backward(reference, p)
    parity[dtype.__name__] = all(np.allclose(ours[k], theirs[k], rtol=rtol, atol=atol) for k in ours)
    worst = max(ours, key=lambda k: np.abs(ours[k] - theirs[k]).max())
    print(f"{dtype.__name__}: max |out_numba - out_numpy|: {np.abs(ours['out'] - theirs['out']).max():.1e}; "
          f"worst of all outputs and gradients: d{worst.lstrip('d')} {np.abs(ours[worst] - theirs[worst]).max():.1e}; "
          f"allclose(rtol={rtol:g}, atol={atol:g}): {parity[dtype.__name__]}")
# float32 differs more because the kernels use a fast rational tanh in float32
# (max error ~3e-7, see lstm_numpy.model.activations_numba); float64 uses a
# vectorisable tanh accurate to 4.4e-16 and agrees to rounding.

# ---------------------------------------------------------------------------
# 2. Where the NumPy time goes: a fixed cost per time step
# ---------------------------------------------------------------------------
# With N=1, D=1, H=1 a step has about 50 floating-point operations: nothing.
# Whatever time a step takes is the cost of issuing its operations.
T_tiny = 200
tiny = make_problem(1, T_tiny, 1, 1, np.float32, rng, padded=False)
tiny_numpy = best_time(lambda: forward_backward(reference, tiny), 5)
tiny_numba = best_time(lambda: forward_backward(fast, tiny), 5)
numpy_step_us = tiny_numpy / T_tiny * 1e6
numba_step_us = tiny_numba / T_tiny * 1e6
print(f"\nN=1, H=1, T={T_tiny}: per time step (forward+backward) numpy {numpy_step_us:.1f} us, "
      f"numba {numba_step_us:.2f} us")
print(f"  that is {numpy_step_us / numba_step_us:,.0f}x: the reference issues several dozen NumPy calls per "
      f"step (the stable sigmoid alone is 8), each costing a microsecond or two whatever its size")

# ---------------------------------------------------------------------------
# 3. Tokens per second at a few sizes
# ---------------------------------------------------------------------------
# The tagger's shapes: D = 110 (100-d words + 10-d casing), a batch of 32
# sentences of 30 words, float32.  FLOPs per token of forward+backward: the
# input product x Wx (2 D 4H) and recurrent product h Wh (2 H 4H) forward, and
# each of them twice more backward (one for the input's gradient, one for the
# weight's), so about 3 * 8H(D + H); the gate arithmetic adds ~100 H.
N, T, D = 32, 30, 110
hidden_sizes = (16, 64) if QUICK else (16, 64, 256)
repeats = 3 if QUICK else 5
rows = []
print(f"\nforward+backward, N={N} sentences x T={T} words, D={D}, float32, one core each, best of {repeats}:")
print(f"{'H':>5s} {'numpy tok/s':>12s} {'numba tok/s':>12s} {'speedup':>8s} {'numpy GFLOP/s':>14s} {'numba GFLOP/s':>14s}")
for H in hidden_sizes:
    p = make_problem(N, T, D, H, np.float32, rng, padded=False)
    seconds = {}
    for backend in (reference, fast):
        forward_backward(backend, p)                                   # warm-up
        seconds[backend.name] = best_time(lambda: forward_backward(backend, p), repeats)
    flops = N * T * (3 * 8 * H * (D + H) + 100 * H)
    speedup = seconds["numpy"] / seconds["numba"]
    rows.append((H, speedup))
    print(f"{H:5d} {N * T / seconds['numpy']:12,.0f} {N * T / seconds['numba']:12,.0f} {speedup:7.1f}x "
          f"{flops / seconds['numpy'] / 1e9:14.2f} {flops / seconds['numba'] / 1e9:14.2f}")
# Reading the table: at H=16 a step has a few thousand FLOPs per sentence, so
# the NumPy version spends its time issuing operations and the compiled loop
# wins by an order of magnitude.  As H grows, the FLOPs grow as H^2 while the
# overhead stays fixed; both backends end up limited by arithmetic and memory
# (the same matrix products), and the ratio shrinks towards 1.

# ---------------------------------------------------------------------------
# 4. Threads
# ---------------------------------------------------------------------------
# The kernels split the batch into blocks of sentences, one block per Numba
# thread (the time loop itself cannot be split: step t needs step t-1).  On
# an idle machine two threads nearly halve the kernels' time; on a busy one a
# parallel region waits for its slowest thread, and two threads can be much
# slower than one (run it while something else is busy and see).
H = 64
p = make_problem(N, T, D, H, np.float32, rng, padded=False)
thread_seconds = {}
for threads in sorted({1, numba_threads}):
    numba.set_num_threads(threads)
    forward_backward(fast, p)
    thread_seconds[threads] = best_time(lambda: forward_backward(fast, p), repeats)
numba.set_num_threads(numba_threads)
print(f"\nnumba at H={H} by number of threads (layer {numba.threading_layer()}): " + ",  ".join(
    f"{threads}: {N * T / s:,.0f} tok/s" for threads, s in thread_seconds.items()))
blas_threads = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"] \
    if threadpool_info else ["unknown (pip install threadpoolctl to see and set it)"]
print(f"BLAS threads in this lesson: {blas_threads[0] if blas_threads else 'none found'}")

# ---------------------------------------------------------------------------
# 5. A GPU kernel (coming)
# ---------------------------------------------------------------------------
# A CUDA version of the kernels will live in lstm_numpy/model/lstm_cuda.py,
# tested without a GPU under Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1,
# set before numba is imported).  Until it exists this section only says so.
cuda_parity = None
if importlib.util.find_spec("lstm_numpy.model.lstm_cuda") is None:
    print("\ncuda backend: lstm_numpy/model/lstm_cuda.py does not exist yet; skipped")
else:
    from numba import cuda
    if not cuda.is_available():
        print("\ncuda backend: no GPU and no simulator; rerun with NUMBA_ENABLE_CUDASIM=1 to try it")
    else:
        p = make_problem(2, 4, 3, 3, np.float64, rng)
        ours, theirs = forward_backward(get_backend("cuda"), p), forward_backward(reference, p)
        cuda_parity = all(np.allclose(ours[k], theirs[k], rtol=1e-9, atol=1e-10) for k in ours)
        print(f"\ncuda backend (simulated: {cuda.simulator_enabled if hasattr(cuda, 'simulator_enabled') else '?'}): "
              f"allclose to numpy: {cuda_parity}")

# ---------------------------------------------------------------------------
# 6. What we just showed
# ---------------------------------------------------------------------------
# Only parity is asserted: speed depends on the machine and on what else runs on it.
assert parity["float64"] and parity["float32"], f"numba equals the numpy reference: {parity}"
assert cuda_parity in (None, True), "the cuda backend, when present, equals the reference"
assert all(np.isfinite(speedup) and speedup > 0 for _, speedup in rows)
assert numpy_step_us > numba_step_us > 0
print("\nall checks passed")
