"""The ``"blas"`` recurrence path: a Python loop over the time steps, the recurrent
product by NumPy's BLAS, the cell maths by a small Numba kernel per step.

* :func:`_forward_step_kernel` (and :func:`_forward_step_kernel_parallel`, the same
  per sentence) is step t of :func:`lstm_numpy.model.lstm.lstm_forward` (the loop body
  of :func:`lstm_numpy.model.lstm.lstm_recur`) given ``h_{t-1} Wh``; must equal it;
* :func:`_backward_step_kernel` is step t of :func:`lstm_numpy.model.lstm.lstm_backward`
  given ``da_{t+1} Wh^T``; must equal it;
* :func:`_forward_blas` and :func:`_backward_blas` are the time loops that call BLAS
  between those kernels; :mod:`.lstm_numba` picks this path or :mod:`.lstm_fused_numba`'s.

Per step: one ``np.matmul`` into a preallocated buffer (NumPy's BLAS, on its own
threads), then one Numba kernel for the cell maths of :mod:`.lstm_cells_numba`.
That costs two calls per step (about 5-10 us), and the BLAS product is 2-3x faster
than the fused kernels' tiles once the product is big (see
:func:`.lstm_numba.choose_recurrence`).  From H = :data:`BLAS_TRANSPOSED_MIN_H` the
backward product is computed transposed, ``Wh da_t^T`` (H, N), which OpenBLAS ran
1.1-1.3x faster.  The cell kernels run on the calling thread only, except for
stacked batches (:data:`PARALLEL_MIN_CELLS`).  Padding: forward still computes the
gates at padded steps (the cache holds them, as in the reference); backward skips
the product at a step where every sentence is padding (``da`` is zero there).

Dimension legend as in :mod:`lstm_numpy.model.lstm`: N batch, T time, H hidden.
Gate order :data:`lstm_numpy.model.lstm.GATES`, ``i, f, g, o`` along the 4H axis
(gate k in columns ``k*H:(k+1)*H``).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .lstm_cells_numba import _backward_cells, _block_size, _forward_cells, _gate_scale

PARALLEL_MIN_CELLS = 2 ** 17
"""Gate values per step (N * 4H) from which the BLAS path's forward cells run on every Numba
thread: a parallel launch costs tens of microseconds, worth it only for stacked batches
(many ablations at once)."""
BLAS_TRANSPOSED_MIN_H = 256
"""From this H the BLAS backward computes ``(da_t Wh^T)^T = Wh da_t^T``, which OpenBLAS ran 1.1-1.3x faster."""


@njit(cache=True, fastmath=True, error_model="numpy", nogil=True)     # nogil: two directions at once
def _forward_step_kernel(t, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out):
    """Step t of :func:`lstm_numpy.model.lstm.lstm_forward` given rec = h_{t-1} Wh
    (N, 4H); must equal it.  gate_scale (4H,) as in :func:`_forward_cells`; the other arguments
    as in :func:`_forward_blas`."""
    _forward_cells(t, 0, gates.shape[0], rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def _forward_step_kernel_parallel(t, block, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out):
    """:func:`_forward_step_kernel` with the sentences split into blocks over Numba's threads:
    each sentence's cells are the same arithmetic, so the result is the same."""
    N = gates.shape[0]
    for blk in prange((N + block - 1) // block):
        n0 = blk * block
        _forward_cells(t, n0, min(n0 + block, N), rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs,
                       out)


@njit(cache=True, fastmath=True, error_model="numpy", nogil=True)
def _backward_step_kernel(t, rec, transposed, dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """Step t of :func:`lstm_numpy.model.lstm.lstm_backward` given rec = da_{t+1} Wh^T
    (N, H), or its transpose (H, N) if ``transposed`` (zeros at t = T-1); must equal it.
    Adds rec to dh_state, then as :func:`_backward_cells`; arguments as in
    :func:`_backward_blas`."""
    _add_recurrent(rec, transposed, dh_state)
    _backward_cells(t, 0, dh_state.shape[0], dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state)


@njit(inline="always")
def _add_recurrent(rec, transposed, dh_state):
    """dh_state (N, H) += rec, given as (N, H), or as its transpose (H, N) if ``transposed``."""
    N, H = dh_state.shape
    if transposed:
        for k in range(H):
            for n in range(N):
                dh_state[n, k] += rec[k, n]
    else:
        for n in range(N):
            for k in range(H):
                dh_state[n, k] += rec[n, k]


def parallel_cells(N, H4):
    """Whether the forward cells of a step of N rows and H4 gates run on every Numba thread (a
    parallel kernel: its workqueue pool must not be entered from two threads at once)."""
    return N * H4 >= PARALLEL_MIN_CELLS and numba.get_num_threads() > 1


def padded_rows(W):
    """W (R, C) as a view of a (R, C + pad) array: rows 64 bytes apart more than C elements where C
    elements are a multiple of 4,096 bytes (oneDNN's get_good_ld), so that BLAS reading its rows
    does not hit the same cache sets (4K aliasing); the same values, so the same products."""
    if (W.shape[1] * W.itemsize) % 4096:
        return W
    out = np.empty((W.shape[0], W.shape[1] + 64 // W.itemsize), W.dtype)
    out[:, :W.shape[1]] = W
    return out[:, :W.shape[1]]


def _forward_blas(mask, h0, c0, Wh, b, keep, gates, hs, cs, tanh_cs, out):
    """The forward time loop on this path; must equal :func:`lstm_numpy.model.lstm.lstm_recur`.

    mask (N, T) in the float dtype, h0, c0 (N, H), Wh (H, 4H), b (4H,), keep (N, H) (a neuron
    mask per sentence), all C-contiguous.  In/out: gates (N, T, 4H) holds x Wx on entry and the
    activated gates on exit.  Out: hs, cs, tanh_cs, out (N, T, H).
    """
    N, T, H4 = gates.shape
    rec = np.empty((N, H4), gates.dtype)
    gate_scale = _gate_scale(H4 // 4, gates.dtype)
    parallel = parallel_cells(N, H4)
    Wh = padded_rows(Wh)
    for t in range(T):
        np.matmul(hs[:, t - 1] if t > 0 else h0, Wh, out=rec)
        if parallel:
            _forward_step_kernel_parallel(t, _block_size(N), rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs,
                                          tanh_cs, out)
        else:
            _forward_step_kernel(t, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)


def _backward_blas(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """The backward time loop on this path: :func:`lstm_numpy.model.lstm.lstm_backward` before
    ``lstm_param_grads``; must equal it.

    dout (N, T, H), mask (N, T) in the float dtype, c0 (N, H), Wh (H, 4H), keep (N, H),
    gates (N, T, 4H), cs, tanh_cs (N, T, H) from the cache, all C-contiguous.
    Out: da (N, T, 4H).  In/out: dh_state, dc_state (N, H) hold dhT, dcT on entry
    and dh0, dc0 on exit.
    """
    N, T, _ = dout.shape
    H = dh_state.shape[1]
    real = mask.any(axis=0)  # (T,): da[:, t] is zero where no sentence has a real step t
    transposed = H >= BLAS_TRANSPOSED_MIN_H
    rec = np.zeros((H, N) if transposed else (N, H), dh_state.dtype)  # da_t Wh^T, or its transpose
    # OpenBLAS ran da @ Wh.T (a transposed operand) 1.3-1.5x slower than da @ WhT; the transposed product
    # reads Wh itself, so it makes no copy (a 1 MB transposition a batch at H = 256)
    WhT = None if transposed else np.ascontiguousarray(Wh.T)
    for t in range(T - 1, -1, -1):
        _backward_step_kernel(t, rec, transposed, dout, mask, c0, keep, gates, cs, tanh_cs, da,
                              dh_state, dc_state)
        if not real[t]:
            rec.fill(0)
        elif transposed:
            np.matmul(Wh, da[:, t].T, out=rec)
        else:
            np.matmul(da[:, t], WhT, out=rec)
    dh_state += rec.T if transposed else rec
