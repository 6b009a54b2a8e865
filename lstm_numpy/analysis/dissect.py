"""Measuring and dissecting trained taggers, end to end: everything the report shows,
measured (report.outputs writes it).

For each model (one per seed), :func:`dissect_model`: hidden states of a split
-> Xin sensitivity (grouped by predicted and by gold label) and the other
importance measures -> ablation sweeps (output mode with 20 random draws;
recurrent mode, which reruns the LSTM, with 5) with single-neuron sweeps ->
the rankings compared held out (:func:`compare_rankings`: ranked on half the
sentences, scored on the other half).  Across models, :func:`compare_models`:
label-label correlations, the paper's findings, and their agreement (Mantel
test, neuron matching).

Dimension legend: K labels, H neurons (Hout), M models.
"""
from __future__ import annotations

import time

import numpy as np

from ..backend import get_backend
from .ablation import measured_importance
from .consistency import label_correlation, pairwise_consistency
from .findings import paper_findings
from .measures import all_measures
from .rankings import neurons_for_mass, rank_correlations
from .sensitivity import GROUPINGS, sensitivity_pred_and_gold
from .states import collect_states, split_halves, subset_states
from .sweep import (CLAIM_KS, DEFAULT_KS, N_RANDOM, N_RANDOM_RECURRENT, RECURRENT_KS, merge_sweeps,
                    run_ablation_sweep, top_k_sweeps)

ORACLE = "measured_oracle"   # ranked and scored on the same tokens: never the "best" ranking


def dissect_model(params, config, split, label_names, rng, recurrent=True, ks=DEFAULT_KS,
                  recurrent_ks=RECURRENT_KS, n_random=N_RANDOM, n_random_recurrent=N_RANDOM_RECURRENT,
                  progress=True, group_by="predicted", random_pool="all"):
    """Everything measured on one model. Returns a dict of arrays and sweep results.

    group_by: "predicted" (as the public reproduction of the paper does) or "gold":
    which label a token counts for in the sensitivity that ranks neurons for
    ablation; both groupings are computed and compared either way.
    random_pool: where random-k draws come from (analysis.sweep.plan_ablations).

    The rankings are compared held out (:func:`compare_rankings`: "top_k_by_measure",
    "random_k", "comparison").
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by must be one of {GROUPINGS}, got {group_by!r}")
    backend = get_backend(config.backend)
    other = "gold" if group_by == "predicted" else "predicted"
    timings = {}
    start = time.perf_counter()
    states = collect_states(params, config, split)
    timings["hidden states"] = time.perf_counter() - start
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)

    start = time.perf_counter()
    both = sensitivity_pred_and_gold(states, W, backend)
    timings["sensitivity (both groupings)"] = time.perf_counter() - start
    start = time.perf_counter()
    measures = all_measures(states, W, b, group_by=group_by, measured=True, backend=backend)
    timings["other importance measures"] = time.perf_counter() - start

    start = time.perf_counter()
    sweep = run_ablation_sweep(params, config, split, label_names, states, both[group_by],
                               modes=("output",), ks=ks, n_random=n_random, rng=rng, progress=progress,
                               random_pool=random_pool)
    timings["output-mode sweep"] = time.perf_counter() - start
    if recurrent:
        start = time.perf_counter()
        rec = run_ablation_sweep(params, config, split, label_names, states, both[group_by],
                                 modes=("recurrent",), ks=recurrent_ks, n_random=n_random_recurrent,
                                 rng=rng, progress=progress, random_pool=random_pool)
        sweep = merge_sweeps(sweep, rec)
        timings["recurrent-mode sweep"] = time.perf_counter() - start

    start = time.perf_counter()
    comparison = compare_rankings(params, config, label_names, states, rng, group_by, n_random)
    timings["top-k ablation per ranking (held out)"] = time.perf_counter() - start
    return {"states": states, "group_by": group_by,
            "sensitivity": both[group_by], "sensitivity_other": both[other],
            "group_spearman": both["spearman"], "measures": measures,
            "rank_correlations": rank_correlations(measures), "mass": neurons_for_mass(both[group_by]),
            "sweep": sweep, **comparison, "timings": timings}


def compare_rankings(params, config, label_names, states, rng, group_by="predicted", n_random=N_RANDOM,
                     ks=CLAIM_KS):
    """Which ranking's top-k ablation hurts each label most, held out (output mode).

    Every ranking (analysis.measures.all_measures) is computed on the
    ranking half of the sentences (states.split_halves: even indices) and
    scored on the other half, next to ``n_random`` random-k draws per (label, k)
    from all neurons. "measured_oracle" ranks by single-neuron drops on the
    scoring half itself, an in-sample upper bound kept out of any "best".
    Returns {"top_k_by_measure": {measure: {label: {k: {"drop", "selectivity"}}}},
    "random_k": {label: {k: {"drop", "selectivity"}}}, "comparison": {...the split...}}.
    """
    backend = get_backend(config.backend)
    ranking_half, scoring_half = split_halves(len(states.lengths))
    ranking_states, scoring_states = subset_states(states, ranking_half), subset_states(states, scoring_half)
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)
    rankings = all_measures(ranking_states, W, b, group_by=group_by, measured=True, backend=backend)
    rankings[ORACLE] = measured_importance(scoring_states, W, b, backend)
    by_measure = top_k_sweeps(params, config, label_names, scoring_states, rankings, ks)
    random = run_ablation_sweep(params, config, None, label_names, scoring_states, rankings["xin"],
                                modes=("output",), ks=ks, n_random=n_random, rng=rng, single_neuron=False,
                                progress=False)
    return {"top_k_by_measure": by_measure, "random_k": random["random_k"].get("output", {}),
            "comparison": {"ranking_sentences": "even-numbered dev sentences (0, 2, 4, ...)",
                           "scoring_sentences": "odd-numbered dev sentences (1, 3, 5, ...)",
                           "n_ranking_tokens": ranking_states.n_tokens, "n_scoring_tokens": scoring_states.n_tokens,
                           "n_random": n_random, "random_pool": "all", "oracle": ORACLE}}


def best_rankings(result, label_names, k=5):
    """{label: {measure: held-out top-k drop, ..., "best": the measure that hurts most}};
    the oracle is shown but never "best"."""
    table = {}
    for label in label_names:
        row = {name: drops.get(label, {}).get(k, {}).get("drop") for name, drops in result["top_k_by_measure"].items()}
        valid = {n: v for n, v in row.items() if n != ORACLE and v is not None and np.isfinite(v)}
        row["best"] = max(valid, key=valid.get) if valid else None
        table[label] = row
    return table


def compare_models(models, label_names, rng):
    """Across the models of one run (seeds): each one's label-label correlations and the
    paper's findings, and, for two or more, their pairwise agreement
    (consistency.pairwise_consistency; None for one model)."""
    correlations = [label_correlation(m["sensitivity"]) for m in models]
    return {"correlations": correlations,
            "findings": [paper_findings(C, label_names) for C in correlations],
            "pairwise": pairwise_consistency([m["sensitivity"] for m in models], label_names, rng)
            if len(models) > 1 else None}
