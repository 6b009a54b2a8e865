"""The LSTM layer with Numba time loops: same arguments and results as :mod:`.lstm`.

The public functions (:func:`lstm_forward_numba`, :func:`lstm_backward_numba`,
:func:`lstm_project_numba`, :func:`lstm_recur_numba`) must equal
:func:`lstm_numpy.model.lstm.lstm_forward`, :func:`~lstm_numpy.model.lstm.lstm_backward`,
:func:`~lstm_numpy.model.lstm.lstm_project` and :func:`~lstm_numpy.model.lstm.lstm_recur`.
Dimension legend and gate order are those of :mod:`lstm_numpy.model.lstm`
(N batch, T time, D input, H hidden; gates ``i, f, g, o`` along the 4H axis).
The cache is the same :class:`~lstm_numpy.model.lstm.LSTMCache`, so a cache
made by one backend can be fed to the other's backward.

What runs where
---------------
* ``x Wx`` over all N*T tokens, and the weight gradients after the backward
  loop (:func:`~lstm_numpy.model.lstm.lstm_param_grads`), are single large
  matrix products done by NumPy's BLAS.
* Only the sequential part is ours.  Per time step it is a recurrent product,
  ``h_{t-1} Wh`` (N, 4H) forward and ``da_t Wh^T`` (N, H) backward, and the
  cell math: gate nonlinearities, cell update, masking
  (:mod:`.lstm_cells_numba`, shared by both paths).
  The recurrent product is done one of two ways (:data:`RECURRENCES`):

  ``"fused"`` (:mod:`.lstm_fused_numba`)
      One parallel Numba kernel runs the whole time loop, with the product as
      hand-written tiles of dot products.  No call per step, so it wins where
      a step has little arithmetic.
  ``"blas"`` (:mod:`.lstm_blas_numba`)
      A Python loop over the steps: per step one ``np.matmul`` into a
      preallocated buffer (NumPy's BLAS, on its own threads), then one serial
      Numba kernel for the cell math.  That costs two calls per step (about
      5-10 us), and the BLAS product is 2-3x faster than the tiles once the
      product is big.  From H = 256 the backward product is computed
      transposed, ``Wh da_t^T`` (H, N), which OpenBLAS ran 1.1-1.3x faster.

  :func:`choose_recurrence` picks one from the shape: ``"blas"`` when
  ``N * H * H >= 2^15`` (N=32: from H=32; N=8: from H=64), measured on an
  AVX-512 Xeon, see its docstring;
  :func:`forward_with_recurrence` / :func:`backward_with_recurrence` force one
  (tests, benchmarks).  Both give the reference's results.
* Padding: forward still computes the gates at padded steps (the cache holds
  them, as in the reference); backward skips ``da Wh^T`` where ``da`` is zero
  (per sentence pair in the fused kernel, per all-padding step in the BLAS loop).

Imports run one way: this module imports the two paths, :mod:`.lstm_fused_numba`
and :mod:`.lstm_blas_numba`, which both import :mod:`.lstm_cells_numba`; neither
path imports the other.

Threads
-------
The fused kernels use Numba's thread pool: set ``NUMBA_NUM_THREADS`` before
importing numba to fix its size, or call ``numba.set_num_threads(k)`` at run
time (k <= the pool size); the batch is split into that many blocks.  NumPy's
BLAS threads (all GEMMs, and the per-step products of the ``"blas"`` path) are
separate: control them with ``threadpoolctl.threadpool_limits`` or
``OPENBLAS_NUM_THREADS``.  The ``"blas"`` path's cell kernels run on the
calling thread only, except for stacked batches
(:data:`.lstm_blas_numba.PARALLEL_MIN_CELLS`).  Numba's ``omp`` threading layer (the default when an
OpenMP runtime is found) keeps its threads spinning after a kernel, which slows
the BLAS threads that run next on a 2-core machine;
``NUMBA_THREADING_LAYER=workqueue`` avoids that (see docs/performance.md).
"""
from __future__ import annotations

import contextlib
import threading

import numba
import numpy as np

from .activations_numba import tanh_approx  # noqa: F401  (the kernels' activations, for tests and lessons)
from .lstm import LSTMCache, check_float, check_lstm_inputs, lstm_param_grads, neuron_mask, second_thread
from .lstm_blas_numba import _backward_blas, _forward_blas, parallel_cells
from .lstm_fused_numba import _backward_fused, _forward_fused

RECURRENCES = ("fused", "blas")
"""The two ways of doing the per-step recurrent product (see the module doc)."""
BLAS_MIN_STEP_WORK = 2 ** 15
"""N * H * H (an eighth of the forward product's flops per step) from which the BLAS path is chosen."""


def choose_recurrence(N, H, dtype):
    """``"blas"`` where per-step BLAS products beat the fused kernel, else ``"fused"``.

    N sentences, H hidden units, dtype float32 or float64.  The rule is
    ``N * H * H >= BLAS_MIN_STEP_WORK`` (2^15): the BLAS path costs a fixed
    5-10 us of calls per step, the fused kernel's product grows as N H^2 and
    runs 2-3x slower per flop than OpenBLAS.  Measured with bench_lstm.py
    ``--recurrence fused blas`` (fwd+bwd, T=30, D=100, Intel Xeon with
    AVX-512, 1 and 2 threads, both dtypes; docs/performance.md): at N=32 the
    BLAS path was 0.45x the fused one at H=24 and 1.1-1.4x from H=32 to 128;
    at N=8 the crossover was between H=48 and 64, at N=128 between 16 and 32.
    The same rule serves both dtypes and thread counts; near the crossover
    the two paths differ by less than the run-to-run noise of a shared machine.
    """
    return "blas" if N * H * H >= BLAS_MIN_STEP_WORK else "fused"


_HERE = threading.local()     # .one_core: this thread's LSTM runs beside another (one_core)
BESIDE_MIN_WORK = 2 ** 24
"""Multiply-adds of backward's dWh product from which it runs on a second thread (below, handing
it over costs more than it saves)."""


@contextlib.contextmanager
def one_core():
    """Inside it, this thread's LSTM calls use one core: a BiLSTM direction run beside the other
    (model.bilstm), which already keeps the second core busy."""
    before = getattr(_HERE, "one_core", False)
    _HERE.one_core = True
    try:
        yield
    finally:
        _HERE.one_core = before


def _beside(work):
    """An executor for backward's dWh product (lstm.lstm_param_grads, ``work`` multiply-adds) where
    this thread may use two cores (Numba was given two threads, and this is not one_core()) and
    the product is large; else None.  BLAS keeps one thread for each product, so the products
    and their bytes are the same either way."""
    if getattr(_HERE, "one_core", False) or numba.get_num_threads() < 2 or work < BESIDE_MIN_WORK:
        return None
    return second_thread()


def concurrent_directions(N, H, dtype):
    """Whether two LSTMs of a batch of this shape (a BiLSTM's directions) may run at once, one per
    thread: where the time loop is the BLAS path's with its serial cell kernels, which release the
    GIL (as NumPy's products do) and use no Numba thread pool (whose workqueue layer must not be
    entered from two threads), and where Numba was given at least two threads (a --jobs worker with
    one thread stays on one core).  Each direction's arithmetic is the same either way."""
    return (numba.get_num_threads() >= 2 and choose_recurrence(N, H, dtype) == "blas"
            and not parallel_cells(N, 4 * H))


def _forward_loop(recurrence, mask, h0, c0, Wh, b, keep, gates, hs, cs, tanh_cs, out):
    """The forward time loop on path ``recurrence`` (one of :data:`RECURRENCES`).

    mask (N, T) in the float dtype, h0, c0 (N, H), Wh (H, 4H), b (4H,), keep (N, H),
    all C-contiguous.  In/out: gates (N, T, 4H) holds x Wx on entry and the activated
    gates on exit.  Out: hs, cs, tanh_cs, out (N, T, H).
    """
    loop = _forward_fused if recurrence == "fused" else _forward_blas
    loop(mask, h0, c0, Wh, b, keep, gates, hs, cs, tanh_cs, out)


def _backward_loop(recurrence, dout, mask, c0, Wh, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """The backward time loop on path ``recurrence``: everything of
    :func:`lstm_numpy.model.lstm.lstm_backward` before ``lstm_param_grads``.

    dout (N, T, H), mask (N, T) in the float dtype, c0 (N, H), Wh (H, 4H), keep (N, H),
    gates (N, T, 4H), cs, tanh_cs (N, T, H) from the cache.  Out: da (N, T, 4H).
    In/out: dh_state, dc_state (N, H) hold dhT, dcT on entry and dh0, dc0 on exit.
    """
    loop = _backward_fused if recurrence == "fused" else _backward_blas
    loop(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, da, dh_state, dc_state)


def forward_with_recurrence(recurrence, x, mask, h0, c0, Wx, Wh, b, keep=None):
    """:func:`lstm_forward_numba` with the recurrent product done on path ``recurrence``
    (one of :data:`RECURRENCES`): :func:`lstm_recur_numba` of :func:`lstm_project_numba`."""
    check_lstm_inputs(x, mask, h0, c0, Wx, Wh, b)
    check_float(x, "numba")
    out, final, (gates, hs, cs, tanh_cs, keep) = lstm_recur_numba(lstm_project_numba(x, Wx), mask, h0, c0, Wh, b,
                                                                  keep, recurrence=recurrence)
    return out, final, LSTMCache(x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep)


def lstm_project_numba(x, Wx):
    """x (N, T, D) -> x Wx (N, T, 4H), one BLAS product (:func:`lstm_numpy.model.lstm.lstm_project`)."""
    N, T, D = x.shape
    xw = np.empty((N, T, Wx.shape[1]), dtype=x.dtype)
    np.matmul(x.reshape(N * T, D), Wx, out=xw.reshape(N * T, Wx.shape[1]))
    return xw


def lstm_recur_numba(xw, mask, h0, c0, Wh, b, keep=None, recurrence=None):
    """:func:`lstm_numpy.model.lstm.lstm_recur` with a Numba time loop; **xw is overwritten**
    with the activated gates (it becomes the returned ``gates``).

    recurrence: one of :data:`RECURRENCES`, or None for :func:`choose_recurrence`'s.
    keep (H,), (N, H) or None; the kernels read one mask per sentence.
    Returns (out (N, T, H), (hT, cT), (gates, h, c, tanh_c, keep)).
    """
    N, T, H4 = xw.shape
    H = Wh.shape[0]
    dtype = xw.dtype
    if recurrence is None:
        recurrence = choose_recurrence(N, H, dtype)
    if recurrence not in RECURRENCES:
        raise ValueError(f"recurrence must be one of {RECURRENCES}, got {recurrence!r}")
    keep = neuron_mask(keep, H, dtype, N)
    hs = np.empty((N, T, H), dtype=dtype)
    cs = np.empty_like(hs)
    tanh_cs = np.empty_like(hs)
    out = np.empty_like(hs)
    c = np.ascontiguousarray
    h0_c, c0_c = c(h0, dtype=dtype), c(c0, dtype=dtype)
    gates = c(xw)
    _forward_loop(recurrence, c(mask, dtype=dtype), h0_c, c0_c, c(Wh), c(b), c(np.broadcast_to(keep, (N, H))),
                  gates, hs, cs, tanh_cs, out)
    hT, cT = (hs[:, -1].copy(), cs[:, -1].copy()) if T else (h0_c.copy(), c0_c.copy())
    return out, (hT, cT), (gates, hs, cs, tanh_cs, keep)


def backward_with_recurrence(recurrence, dout, dhT, dcT, cache):
    """:func:`lstm_backward_numba` with the recurrent product done on path ``recurrence``."""
    if recurrence not in RECURRENCES:
        raise ValueError(f"recurrence must be one of {RECURRENCES}, got {recurrence!r}")
    x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep = cache
    check_float(x, "numba")
    N, T, _ = x.shape
    H = Wh.shape[0]
    dtype = x.dtype
    for name, arr, shape in (("dout", dout, (N, T, H)), ("dhT", dhT, (N, H)), ("dcT", dcT, (N, H))):
        if arr is not None and arr.shape != shape:  # the kernel does not bounds-check
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    dh0 = np.zeros((N, H), dtype) if dhT is None else np.array(dhT, dtype=dtype, order="C", copy=True)
    dc0 = np.zeros((N, H), dtype) if dcT is None else np.array(dcT, dtype=dtype, order="C", copy=True)
    da = np.empty((N, T, 4 * H), dtype=dtype)
    c = np.ascontiguousarray
    _backward_loop(recurrence, c(dout, dtype=dtype), c(mask, dtype=dtype), c(c0), c(Wh),
                   c(np.broadcast_to(keep, (N, H)), dtype=dtype), c(gates), c(cs), c(tanh_cs), da, dh0, dc0)
    return lstm_param_grads(da, dh0, dc0, cache, _beside(N * T * H * 4 * H))


def lstm_forward_numba(x, mask, h0, c0, Wx, Wh, b, keep=None):
    """:func:`lstm_numpy.model.lstm.lstm_forward` with a Numba time loop.

    Same arguments (x (N, T, D), mask (N, T), h0, c0 (N, H), Wx (D, 4H),
    Wh (H, 4H), b (4H,), keep (H,), (N, H) or None), same results
    (out (N, T, H), (hT, cT) (N, H), LSTMCache), in the dtype of x
    (float32 or float64).  The path is :func:`choose_recurrence`'s.
    """
    recurrence = choose_recurrence(x.shape[0], Wh.shape[0], x.dtype)
    return forward_with_recurrence(recurrence, x, mask, h0, c0, Wx, Wh, b, keep)


def lstm_backward_numba(dout, dhT, dcT, cache):
    """:func:`lstm_numpy.model.lstm.lstm_backward` with a Numba time loop.

    dout (N, T, H); dhT, dcT (N, H) or None for zero; cache from either
    backend's forward.  dout, dhT, dcT are cast to the cache's dtype (the
    reference would instead promote a float32 computation given float64
    grads).  Returns dict dx (N, T, D), dh0, dc0 (N, H), dWx (D, 4H),
    dWh (H, 4H), db (4H,) in the cache's dtype.  The path is
    :func:`choose_recurrence`'s.
    """
    x, Wh = cache.x, cache.Wh
    recurrence = choose_recurrence(x.shape[0], Wh.shape[0], x.dtype)
    return backward_with_recurrence(recurrence, dout, dhT, dcT, cache)
