"""The LSTM's forward time loop without caches, laid out for many rows at once: the
``out`` of :func:`lstm_numpy.model.lstm.lstm_recur`, which it must equal, for the
recurrent ablation (thousands of rows: a dev batch stacked once per neuron mask).

Dimension legend as in :mod:`lstm_numpy.model.lstm` (N rows, T time, H hidden; gates
``i, f, g, o`` along the 4H axis).

Why a second forward loop
-------------------------
:mod:`.lstm_numba` keeps the training layout, row-major ``(N, T, 4H)``, because
backward needs every gate of every step.  Its cell math (:mod:`.lstm_cells_numba`)
runs row by row over loops of H (or 4H): at the analysis's H = 25 those loops are
too short for LLVM to vectorize (it wants 32 float32 per iteration at 256-bit
vectors) and each row costs a few array views, so a cell value took about 3-4 ns,
4-8x the BLAS product's share.  Inference keeps no cache, so here the state is **unit-major**:

* ``h^T, c^T`` (H, N), the input product ``(x Wx)^T`` per step (T, 4H, N),
  the recurrent product ``(h_{t-1} Wh)^T = Wh^T h_{t-1}^T`` (4H, N), one BLAS call per step;
* the rows are sorted by length, longest first, so at step t the rows still
  running are a prefix ``0:active_t`` of every row of those arrays: the cell math
  is, per hidden unit, one contiguous loop over the active rows (vectorized, the
  units spread over Numba's threads), and the padded steps are not computed at
  all (a finished row keeps its h and c, its output is 0: what the reference's
  mask does).

Each value is the same arithmetic as the reference's (and :mod:`.lstm_cells_numba`'s):
``sigmoid(a) = 0.5 tanh(a / 2) + 0.5`` with :mod:`.activations_numba`'s tanh,
``c = f c_{t-1} + i g``, ``h = o tanh(c) keep``.  No row reads another, but OpenBLAS picks
its kernel by shape, so a row's product can round differently with another number of rows
beside it: a mask's numbers can differ in the last bit from running it alone (its predictions
were the same in every test, and on the CoNLL-2003 models of docs/results).  Masks must be prefixes
(real steps first, as every batch here is padded); other masks are refused.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .activations_numba import tanh as _tanh
from .lstm import check_float, check_patches


@njit(inline="always")
def _patched_cells(r0, r1, site, values, chosen, xi, xf, xg, xo, ri, rf, rg, ro, bi, bf, bg, bo, keep, half, h, c,
                   out):
    """The cell math of rows r0:r1 of one copy with one quantity (``site``: 0 h, 1 c, 2-5 the
    gates i, f, g, o) replaced by ``values[r]`` where ``chosen[r]`` (lstm.Patches' values that are
    not NaN: under fastmath a kernel may not test for NaN itself)."""
    for r in range(r0, r1):
        v = values[r]
        patched = chosen[r]
        i = half * _tanh(half * (xi[r] + ri[r] + bi)) + half
        f = half * _tanh(half * (xf[r] + rf[r] + bf)) + half
        g = _tanh(xg[r] + rg[r] + bg)
        o = half * _tanh(half * (xo[r] + ro[r] + bo)) + half
        if patched and site == 2:
            i = v
        if patched and site == 3:
            f = v
        if patched and site == 4:
            g = v
        if patched and site == 5:
            o = v
        new_c = f * c[r] + i * g
        if patched and site == 1:
            new_c = v
        c[r] = new_c
        new_h = o * _tanh(new_c) * keep
        if patched and site == 0:
            new_h = v
        h[r] = new_h
        out[r] = new_h


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def _many_cells_kernel(t, active, xwT, recT, b, keepT, hT, cT, outT, patch_of, patch_site, patch_value, patch_rows):
    """Step t of the reference's cell math for rows 0:active of each of M copies of a batch.

    N rows per copy, sorted by length (longest first); M neuron masks.
    xwT (T, 4H, N) = (x Wx)^T per step, shared by the copies; recT (4H, M*N) = (h_{t-1} Wh)^T;
    b (4H,); keepT (H, M): 1 keeps a neuron in copy m, 0 clamps it to zero;
    hT, cT (H, M*N): h_{t-1}, c_{t-1} on entry, h_t, c_t of the active rows on exit;
    outT (T, H, M*N): h_t of the active rows written at step t (contiguous stores: the loop
    vectorizes; scattered stores straight into the batch's layout ran 1.3-2x slower overall);
    patch_of (H, M) int64: the patch of (neuron, copy) at this step, or -1; patch_site (P,),
    patch_value (P, N), patch_rows (P, N) bool (the rows it writes) in the rows' sorted order
    (lstm.Patches): a patched (neuron, copy) takes the slower scalar loop of _patched_cells,
    every other the vectorized one.
    """
    H, M = keepT.shape
    N = xwT.shape[2]
    half = hT.dtype.type(0.5)
    for j in prange(H):
        xi, xf, xg, xo = xwT[t, j], xwT[t, H + j], xwT[t, 2 * H + j], xwT[t, 3 * H + j]
        bi, bf, bg, bo = b[j], b[H + j], b[2 * H + j], b[3 * H + j]
        for m in range(M):
            q0 = m * N
            keep = keepT[j, m]
            ri, rf = recT[j, q0:q0 + N], recT[H + j, q0:q0 + N]
            rg, ro = recT[2 * H + j, q0:q0 + N], recT[3 * H + j, q0:q0 + N]
            h, c, out = hT[j, q0:q0 + N], cT[j, q0:q0 + N], outT[t, j, q0:q0 + N]
            p = patch_of[j, m]
            if p >= 0:
                _patched_cells(0, active, patch_site[p], patch_value[p], patch_rows[p], xi, xf, xg, xo, ri, rf, rg,
                               ro, bi, bf, bg, bo, keep, half, h, c, out)
                continue
            for r in range(active):
                i = half * _tanh(half * (xi[r] + ri[r] + bi)) + half
                f = half * _tanh(half * (xf[r] + rf[r] + bf)) + half
                g = _tanh(xg[r] + rg[r] + bg)
                o = half * _tanh(half * (xo[r] + ro[r] + bo)) + half
                new_c = f * c[r] + i * g
                c[r] = new_c
                h[r] = o * _tanh(new_c) * keep
                out[r] = h[r]


@njit(cache=True, error_model="numpy", parallel=True)
def _gather_tokens_kernel(outT, first, lengths, which, reverse, out):
    """out[m, first[r] + t] = outT[t, :, which[m]*N + r] for t < lengths[r] (at token
    first[r] + lengths[r] - 1 - t if ``reverse``): the real steps, token by token in the
    batch's row order, from the kernel's (T, H, U*N) layout of sorted rows; out (M, n, H) may
    be a view (the columns of one LSTM direction)."""
    H = outT.shape[1]
    M = out.shape[0]
    N = first.shape[0]
    for m in prange(M):
        u = which[m]
        for r in range(N):
            q = u * N + r
            L = lengths[r]
            for t in range(L):
                row = out[m, first[r] + (L - 1 - t if reverse else t)]
                for j in range(H):
                    row[j] = outT[t, j, q]


def _prefix_lengths(mask):
    """mask (N, T) -> lengths (N,) int64, if every row's real steps come first; else ValueError."""
    mask = np.asarray(mask).astype(bool)
    lengths = mask.sum(axis=1).astype(np.int64)
    if not np.array_equal(mask, np.arange(mask.shape[1])[None, :] < lengths[:, None]):
        raise ValueError("lstm_recur_many_numba needs prefix masks (each row's real steps first)")
    return lengths


def lstm_recur_many_numba(xw, mask, Wh, b, keeps, which=None, reverse=False, out=None, patches=None):
    """:func:`lstm_numpy.model.lstm.lstm_recur_many`: out (M, n, H) of the time loop from
    zero states at the n real steps (row by row), once per neuron mask.

    xw (N, T, 4H) = x Wx (read, not overwritten); mask (N, T) prefix masks; Wh (H, 4H);
    b (4H,); keeps (U, H): 1 keeps a neuron, 0 clamps it to zero inside the recurrence;
    which (M,) or None: the mask of each output row (None: M = U, row m mask m); reverse: each
    row is a sentence read backwards (step t of a row of length L goes to its token L-1-t);
    out: (M, n, H) array (or view) to write into, or None for a new one; patches:
    lstm.Patches of the U copies, written into the loop as the reference writes them.
    """
    check_float(xw, "numba")
    N, T, H4 = xw.shape
    H = H4 // 4
    dtype = xw.dtype
    keeps = np.asarray(keeps, dtype)
    if keeps.ndim != 2 or keeps.shape[1] != H:
        raise ValueError(f"keeps must have shape (M, {H}), got {keeps.shape}")
    M = keeps.shape[0]
    which = np.arange(M) if which is None else np.asarray(which, dtype=np.int64)
    lengths = _prefix_lengths(mask)
    order = np.argsort(-lengths, kind="stable")                             # longest first
    active = np.searchsorted(-lengths[order], -np.arange(T), side="left")   # (T,) rows with length > t
    c = np.ascontiguousarray
    xwT = c(xw[order].transpose(1, 2, 0))                                   # (T, 4H, N)
    WhT, b, keepT = c(np.asarray(Wh, dtype).T), c(b, dtype=dtype), c(keeps.T)
    cols = max(M * N, 2)   # not one column: NumPy would call gemv instead of gemm
    hT, cT = np.zeros((H, cols), dtype), np.zeros((H, cols), dtype)
    recT = np.empty((H4, cols), dtype)
    outT = np.empty((T, H, M * N), dtype)
    first = (np.cumsum(lengths) - lengths)[order]            # each sorted row's first token
    patch_of = np.full((T, H, M), -1, dtype=np.int64)
    patch_site, patch_value, patch_rows = np.zeros(1, np.int64), np.zeros((1, N), dtype), np.zeros((1, N), bool)
    if patches is not None and len(patches.copy):
        patches = check_patches(patches, M, N, T, H)
        patch_of[patches.step, patches.neuron, patches.copy] = np.arange(len(patches.copy))
        patch_site = c(patches.site)
        chosen = ~np.isnan(patches.value[:, order])
        patch_rows, patch_value = c(chosen), c(np.where(chosen, patches.value[:, order], 0.0), dtype=dtype)
    for t in range(T):
        n = int(active[t])
        if n == 0:
            break
        np.matmul(WhT, hT, out=recT)       # every row: the finished ones are not read
        _many_cells_kernel(t, n, xwT, recT, b, keepT, hT, cT, outT, patch_of[t], patch_site, patch_value, patch_rows)
    if out is None:
        out = np.empty((len(which), int(lengths.sum()), H), dtype)
    _gather_tokens_kernel(outT, first, lengths[order], which, bool(reverse), out)
    return out
