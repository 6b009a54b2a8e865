"""Scalar tanh and sigmoid for the Numba LSTM kernels, written so LLVM vectorizes them.

They must equal ``np.tanh`` and :func:`lstm_numpy.model.lstm.sigmoid`: float64
to about 1e-15, float32 to about 1e-7 (:func:`tanh_approx` computes them over
an array, for the tests).

Why not ``math.tanh`` / ``math.exp``: the llvmlite wheels have no SVML, so in
a Numba loop those are scalar libm calls, one element at a time, and a loop
that calls them is not vectorized.  Everything below is mul/add/div/min/max,
floor and a bit cast, which LLVM turns into AVX2/AVX-512 code.

* float32: a clamped rational tanh (Eigen's ``ptanh``: odd degree-13 over even
  degree-6 polynomial, max abs error about 3e-7).
* float64: ``tanh(x) = sign(x) E / (E + 2)`` with ``E = expm1(2|x|)``,
  computed as ``2^n (expm1(r) + 1) - 1``: ``r`` from a two-part ``ln2`` (Cody
  and Waite), ``expm1(r)`` a degree-13 polynomial, ``2^n`` built from its
  exponent bits.  No branch, one division; max relative error 4.4e-16.
* sigmoid, both dtypes: ``0.5 tanh(x/2) + 0.5``, so the four gates are one loop
  (see :func:`sigmoid`).  Absolute error as tanh's (float64: 2e-16; far in the
  negative tail, where sigmoid is below 1e-16, that is all of it).

The kernels compile with ``fastmath=True`` and these functions are inlined
into them, so they take the kernels' flags; the errors above are measured
with those flags (:func:`tanh_approx`, tests/test_lstm_numba.py), so a rewrite
LLVM may make under them (say, folding the two halves of ``ln2``) would show.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

# Eigen's float tanh (generic_fast_tanh_float): tanh(x) ~ x P(x^2) / Q(x^2).
_CLAMP = np.float32(7.90531110763549805)
_A1, _A3 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04)
_A5, _A7 = np.float32(1.48572235717979e-05), np.float32(5.12229709037114e-08)
_A9, _A11 = np.float32(-8.60467152213735e-11), np.float32(2.00018790482477e-13)
_A13 = np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)
_HALF32 = np.float32(0.5)

# float64 tanh(x) = sign(x) E / (E + 2) with E = expm1(2|x|) = 2^n (expm1(r) + 1) - 1, where
# 2|x| = n ln2 + r, |r| <= ln2/2, and ln2 = _LN2_HI + _LN2_LO with few bits in _LN2_HI, so
# n * _LN2_HI is exact (Cody and Waite); expm1(r) is its Taylor polynomial of degree 13
# (truncation error below 5e-18).  Multiply-adds, one division, no branch.
_LOG2E = 1.4426950408889634073599
_LN2_HI, _LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6
_F2, _F3, _F4, _F5, _F6, _F7, _F8, _F9, _F10, _F11, _F12, _F13 = (1.0 / math.factorial(k) for k in range(2, 14))
_SATURATE64 = 20.0  # tanh(20) rounds to 1.0 in float64; clamping keeps 2^n finite


@intrinsic
def _bits_as_float64(typingctx, bits):
    """The float64 whose IEEE bits are the int64 ``bits`` (an LLVM bitcast, vectorizable)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


def _tanh64(x):
    y = 2.0 * min(abs(x), _SATURATE64)
    n = math.floor(y * _LOG2E + 0.5)
    r = y - n * _LN2_HI
    r = r - n * _LN2_LO
    q = _F13 * r + _F12
    q = q * r + _F11
    q = q * r + _F10
    q = q * r + _F9
    q = q * r + _F8
    q = q * r + _F7
    q = q * r + _F6
    q = q * r + _F5
    q = q * r + _F4
    q = q * r + _F3
    q = q * r + _F2
    q = q * r + 1.0
    q = q * r  # expm1(r)
    two_n = _bits_as_float64((np.int64(n) + 1023) << 52)  # 2^n: n + 1023 is its exponent field
    e = two_n * q + (two_n - 1.0)  # expm1(y), no cancellation: two_n - 1 is exact
    return math.copysign(e / (e + 2.0), x)


def _tanh32(x):
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


def _sigmoid32(x):
    return _HALF32 * tanh(_HALF32 * x) + _HALF32


def _sigmoid64(x):
    return 0.5 * tanh(0.5 * x) + 0.5


def tanh(x):
    """Scalar tanh inside the kernels (float32 or float64, see the module doc).

    The Python bodies of :func:`tanh` and :func:`sigmoid` are only for reading;
    Numba compiles the implementation the overload below picks for the dtype.
    """
    return math.tanh(x)


def sigmoid(x):
    """Scalar logistic function, ``0.5 tanh(x/2) + 0.5`` in both dtypes (float32 or float64).

    The kernels compute all four gates in one loop as ``s tanh(s x) + (1 - s)``
    (:func:`lstm_numpy.model.lstm_cells_numba._forward_cells`) with ``s`` = 0.5 for
    i, f, o and 1 for g, which is this for ``s = 0.5``.
    """
    return 1.0 / (1.0 + math.exp(-x))


@overload(tanh, inline="always")
def _ol_tanh(x):
    return _tanh32 if x == types.float32 else _tanh64


@overload(sigmoid, inline="always")
def _ol_sigmoid(x):
    return _sigmoid32 if x == types.float32 else _sigmoid64


@njit(cache=True, fastmath=True, error_model="numpy")
def _activation_kernel(x, tanh_out, sigmoid_out):
    """The kernels' scalar tanh and sigmoid over an array, with the kernels' flags."""
    for j in range(x.size):
        tanh_out[j] = tanh(x[j])
        sigmoid_out[j] = sigmoid(x[j])


def tanh_approx(x):
    """(tanh(x), sigmoid(x)) exactly as the kernels compute them.

    x: 1-D float32 or float64 array.  Returns two arrays of its shape and dtype.
    """
    x = np.ascontiguousarray(x)
    tanh_out, sigmoid_out = np.empty_like(x), np.empty_like(x)
    _activation_kernel(x, tanh_out, sigmoid_out)
    return tanh_out, sigmoid_out
