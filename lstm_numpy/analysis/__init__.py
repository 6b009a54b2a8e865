"""Dissecting a trained tagger (Xin, Lin & Yu 2019): collect hidden states,
measure how much each neuron pushes each label, and ablate neurons to check.

states -> sensitivity / rankings -> ablation.
"""
from .ablation import (ablate_output, ablate_recurrent, ablation_mask, output_cache,
                       run_ablation_sweep, single_neuron_sweep, write_ablation_csv)
from .rankings import (neurons_for_mass, rank_correlations, rank_neurons, spearman,
                       top_k_neurons, top_labels_per_neuron)
from .sensitivity import (SensitivityAccumulator, all_measures, competitor_sensitivity, contributions,
                          grad_times_activation, measured_importance, sensitivity_from_states,
                          sensitivity_pred_and_gold, weight_spread, xin_sensitivity)
from .states import States, collect_states

__all__ = [
    "States", "collect_states",
    "contributions", "SensitivityAccumulator", "xin_sensitivity", "sensitivity_from_states",
    "sensitivity_pred_and_gold", "competitor_sensitivity", "weight_spread", "grad_times_activation",
    "measured_importance", "all_measures",
    "rank_neurons", "top_k_neurons", "top_labels_per_neuron", "neurons_for_mass", "spearman",
    "rank_correlations",
    "ablation_mask", "output_cache", "ablate_output", "ablate_recurrent", "single_neuron_sweep",
    "run_ablation_sweep", "write_ablation_csv",
]
