"""Every importance measure of one model's states, side by side: {name: (K, H)}.

Dimension legend: K labels, H neurons (Hout). Larger = more important for the label.

    xin            Xin sensitivity (analysis.sensitivity), the paper's measure
    competitor     competitor-aware sensitivity
    weight_spread  |W[i, j]| * std(h_j)
    grad_x_act     gradient x activation
    measured       the accuracy drop of label i when neuron j alone is output-ablated
                   (analysis.sweep.measured_importance): scored on the tokens it
                   was measured on, so compare it held out (analysis.dissect)
"""
from __future__ import annotations

from .engine import Target
from .sensitivity import competitor_sensitivity, grad_times_activation, labels_of, weight_spread, xin_sensitivity
from .sweep import measured_importance


def all_measures(states, W, b, label_names, group_by="predicted", measured=True):
    """Every importance measure of ``states`` (W (K, H), b (K,) the output layer): {name: (K, H)},
    ready for rankings.rank_correlations."""
    labels = labels_of(states, group_by)
    measures = {
        "xin": xin_sensitivity(states.hidden, labels, W),
        "competitor": competitor_sensitivity(states.hidden, states.logits, labels, W),
        "weight_spread": weight_spread(states.hidden, W),
        "grad_x_act": grad_times_activation(states.hidden, states.logits, labels, W),
    }
    if measured:     # output mode reads only the states and the output layer
        measures["measured"] = measured_importance(Target({"out.W": W, "out.b": b}, None, None, states), label_names)
    return measures
