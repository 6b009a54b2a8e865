"""How much each neuron pushes each label: contributions, Xin sensitivity and
other importance measures, all as (K, H) matrices.

Dimension legend: n tokens, H neurons entering the linear layer (Hout of the
tagger), K labels. ``h (n, H)`` hidden states, ``W (K, H)`` and ``b (K,)`` the
output layer, ``logits (n, K)``, ``labels (n,)`` int label ids used to group
tokens (predicted or gold).

Notation (Xin, Lin & Yu 2019)::

    z[t, i]    = sum_j W[i, j] h[t, j] + b[i]              logit of label i
    u[t, i, j] = W[i, j] h[t, j]                           contribution of neuron j
    S[i, j]    = mean_{t: label t = i} u[t, i, j] - mean_{t: label t != i} u[t, i, j]
               = W[i, j] (mean_i h[:, j] - mean_not_i h[:, j])   (sensitivity)

The second form is what is computed: per-label sums of h are enough, so memory
is O(K H) however many tokens stream through :class:`SensitivityAccumulator`.
A label with no tokens (or with every token) has an undefined mean: its row is
NaN and a warning names it.

The per-label sums run on one Numba kernel (analysis.kernels.group_sums_numba,
parity-tested against its NumPy reference).
The single-neuron ("measured") importance is an ablation: analysis.measures.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..defaults import GROUPINGS
from ..errors import UndefinedLabelWarning
from .kernels import group_sums_numba
from .rankings import spearman_rows


def contributions(h, W):
    """u[t, i, j] = W[i, j] h[t, j]: (n, K, H). For small inputs and teaching."""
    h, W = np.asarray(h), np.asarray(W)
    return h[:, None, :] * W[None, :, :]


def sum_by_label(x, labels, n_labels):
    """Per-label sums of the rows of x: ((K, H) float64, (K,) int64 counts).

    x (n, H), labels (n,) int in [0, K). One compiled pass over the tokens
    (``group_sums_numba``: analysis.kernels), much faster than ``np.add.at``.
    """
    x = np.asarray(x)
    labels = np.asarray(labels, dtype=np.int64)
    if x.ndim != 2 or labels.shape != (x.shape[0],):
        raise ValueError(f"need x (n, H) and labels (n,), got {x.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
        raise ValueError(f"labels must lie in [0, {n_labels}), got [{labels.min()}, {labels.max()}]")
    return group_sums_numba(x, labels, n_labels)


def _warn_undefined(undefined, what):
    if undefined.any():
        warnings.warn(f"{what}: labels {np.flatnonzero(undefined).tolist()} have no tokens "
                      "(or only tokens of their own); their rows are NaN", UndefinedLabelWarning, stacklevel=3)


class SensitivityAccumulator:
    """Streaming Xin sensitivity: feed batches of hidden states, read S at the end.

    State: sum_h (K, H) float64 per-label sums of h, count (K,) int64,
    total_h (H,) float64, n int.
    """

    def __init__(self, n_labels, n_hidden):
        self.sum_h = np.zeros((n_labels, n_hidden))
        self.count = np.zeros(n_labels, dtype=np.int64)
        self.total_h = np.zeros(n_hidden)
        self.n = 0

    def update(self, h_batch, labels_batch):
        """h_batch (m, H), labels_batch (m,) int label ids in [0, K)."""
        h_batch = np.asarray(h_batch)
        if h_batch.ndim != 2 or h_batch.shape[1] != self.sum_h.shape[1]:
            raise ValueError(f"h_batch must be (m, {self.sum_h.shape[1]}), got {h_batch.shape}")
        sums, counts = sum_by_label(h_batch, labels_batch, self.sum_h.shape[0])
        self.sum_h += sums
        self.count += counts
        self.total_h += sums.sum(axis=0)
        self.n += int(counts.sum())
        return self

    def mean_difference(self):
        """mean_i h - mean_not_i h: (K, H) float64, NaN rows where undefined (with a warning)."""
        inside = self.count[:, None].astype(np.float64)
        outside = self.n - inside
        undefined = (self.count == 0) | (self.count == self.n)
        _warn_undefined(undefined, "sensitivity")
        with np.errstate(invalid="ignore", divide="ignore"):
            difference = self.sum_h / inside - (self.total_h - self.sum_h) / outside
        difference[undefined] = np.nan
        return difference

    def result(self, W):
        """S = W * (mean_i h - mean_not_i h): (K, H) float64."""
        W = np.asarray(W, dtype=np.float64)
        if W.shape != self.sum_h.shape:
            raise ValueError(f"W must be {self.sum_h.shape}, got {W.shape}")
        return W * self.mean_difference()


def xin_sensitivity(h, group_labels, W, n_labels=None):
    """Xin sensitivity S (K, H) of hidden states h (n, H) grouped by group_labels (n,)."""
    W = np.asarray(W)
    n_labels = W.shape[0] if n_labels is None else n_labels
    return SensitivityAccumulator(n_labels, W.shape[1]).update(h, group_labels).result(W)


def labels_of(states, group_by):
    """The label each token counts for: states.pred ("predicted") or states.gold ("gold"),
    the one place a grouping name is checked."""
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}, got {group_by!r}")
    return states.pred if group_by == "predicted" else states.gold


def sensitivity_from_states(states, W, group_by="predicted"):
    """Xin sensitivity (K, H) of collected States, tokens grouped by predicted or gold label."""
    return xin_sensitivity(states.hidden, labels_of(states, group_by), W)


def sensitivity_pred_and_gold(states, W):
    """Both groupings and how alike they rank neurons.

    Returns {"predicted": (K, H), "gold": (K, H), "spearman": (K,) per-label
    Spearman correlation between the two rows}.
    """
    by_pred = sensitivity_from_states(states, W, "predicted")
    by_gold = sensitivity_from_states(states, W, "gold")
    return {"predicted": by_pred, "gold": by_gold, "spearman": spearman_rows(by_pred, by_gold)}


# ------------------------------------------------------------ other measures


def competitor_sensitivity(h, logits, group_labels, W):
    """Competitor-aware sensitivity (K, H).

    On tokens t of label i: mean of (W[i, j] - W[c_t, j]) h[t, j], where c_t
    is the runner-up at t, the label other than i with the highest logit.
    NaN row for a label without tokens.
    """
    h = np.asarray(h, dtype=np.float64)
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(group_labels, dtype=np.int64)
    W = np.asarray(W, dtype=np.float64)
    K, H = W.shape
    out = np.full((K, H), np.nan)
    for i in range(K):
        rows = np.flatnonzero(labels == i)
        if rows.size == 0:
            continue
        z = logits[rows].copy()
        z[:, i] = -np.inf
        runner_up = z.argmax(axis=1)                                       # (n_i,)
        sums, _ = sum_by_label(h[rows], runner_up, K)             # (K, H)
        out[i] = W[i] * h[rows].mean(axis=0) - (W * sums).sum(axis=0) / rows.size
    _warn_undefined(np.isnan(out).all(axis=1), "competitor sensitivity")
    return out


def weight_spread(h, W):
    """|W[i, j]| * std(h[:, j]) over all tokens: (K, H)."""
    return np.abs(np.asarray(W, dtype=np.float64)) * np.asarray(h, dtype=np.float64).std(axis=0)


def softmax(z):
    """Row-wise softmax of (n, K) logits, float64."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def grad_times_activation(h, logits, group_labels, W):
    """Gradient times activation (K, H).

    On tokens t of label i: mean of h[t, j] * d log p_i / d h_j, with
    d log p_i / d h = W[i] - sum_k p_k W[k] (p = softmax of the logits).
    """
    h = np.asarray(h, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    K, H = W.shape
    expected_W = softmax(logits) @ W                                       # (n, H)
    sum_h, count = sum_by_label(h, group_labels, K)
    sum_hpw, _ = sum_by_label(h * expected_W, group_labels, K)
    undefined = count == 0
    _warn_undefined(undefined, "gradient x activation")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (W * sum_h - sum_hpw) / count[:, None]
    out[undefined] = np.nan
    return out
