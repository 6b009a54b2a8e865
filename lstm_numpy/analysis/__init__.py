"""Dissecting a trained tagger (Xin, Lin & Yu 2019): collect hidden states, measure how
much each neuron pushes each label, and ablate neurons to check.

    states         hidden states, logits and labels of a split, flat over tokens
    activity       every token's cell state and gates beside its hidden state
    kernels        the Numba kernels of the analysis, each beside its NumPy reference
    sensitivity    contributions W[i, j] h_j, Xin sensitivity and the other per-label measures
    rankings       (K, H) measures -> neuron orders; comparing rankings
    ablation       silencing neurons (output or recurrent) and scoring what each label loses
    engine         the one ablation engine: plan -> run -> summarise
    sweep          the plans of top / bottom / random / control sets, single neurons and rankings,
                   and their typed summaries
    measures       every importance measure side by side, the measured one included
    consistency    label-label correlations, the Mantel test, neuron matching
    findings       the paper's findings on one model's label correlations
    token_ablation each top-k ablation token by token (what the explorer shows)
    explorer_data  everything the explorer page shows of one model, measured
    results        every measurement as a typed record, with its shapes
    dissect        all of the above for one model, and across the models of a run

Import from the modules (``from lstm_numpy.analysis.sweep import run_sweep``); this
package file imports nothing.
"""
