"""Token-level scores: accuracy, confusion matrix, per-label accuracy, precision, recall and F1.

Notation: N tokens (real tokens only, padding already removed), K labels.
Inputs are flat int arrays `gold`, `pred` of shape (N,) holding label ids in
[0, K). Scores are fractions in [0, 1]; "undefined" (a denominator of zero)
is NaN. Everything is computed from one confusion matrix (`np.bincount` over
gold*K+pred), so the ablation sweeps call these same functions on every
ablated prediction.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_ids", "token_accuracy", "confusion_matrix", "per_label_accuracy", "prf_from_confusion",
           "per_label_prf"]


def check_ids(gold, pred, n_labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of flat label-id arrays; return them as int64 arrays."""
    gold = np.asarray(gold)
    pred = np.asarray(pred)
    if gold.ndim != 1 or pred.ndim != 1:
        raise ValueError(f"gold and pred must be flat (N,) arrays, got shapes {gold.shape} and {pred.shape}")
    if gold.shape != pred.shape:
        raise ValueError(f"gold and pred must have the same length, got {gold.shape[0]} and {pred.shape[0]}")
    for name, ids in (("gold", gold), ("pred", pred)):
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must hold integer label ids, got dtype {ids.dtype}")
        if n_labels is not None and ids.size and (ids.min() < 0 or ids.max() >= n_labels):
            raise ValueError(
                f"{name} holds label ids in [{ids.min()}, {ids.max()}], outside [0, {n_labels}) for n_labels={n_labels}"
            )
    return gold.astype(np.int64, copy=False), pred.astype(np.int64, copy=False)


def token_accuracy(gold, pred) -> float:
    """Fraction of tokens whose predicted label equals the gold label; NaN if N == 0.

    gold, pred : (N,) int label ids.
    """
    gold, pred = check_ids(gold, pred)
    if gold.size == 0:
        return float("nan")
    return float(np.count_nonzero(gold == pred)) / gold.size


def confusion_matrix(gold, pred, n_labels: int) -> np.ndarray:
    """Counts (K, K) int64: entry [i, j] is the number of tokens with gold i predicted j.

    gold, pred : (N,) int label ids in [0, K). One `np.bincount` over gold*K+pred,
    so it is cheap enough to call inside ablation sweeps.
    """
    gold, pred = check_ids(gold, pred, n_labels)
    counts = np.bincount(gold * n_labels + pred, minlength=n_labels * n_labels)
    return counts.reshape(n_labels, n_labels).astype(np.int64, copy=False)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where denominator == 0."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def per_label_accuracy(gold, pred, n_labels: int) -> np.ndarray:
    """Per-label accuracy (K,) float64, the paper's measure.

    Entry i = (tokens with gold label i predicted i) / (tokens with gold label i),
    i.e. per-label recall. NaN for a label absent from `gold`.
    """
    confusion = confusion_matrix(gold, pred, n_labels)
    return _divide(np.diag(confusion).astype(np.float64), confusion.sum(axis=1))


def prf_from_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-label (precision, recall, F1), each (K,) float64, from a (K, K) confusion matrix (see per_label_prf)."""
    correct = np.diag(confusion).astype(np.float64)
    precision = _divide(correct, confusion.sum(axis=0))
    recall = _divide(correct, confusion.sum(axis=1))
    total = precision + recall  # NaN if either is NaN
    f1 = _divide(2 * precision * recall, np.where(np.isnan(total), 0.0, total))
    f1[(total == 0)] = 0.0
    return precision, recall, f1


def per_label_prf(gold, pred, n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token-level precision, recall and F1 per label, each (K,) float64 in [0, 1].

    precision[i] is NaN when label i is never predicted, recall[i] is NaN when
    label i never occurs in gold, and f1[i] is NaN when either is NaN
    (0 when both are defined and both 0).
    """
    return prf_from_confusion(confusion_matrix(gold, pred, n_labels))
