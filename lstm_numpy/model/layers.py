"""The tagger's layers other than the LSTM: embedding, linear, dropout, loss.

Dimension legend: N batch, T time, V vocabulary, D embedding size,
H hidden size, K labels.  ``dX`` means dLoss/dX.  Each forward returns
``(output, cache)``; each backward takes the cache and returns gradients.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class SparseRows(NamedTuple):
    """Gradient of an embedding table that only some rows received.

    rows (R,) int64, unique and sorted; values (R, D): the summed gradient of each.
    """

    rows: np.ndarray
    values: np.ndarray

    def to_dense(self, V):
        dense = np.zeros((V, self.values.shape[1]), dtype=self.values.dtype)
        dense[self.rows] = self.values
        return dense


# --- embedding -----------------------------------------------------------------

def embedding_forward(ids, table):
    """ids (N, T) int, table (V, D) -> (x (N, T, D), cache=ids)."""
    return table[ids], ids


def embedding_backward(dx, ids, V, sparse=False):
    """dx (N, T, D) -> dtable (V, D), or SparseRows when ``sparse``.

    A word that occurs several times in the batch receives the sum of its
    gradients (plain ``dtable[ids] += dx`` would keep only the last one).  We
    sort the ids so that equal ids are adjacent and sum each run with
    ``np.add.reduceat``: several times faster than ``np.add.at``, and
    deterministic (a stable sort fixes the order of every sum).
    """
    flat_dx = dx.reshape(-1, dx.shape[-1])
    order, starts, rows = _id_runs(ids)
    values = np.add.reduceat(flat_dx[order], starts, axis=0) if order.size else flat_dx[:0].copy()
    return _table_gradient(rows, values, V, sparse)


def _id_runs(ids):
    """(order, starts, rows) int64: ``order`` sorts the flat ids stably, each run of one id
    starts at ``starts`` in that order, and ``rows`` are the runs' ids."""
    flat_ids = ids.reshape(-1)
    order = np.argsort(flat_ids, kind="stable").astype(np.int64)
    sorted_ids = flat_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]) if order.size else order
    return order, starts.astype(np.int64), sorted_ids[starts].astype(np.int64)


def _table_gradient(rows, values, V, sparse):
    """The summed rows as SparseRows, or scattered into a zero (V, D) table."""
    if sparse:
        return SparseRows(rows, values)
    dtable = np.zeros((V, values.shape[1]), dtype=values.dtype)
    dtable[rows] = values
    return dtable


@njit(cache=True, error_model="numpy")
def _pairwise_rows(flat_dx, order, lo, n, out):
    """out (D,) = NumPy's pairwise sum of the rows ``flat_dx[order[lo:lo + n]]``, the order of
    additions of its ``pairwise_sum`` (numpy/_core/src/umath/loops_utils.h.src): below 8 rows
    one after the other from zero; up to 128, eight running sums combined as a tree, then the
    rest; above 128, the two halves (the first a multiple of 8 rows) summed apart and added."""
    D = np.uint64(out.size)
    if n < 8:
        for j in range(D):
            out[j] = 0
        for i in range(lo, lo + n):
            row = flat_dx[order[i]]
            for j in range(D):
                out[j] += row[j]
    elif n <= 128:
        r = np.empty((8, out.size), out.dtype)
        for k in range(8):
            row = flat_dx[order[lo + k]]
            for j in range(D):
                r[k, j] = row[j]
        i = 8
        while i < n - n % 8:
            for k in range(8):
                row = flat_dx[order[lo + i + k]]
                for j in range(D):
                    r[k, j] += row[j]
            i += 8
        for j in range(D):
            out[j] = ((r[0, j] + r[1, j]) + (r[2, j] + r[3, j])) + ((r[4, j] + r[5, j]) + (r[6, j] + r[7, j]))
        while i < n:
            row = flat_dx[order[lo + i]]
            for j in range(D):
                out[j] += row[j]
            i += 1
    else:
        half = n // 2
        half -= half % 8
        right = np.empty_like(out)
        _pairwise_rows(flat_dx, order, lo, half, out)
        _pairwise_rows(flat_dx, order, lo + half, n - half, right)
        for j in range(D):
            out[j] += right[j]


@njit(cache=True, error_model="numpy")
def _sum_runs_kernel(flat_dx, order, starts, values):
    """values[r] = ``np.add.reduceat(flat_dx[order], starts, axis=0)[r]``, in its order of
    additions: a run's first row plus the pairwise sum of the others (the last run ends at
    ``order.size``)."""
    D = np.uint64(flat_dx.shape[1])
    rest = np.empty(flat_dx.shape[1], values.dtype)
    for r in range(starts.size):
        end = starts[r + 1] if r + 1 < starts.size else order.size
        first = flat_dx[order[starts[r]]]
        out = values[r]
        if end - starts[r] == 1:
            for j in range(D):
                out[j] = first[j]
        else:
            _pairwise_rows(flat_dx, order, starts[r] + 1, end - starts[r] - 1, rest)
            for j in range(D):
                out[j] = first[j] + rest[j]


def embedding_backward_numba(dx, ids, V, sparse=False):
    """:func:`embedding_backward` with the gather and the sums of each run in one Numba
    loop: same arguments, same bits (each sum makes NumPy's additions in NumPy's order)."""
    flat_dx = dx.reshape(-1, dx.shape[-1])
    order, starts, rows = _id_runs(ids)
    values = np.empty((rows.size, flat_dx.shape[1]), dtype=dx.dtype)
    _sum_runs_kernel(flat_dx, order, starts, values)
    return _table_gradient(rows, values, V, sparse)


# --- linear output layer ---------------------------------------------------------

def linear_forward(h, W, b):
    """h (..., H), W (K, H), b (K,) -> (z (..., K), cache=h).  z = h W^T + b."""
    return h @ W.T + b, h


def linear_backward(dz, h, W):
    """dz (..., K) -> dict dh (..., H), dW (K, H), db (K,)."""
    K, H = W.shape
    dz2, h2 = dz.reshape(-1, K), h.reshape(-1, H)
    return {"dh": dz @ W, "dW": dz2.T @ h2, "db": dz2.sum(axis=0)}


# --- dropout -----------------------------------------------------------------------

def dropout_mask(shape, p, rng, dtype=np.float64):
    """Inverted-dropout multiplier: 0 with probability p, else 1/(1-p)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if p == 0.0:
        return np.ones(shape, dtype=dtype)
    uniform = rng.random(shape, dtype=np.float32 if np.dtype(dtype) == np.float32 else np.float64)
    return (uniform >= p).astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype)


def dropout_forward(x, p, rng, train=True, shared_axis=None):
    """Inverted dropout. x (...); returns (y, cache=multiplier or None).

    At test time (train=False) or p=0 it is the identity, so no rescaling is
    needed at inference: the 1/(1-p) is applied during training instead.
    shared_axis: one mask for every index of that axis ("variational"
    dropout when it is the time axis: a sentence loses the same features at
    every token).
    """
    if not train or p == 0.0:
        return x, None
    shape = list(x.shape)
    if shared_axis is not None:
        shape[shared_axis] = 1
    keep = dropout_mask(tuple(shape), p, rng, x.dtype)
    return x * keep, keep


def dropout_backward(dy, keep):
    """dy (...) -> dx (...): the same multiplier as forward."""
    return dy if keep is None else dy * keep


# --- masked softmax cross-entropy -----------------------------------------------

def log_softmax(z):
    """z (..., K) -> log softmax over the last axis, stable for large logits."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def cross_entropy_sum(z, y, mask):
    """Summed cross-entropy of labels y (N, T) over the real tokens of mask (N, T): a float64 sum
    (the evaluation loss; masked_cross_entropy gives the mean and its gradient)."""
    real = mask.astype(bool)
    logp = log_softmax(np.asarray(z, dtype=np.float64))
    picked = np.take_along_axis(logp, np.where(real, y, 0)[..., None], axis=-1)[..., 0]
    return float(-picked[real].sum())


def masked_cross_entropy(z, y, mask):
    """Mean cross-entropy over real tokens.

    z (N, T, K) logits, y (N, T) int label ids (anything at padding),
    mask (N, T) 1 real / 0 padding.
    Returns (loss: float, dz (N, T, K)); padded positions get zero gradient.
    """
    m = mask.astype(z.dtype)
    n_real = m.sum()
    if n_real == 0:
        raise ValueError("masked_cross_entropy: the batch has no real tokens")
    logp = log_softmax(z)
    y_safe = np.where(mask.astype(bool), y, 0)
    picked = np.take_along_axis(logp, y_safe[..., None], axis=-1)[..., 0]  # (N, T)
    loss = -(picked * m).sum() / n_real
    dz = np.exp(logp)
    np.put_along_axis(dz, y_safe[..., None], np.take_along_axis(dz, y_safe[..., None], -1) - 1, -1)
    dz *= (m / n_real)[..., None]
    return float(loss), dz
