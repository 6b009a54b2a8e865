"""What the two Numba recurrence paths share: the cell maths of one time step, and the
split of the batch over Numba's threads.

* :func:`_forward_cells`: step t of :func:`lstm_numpy.model.lstm.lstm_forward`
  (the loop body of :func:`lstm_numpy.model.lstm.lstm_recur`) after the recurrent
  product ``h_{t-1} Wh``: gate nonlinearities, cell update, neuron mask, padding.
* :func:`_backward_cells`: step t of :func:`lstm_numpy.model.lstm.lstm_backward`
  before the recurrent product ``da_t Wh^T``.

Both must equal those steps of the reference.  They are ``@njit(inline="always")``:
each is compiled into the kernel that calls it (the time loops of
:mod:`.lstm_fused_numba`, the step kernels of :mod:`.lstm_blas_numba`) and takes
that kernel's flags.  The public functions are in :mod:`.lstm_numba`.

Editing this file does not invalidate those kernels' disk caches: Numba checks a
cached kernel against its own source file only.  After an edit, delete the
``lstm_fused_numba.*`` and ``lstm_blas_numba.*`` files in ``__pycache__`` (or run
with a fresh ``NUMBA_CACHE_DIR``), as after an edit of :mod:`.activations_numba`.

Dimension legend as in :mod:`lstm_numpy.model.lstm`: N batch, T time, H hidden.
Gate order :data:`lstm_numpy.model.lstm.GATES`, ``i, f, g, o`` along the 4H axis:
gate k in columns ``k*H:(k+1)*H``, so the blocks start at 0, H, 2H, 3H.

Speed notes
-----------
* tanh and sigmoid come from :mod:`.activations_numba`: vectorizable in both
  dtypes (llvmlite has no SVML, so ``math.tanh``/``math.exp`` would be scalar
  library calls).  ``sigmoid(x) = 0.5 tanh(x/2) + 0.5``, so the four gates are
  one loop over ``s tanh(s a) + (1 - s)`` (s from :func:`_gate_scale`).
* The kernels that inline these compile with ``error_model="numpy"``: with
  Python's error model every division checks for zero, which also stops
  vectorization.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit

from .activations_numba import tanh as _tanh


def _gate_scale(H, dtype):
    """gate_scale (4H,) of :func:`_forward_cells`: 0.5 for the i, f, o columns (sigmoid), 1 for g (tanh)."""
    gate_scale = np.full(4 * H, 0.5, dtype)
    gate_scale[2 * H:3 * H] = 1
    return gate_scale


def _block_size(N):
    """Sentences per block: the batch split evenly over Numba's threads."""
    threads = numba.get_num_threads()
    return max(1, -(-N // threads))


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
