"""The analysis's inner loops, each as a NumPy reference and a Numba kernel
with the same arguments and results.

Dimension legend: n tokens, H neurons, K labels, k ablated (or kept) neurons.

* ``group_sums`` / ``group_sums_numba``: per-label sums of hidden states, the
  only pass over the tokens that Xin sensitivity needs. (A one-hot matrix
  product is the reference; on a busy 2-core machine its threaded BLAS call
  took 30-500 ms at 51k x 50, the kernel about 1 ms.)
* ``ablated_argmax`` / ``ablated_argmax_numba``: predictions after removing
  (sign -1) or adding (sign +1) the contributions of a few neurons::

      z = base + sign * h[:, A] @ W[:, A].T        pred = argmax_k z   (first max on ties)

  The kernel takes the transposed ``baseT (K, n)`` and ``hT (H, n)`` so that a
  neuron's activations are contiguous and every token loop vectorizes:
  O(n K k) instead of the O(n K H) of a full recomputation.

conlleval's entity totals, the sweeps' other hot spot, have their kernel pair
with the entity scores (:mod:`lstm_numpy.evaluation.entities`); the Hungarian
matching of neurons across seeds has its pair with the consistency measures
(:mod:`lstm_numpy.analysis.consistency`).
"""
from __future__ import annotations

import numpy as np
from numba import njit



# ------------------------------------------------------------ group sums


def group_sums(x, labels, n_labels):
    """Reference. x (n, H), labels (n,) int in [0, K) -> ((K, H) float64 sums, (K,) int64 counts)."""
    one_hot = np.zeros((n_labels, labels.size))
    one_hot[labels, np.arange(labels.size)] = 1.0
    return one_hot @ np.asarray(x, dtype=np.float64), np.bincount(labels, minlength=n_labels).astype(np.int64)


@njit(cache=True)
def _group_sums_kernel(x, labels, sums, counts):
    n, H = x.shape
    for t in range(n):
        row = labels[t]
        counts[row] += 1
        for j in range(H):
            sums[row, j] += x[t, j]


def group_sums_numba(x, labels, n_labels):
    """Kernel of :func:`group_sums`; sums accumulate in float64 whatever x's dtype."""
    x = np.ascontiguousarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    sums = np.zeros((n_labels, x.shape[1]))
    counts = np.zeros(n_labels, dtype=np.int64)
    _group_sums_kernel(x, np.ascontiguousarray(labels, dtype=np.int64), sums, counts)
    return sums, counts


# ------------------------------------------------------------ ablated argmax


def ablated_argmax(base, h, W, neurons, sign=-1.0):
    """Reference. base (n, K), h (n, H), W (K, H), neurons (k,) int -> pred (n,) int64."""
    neurons = np.asarray(neurons, dtype=np.int64)
    z = base + sign * (h[:, neurons] @ W[:, neurons].T)
    return z.argmax(axis=1).astype(np.int64)


@njit(cache=True)
def _add_contributions_kernel(hT, W, neurons, sign, work):
    # Label-major passes over whole contiguous rows, row views taken outside
    # the token loop, so that the token loop vectorizes. (One fused kernel with
    # the argmax below ran 10x slower: LLVM stopped vectorizing it.)
    K, n = work.shape
    for k in range(K):
        z = work[k]
        for a in range(neurons.shape[0]):
            j = neurons[a]
            source = hT[j]
            w = sign * W[k, j]
            for t in range(n):
                z[t] += w * source[t]


@njit(cache=True)
def _argmax_rows_kernel(work, out):
    # argmax over the label axis of work (K, n) into out (n,), a float array of
    # work's dtype: a select between equal-width lanes vectorizes (an int64 one
    # did not, 10x slower).
    K, n = work.shape
    best = work[0].copy()
    for t in range(n):
        out[t] = 0
    for k in range(1, K):
        z = work[k]
        label = work.dtype.type(k)
        for t in range(n):
            value, current = z[t], best[t]
            out[t] = label if value > current else out[t]   # strict: the first max wins ties
            best[t] = max(value, current)


def ablated_argmax_numba(baseT, hT, W, neurons, sign=-1.0, bias=None):
    """Kernel of :func:`ablated_argmax`. baseT (K, n), hT (H, n) contiguous, same dtype.

    With ``bias`` (K,) given, ``baseT`` is ignored and z starts from the bias
    (use it with sign +1 and the *kept* neurons when most are ablated).
    Returns pred (n,) int64.
    """
    dtype = baseT.dtype
    W = np.ascontiguousarray(W, dtype=dtype)
    neurons = np.ascontiguousarray(neurons, dtype=np.int64)
    if bias is None:
        work = baseT.copy()                                               # (K, n)
    else:
        work = np.empty(baseT.shape, dtype=dtype)
        work[...] = np.asarray(bias, dtype=dtype)[:, None]
    out = np.empty(baseT.shape[1], dtype=dtype)
    _add_contributions_kernel(hT, W, neurons, dtype.type(sign), work)
    _argmax_rows_kernel(work, out)
    return out.astype(np.int64)
