"""Whether a trained model learned anything: the checks a run makes before it dissects a model.

A model learned nothing worth dissecting when, on dev, it predicts one label for every
token, or no entity at all while dev has entities, or scores below the most-frequent-label
baseline (each word's most frequent training label; data.baseline).  Its sensitivity
rows would be NaN or noise and its ablation tables confident statements about nothing,
so the run names it instead (lstm_numpy.experiment) and dissects it only when asked to.
"""
from __future__ import annotations

import numpy as np

SUGGESTION = ("train longer (--max-updates 12000, or --epochs with --patience), or try --lr 1e-3 --anneals 1, "
              "which did best where entities are rare (docs/results/training_matrix.md)")


def degenerate_reasons(dev, baseline, label_names):
    """What is wrong with a model, in words ([] when nothing is).

    dev: evaluation.metrics.evaluate of the model on dev (with "confusion"); baseline:
    the same metric dict's score for the most-frequent-label baseline on dev, as
    {"entity_f1": ..., "token_acc": ...} (entity_f1 None for plain tags); label_names (K,).
    """
    confusion = np.asarray(dev["confusion"], dtype=np.int64)
    predicted = np.flatnonzero(confusion.sum(axis=0))
    reasons = []
    if predicted.size == 1:
        reasons.append(f"it predicts {label_names[predicted[0]]} for every dev token")
    types = dev.get("entity_per_type") or {}
    n_gold = sum(t["n_gold"] for t in types.values())
    n_pred = sum(t["n_pred"] for t in types.values())
    if dev.get("entity_f1") is not None and n_gold > 0 and n_pred == 0 and predicted.size != 1:
        reasons.append(f"it predicts no entity on dev, which has {n_gold:,}")
    if dev.get("entity_f1") is not None and baseline.get("entity_f1") is not None:
        if dev["entity_f1"] < baseline["entity_f1"]:
            reasons.append(f"its dev entity F1 {dev['entity_f1']:.2f} is below the most-frequent-label "
                           f"baseline's {baseline['entity_f1']:.2f}")
    elif dev["token_acc"] < baseline["token_acc"]:
        reasons.append(f"its dev token accuracy {100 * dev['token_acc']:.2f}% is below the most-frequent-label "
                       f"baseline's {100 * baseline['token_acc']:.2f}%")
    return reasons
