"""Optimizers and gradient clipping.

Backward computes gradients; only the optimizer changes weights.  An optimizer
holds its own state (momentum, Adam moments, step count) in dicts keyed like
the parameters, and ``step(params, grads)`` updates ``params`` in place.

Gradients may be dense arrays or :class:`~lstm_numpy.model.layers.SparseRows`
(embedding tables).  A sparse gradient updates only its rows.  For Adam this is
"lazy Adam": rows absent from the batch keep their moments and weights
untouched (they are *not* decayed as dense Adam would decay them), which is
the usual sparse Adam of TensorFlow's LazyAdam and PyTorch's SparseAdam.  It
changes the trajectory slightly but a dense update of a 20,000 x 100 table
would otherwise dominate the cost of each step.

Adam's update runs in one Numba loop per parameter (:func:`adam_update_numba`) for
every backend.  It does the same IEEE operations in the same order as the NumPy
function it must equal (:func:`adam_update`, the one to read), so the two give the
same bits (tested); the NumPy version made about 10 array operations per
parameter and took 11-13% of a bilstm training epoch (benchmarks/bench_train.py,
docs/performance.md).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..defaults import DEFAULT_LR
from ..model.layers import SparseRows


def global_norm(grads):
    """sqrt of the sum of squares of every gradient (sparse rows counted once)."""
    total = 0.0
    for g in grads.values():
        values = g.values if isinstance(g, SparseRows) else g
        total += float(np.sum(np.square(values, dtype=np.float64)))
    return float(np.sqrt(total))


def clip_by_global_norm(grads, max_norm):
    """Scale all gradients by max_norm / norm when the global norm exceeds max_norm.

    Returns (clipped grads, norm before clipping).  Input arrays are not changed.
    """
    norm = global_norm(grads)
    if max_norm is None or max_norm <= 0 or norm <= max_norm:
        return grads, norm
    scale = max_norm / (norm + 1e-12)
    clipped = {}
    for name, g in grads.items():
        if isinstance(g, SparseRows):
            clipped[name] = SparseRows(g.rows, g.values * g.values.dtype.type(scale))
        else:
            clipped[name] = g * g.dtype.type(scale)
    return clipped, norm


class SGD:
    """v <- momentum * v + g;  w <- w - lr * v   (momentum=0: plain SGD)."""

    def __init__(self, lr=0.1, momentum=0.0):
        self.lr, self.momentum = lr, momentum
        self.velocity = {}

    def step(self, params, grads):
        for name, g in grads.items():
            w = params[name]
            if name not in self.velocity:
                self.velocity[name] = np.zeros_like(w)
            v = self.velocity[name]
            if isinstance(g, SparseRows):
                v[g.rows] = self.momentum * v[g.rows] + g.values
                w[g.rows] -= self.lr * v[g.rows]
            else:
                v *= self.momentum
                v += g
                w -= self.lr * v

    def state_dict(self):
        """(JSON-ready settings, {"velocity:<param>": array}) for resumable checkpoints."""
        return {"type": "sgd", "lr": self.lr, "momentum": self.momentum, "t": 0}, \
            {f"velocity:{k}": v for k, v in self.velocity.items()}

    def load_state(self, arrays, t=0):
        self.velocity = {k.split(":", 1)[1]: v.copy() for k, v in arrays.items() if k.startswith("velocity:")}


def adam_update(w, m, v, g, rows, lr, beta1, beta2, correct1, correct2, eps):
    """One Adam step of a parameter, in place: the NumPy reference of :func:`adam_update_numba`.

    w, m, v: the parameter and its moments (same shape); rows: ``slice(None)`` for a
    dense gradient g (w's shape), or the unique row indices (R,) of a sparse one, g (R, D);
    correct1, correct2: the bias corrections ``1 - beta^t``.
    """
    m[rows] = beta1 * m[rows] + (1 - beta1) * g
    v[rows] = beta2 * v[rows] + (1 - beta2) * g * g
    m_hat, v_hat = m[rows] / correct1, v[rows] / correct2
    w[rows] -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(w.dtype)


@njit(cache=True, error_model="numpy")
def _adam_update_kernel(w, m, v, g, rows, lr, beta1, one_minus_beta1, beta2, one_minus_beta2, correct1, correct2,
                        eps):
    """:func:`adam_update` over rows of 2-D w, m, v (V, D) with g (R, D); scalars in w's dtype.

    No fastmath, so the operations and their rounding stay those of adam_update;
    ``error_model="numpy"`` (a division by zero gives inf, as in NumPy) and unsigned
    indices over row views let LLVM vectorize the inner loop.
    """
    D = np.uint64(w.shape[1])
    for r in range(rows.size):
        row = rows[r]
        w_row, m_row, v_row, g_row = w[row], m[row], v[row], g[r]
        for j in range(D):
            gj = g_row[j]
            mj = beta1 * m_row[j] + one_minus_beta1 * gj
            vj = beta2 * v_row[j] + one_minus_beta2 * gj * gj
            m_row[j] = mj
            v_row[j] = vj
            w_row[j] -= lr * (mj / correct1) / (np.sqrt(vj / correct2) + eps)


def adam_update_numba(w, m, v, g, rows, lr, beta1, beta2, correct1, correct2, eps):
    """:func:`adam_update` (same arguments, same bits) in one Numba loop.

    The scalars are cast to w's dtype first, as NumPy does with Python floats.  Where
    the kernel cannot run on w, m and v themselves, :func:`adam_update` runs instead
    (and raises what NumPy raises): dtypes other than one float dtype shared by all
    four arrays, arrays that are not C-contiguous, shapes that do not match, row
    indices outside w.
    """
    dtype = w.dtype
    dense = isinstance(rows, slice)
    if dense:
        fits = g.shape == w.shape
        index = np.zeros(1, np.int64)
    else:
        index = np.asarray(rows, dtype=np.int64)
        fits = (w.ndim == 2 and index.ndim == 1 and g.shape == (index.size, w.shape[1])
                and (index.size == 0 or (index.min() >= 0 and index.max() < w.shape[0])))
    if not (fits and dtype in (np.float32, np.float64) and m.dtype == v.dtype == g.dtype == dtype
            and m.shape == v.shape == w.shape and w.flags.c_contiguous and m.flags.c_contiguous
            and v.flags.c_contiguous):
        adam_update(w, m, v, g, rows, lr, beta1, beta2, correct1, correct2, eps)
        return
    g = np.ascontiguousarray(g)
    if dense:  # one row holding every element
        w, m, v, g = w.reshape(1, -1), m.reshape(1, -1), v.reshape(1, -1), g.reshape(1, -1)
    t = dtype.type
    _adam_update_kernel(w, m, v, g, index, t(lr), t(beta1), t(1 - beta1), t(beta2), t(1 - beta2), t(correct1),
                        t(correct2), t(eps))


class Adam:
    """Adam with bias correction (Kingma & Ba, 2015)::

        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
        w <- w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)

    ``t`` counts optimizer steps.  Sparse gradients update only their rows
    (lazy Adam, see the module docstring); their bias correction uses the
    global step ``t``.
    """

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m, self.v = {}, {}

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        correct1, correct2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for name, g in grads.items():
            w = params[name]
            if name not in self.m:
                self.m[name], self.v[name] = np.zeros_like(w), np.zeros_like(w)
            rows, g = (g.rows, g.values) if isinstance(g, SparseRows) else (slice(None), g)
            adam_update_numba(w, self.m[name], self.v[name], g, rows, self.lr, b1, b2, correct1, correct2, self.eps)

    def state_dict(self):
        meta = {"type": "adam", "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2,
                "eps": self.eps, "t": self.t}
        arrays = {f"m:{k}": a for k, a in self.m.items()}
        arrays.update({f"v:{k}": a for k, a in self.v.items()})
        return meta, arrays

    def load_state(self, arrays, t):
        self.t = int(t)
        self.m = {k[2:]: a.copy() for k, a in arrays.items() if k.startswith("m:")}
        self.v = {k[2:]: a.copy() for k, a in arrays.items() if k.startswith("v:")}




def make_optimizer(name, lr=None, momentum=0.9):
    """'adam' or 'sgd' (momentum 0.9) at ``lr``, or at DEFAULT_LR[name] when lr is None."""
    if name not in DEFAULT_LR:
        raise ValueError(f"unknown optimizer {name!r}; choose adam or sgd")
    lr = DEFAULT_LR[name] if lr is None else lr
    return Adam(lr=lr) if name == "adam" else SGD(lr=lr, momentum=momentum)
