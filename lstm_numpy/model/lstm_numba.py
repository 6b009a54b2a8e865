"""The LSTM layer with Numba time loops: same arguments and results as :mod:`.lstm`.

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
  (:func:`_forward_cells`, :func:`_backward_cells`, shared by both paths).
  The recurrent product is done one of two ways (:data:`RECURRENCES`):

  ``"fused"``
      One parallel Numba kernel runs the whole time loop, with the product as
      hand-written tiles of dot products.  No call per step, so it wins where
      a step has little arithmetic.
  ``"blas"``
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

Speed notes (the fused kernels)
-------------------------------
* tanh and sigmoid come from :mod:`.activations_numba`: vectorizable in both
  dtypes (llvmlite has no SVML, so ``math.tanh``/``math.exp`` would be scalar
  library calls).
* The batch is split into one block of sentences per thread (``prange``).
  The products are tiles of 2 sentences x 4 columns: 8 running sums that share
  every load of ``h`` (or ``da``) and of the weights, and every row of the
  weights is reused for all sentences of the block while it is in L1.
  Forward reads ``Wh.T`` (copied contiguous) so its dot products run over
  contiguous k; backward reads ``Wh`` rows in column chunks of 256 so the
  block's rows of ``da`` stay in L1.  The inner loops index with unsigned
  integers: Numba's negative-index wraparound on signed ones otherwise stops
  LLVM from vectorizing them.
* ``error_model="numpy"``: with Python's error model every division checks
  for zero, which also stops vectorization.
* Padding: forward still computes the gates at padded steps (the cache holds
  them, as in the reference); backward skips ``da Wh^T`` where ``da`` is zero
  (per sentence pair in the fused kernel, per all-padding step in the BLAS loop).

Threads
-------
The fused kernels use Numba's thread pool: set ``NUMBA_NUM_THREADS`` before
importing numba to fix its size, or call ``numba.set_num_threads(k)`` at run
time (k <= the pool size); the batch is split into that many blocks.  NumPy's
BLAS threads (all GEMMs, and the per-step products of the ``"blas"`` path) are
separate: control them with ``threadpoolctl.threadpool_limits`` or
``OPENBLAS_NUM_THREADS``.  The ``"blas"`` path's cell kernels run on the
calling thread only.  Numba's ``omp`` threading layer (the default when an
OpenMP runtime is found) keeps its threads spinning after a kernel, which slows
the BLAS threads that run next on a 2-core machine;
``NUMBA_THREADING_LAYER=workqueue`` avoids that (see docs/performance.md).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from .activations_numba import tanh as _tanh
from .activations_numba import tanh_approx  # noqa: F401  (the kernels' activations, for tests and lessons)
from .lstm import LSTMCache, check_float, check_lstm_inputs, lstm_param_grads, neuron_mask

RECURRENCES = ("fused", "blas")
"""The two ways of doing the per-step recurrent product (see the module doc)."""
_CHUNK = 256  # columns of the 4H axis per backward sweep: the block's rows of a chunk stay in L1


# The cell helpers run one loop per array written, with unsigned indices.  LLVM vectorizes
# a loop only if it can rule out overlap between the arrays it writes and those it reads,
# with a runtime check per pair, and gives up beyond a few checks: one loop writing gates,
# c, h, tanh(c) and out ran one element at a time (about 20 ns per neuron instead of 2-5).
# A signed index like H + j gets Numba's negative-index wraparound, which also stops
# vectorization; views of the rows avoid it but cost tens of ns each to make, so they are
# made once per row, not per block of H.


@njit(inline="always")
def _forward_cells(t, n0, n1, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out):
    """Step t of :func:`lstm_numpy.model.lstm.lstm_forward` after the recurrent
    product, for sentences n0:n1.

    rec (N, 4H) = h_{t-1} Wh; gate_scale (4H,): 0.5 for the i, f, o columns, 1 for g;
    gates[:, t] holds x_t Wx on entry, the activated gates on exit; writes hs, cs,
    tanh_cs, out at step t (h_{t-1}, c_{t-1} are read from step t-1, or from
    h0, c0 (N, H) at t = 0).
    """
    H = np.uint64(hs.shape[2])
    H2, H3 = H + H, H + H + H
    one = hs.dtype.type(1)  # a bare 1 would promote float32 arithmetic to float64
    for n in range(n0, n1):
        m = mask[n, t]
        a, r = gates[n, t], rec[n]  # (4H,) views: this loop ran 1.4x slower on unsigned indices
        for j in range(a.size):  # sigmoid(x) = 0.5 tanh(x/2) + 0.5, so all four gates in one loop
            s = gate_scale[j]
            a[j] = s * _tanh(s * (a[j] + r[j] + b[j])) + (one - s)
        prev_h = hs[n, t - 1] if t > 0 else h0[n]
        prev_c = cs[n, t - 1] if t > 0 else c0[n]
        for j in range(H):  # new_c, kept in tanh_cs until its tanh is taken
            tanh_cs[n, t, j] = gates[n, t, H + j] * prev_c[j] + gates[n, t, j] * gates[n, t, H2 + j]
        for j in range(H):
            cs[n, t, j] = m * tanh_cs[n, t, j] + (one - m) * prev_c[j]
        for j in range(H):
            tanh_cs[n, t, j] = _tanh(tanh_cs[n, t, j])
        for j in range(H):
            hs[n, t, j] = m * (gates[n, t, H3 + j] * tanh_cs[n, t, j] * keep[n, j]) + (one - m) * prev_h[j]
        for j in range(H):
            out[n, t, j] = hs[n, t, j] * m


@njit(inline="always")
def _backward_cells(t, n0, n1, dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """Step t of :func:`lstm_numpy.model.lstm.lstm_backward` before the recurrent
    product, for sentences n0:n1.

    dh_state (N, H) holds dLoss/dh_t less the dout term on entry, ``(1 - m) dh``
    on exit (the recurrent product is added to it afterwards); dc_state (N, H)
    holds dLoss/dc_t on entry, dLoss/dc_{t-1} on exit.  Writes da[:, t]
    (i, f, g, o blocks at column offsets 0, H, 2H, 3H).
    """
    H = np.uint64(cs.shape[2])
    H2, H3 = H + H, H + H + H
    one = cs.dtype.type(1)
    for n in range(n0, n1):
        m = mask[n, t]
        prev_c = cs[n, t - 1] if t > 0 else c0[n]
        for j in range(H):  # dh = dLoss/dh_t
            dh_state[n, j] += m * dout[n, t, j]
        for j in range(H):  # do * o (1 - o), do = dh_new tanh_c, dh_new = m dh keep
            da[n, t, H3 + j] = (m * dh_state[n, j] * keep[n, j] * tanh_cs[n, t, j]
                                * gates[n, t, H3 + j] * (one - gates[n, t, H3 + j]))
        for j in range(H):  # dc_new = m dc + dh_new o (1 - tanh_c^2), kept in the g block for now
            da[n, t, H2 + j] = (m * dc_state[n, j] + m * dh_state[n, j] * keep[n, j] * gates[n, t, H3 + j]
                                * (one - tanh_cs[n, t, j] * tanh_cs[n, t, j]))
        for j in range(H):  # di = dc_new g, times i (1 - i)
            da[n, t, j] = da[n, t, H2 + j] * gates[n, t, H2 + j] * gates[n, t, j] * (one - gates[n, t, j])
        for j in range(H):  # df = dc_new c_{t-1}, times f (1 - f)
            da[n, t, H + j] = da[n, t, H2 + j] * prev_c[j] * gates[n, t, H + j] * (one - gates[n, t, H + j])
        for j in range(H):  # dc_{t-1} = dc_new f + (1 - m) dc
            dc_state[n, j] = da[n, t, H2 + j] * gates[n, t, H + j] + (one - m) * dc_state[n, j]
        for j in range(H):  # dg = dc_new i, times 1 - g^2
            da[n, t, H2 + j] = da[n, t, H2 + j] * gates[n, t, j] * (one - gates[n, t, H2 + j] * gates[n, t, H2 + j])
        for j in range(H):
            dh_state[n, j] = (one - m) * dh_state[n, j]


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def _forward_fused_kernel(mask, b, gate_scale, WhT, keep, block, rec, h0, c0, gates, hs, cs, tanh_cs, out):
    """Time loop of :func:`lstm_numpy.model.lstm.lstm_forward`; must equal it.

    mask (N, T) in the float dtype, b (4H,), gate_scale (4H,) (see :func:`_forward_cells`),
    WhT (4H, H) = Wh.T contiguous, keep (N, H) (a neuron mask per sentence), block: sentences per
    block, rec (N, 4H)
    scratch, h0, c0 (N, H).
    In/out: gates (N, T, 4H) holds x Wx on entry and the activated gates on exit.
    Out: hs, cs, tanh_cs, out (N, T, H).
    """
    N, T, H4 = gates.shape
    H = H4 // 4
    zero = gates.dtype.type(0)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        n0 = blk * block
        n1 = min(n0 + block, N)
        for t in range(T):
            # rec[n] = h_{t-1}[n] @ Wh as dot products over k (WhT rows are contiguous):
            # a tile of 2 sentences x 4 gate columns is 8 running sums that share every
            # load of h and WhT; each pair of sentences sweeps all of WhT (in L1 at the
            # small H this path is chosen for)
            n = n0
            while n < n1:
                n_b = min(n + 1, n1 - 1)  # the last sentence of an odd block pairs with itself
                h_a = hs[n, t - 1] if t > 0 else h0[n]
                h_b = hs[n_b, t - 1] if t > 0 else h0[n_b]
                for j in range(0, H4, 4):
                    s_a0, s_a1, s_a2, s_a3 = zero, zero, zero, zero
                    s_b0, s_b1, s_b2, s_b3 = zero, zero, zero, zero
                    for k in range(H):
                        w0, w1, w2, w3 = WhT[j, k], WhT[j + 1, k], WhT[j + 2, k], WhT[j + 3, k]
                        s_a0 += h_a[k] * w0
                        s_a1 += h_a[k] * w1
                        s_a2 += h_a[k] * w2
                        s_a3 += h_a[k] * w3
                        s_b0 += h_b[k] * w0
                        s_b1 += h_b[k] * w1
                        s_b2 += h_b[k] * w2
                        s_b3 += h_b[k] * w3
                    rec[n, j], rec[n, j + 1], rec[n, j + 2], rec[n, j + 3] = s_a0, s_a1, s_a2, s_a3
                    rec[n_b, j], rec[n_b, j + 1], rec[n_b, j + 2], rec[n_b, j + 3] = s_b0, s_b1, s_b2, s_b3
                n += 2
            _forward_cells(t, n0, n1, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)


@njit(cache=True, fastmath=True, error_model="numpy")
def _forward_step_kernel(t, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out):
    """Step t of :func:`lstm_numpy.model.lstm.lstm_forward` given rec = h_{t-1} Wh
    (N, 4H); must equal it.  Arguments as in :func:`_forward_fused_kernel`."""
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


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def _backward_fused_kernel(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, block, da, dh_state, dc_state):
    """Time loop of :func:`lstm_numpy.model.lstm.lstm_backward` (everything before
    ``lstm_param_grads``); must equal it.

    dout (N, T, H), mask (N, T) in the float dtype, c0 (N, H), Wh (H, 4H), keep (N, H),
    gates (N, T, 4H), cs, tanh_cs (N, T, H) from the cache; block: sentences per block.
    Out: da (N, T, 4H).  In/out: dh_state, dc_state (N, H) hold dhT, dcT on entry
    and dh0, dc0 on exit.
    """
    N, T, H4 = gates.shape
    H = H4 // 4
    zero = gates.dtype.type(0)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        n0 = blk * block
        n1 = min(n0 + block, N)
        for t in range(T - 1, -1, -1):
            _backward_cells(t, n0, n1, dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state)
            # dh_state[n] += da[n, t] @ Wh.T as dot products over column chunks of da
            # (the block's rows of a chunk stay in L1): a tile of 2 sentences x 4 rows
            # of Wh is 8 running sums that share every load of da and Wh
            for j0 in range(0, H4, _CHUNK):
                u0, u1 = np.uint64(j0), np.uint64(min(j0 + _CHUNK, H4))  # unsigned: see module doc
                k = 0
                while k + 4 <= H:
                    n = n0
                    while n < n1:
                        n_b = min(n + 1, n1 - 1)  # the last sentence of an odd block pairs with itself
                        if mask[n, t] != 0 or mask[n_b, t] != 0:  # da is zero at padding
                            s_a0, s_a1, s_a2, s_a3 = zero, zero, zero, zero
                            s_b0, s_b1, s_b2, s_b3 = zero, zero, zero, zero
                            for j in range(u0, u1):
                                d_a, d_b = da[n, t, j], da[n_b, t, j]
                                w0, w1, w2, w3 = Wh[k, j], Wh[k + 1, j], Wh[k + 2, j], Wh[k + 3, j]
                                s_a0 += d_a * w0
                                s_a1 += d_a * w1
                                s_a2 += d_a * w2
                                s_a3 += d_a * w3
                                s_b0 += d_b * w0
                                s_b1 += d_b * w1
                                s_b2 += d_b * w2
                                s_b3 += d_b * w3
                            dh_state[n, k] += s_a0
                            dh_state[n, k + 1] += s_a1
                            dh_state[n, k + 2] += s_a2
                            dh_state[n, k + 3] += s_a3
                            if n_b != n:
                                dh_state[n_b, k] += s_b0
                                dh_state[n_b, k + 1] += s_b1
                                dh_state[n_b, k + 2] += s_b2
                                dh_state[n_b, k + 3] += s_b3
                        n += 2
                    k += 4
                while k < H:
                    for n in range(n0, n1):
                        if mask[n, t] != 0:
                            s_a0 = zero
                            for j in range(u0, u1):
                                s_a0 += da[n, t, j] * Wh[k, j]
                            dh_state[n, k] += s_a0
                    k += 1


@njit(cache=True, fastmath=True, error_model="numpy")
def _backward_step_kernel(t, rec, transposed, dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """Step t of :func:`lstm_numpy.model.lstm.lstm_backward` given rec = da_{t+1} Wh^T
    (N, H), or its transpose (H, N) if ``transposed`` (zeros at t = T-1); must equal it.
    Adds rec to dh_state, then as :func:`_backward_cells`; arguments as in
    :func:`_backward_fused_kernel`."""
    N, H = dh_state.shape
    if transposed:
        for k in range(H):
            for n in range(N):
                dh_state[n, k] += rec[k, n]
    else:
        for n in range(N):
            for k in range(H):
                dh_state[n, k] += rec[n, k]
    _backward_cells(t, 0, N, dout, mask, c0, keep, gates, cs, tanh_cs, da, dh_state, dc_state)


def _block_size(N):
    """Sentences per block: the batch split evenly over Numba's threads."""
    threads = numba.get_num_threads()
    return max(1, -(-N // threads))


PARALLEL_MIN_CELLS = 2 ** 17
"""Gate values per step (N * 4H) from which the BLAS path's forward cells run on every Numba
thread: a parallel launch costs tens of microseconds, worth it only for stacked batches
(many ablations at once)."""
BLAS_MIN_STEP_WORK = 2 ** 15
"""N * H * H (an eighth of the forward product's flops per step) from which the BLAS path is chosen."""
BLAS_TRANSPOSED_MIN_H = 256
"""From this H the BLAS backward computes ``(da_t Wh^T)^T = Wh da_t^T``, which OpenBLAS ran 1.1-1.3x faster."""


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


def _forward_loop(recurrence, mask, h0, c0, Wh, b, keep, gates, hs, cs, tanh_cs, out):
    """The forward time loop on path ``recurrence``; arrays as in :func:`_forward_fused_kernel`
    (all C-contiguous, mask in the float dtype)."""
    N, T, H4 = gates.shape
    H = H4 // 4
    rec = np.empty((N, H4), gates.dtype)
    gate_scale = np.full(H4, 0.5, gates.dtype)
    gate_scale[2 * H:3 * H] = 1
    if recurrence == "fused":
        _forward_fused_kernel(mask, b, gate_scale, np.ascontiguousarray(Wh.T), keep, _block_size(N), rec,
                              h0, c0, gates, hs, cs, tanh_cs, out)
        return
    parallel = N * H4 >= PARALLEL_MIN_CELLS and numba.get_num_threads() > 1
    for t in range(T):
        np.matmul(hs[:, t - 1] if t > 0 else h0, Wh, out=rec)
        if parallel:
            _forward_step_kernel_parallel(t, _block_size(N), rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs,
                                          tanh_cs, out)
        else:
            _forward_step_kernel(t, rec, mask, b, gate_scale, keep, h0, c0, gates, hs, cs, tanh_cs, out)


def _backward_loop(recurrence, dout, mask, c0, Wh, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """The backward time loop on path ``recurrence``; arrays as in :func:`_backward_fused_kernel`."""
    if recurrence == "fused":
        _backward_fused_kernel(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, _block_size(len(c0)),
                               da, dh_state, dc_state)
        return
    N, T, _ = dout.shape
    H = dh_state.shape[1]
    real = mask.any(axis=0)  # (T,): da[:, t] is zero where no sentence has a real step t
    transposed = H >= BLAS_TRANSPOSED_MIN_H
    rec = np.zeros((H, N) if transposed else (N, H), dh_state.dtype)  # da_t Wh^T, or its transpose
    WhT = np.ascontiguousarray(Wh.T)  # OpenBLAS ran da @ Wh.T (a transposed operand) 1.3-1.5x slower
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
    return lstm_param_grads(da, dh0, dc0, cache)


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
