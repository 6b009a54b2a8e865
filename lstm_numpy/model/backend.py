"""Choosing the kernels, once: ``get_backend(name)`` returns the one object every
kernel pair of the package is looked up through.

    LSTM           forward and backward of one direction (model.lstm: the NumPy
                   reference; model.lstm_numba; model.lstm_cuda)
    character CNN  the window max of the convolution (model.chars)
    embeddings     the gradient of an embedding table (model.layers)
    analysis       per-label sums of hidden states and output-mode ablation
                   (analysis.kernels), conlleval entity totals (evaluation.entities)

A run chooses its backend by name (``--backend``, carried in ``TaggerConfig.backend``
and in checkpoints) and gets the object here; nothing else decides which kernel runs.

    numpy   every part in plain NumPy except the analysis kernels, which are the
            Numba kernels for every backend (they post-process cached arrays on
            the CPU; each is parity-tested against its NumPy reference)
    numba   Numba kernels on the CPU (the default)
    cuda    the LSTM in numba.cuda kernels on an NVIDIA GPU (or Numba's CUDA
            simulator); the character CNN and the analysis run on the CPU in
            Numba, which ``Backend.where`` says and ``run.py`` prints

Not a choice, so not here: Adam's update (training.optim) is one Numba loop for
every backend, and gives the bits of its NumPy reference (tested).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

from .analysis.kernels import ablated_argmax_numba, group_sums_numba
from .evaluation.entities import entity_totals_numba
from .model.chars import window_max, window_max_numba
from .model.layers import embedding_backward, embedding_backward_numba
from .model.lstm import lstm_backward, lstm_forward, lstm_project, lstm_recur_many
from .model.lstm_cuda import lstm_backward_cuda, lstm_forward_cuda, require_cuda
from .model.lstm_infer_numba import lstm_recur_many_numba
from .model.lstm_numba import lstm_backward_numba, lstm_forward_numba, lstm_project_numba

BACKENDS = ("numba", "numpy", "cuda")
DEFAULT_BACKEND = "numba"
CPU_NUMBA, CPU_NUMPY, GPU = "CPU (Numba)", "CPU (NumPy)", "GPU (numba.cuda)"


class Backend(NamedTuple):
    name: str
    lstm_forward: Callable      # (x, mask, h0, c0, Wx, Wh, b, keep=None) -> (out, (hT, cT), cache)
    lstm_backward: Callable     # (dout, dhT, dcT, cache) -> grads
    lstm_project: Callable      # (x, Wx) -> xw: forward's input product, or None (the LSTM has no split)
    lstm_recur_many: Callable   # (xw, mask, Wh, b, keeps (U, H), which, reverse, out) -> (M, n, H) at real steps
    window_max: Callable        # (padded, P, b) -> (out, pos), model.chars
    embedding_backward: Callable  # (dx, ids, V, sparse) -> dtable (V, D) or SparseRows, model.layers
    group_sums: Callable        # (x, labels, n_labels) -> (sums, counts), analysis.kernels
    ablated_argmax: Callable    # (baseT, hT, W, neurons, sign, bias) -> pred, analysis.kernels
    entity_totals: Callable     # (gold, pred, edges, tables) -> (n_gold, n_pred, n_correct)
    where: dict                 # part -> where it runs, e.g. {"LSTM": "GPU (numba.cuda)", ...}

    def describe(self) -> str:
        """``"numba (LSTM, character CNN and analysis: CPU (Numba))"``: which part runs where."""
        parts = {}
        for part, device in self.where.items():
            parts.setdefault(device, []).append(part)
        said = "; ".join(f"{_and(names)}: {device}" for device, names in parts.items())
        return f"{self.name} ({said})"


def _and(names):
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


_ANALYSIS = dict(group_sums=group_sums_numba, ablated_argmax=ablated_argmax_numba, entity_totals=entity_totals_numba)


@functools.lru_cache(maxsize=None)
def _backend(name):
    if name == "numpy":
        return Backend("numpy", lstm_forward, lstm_backward, lstm_project, lstm_recur_many, window_max,
                       embedding_backward, **_ANALYSIS,
                       where={"LSTM": CPU_NUMPY, "character CNN": CPU_NUMPY, "analysis": CPU_NUMBA})
    if name == "numba":
        return Backend("numba", lstm_forward_numba, lstm_backward_numba, lstm_project_numba, lstm_recur_many_numba,
                       window_max_numba, embedding_backward_numba, **_ANALYSIS,
                       where={"LSTM": CPU_NUMBA, "character CNN": CPU_NUMBA, "analysis": CPU_NUMBA})
    return Backend("cuda", lstm_forward_cuda, lstm_backward_cuda, None, None, window_max_numba, embedding_backward_numba,
                   **_ANALYSIS,
                   where={"LSTM": GPU, "character CNN": CPU_NUMBA, "analysis": CPU_NUMBA})


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
