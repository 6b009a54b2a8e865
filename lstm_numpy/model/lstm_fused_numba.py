"""The ``"fused"`` recurrence path: one parallel Numba kernel runs the whole time loop.

* :func:`_forward_fused_kernel` is the time loop of
  :func:`lstm_numpy.model.lstm.lstm_forward` (:func:`lstm_numpy.model.lstm.lstm_recur`
  after the input projection) and must equal it;
* :func:`_backward_fused_kernel` is the time loop of
  :func:`lstm_numpy.model.lstm.lstm_backward` (everything before
  :func:`lstm_numpy.model.lstm.lstm_param_grads`) and must equal it;
* :func:`_forward_fused` and :func:`_backward_fused` allocate their scratch, size the
  blocks and call them; :mod:`.lstm_numba` picks this path or :mod:`.lstm_blas_numba`'s.

Per step the recurrent product, ``h_{t-1} Wh`` (N, 4H) forward and ``da_t Wh^T``
(N, H) backward, is hand-written tiles of dot products, then the cell maths of
:mod:`.lstm_cells_numba`.  No call per step, so this path wins where a step has
little arithmetic (small N * H * H, see :func:`.lstm_numba.choose_recurrence`).

Dimension legend as in :mod:`lstm_numpy.model.lstm`: N batch, T time, H hidden.
Gate order :data:`lstm_numpy.model.lstm.GATES`, ``i, f, g, o`` along the 4H axis
(gate k in columns ``k*H:(k+1)*H``).

Speed notes
-----------
* The batch is split into one block of sentences per thread (``prange``,
  :func:`.lstm_cells_numba._block_size`).
  The products are tiles of 2 sentences x 4 columns: 8 running sums that share
  every load of ``h`` (or ``da``) and of the weights, and every row of the
  weights is reused for all sentences of the block while it is in L1.
  Forward reads ``Wh.T`` (copied contiguous) so its dot products run over
  contiguous k; backward reads ``Wh`` rows in column chunks of 256 so the
  block's rows of ``da`` stay in L1.  The inner loops index with unsigned
  integers: Numba's negative-index wraparound on signed ones otherwise stops
  LLVM from vectorizing them.
* ``error_model="numpy"`` and the activations: see :mod:`.lstm_cells_numba`.
* Padding: forward still computes the gates at padded steps (the cache holds
  them, as in the reference); backward skips ``da Wh^T`` for a pair of
  sentences where ``da`` is zero for both.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .lstm_cells_numba import _backward_cells, _block_size, _forward_cells, _gate_scale

_CHUNK = 256  # columns of the 4H axis per backward sweep: the block's rows of a chunk stay in L1


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


def _forward_fused(mask, h0, c0, Wh, b, keep, gates, hs, cs, tanh_cs, out):
    """The forward time loop on this path; arrays as in :func:`_forward_fused_kernel`
    (all C-contiguous, mask in the float dtype), Wh (H, 4H)."""
    N, T, H4 = gates.shape
    rec = np.empty((N, H4), gates.dtype)
    _forward_fused_kernel(mask, b, _gate_scale(H4 // 4, gates.dtype), np.ascontiguousarray(Wh.T), keep,
                          _block_size(N), rec, h0, c0, gates, hs, cs, tanh_cs, out)


def _backward_fused(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, da, dh_state, dc_state):
    """The backward time loop on this path; arrays as in :func:`_backward_fused_kernel`."""
    _backward_fused_kernel(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, _block_size(len(c0)),
                           da, dh_state, dc_state)
