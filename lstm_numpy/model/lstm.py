"""The LSTM layer in plain NumPy: the reference every kernel must equal.

Dimension legend
----------------
N  batch size (sentences)         T  time steps (padded length)
D  input size                     H  hidden size (neurons)

Gate order
----------
The four gates are stacked along the last axis of ``Wx (D, 4H)``, ``Wh (H, 4H)``
and ``b (4H,)`` in the order of :data:`GATES`: input ``i``, forget ``f``,
candidate ``g``, output ``o`` (the order PyTorch uses), so gate ``k`` lives in
columns ``k*H:(k+1)*H``.

Equations (one time step, ``m`` = mask of the step, 1 real / 0 padding)
-------------------------------------------------------------------------
::

    a      = x_t Wx + h_{t-1} Wh + b                     (N, 4H)
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)    (N, H) each
    g      = tanh(a_g)                                    (N, H)
    c_new  = f * c_{t-1} + i * g
    h_new  = o * tanh(c_new) * keep          # keep (H,): 1, or 0 for an ablated neuron
    c_t    = m * c_new + (1 - m) * c_{t-1}    # padding: the state passes through
    h_t    = m * h_new + (1 - m) * h_{t-1}
    out_t  = m * h_t                          # outputs at padding are zero

Backward, with ``dh`` = dLoss/dh_t (from out_t and from step t+1) and ``dc``::

    do     = m keep dh * tanh(c_new)
    dc_new = m dc + m keep dh * o * (1 - tanh(c_new)^2)
    di, df, dg = dc_new * g, dc_new * c_{t-1}, dc_new * i
    da     = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
    dc_{t-1} = dc_new * f + (1 - m) dc
    dh_{t-1} = da Wh^T   + (1 - m) dh
    dx_t = da Wx^T,  dWx += x_t^T da,  dWh += h_{t-1}^T da,  db += sum_n da

Only the recurrence is sequential: the input projection ``x Wx + b`` and the
weight gradients are single large matrix products over all N*T tokens, done
outside the time loop.  At padded steps ``da`` is zero, so padding receives no
gradient and contributes none.
"""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

GATES = ("i", "f", "g", "o")
"""Order of the gate blocks along the 4H axis."""

SITES = ("h", "c") + GATES
"""Where an intervention writes a value: the new hidden state h_new, the new cell state c_new, or
one activated gate (the value c_new and h_new are then computed from)."""


class Patches(NamedTuple):
    """Interventions in the time loop of many copies of a batch (P of them, one value per row each):
    at step ``step[p]`` (the loop's own time) of copy ``copy[p]``, neuron ``neuron[p]``'s quantity
    ``SITES[site[p]]`` becomes ``value[p, n]`` in row n of the batch (NaN: row n is left alone).
    A gate's value replaces the activated gate before c_new is computed; c's replaces c_new before
    h_new = o tanh(c_new) keep; h's replaces h_new.  At most one patch per (copy, step, neuron)."""

    copy: np.ndarray       # (P,) int64
    step: np.ndarray       # (P,) int64
    neuron: np.ndarray     # (P,) int64
    site: np.ndarray       # (P,) int64 index into SITES
    value: np.ndarray      # (P, N) float, NaN where a row is not patched


def check_patches(patches, U, N, T, H):
    """The patches as int64 / float arrays, or ValueError naming what does not fit."""
    copy, step, neuron, site = (np.asarray(a, dtype=np.int64).ravel() for a in patches[:4])
    value = np.asarray(patches.value, dtype=np.float64)
    P = copy.size
    if not (step.size == neuron.size == site.size == P and value.shape == (P, N)):
        raise ValueError(f"patches need (P,) copy, step, neuron, site and (P, {N}) values, got {value.shape}")
    for name, array, limit in (("copy", copy, U), ("step", step, T), ("neuron", neuron, H), ("site", site, len(SITES))):
        if P and (array.min() < 0 or array.max() >= limit):
            raise ValueError(f"patch {name} must lie in [0, {limit}), got [{array.min()}, {array.max()}]")
    if len({(c, t, j) for c, t, j in zip(copy.tolist(), step.tolist(), neuron.tolist())}) != P:
        raise ValueError("at most one patch per (copy, step, neuron)")
    return Patches(copy, step, neuron, site, value)

class LSTMCache(NamedTuple):
    """What backward needs from forward.

    x (N, T, D), mask (N, T), h0 (N, H), c0 (N, H), Wx (D, 4H), Wh (H, 4H);
    gates (N, T, 4H): activated i, f, g, o;
    h (N, T, H), c (N, T, H): carried states after each step (h_t, c_t);
    tanh_c (N, T, H): tanh(c_new) of each step;
    keep (H,) or (N, H): the neuron mask used (ones when nothing is ablated).
    """

    x: np.ndarray
    mask: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    Wx: np.ndarray
    Wh: np.ndarray
    gates: np.ndarray
    h: np.ndarray
    c: np.ndarray
    tanh_c: np.ndarray
    keep: np.ndarray


def init_lstm_params(D, H, rng, dtype=np.float64):
    """Uniform(-1/sqrt(H), 1/sqrt(H)) weights, zero bias except forget gate = 1.

    Returns dict with Wx (D, 4H), Wh (H, 4H), b (4H,).
    """
    scale = 1.0 / np.sqrt(H)
    Wx = rng.uniform(-scale, scale, size=(D, 4 * H)).astype(dtype)
    Wh = rng.uniform(-scale, scale, size=(H, 4 * H)).astype(dtype)
    b = np.zeros(4 * H, dtype=dtype)
    f = GATES.index("f")
    b[f * H:(f + 1) * H] = 1.0
    return {"Wx": Wx, "Wh": Wh, "b": b}


def sigmoid(a):
    """Numerically stable logistic function, elementwise, same dtype."""
    out = np.empty_like(a)
    pos = a >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-a[pos]))
    e = np.exp(a[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def check_lstm_inputs(x, mask, h0, c0, Wx, Wh, b):
    """Raise ValueError naming the argument whose shape or dtype is wrong."""
    if x.ndim != 3:
        raise ValueError(f"x must be (N, T, D), got shape {x.shape}")
    N, T, D = x.shape
    H = Wh.shape[0]
    expected = {"mask": (mask, (N, T)), "h0": (h0, (N, H)), "c0": (c0, (N, H)),
                "Wx": (Wx, (D, 4 * H)), "Wh": (Wh, (H, 4 * H)), "b": (b, (4 * H,))}
    for name, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    for name, arr in (("h0", h0), ("c0", c0), ("Wx", Wx), ("Wh", Wh), ("b", b)):
        if arr.dtype != x.dtype:
            raise ValueError(f"{name} has dtype {arr.dtype}, x has {x.dtype}")


def check_float(x, backend):
    """Kernels are compiled for float32 and float64 only."""
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"x must be float32 or float64 for the {backend} backend, got {x.dtype}")


def neuron_mask(keep, H, dtype, N=None):
    """keep (H,), (N, H) (one mask per sentence, ``N`` given) or None -> an array of ``dtype``
    (ones (H,) for None), shape checked (the compiled kernels do not bounds-check)."""
    keep = np.ones(H, dtype=dtype) if keep is None else np.asarray(keep, dtype=dtype)
    if keep.shape != (H,) and (N is None or keep.shape != (N, H)):
        raise ValueError(f"keep must have shape ({H},)" + ("" if N is None else f" or ({N}, {H})")
                         + f", got {keep.shape}")
    return keep


def lstm_forward(x, mask, h0, c0, Wx, Wh, b, keep=None):
    """Run the LSTM over a padded batch.

    x (N, T, D), mask (N, T) of 0/1 or bool, h0 (N, H), c0 (N, H),
    Wx (D, 4H), Wh (H, 4H), b (4H,), all of one float dtype;
    keep (H,), (N, H) or None: multiplies h_new at every step, so a 0 clamps that
    neuron to zero inside the recurrence (the "recurrent" ablation); (N, H) gives
    each sentence its own mask (many ablations in one pass).

    Returns (out (N, T, H), (hT (N, H), cT (N, H)), cache): out is zero at
    padded steps; hT, cT are the states after each sentence's last real step.
    It is :func:`lstm_recur` of :func:`lstm_project`.
    """
    check_lstm_inputs(x, mask, h0, c0, Wx, Wh, b)
    out, final, (gates, hs, cs, tanh_cs, keep) = lstm_recur(lstm_project(x, Wx), mask, h0, c0, Wh, b, keep)
    return out, final, LSTMCache(x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep)


def lstm_project(x, Wx):
    """x (N, T, D) -> x Wx (N, T, 4H): the input's part of every gate, all steps in one product."""
    N, T, D = x.shape
    return (x.reshape(N * T, D) @ Wx).reshape(N, T, Wx.shape[1])


def _patch(values, patches, t, site, copies, N):
    """Write the patches of step t at ``site`` into values (U*N, H), row u*N + n of copy u."""
    if patches is None:
        return values
    for p in np.flatnonzero((patches.step == t) & (patches.site == SITES.index(site))):
        rows = np.flatnonzero(~np.isnan(patches.value[p]))
        values[patches.copy[p] * N + rows, patches.neuron[p]] = patches.value[p, rows]
    return values


def lstm_recur(xw, mask, h0, c0, Wh, b, keep=None, patches=None, copies=1):
    """The time loop of :func:`lstm_forward` from the projected input xw = lstm_project(x, Wx) (N, T, 4H).

    Returns (out (N, T, H), (hT, cT), (gates, h, c, tanh_c, keep)): the arrays of
    LSTMCache after x and Wx.  Many ablations of one batch share one projection
    (:func:`lstm_recur_many`).  patches: Patches of a batch of N / ``copies`` rows stacked
    ``copies`` times (row u*(N / copies) + n is row n of copy u), written into the loop as
    its docstring says; the caches then hold the patched values.
    """
    N, T, _ = xw.shape
    H = Wh.shape[0]
    keep = neuron_mask(keep, H, xw.dtype, N)
    m = mask.astype(xw.dtype)[:, :, None]                       # (N, T, 1)
    xw = xw + b                                                 # (N, T, 4H)
    gates = np.empty((N, T, 4 * H), dtype=xw.dtype)
    hs = np.empty((N, T, H), dtype=xw.dtype)
    cs = np.empty((N, T, H), dtype=xw.dtype)
    tanh_cs = np.empty((N, T, H), dtype=xw.dtype)
    prev_h, prev_c = h0, c0
    rows = N // copies
    for t in range(T):
        a = xw[:, t] + prev_h @ Wh
        i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
        g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        if patches is not None:
            i, f, g, o = (_patch(gate.copy(), patches, t, name, copies, rows) for gate, name in zip((i, f, g, o), GATES))
        new_c = _patch(f * prev_c + i * g, patches, t, "c", copies, rows)
        tanh_c = np.tanh(new_c)
        new_h = _patch(o * tanh_c * keep, patches, t, "h", copies, rows)
        mt = m[:, t]
        next_c = mt * new_c + (1 - mt) * prev_c
        next_h = mt * new_h + (1 - mt) * prev_h
        gates[:, t, :H], gates[:, t, H:2 * H] = i, f
        gates[:, t, 2 * H:3 * H], gates[:, t, 3 * H:] = g, o
        hs[:, t], cs[:, t], tanh_cs[:, t] = next_h, next_c, tanh_c
        prev_h, prev_c = next_h, next_c
    out = hs * m
    return out, (prev_h.copy(), prev_c.copy()), (gates, hs, cs, tanh_cs, keep)


def lstm_recur_many(xw, mask, Wh, b, keeps, which=None, reverse=False, out=None, patches=None):
    """out (M, n, H) of :func:`lstm_recur` from zero states at the n real steps (row by row,
    ``out[:, mask]``), once per neuron mask: the recurrent ablation of many neuron sets on one batch.

    xw (N, T, 4H) = lstm_project(x, Wx), mask (N, T) (real steps first), Wh (H, 4H), b (4H,);
    keeps (U, H): mask u multiplies h_new at every step (0 clamps a neuron to zero inside the
    recurrence); which (M,) or None: the mask of each output row (None: row m, mask m);
    reverse: each row is a sentence read backwards, so step t of a row of length L is written
    at its token L-1-t (a BiLSTM's backward direction); out: (M, n, H) array or view to fill;
    patches: Patches of the U copies (copy u is mask u's), steps in each row's own time.
    The batch is stacked U times, one mask per copy, so each step is one product.
    """
    N, T, _ = xw.shape
    U, H = np.shape(keeps)
    mask = np.asarray(mask, dtype=bool)
    zeros = np.zeros((U * N, H), dtype=xw.dtype)
    if patches is not None:
        patches = check_patches(patches, U, N, T, H)
    res = lstm_recur(np.tile(xw, (U, 1, 1)), np.tile(mask, (U, 1)), zeros, zeros, Wh, b,
                     np.repeat(np.asarray(keeps, xw.dtype), N, axis=0), patches, U)[0].reshape(U, N, T, H)[:, mask]
    if reverse:                 # token k of a sentence (first f, length L) is its step 2f + L - 1 - k
        lengths = mask.sum(axis=1)
        first = np.repeat(np.cumsum(lengths) - lengths, lengths)
        res = res[:, 2 * first + np.repeat(lengths, lengths) - 1 - np.arange(len(first))]
    res = res if which is None else res[np.asarray(which)]
    if out is None:
        return res
    out[...] = res
    return out


def lstm_backward(dout, dhT, dcT, cache):
    """Gradients of the loss through :func:`lstm_forward`.

    dout (N, T, H): dLoss/dout (ignored at padded steps);
    dhT, dcT (N, H): dLoss/d(final states), or None for zero.

    Returns dict with dx (N, T, D), dh0, dc0 (N, H), dWx (D, 4H), dWh (H, 4H),
    db (4H,).
    """
    x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep = cache
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = x.dtype
    m = mask.astype(dtype)[:, :, None]
    dout = np.asarray(dout, dtype=dtype)          # float64 upstream on a float32 cache stays float32
    dh_next = np.zeros((N, H), dtype) if dhT is None else dhT.astype(dtype, copy=True)
    dc_next = np.zeros((N, H), dtype) if dcT is None else dcT.astype(dtype, copy=True)
    da = np.empty((N, T, 4 * H), dtype=dtype)
    for t in range(T - 1, -1, -1):
        mt = m[:, t]
        prev_c = cs[:, t - 1] if t > 0 else c0
        i, f = gates[:, t, :H], gates[:, t, H:2 * H]
        g, o = gates[:, t, 2 * H:3 * H], gates[:, t, 3 * H:]
        tanh_c = tanh_cs[:, t]
        dh = dh_next + mt * dout[:, t]
        dh_new, dc = mt * dh * keep, dc_next
        do = dh_new * tanh_c
        dc_new = mt * dc + dh_new * o * (1 - tanh_c ** 2)
        da[:, t, :H] = dc_new * g * i * (1 - i)
        da[:, t, H:2 * H] = dc_new * prev_c * f * (1 - f)
        da[:, t, 2 * H:3 * H] = dc_new * i * (1 - g ** 2)
        da[:, t, 3 * H:] = do * o * (1 - o)
        dc_next = dc_new * f + (1 - mt) * dc
        dh_next = da[:, t] @ Wh.T + (1 - mt) * dh
    return lstm_param_grads(da, dh_next, dc_next, cache)


@functools.cache
def second_thread():
    """The one worker thread the LSTM code hands work to, to keep a second core busy: a BiLSTM's
    second direction (model.bilstm) or backward's dWh product (model.lstm_numba).  A direction
    run on it never hands dWh over (it runs in one_core()), so it never waits on itself."""
    return ThreadPoolExecutor(1, thread_name_prefix="lstm-second-core")


def lstm_param_grads(da, dh0, dc0, cache, beside=None):
    """The non-recurrent part of backward, shared by every backend.

    da (N, T, 4H): dLoss/d(pre-activations), zero at padding.  beside: an executor on which
    dWh's product runs while the others run here (lstm_numba: a second core), or None; the
    same products either way.  Returns the gradient dict of :func:`lstm_backward`.
    """
    x, h0, Wx = cache.x, cache.h0, cache.Wx
    N, T, D = x.shape
    H = h0.shape[1]
    da2 = da.reshape(N * T, 4 * H)

    def dWh():
        h_prev = np.concatenate([h0[:, None], cache.h[:, :-1]], axis=1)  # (N, T, H)
        return h_prev.reshape(N * T, H).T @ da2

    later = None if beside is None else beside.submit(dWh)
    grads = {"dx": (da2 @ Wx.T).reshape(N, T, D), "dh0": dh0, "dc0": dc0, "dWx": x.reshape(N * T, D).T @ da2,
             "db": da2.sum(axis=0)}
    grads["dWh"] = dWh() if later is None else later.result()
    return grads
