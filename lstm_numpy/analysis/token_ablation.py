"""Which tokens change prediction when a label's top-k neurons are ablated, token by token:
what the explorer shows beside a sweep's scores.

Dimension legend: n tokens, H neurons (Hout), K labels, k ablated neurons, m changed tokens.

The sweep (analysis.sweep) scores each ablation and keeps only its scores; here
the top-k items of the same ranking, for every (mode, label, k) a sweep
summarised, are planned again and run by the same engine (analysis.engine), and
the tokens whose argmax changed are kept, so a page can show them and recompute
the sweep's accuracy drop from them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .engine import Plan, item, run_plan
from .rankings import rank_neurons


class TokenChanges(NamedTuple):
    """One top-k ablation, token by token."""

    neurons: np.ndarray      # (k,) int64, ascending
    changed: np.ndarray      # (m,) int64 ids of the tokens whose prediction changed, ascending
    to: np.ndarray           # (m,) int64 the ablated prediction there


def planned_top_k(sweep):
    """{mode: {label name: [k, ...]}}: the top-k ablations a Sweep (analysis.results) ran."""
    out = {}
    for mode, summary in sweep.modes.items():
        for label, row in zip(sweep.labels, summary.top):
            ks = [k for k, drop in zip(summary.ks, row) if np.isfinite(drop)]
            if ks:
                out.setdefault(mode, {})[label] = ks
    return out


def top_k_changes(target, ranking, label_names, plan):
    """Rerun the top-k ablations of ``plan`` and keep the tokens that change.

    target: engine.Target (the split is read in recurrent mode only); ranking (K, H):
    the ranking the sweep used (its top-k are ablated); plan: {mode: {label name: [k, ...]}}
    (:func:`planned_top_k`).  Returns {mode: {label: {k: TokenChanges}}}.
    """
    order = rank_neurons(ranking)
    names = list(label_names)
    items = [item(mode, order[names.index(label), :k], strategy="top", label=names.index(label), k=int(k))
             for mode, by_label in plan.items() for label, ks in by_label.items() for k in ks]
    preds = dict(run_plan(Plan(tuple(items)), target))
    out = {}
    for entry in items:
        pred = preds[entry.key]
        changed = np.flatnonzero(pred != target.states.pred)
        out.setdefault(entry.mode, {}).setdefault(names[entry.label], {})[entry.k] = TokenChanges(
            np.array(entry.neurons, dtype=np.int64), changed, pred[changed])
    return out


def accuracy_drop(gold, base_pred, changed, to, label):
    """Accuracy (recall) drop of label id ``label`` when the predictions at ``changed`` become ``to``:
    float, NaN when the label has no gold tokens (what the sweep calls the target drop)."""
    pred = base_pred.copy()
    pred[changed] = to
    on_label = gold == label
    if not on_label.any():
        return float("nan")
    return float((base_pred[on_label] == label).mean() - (pred[on_label] == label).mean())
