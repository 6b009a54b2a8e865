"""Dissecting a trained tagger (Xin, Lin & Yu 2019): collect hidden states, measure how
much each neuron pushes each label, and ablate neurons to check.

    states       hidden states, logits and labels of a split, flat over tokens
    kernels      the Numba kernels of the sweeps, each beside its NumPy reference
    sensitivity  contributions W[i, j] h_j, Xin sensitivity and the other per-label measures
    rankings     (K, H) measures -> neuron orders; comparing rankings
    ablation     silencing neurons (output or recurrent) and scoring what each label loses
    measures     every importance measure side by side, the measured one included
    sweep        top / bottom / random / control ablations for every label and k, summarised
    consistency  label-label correlations, the Mantel test, neuron matching, the paper's findings
    dissect      all of the above for one model, and across the models of a run

Import from the modules (``from lstm_numpy.analysis.sweep import run_ablation_sweep``);
this package file imports nothing, so that the kernels can be imported alone
(lstm_numpy.backend does).
"""
