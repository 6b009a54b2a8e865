"""Every importance measure of one model's states, side by side: {name: (K, H)}.

Dimension legend: K labels, H neurons (Hout). Larger = more important for the label.

    xin            Xin sensitivity (analysis.sensitivity), the paper's measure
    competitor     competitor-aware sensitivity
    weight_spread  |W[i, j]| * std(h_j)
    grad_x_act     gradient x activation
    measured       the accuracy drop of label i when neuron j alone is output-ablated
                   (analysis.ablation.measured_importance): scored on the tokens it
                   was measured on, so compare it held out (analysis.dissect)
"""
from __future__ import annotations

from .ablation import measured_importance
from .sensitivity import competitor_sensitivity, grad_times_activation, labels_of, weight_spread, xin_sensitivity


def all_measures(states, W, b, group_by="predicted", measured=True, backend=None):
    """Every importance measure of ``states``: {name: (K, H)} ready for rankings.rank_correlations."""
    labels = labels_of(states, group_by)
    measures = {
        "xin": xin_sensitivity(states.hidden, labels, W, backend=backend),
        "competitor": competitor_sensitivity(states.hidden, states.logits, labels, W, backend),
        "weight_spread": weight_spread(states.hidden, W),
        "grad_x_act": grad_times_activation(states.hidden, states.logits, labels, W, backend),
    }
    if measured:
        measures["measured"] = measured_importance(states, W, b, backend)
    return measures
