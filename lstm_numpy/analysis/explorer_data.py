"""What the neuron explorer (report.explorer) shows of one model, measured: every token's
hidden state, cell state and gates, and the tokens each of a sweep's top-k ablations changes.

Dimension legend: n tokens of the split, Hout neurons, K labels.
"""
from __future__ import annotations

from typing import NamedTuple

from ..data.batching import features_for
from .activity import collect_activity
from .engine import Target
from .states import collect_states
from .token_ablation import planned_top_k, top_k_changes


class ExplorerData(NamedTuple):
    split: object            # EncodedSplit with the features the model uses
    states: object           # analysis.states.States of the split
    activity: object         # analysis.activity.Activity: (n, Hout) h, c, i, f, o
    changes: dict            # {mode: {label: {k: token_ablation.TokenChanges}}}


def measure_for_explorer(params, config, split, label_names, ranking, sweep, states=None):
    """ExplorerData of one model on ``split``.

    ranking (K, Hout): the ranking whose top-k the sweep ablated; sweep: the model's Sweep
    (analysis.results), which says which (mode, label, k) were ablated; states: the
    split's States if already collected."""
    split = features_for(split, config)
    states = collect_states(params, config, split) if states is None else states
    activity = collect_activity(params, config, split)
    changes = top_k_changes(Target(params, config, split, states), ranking, label_names, planned_top_k(sweep))
    return ExplorerData(split, states, activity, changes)
