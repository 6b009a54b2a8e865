"""Choosing the LSTM implementation at run time.

Every backend offers the same two functions as :mod:`lstm_numpy.model.lstm`:
``forward(x, mask, h0, c0, Wx, Wh, b, keep=None) -> (out, (hT, cT), cache)`` and
``backward(dout, dhT, dcT, cache) -> grads``.  ``numba`` is the default; ``numpy``
is the reference it must equal; ``cuda`` is optional and imported only when asked.
The choice is passed explicitly (the tagger config carries it); there is no
global switch.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

BACKENDS = ("numba", "numpy", "cuda")
DEFAULT_BACKEND = "numba"


class LSTMBackend(NamedTuple):
    name: str
    forward: Callable
    backward: Callable


def get_backend(name: str = DEFAULT_BACKEND) -> LSTMBackend:
    """Return the forward/backward pair of backend ``name`` (see :data:`BACKENDS`)."""
    if name == "numpy":
        from .lstm import lstm_backward, lstm_forward
        return LSTMBackend("numpy", lstm_forward, lstm_backward)
    if name == "numba":
        from .lstm_numba import lstm_backward_numba, lstm_forward_numba
        return LSTMBackend("numba", lstm_forward_numba, lstm_backward_numba)
    if name == "cuda":
        from .lstm_cuda import lstm_backward_cuda, lstm_forward_cuda, require_cuda
        require_cuda()          # no usable GPU (and no simulator): fail now, naming what is missing
        return LSTMBackend("cuda", lstm_forward_cuda, lstm_backward_cuda)
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
