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
"""
from __future__ import annotations

import numpy as np

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
            m, v = self.m[name], self.v[name]
            if isinstance(g, SparseRows):
                rows, g = g.rows, g.values
            else:
                rows = slice(None)
            m[rows] = b1 * m[rows] + (1 - b1) * g
            v[rows] = b2 * v[rows] + (1 - b2) * g * g
            m_hat, v_hat = m[rows] / correct1, v[rows] / correct2
            w[rows] -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(w.dtype)

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
    """'adam' (default lr 1e-3) or 'sgd' (default lr 0.1, momentum 0.9)."""
    if name == "adam":
        return Adam(lr=1e-3 if lr is None else lr)
    if name == "sgd":
        return SGD(lr=0.1 if lr is None else lr, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose adam or sgd")
