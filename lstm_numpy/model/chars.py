"""A character CNN: each word's letters -> one vector (convolution, then max over the word).

Dimension legend: N batch, T tokens, L characters per token (padded),
C character vocabulary, Dc character embedding, k window width (odd),
F filters (the size of the word's vector).

For a token with characters c_0 .. c_{n-1} (ids, 0 = padding)::

    e_l   = table[c_l]                     (Dc,), with e_l = table[0] for l < 0 or l >= n
    a_l   = b + sum_{j<k} W[j*Dc:(j+1)*Dc].T e_{l+j-k//2}       (F,)   for l = 0 .. n-1
    out_f = max_l a_l,f                                          0 for a token with no characters

Padding id 0 doubles as the word-boundary symbol, so the first and last
windows see where the word starts and ends.  A filter that learns "ends
in -son" fires on every name that does, seen in training or not: the part of
CoNLL-2003's test entities that the word vocabulary has never seen is 28%.

A convolution over characters is a table lookup: the window's product with
W splits into k products ``table[c] @ W_j`` (W_j the j-th block of Dc rows of
W), and there are only C characters, so we precompute ``P_j = table @ W_j``
(C, F) and add k gathered rows per position -- no (N, T, L, k*Dc) window
matrix is ever built.  Backward, each filter's gradient goes to the one
position that won its max (ties: the first), so the gradient of ``P_j`` is a
histogram of the characters at (winner + j) weighted by ``dout``; the chain
rule through ``P_j = table @ W_j`` gives the table's and W's gradients.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange


def init_char_cnn(n_chars, char_dim, filters, width, rng, dtype=np.float64):
    """table (C, Dc) ~ N(0, 0.1); W (k*Dc, F) ~ U(+-1/sqrt(k*Dc)); b zero."""
    if width % 2 != 1:
        raise ValueError(f"the window width must be odd, got {width}")
    scale = 1.0 / np.sqrt(width * char_dim)
    return {"table": rng.normal(0, 0.1, (n_chars, char_dim)).astype(dtype),
            "W": rng.uniform(-scale, scale, (width * char_dim, filters)).astype(dtype),
            "b": np.zeros(filters, dtype=dtype)}


def char_cnn_forward(char_ids, table, W, b, window_max_kernel=None):
    """char_ids (N, T, L) int64 -> (out (N, T, F), cache).

    window_max_kernel: :func:`window_max` (None, the reference) or :func:`window_max_numba`
    (the same numbers); a run takes it from its backend (``lstm_numpy.model.backend``).
    """
    C, Dc = table.shape
    k = W.shape[0] // Dc
    r = k // 2
    padded = np.pad(char_ids, ((0, 0), (0, 0), (r, r)))            # (N, T, L + k - 1), boundaries = 0
    P = np.stack([table @ W[j * Dc:(j + 1) * Dc] for j in range(k)])  # (k, C, F)
    out, pos = (window_max_kernel or window_max)(padded, P, b)
    return out, (padded, pos, (char_ids != 0).any(axis=2))


def window_max(padded, P, b):
    """padded (N, T, L + k - 1) ids, P (k, C, F), b (F,) -> out (N, T, F), pos (N, T, F) int64.

    a[n, t, l] = b + sum_j P[j, padded[n, t, l + j]]; out = max over the
    token's real characters (0 if it has none), pos = where (first on ties).
    """
    k = P.shape[0]
    N, T, L = padded.shape[0], padded.shape[1], padded.shape[2] - k + 1
    a = np.broadcast_to(b, (N, T, L, P.shape[2])).copy()            # (N, T, L, F)
    for j in range(k):
        a += P[j][padded[:, :, j:j + L]]                            # the window's j-th character
    real = padded[:, :, k // 2:k // 2 + L] != 0                     # (N, T, L)
    a[~real] = -np.inf                                              # padding never wins the max
    pos = a.argmax(axis=2)                                          # (N, T, F)
    out = np.take_along_axis(a, pos[:, :, None, :], axis=2)[:, :, 0, :]
    out[~real.any(axis=2)] = 0.0                                    # an empty (padding) token
    return out, pos


@njit(cache=True, parallel=True)
def _window_max_kernel(padded, P, b, out, pos):
    k, F = P.shape[0], P.shape[2]
    N, T, L = padded.shape[0], padded.shape[1], padded.shape[2] - k + 1
    for n in prange(N):
        acc = np.empty(F, dtype=P.dtype)
        for t in range(T):
            for f in range(F):
                out[n, t, f] = -np.inf
                pos[n, t, f] = 0
            seen = False
            for l in range(L):
                if padded[n, t, l + k // 2] == 0:
                    continue
                seen = True
                for f in range(F):
                    acc[f] = b[f]
                for j in range(k):                                   # same order of sums as window_max
                    row = P[j, padded[n, t, l + j]]                  # (F,) contiguous
                    for f in range(F):
                        acc[f] += row[f]
                for f in range(F):
                    if acc[f] > out[n, t, f]:
                        out[n, t, f] = acc[f]
                        pos[n, t, f] = l
            if not seen:
                for f in range(F):
                    out[n, t, f] = 0.0


def window_max_numba(padded, P, b):
    """window_max with one fused loop per token: no (N, T, L, F) temporary."""
    N, T = padded.shape[:2]
    out = np.empty((N, T, P.shape[2]), dtype=P.dtype)
    pos = np.empty((N, T, P.shape[2]), dtype=np.int64)
    _window_max_kernel(np.ascontiguousarray(padded), np.ascontiguousarray(P), b.astype(P.dtype), out, pos)
    return out, pos


def char_cnn_backward(dout, table, W, cache):
    """dout (N, T, F) -> dict dtable (C, Dc), dW (k*Dc, F), db (F,)."""
    padded, pos, has_chars = cache
    C, Dc = table.shape
    F = W.shape[1]
    k = W.shape[0] // Dc
    g = dout * has_chars[..., None]                                 # (N, T, F)
    filters = np.broadcast_to(np.arange(F), g.shape)
    dtable, dW = np.zeros_like(table), np.zeros_like(W)
    N, T, width = padded.shape
    start = (np.arange(N * T) * width).reshape(N, T, 1) + pos        # (N, T, F) flat index of each window
    flat = padded.reshape(-1)
    for j in range(k):
        chars = np.take(flat, start + j)                            # (N, T, F) character under tap j
        dP = np.bincount((chars * F + filters).ravel(), weights=g.ravel(), minlength=C * F)
        dP = dP.reshape(C, F).astype(table.dtype)                   # (C, F)
        W_j = W[j * Dc:(j + 1) * Dc]
        dW[j * Dc:(j + 1) * Dc] = table.T @ dP
        dtable += dP @ W_j.T
    return {"dtable": dtable, "dW": dW, "db": g.sum(axis=(0, 1))}
