"""Which tokens change prediction when a label's top-k neurons are ablated, token by token.

Dimension legend: n tokens, H neurons (Hout), K labels, k ablated neurons, m changed tokens.

The sweep (analysis.sweep) scores each ablation and keeps only its scores;
here the same ablations (the top-k of the same ranking, by
rankings.rank_neurons, silenced by ablation.ablate_output or
ablation.ablate_recurrent_many) are rerun for the (mode, label, k) a sweep
summarised, and the tokens whose argmax changed are kept, so a page can show
them and recompute the sweep's accuracy drop from them.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_backend
from .ablation import ablate_output, ablate_recurrent_many, output_cache
from .rankings import rank_neurons


def planned_top_k(summary):
    """{mode: {label: [k, ...]}} of the top-k ablations a sweep summary holds.

    summary: run_ablation_sweep's "summary" ({mode: {"top": {label: {k: drop}}, ...}}), or the same
    read back from analysis.json (k as strings)."""
    return {mode: {label: sorted(int(k) for k in by_k) for label, by_k in strategies.get("top", {}).items()}
            for mode, strategies in (summary or {}).items()}


def top_k_changes(params, config, split, states, ranking, label_names, plan):
    """Rerun the top-k ablations of ``plan`` and keep the tokens that change.

    params, config, split: the tagger and the EncodedSplit ``states`` came from
    (collect_states without a mask; split is read in recurrent mode only);
    ranking (K, H): the ranking the sweep used (its top-k are ablated);
    plan: {mode: {label name: [k, ...]}} (:func:`planned_top_k`).
    Returns {mode: {label: {k: {"neurons": (k,) int64, "changed": (m,) int64 token ids (ascending),
    "to": (m,) int64 the ablated prediction there}}}}.
    """
    order = rank_neurons(ranking)
    names = list(label_names)
    backend = get_backend(config.backend)
    cache = output_cache(states, params["out.W"], params["out.b"], backend) if "output" in plan else None
    out = {}
    for mode, by_label in plan.items():
        if mode not in ("output", "recurrent"):
            raise ValueError(f"unknown ablation mode {mode!r}")
        cells = [(label, int(k), np.sort(order[names.index(label), :k])) for label, ks in by_label.items()
                 for k in ks]
        if mode == "output":
            preds = [ablate_output(cache, neurons) for *_, neurons in cells]
        else:                           # every set in one pass (ablate_recurrent_many)
            preds = ablate_recurrent_many(params, config, split, [neurons for *_, neurons in cells])
        for (label, k, neurons), pred in zip(cells, preds):
            changed = np.flatnonzero(pred != states.pred)
            out.setdefault(mode, {}).setdefault(label, {})[k] = {"neurons": neurons, "changed": changed,
                                                                 "to": pred[changed]}
    return out


def accuracy_drop(gold, base_pred, changed, to, label):
    """Accuracy (recall) drop of label id ``label`` when the predictions at ``changed`` become ``to``:
    float, NaN when the label has no gold tokens (what Scorer.record calls target_acc_drop)."""
    pred = base_pred.copy()
    pred[changed] = to
    on_label = gold == label
    if not on_label.any():
        return float("nan")
    return float((base_pred[on_label] == label).mean() - (pred[on_label] == label).mean())
