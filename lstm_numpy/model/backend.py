"""Choosing the model's kernels, once: ``get_backend(name)`` returns the one object
through which the tagger looks up every kernel that differs between backends.

    LSTM              forward and backward of one direction, the input projection and the
                      many-mask recurrence of the recurrent ablation (model.lstm: the NumPy
                      reference; model.lstm_numba, model.lstm_infer_numba; model.lstm_cuda)
    character CNN     the window max of the convolution (model.chars)
    embedding grads   the gradient of an embedding table (model.layers)

A run chooses its backend by name (``--backend``, carried in ``TaggerConfig.backend``
and in checkpoints) and gets the object here; nothing else decides which of these runs.

    numpy   every part in plain NumPy, the reference the kernels are tested to equal
    numba   Numba kernels on the CPU (the default)
    cuda    the LSTM in numba.cuda kernels on an NVIDIA GPU (or Numba's CUDA
            simulator); the character CNN and the embedding gradients run on the
            CPU in Numba, which ``Backend.where`` says and ``run.py`` prints

Not choices, so not here: the analysis kernels (per-label sums and output-mode
ablation, analysis.kernels; conlleval's entity totals, evaluation.entities) and
Adam's update (training.optim) are one Numba kernel each for every backend, each
parity-tested against its NumPy reference, and their callers call them directly.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable, NamedTuple

from ..defaults import BACKENDS, DEFAULT_BACKEND
from .chars import window_max, window_max_numba
from .layers import embedding_backward, embedding_backward_numba
from .lstm import lstm_backward, lstm_forward, lstm_project, lstm_recur_many
from .lstm_cuda import lstm_backward_cuda, lstm_forward_cuda, require_cuda
from .lstm_infer_numba import lstm_recur_many_numba
from .lstm_numba import (concurrent_directions, lstm_backward_numba, lstm_forward_numba, lstm_project_numba,
                         one_core)

CPU_NUMBA, CPU_NUMPY, GPU = "CPU (Numba)", "CPU (NumPy)", "GPU (numba.cuda)"


class Backend(NamedTuple):
    name: str
    lstm_forward: Callable      # (x, mask, h0, c0, Wx, Wh, b, keep=None) -> (out, (hT, cT), cache)
    lstm_backward: Callable     # (dout, dhT, dcT, cache) -> grads
    lstm_project: Callable      # (x, Wx) -> xw: forward's input product, or None (the LSTM has no split)
    lstm_recur_many: Callable   # (xw, mask, Wh, b, keeps (U, H), which, reverse, out) -> (M, n, H) at real steps
    window_max: Callable        # (padded, P, b) -> (out, pos), model.chars
    embedding_backward: Callable  # (dx, ids, V, sparse) -> dtable (V, D) or SparseRows, model.layers
    where: dict                 # part -> where it runs, e.g. {"LSTM": "GPU (numba.cuda)", ...}
    concurrent_directions: Callable = lambda N, H, dtype: False   # may a BiLSTM run its two directions at
                                                                  # once, one per thread (model.bilstm)?
    one_core: Callable = contextlib.nullcontext   # the context a direction run beside the other is in

    def describe(self) -> str:
        """``"numba (LSTM, character CNN and embedding gradients: CPU (Numba))"``: which part runs where."""
        parts = {}
        for part, device in self.where.items():
            parts.setdefault(device, []).append(part)
        said = "; ".join(f"{_and(names)}: {device}" for device, names in parts.items())
        return f"{self.name} ({said})"


def _and(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@functools.lru_cache(maxsize=None)
def _backend(name):
    if name == "numpy":
        return Backend("numpy", lstm_forward, lstm_backward, lstm_project, lstm_recur_many, window_max,
                       embedding_backward,
                       where={"LSTM": CPU_NUMPY, "character CNN": CPU_NUMPY, "embedding gradients": CPU_NUMPY})
    if name == "numba":
        return Backend("numba", lstm_forward_numba, lstm_backward_numba, lstm_project_numba, lstm_recur_many_numba,
                       window_max_numba, embedding_backward_numba,
                       where={"LSTM": CPU_NUMBA, "character CNN": CPU_NUMBA, "embedding gradients": CPU_NUMBA},
                       concurrent_directions=concurrent_directions, one_core=one_core)
    return Backend("cuda", lstm_forward_cuda, lstm_backward_cuda, None, None, window_max_numba, embedding_backward_numba,
                   where={"LSTM": GPU, "character CNN": CPU_NUMBA, "embedding gradients": CPU_NUMBA})


def get_backend(name: str | Backend | None = None) -> Backend:
    """The :class:`Backend` called ``name`` (one of :data:`BACKENDS`; None: :data:`DEFAULT_BACKEND`;
    a Backend is returned as it is, so functions can take either).

    ``cuda`` without a usable GPU (or the simulator) raises CudaUnavailableError at once, naming why.
    """
    if isinstance(name, Backend):
        return name
    name = DEFAULT_BACKEND if name is None else name
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if name == "cuda":
        require_cuda()          # no usable GPU (and no simulator): fail now, naming what is missing
    return _backend(name)
