"""Bidirectional LSTM: one LSTM reads left to right, another right to left.

Dimension legend: N batch, T padded length, D input, H hidden per direction.

The backward direction must read each sentence over its *real* tokens only,
starting at its last real word, not at the end of the padding.  We do this by
reordering time: :func:`reverse_index` gives, per sentence, a permutation of
the T positions that reverses the real positions among themselves and leaves
padded positions where they are.  The permutation is its own inverse, so the
same gather maps the reversed outputs back.  With real tokens left-aligned
(the usual padding) it reverses the first ``length`` steps.

The output is ``concat(h_forward, h_backward)`` of shape (N, T, 2H): at token
t the first H neurons have read x_1..x_t and the last H have read x_t..x_L.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .lstm import second_thread



class BiLSTMCache(NamedTuple):
    rev: np.ndarray        # (N, T) int: the time permutation of each sentence
    forward: Any           # cache of the left-to-right LSTM
    backward: Any          # cache of the right-to-left LSTM (reversed time)
    backend: Any           # the lstm_numpy.model.backend.Backend that ran it


def reverse_index(mask):
    """mask (N, T) -> rev (N, T) int64 with x[n, rev[n]] reversing real tokens of n.

    The i-th real position of a row takes the (L-1-i)-th, L its number of real
    tokens; padded positions map to themselves. No loop over the rows.
    """
    mask = np.asarray(mask, dtype=bool)
    N, T = mask.shape
    real_first = np.argsort(~mask, axis=1, kind="stable")           # (N, T) real positions in order, then padding
    rank = np.cumsum(mask, axis=1) - 1                              # (N, T) i of the i-th real position
    mirror = np.clip(mask.sum(axis=1, keepdims=True) - 1 - rank, 0, T - 1)
    return np.where(mask, np.take_along_axis(real_first, mirror, axis=1), np.arange(T)).astype(np.int64)


def _gather_time(a, rev):
    """a (N, T, ...) reordered along time by rev (N, T): a[n, rev[n, t]] at [n, t].

    One ``np.take`` of whole rows of the flattened (N*T, ...) array, an exact
    gather (``np.take_along_axis`` gave the same array 10-30x slower).
    """
    N, T = rev.shape
    rows = (rev + (np.arange(N) * T)[:, None]).ravel()
    return np.take(a.reshape((N * T,) + a.shape[2:]), rows, axis=0).reshape(a.shape)


def _both(backend, concurrent, first, second):
    """(first(), second()): one after the other, or, where ``concurrent`` (the backend's
    concurrent_directions: its kernels release the GIL and share no thread pool), second on a
    second thread while first runs here, each in the backend's one_core() (so that neither
    starts threads of its own).  The same arithmetic either way, so the same results."""
    if not concurrent:
        return first(), second()
    def alone(fn):
        with backend.one_core():
            return fn()

    later = second_thread().submit(alone, second)
    try:
        one = alone(first)
    except BaseException:
        later.exception()           # wait for the other direction; the first error is the one raised
        raise
    return one, later.result()


def bilstm_forward(x, mask, params_f, params_b, backend, keep_mask=None):
    """x (N, T, D), mask (N, T); params_* dicts with Wx (D, 4H), Wh (H, 4H), b (4H,);
    backend: an ``lstm_numpy.model.backend.Backend`` (its LSTM kernels run both directions).

    Initial states are zero.  keep_mask (2H,), (N, 2H) or None: 1 keeps a neuron, 0 clamps
    it to zero inside the recurrence; the first H are the forward direction's.
    Returns (out (N, T, 2H), cache).
    """
    N, T, _ = x.shape
    H = params_f["Wh"].shape[0]
    zeros = np.zeros((N, H), dtype=x.dtype)
    keep_f = keep_b = None
    if keep_mask is not None:
        keep_f, keep_b = keep_mask[..., :H], keep_mask[..., H:]      # (2H,) or one mask per sentence (N, 2H)
    rev = reverse_index(mask)
    (out_f, _, cache_f), (out_r, _, cache_b) = _both(
        backend, backend.concurrent_directions(N, H, x.dtype),
        lambda: backend.lstm_forward(x, mask, zeros, zeros, params_f["Wx"], params_f["Wh"], params_f["b"], keep_f),
        lambda: backend.lstm_forward(_gather_time(x, rev), mask, zeros, zeros, params_b["Wx"], params_b["Wh"],
                                     params_b["b"], keep_b))
    out = np.concatenate([out_f, _gather_time(out_r, rev)], axis=-1)
    return out, BiLSTMCache(rev, cache_f, cache_b, backend)


def bilstm_backward(dout, cache):
    """dout (N, T, 2H) -> (dx (N, T, D), grads_f, grads_b) with grads dicts dWx, dWh, db."""
    H = dout.shape[-1] // 2
    N = dout.shape[0]
    grads_f, grads_b = _both(
        cache.backend, cache.backend.concurrent_directions(N, H, dout.dtype),
        lambda: cache.backend.lstm_backward(np.ascontiguousarray(dout[..., :H]), None, None, cache.forward),
        lambda: cache.backend.lstm_backward(_gather_time(dout[..., H:], cache.rev), None, None, cache.backward))
    dx = grads_f["dx"] + _gather_time(grads_b["dx"], cache.rev)
    return dx, grads_f, grads_b


def bilstm_project(x, mask, params_f, params_b, backend):
    """Each direction's input product, as bilstm_forward computes it: (xw_f, xw_b, rev) with
    xw_f = x Wx_f and xw_b = (x reversed per sentence) Wx_b, each (N, T, 4H), rev (N, T)."""
    rev = reverse_index(mask)
    return backend.lstm_project(x, params_f["Wx"]), backend.lstm_project(_gather_time(x, rev), params_b["Wx"]), rev


def bilstm_recur_many(projected, mask, params_f, params_b, backend, keeps):
    """bilstm_forward's out at the n real tokens (row by row, ``out[:, mask]``) once per neuron
    mask, (M, n, 2H), from bilstm_project's ``projected``; keeps (M, 2H), the first H of a row
    the forward direction's.

    A direction whose part of a mask repeats (every set that leaves it alone keeps all of
    it) is run once per distinct part, written to every row that has it.
    """
    xw_f, xw_b, _ = projected
    mask = np.asarray(mask, dtype=bool)
    H = params_f["Wh"].shape[0]
    out = np.empty((len(keeps), int(mask.sum()), 2 * H), dtype=xw_f.dtype)
    for d, (xw, p) in enumerate(((xw_f, params_f), (xw_b, params_b))):
        distinct, which = np.unique(keeps[:, d * H:(d + 1) * H], axis=0, return_inverse=True)
        backend.lstm_recur_many(xw, mask, p["Wh"], p["b"], distinct, which.ravel(), reverse=d == 1,
                                out=out[:, :, d * H:(d + 1) * H])     # the backward rows read time reversed
    return out
