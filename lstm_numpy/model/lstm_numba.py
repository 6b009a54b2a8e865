"""The LSTM layer with Numba time loops: same arguments and results as :mod:`.lstm`.

Dimension legend and gate order are those of :mod:`lstm_numpy.model.lstm`
(N batch, T time, D input, H hidden; gates ``i, f, g, o`` along the 4H axis).
The cache is the same :class:`~lstm_numpy.model.lstm.LSTMCache`, so a cache
made by one backend can be fed to the other's backward.

What runs where
---------------
* ``x Wx`` over all N*T tokens, and the weight gradients after the backward
  loop (:func:`~lstm_numpy.model.lstm.lstm_param_grads`), are single large
  matrix products done by NumPy's BLAS (Numba cannot compile ``@`` here
  without SciPy, and a GEMM library does them better anyway).
* The kernels below do only the sequential part: per time step the recurrent
  product ``h_{t-1} Wh`` (or ``da Wh^T`` backward) written as loops whose
  innermost index runs over contiguous memory, fused with the gate
  nonlinearities, the cell update and the masking.

Speed notes
-----------
* The llvmlite wheels have no SVML, so ``math.tanh``/``math.exp`` in a loop
  are scalar library calls.  In float32 the kernels therefore use a clamped
  rational tanh (Eigen's ``ptanh``: odd degree-13 over even degree-6
  polynomial, max abs error about 1e-7, see :func:`tanh_approx`) and
  ``sigmoid(x) = 0.5 + 0.5 tanh(x/2)``; both are only mul/add/div/min/max,
  which LLVM vectorizes to AVX2.  float64 uses exact ``math.tanh`` and
  ``math.exp`` (parity with the reference to 1e-10).
* The batch is split into one block of sentences per thread (``prange``).
  The recurrent products are tiles of dot products: 2 sentences x 4 columns
  of the output share each load of ``h`` (or ``da``) and of ``Wh`` in 8
  running sums, and every row of ``Wh`` is reused for all sentences of the
  block while it is in L1 (``Wh`` is 1 MiB at H=256 in float32 and does not
  fit in L2).  Forward reads ``Wh.T`` (copied contiguous) so that its dot
  products run over contiguous k; backward reads ``Wh`` rows directly, in
  column chunks of 256 so the block's rows of ``da`` stay in L1.  The inner
  loops index with unsigned integers: Numba's negative-index wraparound on
  signed ones otherwise stops LLVM from vectorizing them.
* ``error_model="numpy"``: with Python's error model every division checks
  for zero, which also stops vectorization.
* Padding: forward still computes the gates at padded steps (the cache holds
  them, as in the reference); backward skips ``da Wh^T`` where ``da`` is zero.

Threads
-------
The kernels use Numba's thread pool: set ``NUMBA_NUM_THREADS`` before
importing numba to fix its size, or call ``numba.set_num_threads(k)`` at run
time (k <= the pool size); the batch is split into that many blocks.  NumPy's
BLAS threads (the GEMMs) are separate: control them with
``threadpoolctl.threadpool_limits`` or ``OPENBLAS_NUM_THREADS``.  Numba's
``omp`` threading layer (the default when an OpenMP runtime is found) keeps its
threads spinning after a kernel, which slows the BLAS threads that run next on
a 2-core machine; ``NUMBA_THREADING_LAYER=workqueue`` avoids that (see
docs/performance.md).
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .lstm import LSTMCache, check_float, check_lstm_inputs, lstm_param_grads, neuron_mask

# Eigen's float tanh (generic_fast_tanh_float): tanh(x) ~ x P(x^2) / Q(x^2).
_CLAMP = np.float32(7.90531110763549805)
_A1, _A3 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04)
_A5, _A7 = np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08)
_A9, _A11 = np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
_HALF32 = np.float32(0.5)
_CHUNK = 256  # columns of the 4H axis per backward sweep: the block's rows of a chunk stay in L1


def _tanh(x):
    """Scalar tanh inside the kernels: float32 rational, float64 exact (see the overload).

    The Python bodies of ``_tanh`` and ``_sigmoid`` only name the functions;
    Numba compiles the implementation the overload below picks for the dtype.
    """
    return math.tanh(x)


def _sigmoid(x):
    """Scalar logistic inside the kernels: float32 0.5 + 0.5 tanh(x/2), float64 exact."""
    return 1.0 / (1.0 + math.exp(-x))


def _tanh_rational(x):
    x = min(max(x, -_CLAMP), _CLAMP)
    x2 = x * x
    p = x2 * _A13 + _A11
    p = x2 * p + _A9
    p = x2 * p + _A7
    p = x2 * p + _A5
    p = x2 * p + _A3
    p = x2 * p + _A1
    q = x2 * _B6 + _B4
    q = x2 * q + _B2
    q = x2 * q + _B0
    return x * p / q


def _sigmoid_rational(x):
    return _HALF32 + _HALF32 * _tanh(_HALF32 * x)


def _sigmoid_exact(x):
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@overload(_tanh, inline="always", jit_options={"fastmath": True, "error_model": "numpy"})
def _ol_tanh(x):
    if x == types.float32:
        return _tanh_rational
    return lambda x: math.tanh(x)


@overload(_sigmoid, inline="always", jit_options={"fastmath": True, "error_model": "numpy"})
def _ol_sigmoid(x):
    if x == types.float32:
        return _sigmoid_rational
    return _sigmoid_exact


@njit(cache=True, fastmath=True, error_model="numpy")
def _activation_kernel(x, tanh_out, sigmoid_out):
    """The kernels' scalar tanh and sigmoid over an array (for tests)."""
    for j in range(x.size):
        tanh_out[j] = _tanh(x[j])
        sigmoid_out[j] = _sigmoid(x[j])


def tanh_approx(x):
    """(tanh(x), sigmoid(x)) exactly as the kernels compute them, for a 1-D array."""
    x = np.ascontiguousarray(x)
    tanh_out, sigmoid_out = np.empty_like(x), np.empty_like(x)
    _activation_kernel(x, tanh_out, sigmoid_out)
    return tanh_out, sigmoid_out


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def _lstm_forward_kernel(mask, b, WhT, keep, block, gates, hs, cs, tanh_cs, out, h_state, c_state):
    """Time loop of :func:`lstm_numpy.model.lstm.lstm_forward`; must equal it.

    mask (N, T) in the float dtype, b (4H,), WhT (4H, H) = Wh.T contiguous, keep (N, H) (a mask per sentence),
    block: sentences per block.
    In/out: gates (N, T, 4H) holds x Wx on entry and the activated gates on exit;
    h_state, c_state (N, H) hold h0, c0 on entry and hT, cT on exit.
    Out: hs, cs, tanh_cs, out (N, T, H).
    """
    N, T, H4 = gates.shape
    H = H4 // 4
    zero = gates.dtype.type(0)
    one = gates.dtype.type(1)  # a bare 1 would promote float32 arithmetic to float64
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        n0 = blk * block
        n1 = min(n0 + block, N)
        for t in range(T):
            # gates[n, t] += h_{t-1}[n] @ Wh as dot products over k (WhT rows are
            # contiguous): a tile of 2 sentences x 4 gate columns is 8 running sums
            # that share every load of h and WhT
            for j in range(0, H4, 4):
                n = n0
                while n < n1:
                    n_b = min(n + 1, n1 - 1)  # the last sentence of an odd block pairs with itself
                    s_a0, s_a1, s_a2, s_a3 = zero, zero, zero, zero
                    s_b0, s_b1, s_b2, s_b3 = zero, zero, zero, zero
                    for k in range(H):
                        h_a, h_b = h_state[n, k], h_state[n_b, k]
                        w0, w1, w2, w3 = WhT[j, k], WhT[j + 1, k], WhT[j + 2, k], WhT[j + 3, k]
                        s_a0 += h_a * w0
                        s_a1 += h_a * w1
                        s_a2 += h_a * w2
                        s_a3 += h_a * w3
                        s_b0 += h_b * w0
                        s_b1 += h_b * w1
                        s_b2 += h_b * w2
                        s_b3 += h_b * w3
                    gates[n, t, j] += s_a0
                    gates[n, t, j + 1] += s_a1
                    gates[n, t, j + 2] += s_a2
                    gates[n, t, j + 3] += s_a3
                    if n_b != n:
                        gates[n_b, t, j] += s_b0
                        gates[n_b, t, j + 1] += s_b1
                        gates[n_b, t, j + 2] += s_b2
                        gates[n_b, t, j + 3] += s_b3
                    n += 2
            # gate nonlinearities, cell update, masking: one neuron j per iteration
            for n in range(n0, n1):
                m = mask[n, t]
                for j in range(H):
                    i = _sigmoid(gates[n, t, j] + b[j])
                    f = _sigmoid(gates[n, t, H + j] + b[H + j])
                    g = _tanh(gates[n, t, 2 * H + j] + b[2 * H + j])
                    o = _sigmoid(gates[n, t, 3 * H + j] + b[3 * H + j])
                    gates[n, t, j], gates[n, t, H + j] = i, f
                    gates[n, t, 2 * H + j], gates[n, t, 3 * H + j] = g, o
                    prev_c, prev_h = c_state[n, j], h_state[n, j]
                    new_c = f * prev_c + i * g
                    tanh_c = _tanh(new_c)
                    new_h = o * tanh_c * keep[n, j]
                    next_c = m * new_c + (one - m) * prev_c
                    next_h = m * new_h + (one - m) * prev_h
                    c_state[n, j], h_state[n, j] = next_c, next_h
                    cs[n, t, j], hs[n, t, j], tanh_cs[n, t, j] = next_c, next_h, tanh_c
                    out[n, t, j] = next_h * m


@njit(cache=True, fastmath=True, error_model="numpy", parallel=True)
def _lstm_backward_kernel(dout, mask, c0, Wh, keep, gates, cs, tanh_cs, block, da, dh_state, dc_state):
    """Time loop of :func:`lstm_numpy.model.lstm.lstm_backward` (everything before
    ``lstm_param_grads``); must equal it.

    dout (N, T, H), mask (N, T) in the float dtype, c0 (N, H), Wh (H, 4H), keep (N, H),
    gates (N, T, 4H), cs, tanh_cs (N, T, H) from the cache; block: sentences per block.
    Out: da (N, T, 4H).  In/out: dh_state, dc_state (N, H) hold dhT, dcT on entry
    and dh0, dc0 on exit.
    """
    N, T, H4 = gates.shape
    H = H4 // 4
    zero, one = gates.dtype.type(0), gates.dtype.type(1)
    n_blocks = (N + block - 1) // block
    for blk in prange(n_blocks):
        n0 = blk * block
        n1 = min(n0 + block, N)
        for t in range(T - 1, -1, -1):
            for n in range(n0, n1):
                m = mask[n, t]
                prev_c_row = cs[n, t - 1] if t > 0 else c0[n]
                for j in range(H):
                    dh = dh_state[n, j] + m * dout[n, t, j]
                    dc = dc_state[n, j]
                    i, f = gates[n, t, j], gates[n, t, H + j]
                    g, o = gates[n, t, 2 * H + j], gates[n, t, 3 * H + j]
                    tanh_c = tanh_cs[n, t, j]
                    dh_new = m * dh * keep[n, j]
                    do = dh_new * tanh_c
                    dc_new = m * dc + dh_new * o * (one - tanh_c * tanh_c)
                    da[n, t, j] = dc_new * g * i * (one - i)
                    da[n, t, H + j] = dc_new * prev_c_row[j] * f * (one - f)
                    da[n, t, 2 * H + j] = dc_new * i * (one - g * g)
                    da[n, t, 3 * H + j] = do * o * (one - o)
                    dc_state[n, j] = dc_new * f + (one - m) * dc
                    dh_state[n, j] = (one - m) * dh
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


def _block_size(N):
    """Sentences per block: the batch split evenly over Numba's threads."""
    threads = numba.get_num_threads()
    return max(1, -(-N // threads))



def lstm_forward_numba(x, mask, h0, c0, Wx, Wh, b, keep=None):
    """:func:`lstm_numpy.model.lstm.lstm_forward` with a Numba time loop.

    Same arguments (x (N, T, D), mask (N, T), h0, c0 (N, H), Wx (D, 4H),
    Wh (H, 4H), b (4H,), keep (H,), (N, H) or None), same results
    (out (N, T, H), (hT, cT) (N, H), LSTMCache), in the dtype of x
    (float32 or float64).
    """
    check_lstm_inputs(x, mask, h0, c0, Wx, Wh, b)
    check_float(x, "numba")
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = x.dtype
    keep = neuron_mask(keep, H, dtype, N)
    gates = np.empty((N, T, 4 * H), dtype=dtype)
    np.matmul(x.reshape(N * T, D), Wx, out=gates.reshape(N * T, 4 * H))
    hs = np.empty((N, T, H), dtype=dtype)
    cs = np.empty_like(hs)
    tanh_cs = np.empty_like(hs)
    out = np.empty_like(hs)
    hT = np.array(h0, dtype=dtype, order="C", copy=True)
    cT = np.array(c0, dtype=dtype, order="C", copy=True)
    _lstm_forward_kernel(np.ascontiguousarray(mask, dtype=dtype), np.ascontiguousarray(b),
                         np.ascontiguousarray(Wh.T), np.ascontiguousarray(np.broadcast_to(keep, (N, H))), _block_size(N),
                         gates, hs, cs, tanh_cs, out, hT, cT)
    cache = LSTMCache(x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep)
    return out, (hT, cT), cache


def lstm_backward_numba(dout, dhT, dcT, cache):
    """:func:`lstm_numpy.model.lstm.lstm_backward` with a Numba time loop.

    dout (N, T, H); dhT, dcT (N, H) or None for zero; cache from either
    backend's forward.  dout, dhT, dcT are cast to the cache's dtype (the
    reference would instead promote a float32 computation given float64 grads).  Returns dict dx (N, T, D), dh0, dc0 (N, H),
    dWx (D, 4H), dWh (H, 4H), db (4H,) in the cache's dtype.
    """
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
    _lstm_backward_kernel(c(dout, dtype=dtype), c(mask, dtype=dtype), c(c0), c(Wh), c(np.broadcast_to(keep, (N, H)), dtype=dtype),
                          c(gates), c(cs), c(tanh_cs), _block_size(N), da, dh0, dc0)
    return lstm_param_grads(da, dh0, dc0, cache)
