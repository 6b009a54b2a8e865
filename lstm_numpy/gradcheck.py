"""Central finite differences: the judge of every hand-derived backward pass.

``numerical_gradient(f, x)`` perturbs each entry of ``x`` in place and returns
the five-point central difference

    (-f(x + 2e) + 8 f(x + e) - 8 f(x - e) + f(x - 2e)) / (12 e)

whose truncation error is O(e^4) instead of the O(e^2) of the two-point rule,
so a moderate ``e`` keeps both truncation and rounding near 1e-12 and
gradients as small as 1e-5 can still be checked to a relative 1e-6.
``f`` must return a scalar.
``compare`` reports the worst relative error, where it is and both values.
Use float64: in float32 the rounding error of ``f`` swamps the difference.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class GradCheck(NamedTuple):
    """Outcome of comparing an analytic gradient with a numerical one."""

    max_rel_error: float
    mean_rel_error: float
    worst_index: tuple
    analytic: float
    numerical: float

    def __str__(self):
        return (f"max rel error {self.max_rel_error:.2e} (mean {self.mean_rel_error:.2e}) "
                f"at {self.worst_index}: analytic {self.analytic:.10g} vs numerical {self.numerical:.10g}")


def numerical_gradient(f, x, eps=1e-3):
    """dF/dx by five-point central differences. f: () -> float reading x; x is restored."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        idx = it.multi_index
        old = x[idx].copy()
        values = []
        for step in (2 * eps, eps, -eps, -2 * eps):
            x[idx] = old + step
            values.append(f())
        x[idx] = old
        grad[idx] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * eps)
    return grad


def relative_error(analytic, numerical, floor=1e-6):
    """|a - n| / max(|a| + |n|, floor * max(1, scale)), elementwise.

    The floor keeps entries where both are ~0 from dividing rounding noise by
    noise.  Rounding noise grows with the size of the numbers involved, so the
    floor grows with ``scale``, the largest |entry| of either gradient: an
    entry a million times smaller than the largest is judged against 1e-6 of
    that scale, not against its own size.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numerical = np.asarray(numerical, dtype=np.float64)
    scale = max(float(np.max(np.abs(analytic), initial=0.0)), float(np.max(np.abs(numerical), initial=0.0)))
    return np.abs(analytic - numerical) / np.maximum(np.abs(analytic) + np.abs(numerical), floor * max(1.0, scale))


def compare(analytic, numerical, floor=1e-6):
    """Summarise the relative error between two gradients of the same shape."""
    if np.shape(analytic) != np.shape(numerical):
        raise ValueError(f"shape mismatch: analytic {np.shape(analytic)} vs numerical {np.shape(numerical)}")
    err = relative_error(analytic, numerical, floor)
    if err.size == 0:
        return GradCheck(0.0, 0.0, (), 0.0, 0.0)
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    return GradCheck(float(err[worst]), float(err.mean()), tuple(int(i) for i in worst),
                     float(np.asarray(analytic)[worst]), float(np.asarray(numerical)[worst]))


def check_gradient(f, x, analytic, eps=1e-3, floor=1e-6):
    """numerical_gradient + compare in one call."""
    return compare(analytic, numerical_gradient(f, x, eps), floor)
