"""Hypothesis strategies shared by the gradient and parity tests."""
import numpy as np
from hypothesis import strategies as st


@st.composite
def lstm_problems(draw, max_n=4, max_t=6, max_d=5, max_h=5):
    """A random LSTM problem: shapes, padded mask, non-zero biases and states, upstream grads.

    Returns a dict of float64 arrays; every sentence has at least one real token.
    """
    N = draw(st.integers(1, max_n))
    T = draw(st.integers(1, max_t))
    D = draw(st.integers(1, max_d))
    H = draw(st.integers(1, max_h))
    seed = draw(st.integers(0, 2**32 - 1))
    left_aligned = draw(st.booleans())
    rng = np.random.default_rng(seed)
    if left_aligned:
        lengths = rng.integers(1, T + 1, size=N)
        mask = np.arange(T)[None, :] < lengths[:, None]
    else:
        mask = rng.random((N, T)) < 0.6
        mask[np.arange(N), rng.integers(0, T, size=N)] = True
    scale = 1.0 / np.sqrt(H)
    return {
        "x": rng.normal(size=(N, T, D)),
        "mask": mask,
        "h0": rng.normal(size=(N, H)),
        "c0": rng.normal(size=(N, H)),
        "Wx": rng.uniform(-scale, scale, size=(D, 4 * H)) * 2,
        "Wh": rng.uniform(-scale, scale, size=(H, 4 * H)) * 2,
        "b": rng.normal(size=4 * H),
        "dout": rng.normal(size=(N, T, H)),
        "dhT": rng.normal(size=(N, H)),
        "dcT": rng.normal(size=(N, H)),
        "rng": rng,
    }
