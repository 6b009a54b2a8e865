"""The LSTM layer as numba.cuda kernels: same arguments and results as :mod:`.lstm`.

Dimension legend and gate order are those of :mod:`lstm_numpy.model.lstm`
(N batch, T time, D input, H hidden; gates ``i, f, g, o`` along the 4H axis).
Arrays go in and come out as NumPy arrays, and the cache is the same
:class:`~lstm_numpy.model.lstm.LSTMCache` of host arrays, so a cache made by
any backend can be fed to any backend's backward.

What runs where
---------------
Each call copies its inputs to the GPU once (``cuda.to_device``), keeps every
intermediate there across the time loop, and copies the results back at the
end.  Four kernels, compiled once per dtype (float32, float64) on first use::

    forward
      gates  = x Wx + b            over all N*T tokens   _matmul      (N*T, 4H)
      for t = 0 .. T-1:
        gates[:, t] += h_{t-1} Wh                         _matmul      (N, 4H)
        i, f, g, o, c_t, h_t, out_t                       _forward_step  one thread per (n, j)
    backward
      for t = T-1 .. 0:
        da[:, t], dc_{t-1}, (1 - m) dh                    _backward_step one thread per (n, j)
        dh_{t-1} += da[:, t] Wh^T                         _matmul      (N, H)
      h_prev = [h0, h_1 .. h_{T-1}]                       _previous_states
      dx = da Wx^T, dWx = x^T da, dWh = h_prev^T da, db = 1^T da   _matmul

``_matmul`` is the textbook tiled shared-memory product: a block of
TILE x TILE threads computes a TILE x TILE tile of ``C``, stepping along the
inner dimension one tile at a time; each step the block loads one tile of
``A`` and one of ``B`` into shared memory (one element per thread), waits
(``syncthreads``), and every thread adds TILE products from shared memory.
Flags transpose either operand, accumulate into ``C`` and add a bias row, so
the one kernel serves all the products above.  It is written to be read, not
to rival cuBLAS (no register tiling, transposed operands are loaded
uncoalesced).

Importing this module never needs a GPU, nor imports ``numba.cuda``: that happens
on first use (:func:`import_cuda`, guarded in case numba's cuda module is missing
or broken; it imports without a GPU).  The kernels are compiled on first use.
Without a usable GPU, :func:`require_cuda` (called first by both public
functions) raises :class:`CudaUnavailableError` saying why.  With
``NUMBA_ENABLE_CUDASIM=1`` set before ``numba.cuda`` is first imported, the
kernels run in Numba's CUDA simulator (Python threads on the CPU: correct but
very slow, for tests only).  ``cuda`` must stay a module global: the simulator
runs a kernel by swapping the kernel's global ``cuda`` for a fake module.
"""
from __future__ import annotations

import functools
import math
import os

import numpy as np

from ..errors import LSTMNumpyError
from .lstm import LSTMCache, check_float, check_lstm_inputs, neuron_mask


def _one_line(text):
    return " ".join(str(text).split())


cuda = None                 # numba.cuda once import_cuda() has run (the kernels read this global)
_CUDA_IMPORT_ERROR = None   # why numba.cuda could not be imported, if it could not


def import_cuda():
    """numba.cuda, imported on the first call (or None, with the reason kept for cuda_status):
    every run imports this module, but only the cuda backend needs numba.cuda, whose import
    costs a few tenths of a second and decides once whether NUMBA_ENABLE_CUDASIM is on."""
    global cuda, _CUDA_IMPORT_ERROR
    if cuda is None and _CUDA_IMPORT_ERROR is None:
        try:  # works without a GPU; guarded in case numba's cuda module is missing or broken
            from numba import cuda as module
            cuda = module
        except Exception as error:  # any failure here means "no cuda backend", said by cuda_status
            _CUDA_IMPORT_ERROR = _one_line(error)
    return cuda

TILE = 16
"""Side of the square tiles of :func:`_matmul` (TILE x TILE threads per block)."""
_STEP_BLOCK = (32, 8)  # at most (neurons, sentences) per block of the step kernels


class CudaUnavailableError(LSTMNumpyError, RuntimeError):
    """The cuda backend was asked for where no GPU (and no simulator) can run it."""


def cuda_status():
    """Whether the cuda kernels can run here, and why (or why not).

    Returns (available: bool, reason: str).  The simulator is on when
    NUMBA_ENABLE_CUDASIM=1 was set before numba.cuda was first imported.
    """
    if import_cuda() is None:
        return False, (f"numba.cuda cannot be imported ({_CUDA_IMPORT_ERROR}); "
                       "pip install numba-cuda (or lstm_numpy[cuda])")
    if "simulator" in cuda.is_available.__module__:
        return True, ("Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1): kernels run as Python "
                      "threads on the CPU, correct but very slow")
    if cuda.is_available():
        try:
            device = cuda.list_devices()[0]
            name = device.name.decode() if isinstance(device.name, bytes) else device.name
            return True, f"GPU {name} (compute capability {device.compute_capability})"
        except Exception as error:  # is_available said yes; report what we could not read
            return True, f"GPU available (details unreadable: {_one_line(error)})"
    try:
        count = len(cuda.gpus)  # raises CudaSupportError naming the driver problem
        reason = "the driver found no CUDA device" if count == 0 else "numba.cuda reports no usable device"
    except Exception as error:
        reason = _one_line(error).rstrip(" :")
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        reason += ("; NUMBA_ENABLE_CUDASIM=1 is set but numba.cuda was imported before it was, "
                   "so the simulator is off: set it before starting Python")
    return False, reason


def require_cuda():
    """Raise :class:`CudaUnavailableError` unless :func:`cuda_status` says available."""
    if import_cuda() is not None and cuda.is_available():  # the cheap check, done on every call
        return
    available, reason = cuda_status()
    if not available:
        raise CudaUnavailableError(
            "the cuda backend needs an NVIDIA GPU and driver; numba.cuda.is_available() is False "
            f"(reason: {reason}). Use --backend numba (or numpy), or set NUMBA_ENABLE_CUDASIM=1 "
            "before starting Python to run the kernels in Numba's CUDA simulator (slow, for tests).")


@functools.lru_cache(maxsize=None)
def _kernels(dtype):
    """The four kernels for one float dtype: dict name -> (kernel, signature).

    Built (and cached) on first use, so importing this module compiles
    nothing.  Constants are of the array dtype: a bare 1.0 would
    turn float32 arithmetic into float64, which is slow on most GPUs.
    """
    import numba
    from numba import types

    import_cuda()
    dtype = np.dtype(dtype)
    nb_dtype = numba.from_dtype(dtype)
    zero, one = dtype.type(0), dtype.type(1)

    @cuda.jit
    def _matmul(A, B, C, bias, transpose_a, transpose_b, accumulate, add_bias):
        """C = op(A) op(B) [+ C if accumulate] [+ bias[None, :] if add_bias].

        op(A) (M, K) is A, or A.T if transpose_a; op(B) (K, P) likewise;
        C (M, P); bias (P,) (ignored unless add_bias).  Launch with blocks of
        (TILE, TILE) threads and a grid of (ceil(P/TILE), ceil(M/TILE)) blocks.
        """
        tile_a = cuda.shared.array((TILE, TILE), nb_dtype)
        tile_b = cuda.shared.array((TILE, TILE), nb_dtype)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        row = cuda.blockIdx.y * TILE + ty   # of C; threadIdx.x runs along a row so writes coalesce
        col = cuda.blockIdx.x * TILE + tx
        M, P = C.shape
        K = A.shape[0] if transpose_a else A.shape[1]
        total = zero
        for k0 in range(0, K, TILE):
            # every thread loads one element of each tile, zero outside the matrices,
            # so edge tiles need no special case in the product loop below
            k = k0 + tx
            if row < M and k < K:
                tile_a[ty, tx] = A[k, row] if transpose_a else A[row, k]
            else:
                tile_a[ty, tx] = zero
            k = k0 + ty
            if k < K and col < P:
                tile_b[ty, tx] = B[col, k] if transpose_b else B[k, col]
            else:
                tile_b[ty, tx] = zero
            cuda.syncthreads()  # the tiles are complete
            for kk in range(TILE):
                total += tile_a[ty, kk] * tile_b[kk, tx]
            cuda.syncthreads()  # everyone is done with them before the next load
        if row < M and col < P:
            if accumulate:
                total += C[row, col]
            if add_bias:
                total += bias[col]
            C[row, col] = total

    @cuda.jit
    def _forward_step(t, gates, mask, keep, h_state, c_state, hs, cs, tanh_cs, out):
        """Step t of :func:`lstm_numpy.model.lstm.lstm_forward` after the matrix products.

        gates (N, T, 4H) holds the pre-activations of step t on entry and the
        activated i, f, g, o on exit; mask (N, T) in the float dtype; keep (N, H), a
        neuron mask per sentence;
        h_state, c_state (N, H) hold h_{t-1}, c_{t-1} on entry and h_t, c_t on
        exit.  Out: hs, cs, tanh_cs, out (N, T, H) at step t.  One thread per (n, j).
        """
        j, n = cuda.grid(2)
        N, T, H4 = gates.shape
        H = H4 // 4
        if n >= N or j >= H:
            return
        m = mask[n, t]
        # sigmoid written out: where exp(-a) overflows to inf the result is the
        # right limit 0, so the two-branch form of the reference is not needed
        # (and a helper device function would need a GPU to compile_ptx, see
        # compile_kernels_ptx)
        i = one / (one + math.exp(-gates[n, t, j]))
        f = one / (one + math.exp(-gates[n, t, H + j]))
        g = math.tanh(gates[n, t, 2 * H + j])
        o = one / (one + math.exp(-gates[n, t, 3 * H + j]))
        gates[n, t, j], gates[n, t, H + j] = i, f
        gates[n, t, 2 * H + j], gates[n, t, 3 * H + j] = g, o
        prev_c, prev_h = c_state[n, j], h_state[n, j]
        new_c = f * prev_c + i * g
        tanh_c = math.tanh(new_c)
        new_h = o * tanh_c * keep[n, j]
        next_c = m * new_c + (one - m) * prev_c
        next_h = m * new_h + (one - m) * prev_h
        c_state[n, j], h_state[n, j] = next_c, next_h
        cs[n, t, j], hs[n, t, j], tanh_cs[n, t, j] = next_c, next_h, tanh_c
        out[n, t, j] = next_h * m

    @cuda.jit
    def _backward_step(t, dout, mask, keep, c0, gates, cs, tanh_cs, da, dh_state, dc_state):
        """Step t of :func:`lstm_numpy.model.lstm.lstm_backward` before ``da Wh^T``.

        dout (N, T, H), mask (N, T) in the float dtype, keep (N, H), c0 (N, H),
        gates (N, T, 4H), cs, tanh_cs (N, T, H) from the cache.  Out: da[:, t]
        (N, 4H).  In/out: dh_state, dc_state (N, H) hold dh_t, dc_t on entry and
        on exit dc_{t-1} and the pass-through part (1 - m) dh of dh_{t-1}, to
        which ``_matmul`` then adds da[:, t] Wh^T.  One thread per (n, j).
        """
        j, n = cuda.grid(2)
        N, T, H4 = gates.shape
        H = H4 // 4
        if n >= N or j >= H:
            return
        m = mask[n, t]
        prev_c = cs[n, t - 1, j] if t > 0 else c0[n, j]
        dh = dh_state[n, j] + m * dout[n, t, j]
        dc = dc_state[n, j]
        i, f = gates[n, t, j], gates[n, t, H + j]
        g, o = gates[n, t, 2 * H + j], gates[n, t, 3 * H + j]
        tanh_c = tanh_cs[n, t, j]
        dh_new = m * dh * keep[n, j]
        do = dh_new * tanh_c
        dc_new = m * dc + dh_new * o * (one - tanh_c * tanh_c)
        da[n, t, j] = dc_new * g * i * (one - i)
        da[n, t, H + j] = dc_new * prev_c * f * (one - f)
        da[n, t, 2 * H + j] = dc_new * i * (one - g * g)
        da[n, t, 3 * H + j] = do * o * (one - o)
        dc_state[n, j] = dc_new * f + (one - m) * dc
        dh_state[n, j] = (one - m) * dh

    @cuda.jit
    def _previous_states(h0, hs, h_prev):
        """h_prev[:, 0] = h0, h_prev[:, t] = hs[:, t-1]: the h_{t-1} of every token.

        h0 (N, H), hs, h_prev (N, T, H).  One thread per (n, t, j) as x=j, y=n*T+t.
        """
        j, row = cuda.grid(2)
        N, T, H = hs.shape
        if row >= N * T or j >= H:
            return
        n, t = row // T, row % T
        h_prev[n, t, j] = hs[n, t - 1, j] if t > 0 else h0[n, j]

    a1, a2, a3 = (types.Array(nb_dtype, ndim, "A") for ndim in (1, 2, 3))
    flag, step = types.boolean, types.int64
    return {
        "_matmul": (_matmul, types.void(a2, a2, a2, a1, flag, flag, flag, flag)),
        "_forward_step": (_forward_step, types.void(step, a3, a2, a2, a2, a2, a3, a3, a3, a3)),
        "_backward_step": (_backward_step, types.void(step, a3, a2, a2, a2, a3, a3, a3, a3, a2, a2)),
        "_previous_states": (_previous_states, types.void(a2, a3, a3)),
    }


def compile_kernels_ptx(cc=(8, 0), dtype=np.float32):
    """PTX text of every kernel for compute capability ``cc``: dict name -> str.

    Needs only NVIDIA's NVVM compiler library (from a CUDA toolkit or the
    ``numba-cuda[cu12]`` wheels), not a GPU; not available in the simulator.
    The kernels call no device functions on purpose: compiling one asks the
    driver for the current GPU, which fails where there is none.
    """
    return {name: cuda.compile_ptx(kernel.py_func, signature, cc=cc)[0]
            for name, (kernel, signature) in _kernels(np.dtype(dtype)).items()}


def _blocks(count, per_block):
    return (count + per_block - 1) // per_block


def matmul_cuda(A, B, out=None, *, accumulate=False, bias=None, transpose_a=False, transpose_b=False):
    """op(A) @ op(B) [+ out if accumulate] [+ bias] by :func:`_matmul`; returns out.

    op(A) (M, K) is A or A.T, op(B) (K, P) is B or B.T; out (M, P) (made when
    None); bias (P,) or None.  All numba device arrays of one float dtype
    (views with any strides are fine), or all NumPy arrays: then they are
    copied to the device and the result copied back.
    """
    import_cuda()
    on_host = isinstance(A, np.ndarray)
    if on_host:
        A, B = cuda.to_device(np.ascontiguousarray(A)), cuda.to_device(np.ascontiguousarray(B))
        out = None if out is None else cuda.to_device(np.ascontiguousarray(out))
        bias = None if bias is None else cuda.to_device(np.ascontiguousarray(bias))
    M, K = (A.shape[1], A.shape[0]) if transpose_a else A.shape
    K_b, P = (B.shape[1], B.shape[0]) if transpose_b else B.shape
    if K != K_b:
        raise ValueError(f"inner dimensions differ: op(A) is {(M, K)}, op(B) is {(K_b, P)}")
    if out is None:
        if accumulate:
            raise ValueError("accumulate=True needs out")
        out = cuda.device_array((M, P), dtype=A.dtype)
    if out.shape != (M, P):
        raise ValueError(f"out must have shape {(M, P)}, got {out.shape}")
    add_bias = bias is not None
    if bias is None:
        bias = out[0]  # never read: add_bias is False
    kernel = _kernels(np.dtype(A.dtype))["_matmul"][0]
    kernel[(_blocks(P, TILE), _blocks(M, TILE)), (TILE, TILE)](
        A, B, out, bias, transpose_a, transpose_b, accumulate, add_bias)
    return out.copy_to_host() if on_host else out


def _step_launch(N, H):
    """(grid, block) for the one-thread-per-(n, j) step kernels."""
    block = (min(H, _STEP_BLOCK[0]), min(N, _STEP_BLOCK[1]))
    return (_blocks(H, block[0]), _blocks(N, block[1])), block



def lstm_forward_cuda(x, mask, h0, c0, Wx, Wh, b, keep=None):
    """:func:`lstm_numpy.model.lstm.lstm_forward` on the GPU.

    Same arguments (x (N, T, D), mask (N, T), h0, c0 (N, H), Wx (D, 4H),
    Wh (H, 4H), b (4H,), keep (H,), (N, H) or None), same results
    (out (N, T, H), (hT, cT) (N, H), LSTMCache), as NumPy arrays in the dtype
    of x (float32 or float64).  Raises CudaUnavailableError without a GPU.
    """
    require_cuda()
    check_lstm_inputs(x, mask, h0, c0, Wx, Wh, b)
    check_float(x, "cuda")
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = x.dtype
    keep = neuron_mask(keep, H, dtype, N)
    forward_step = _kernels(dtype)["_forward_step"][0]

    def device(array):
        return cuda.to_device(np.ascontiguousarray(array, dtype=dtype))

    d_x, d_Wx, d_Wh, d_b = device(x), device(Wx), device(Wh), device(b)
    d_mask, d_keep = device(mask), device(np.broadcast_to(keep, (N, H)))   # a mask per sentence
    d_h, d_c = device(h0), device(c0)                 # (N, H): h_{t-1}, c_{t-1}, then hT, cT
    d_gates = cuda.device_array((N, T, 4 * H), dtype)
    d_hs, d_cs, d_tanh_cs, d_out = (cuda.device_array((N, T, H), dtype) for _ in range(4))

    # gates = x Wx + b over all N*T tokens at once
    matmul_cuda(d_x.reshape(N * T, D), d_Wx, out=d_gates.reshape(N * T, 4 * H), bias=d_b)
    step_grid = _step_launch(N, H)
    for t in range(T):
        # gates[:, t] += h_{t-1} Wh, into a strided (N, 4H) view
        matmul_cuda(d_h, d_Wh, out=d_gates[:, t, :], accumulate=True)
        forward_step[step_grid](t, d_gates, d_mask, d_keep, d_h, d_c, d_hs, d_cs, d_tanh_cs, d_out)

    gates, hs, cs = d_gates.copy_to_host(), d_hs.copy_to_host(), d_cs.copy_to_host()
    tanh_cs, out = d_tanh_cs.copy_to_host(), d_out.copy_to_host()
    cache = LSTMCache(x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep)
    return out, (d_h.copy_to_host(), d_c.copy_to_host()), cache


def lstm_backward_cuda(dout, dhT, dcT, cache):
    """:func:`lstm_numpy.model.lstm.lstm_backward` on the GPU.

    dout (N, T, H); dhT, dcT (N, H) or None for zero; cache from any
    backend's forward.  Returns dict dx (N, T, D), dh0, dc0 (N, H),
    dWx (D, 4H), dWh (H, 4H), db (4H,) as NumPy arrays in the cache's dtype.
    """
    require_cuda()
    x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep = cache
    check_float(x, "cuda")
    N, T, D = x.shape
    H = Wh.shape[0]
    dtype = x.dtype
    kernels = _kernels(dtype)
    backward_step, previous_states = kernels["_backward_step"][0], kernels["_previous_states"][0]

    def device(array):
        return cuda.to_device(np.ascontiguousarray(array, dtype=dtype))

    d_dout, d_mask, d_keep, d_c0 = device(dout), device(mask), device(np.broadcast_to(keep, (N, H))), device(c0)
    d_gates, d_cs, d_tanh_cs, d_Wh = device(gates), device(cs), device(tanh_cs), device(Wh)
    d_dh = cuda.to_device(np.zeros((N, H), dtype)) if dhT is None else device(dhT)
    d_dc = cuda.to_device(np.zeros((N, H), dtype)) if dcT is None else device(dcT)
    d_da = cuda.device_array((N, T, 4 * H), dtype)

    step_grid = _step_launch(N, H)
    for t in range(T - 1, -1, -1):
        backward_step[step_grid](t, d_dout, d_mask, d_keep, d_c0, d_gates, d_cs, d_tanh_cs,
                                 d_da, d_dh, d_dc)
        # dh_{t-1} = (1 - m) dh (left there by backward_step) + da[:, t] Wh^T
        matmul_cuda(d_da[:, t, :], d_Wh, out=d_dh, accumulate=True, transpose_b=True)

    # the non-recurrent part (lstm_param_grads), as products over all N*T tokens
    d_x, d_Wx, d_hs, d_h0 = device(x), device(Wx), device(hs), device(h0)
    d_h_prev = cuda.device_array((N, T, H), dtype)
    previous_states[_step_launch(N * T, H)](d_h0, d_hs, d_h_prev)
    d_da2 = d_da.reshape(N * T, 4 * H)
    d_ones = cuda.to_device(np.ones((N * T, 1), dtype))
    grads = {
        "dx": matmul_cuda(d_da2, d_Wx, transpose_b=True).copy_to_host().reshape(N, T, D),
        "dh0": d_dh.copy_to_host(),
        "dc0": d_dc.copy_to_host(),
        "dWx": matmul_cuda(d_x.reshape(N * T, D), d_da2, transpose_a=True).copy_to_host(),
        "dWh": matmul_cuda(d_h_prev.reshape(N * T, H), d_da2, transpose_a=True).copy_to_host(),
        "db": matmul_cuda(d_ones, d_da2, transpose_a=True).copy_to_host().reshape(4 * H),
    }
    return grads
