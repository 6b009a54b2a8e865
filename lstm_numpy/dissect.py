"""Measuring and dissecting trained taggers, end to end: what ``run.py`` calls
after training.

For each model (one per seed): hidden states of a split -> Xin sensitivity
(grouped by predicted and by gold label) and the other importance measures ->
ablation sweeps (output mode with 20 random draws; recurrent mode, which
reruns the LSTM, with 5) -> single-neuron sweeps -> the rankings compared
held out (ranked on half the sentences, scored on the other half).  Across models:
label-label correlations and their agreement (Mantel test, neuron matching).
Then the figures, ``report.md`` and ``analysis.json``.

Dimension legend: K labels, H neurons (Hout), M models.
"""
from __future__ import annotations

import time

import numpy as np

from .analysis.ablation import RANDOM_POOLS, flatten_record, run_ablation_sweep, write_ablation_csv  # noqa: F401
from .analysis.consistency import label_correlation, paper_findings, pairwise_consistency
from .analysis.rankings import neurons_for_mass, rank_correlations
from .analysis.sensitivity import all_measures, measured_importance, sensitivity_pred_and_gold
from .analysis.states import collect_states, split_halves, subset_states
from .report import plots
from .report.markdown import write_analysis_json, write_report

DEFAULT_KS = (1, 2, 3, 5, 10, 20)
RECURRENT_KS = (1, 3, 5, 10)
CLAIM_KS = (1, 3, 5, 10)
DROP_MATRIX_K = 5
ORACLE = "measured_oracle"   # ranked and scored on the same tokens: never the "best" ranking


def _merge_sweeps(first, second):
    """One sweep result from an output-mode and a recurrent-mode sweep."""
    merged = dict(first)
    merged["modes"] = list(first["modes"]) + list(second["modes"])
    merged["n_random"] = {**first["n_random"], **second["n_random"]}
    merged["records"] = first["records"] + second["records"]
    merged["summary"] = {**first["summary"], **second["summary"]}
    merged["single_neuron"] = {**first.get("single_neuron", {}), **second.get("single_neuron", {})}
    return merged


def drop_matrix(sweep, label_names, k, mode="output"):
    """(K, K) accuracy drops: row = label whose top-k neurons were ablated, column = label measured."""
    K = len(label_names)
    M = np.full((K, K), np.nan)
    for record in sweep["records"]:
        if record["mode"] == mode and record["strategy"] == "top" and record["k"] == k:
            i = label_names.index(record["label"])
            M[i] = [np.nan if record["per_label_acc_drop"][name] is None else record["per_label_acc_drop"][name]
                    for name in label_names]
    return M


def random_k_summary(sweep, label_names, mode="output"):
    """{label: {k: {"drop", "selectivity"}}}: means over the random draws of a sweep."""
    sums = {}
    for record in sweep["records"]:
        if record["mode"] == mode and record["strategy"] == "random":
            entry = sums.setdefault(record["label"], {}).setdefault(record["k"], [])
            entry.append((record["target_acc_drop"], record["selectivity"]))
    return {label: {k: {"drop": float(np.nanmean([d for d, _ in v])),
                        "selectivity": float(np.nanmean([s for _, s in v]))} for k, v in ks.items()}
            for label, ks in sums.items()}


def dissect_model(params, config, split, label_names, rng, recurrent=True, ks=DEFAULT_KS,
                  recurrent_ks=RECURRENT_KS, n_random=20, n_random_recurrent=5, progress=True,
                  group_by="predicted", random_pool="all"):
    """Everything measured on one model. Returns a dict of arrays and sweep results.

    group_by: "predicted" (as the public reproduction of the paper does) or "gold":
    which label a token counts for in the sensitivity that ranks neurons for
    ablation; both groupings are computed and compared either way.
    random_pool: where random-k draws come from (analysis.ablation.plan_ablations).

    The rankings are compared held out: each is computed on the even-numbered
    sentences of ``split`` and its top-k ablations, with random-k draws beside
    them, are scored on the odd-numbered ones ("top_k_by_measure",
    "random_k"). The single-neuron ranking measured on the scoring half itself
    is kept as "measured_oracle": it has seen the tokens it is scored on.
    """
    if group_by not in ("predicted", "gold"):
        raise ValueError(f"group_by must be 'predicted' or 'gold', got {group_by!r}")
    other = "gold" if group_by == "predicted" else "predicted"
    timings = {}
    start = time.perf_counter()
    states = collect_states(params, config, split)
    timings["hidden states"] = time.perf_counter() - start
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)

    start = time.perf_counter()
    both = sensitivity_pred_and_gold(states, W)
    timings["sensitivity (both groupings)"] = time.perf_counter() - start
    start = time.perf_counter()
    measures = all_measures(states, W, b, group_by=group_by, measured=True)
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
        sweep = _merge_sweeps(sweep, rec)
        timings["recurrent-mode sweep"] = time.perf_counter() - start

    start = time.perf_counter()
    comparison = compare_rankings(params, config, split, label_names, states, rng, group_by, n_random)
    timings["top-k ablation per ranking (held out)"] = time.perf_counter() - start
    return {"states": states, "group_by": group_by,
            "sensitivity": both[group_by], "sensitivity_other": both[other],
            "group_spearman": both["spearman"], "measures": measures,
            "rank_correlations": rank_correlations(measures), "mass": neurons_for_mass(both[group_by]),
            "sweep": sweep, **comparison, "timings": timings}


def compare_rankings(params, config, split, label_names, states, rng, group_by="predicted", n_random=20,
                     ks=CLAIM_KS):
    """Which ranking's top-k ablation hurts each label most, held out (output mode).

    Every ranking (analysis.sensitivity.all_measures) is computed on the
    ranking half of the sentences (states.split_halves: even indices) and
    scored on the other half, next to ``n_random`` random-k draws per (label, k)
    from all neurons. "measured_oracle" ranks by single-neuron drops on the
    scoring half itself, an in-sample upper bound kept out of any "best".
    Returns {"top_k_by_measure": {measure: {label: {k: {"drop", "selectivity"}}}},
    "random_k": {label: {k: {"drop", "selectivity"}}}, "comparison": {...the split...}}.
    """
    ranking_half, scoring_half = split_halves(len(states.lengths))
    ranking_states, scoring_states = subset_states(states, ranking_half), subset_states(states, scoring_half)
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)
    rankings = all_measures(ranking_states, W, b, group_by=group_by, measured=True)
    rankings[ORACLE] = measured_importance(scoring_states, W, b)
    by_measure = {}
    for name, ranking in rankings.items():
        result = run_ablation_sweep(params, config, None, label_names, scoring_states, ranking, modes=("output",),
                                    ks=ks, n_random=0, single_neuron=False, progress=False)
        by_measure[name] = top_k_summary(result, label_names)
    random = run_ablation_sweep(params, config, None, label_names, scoring_states, rankings["xin"],
                                modes=("output",), ks=ks, n_random=n_random, rng=rng, single_neuron=False,
                                progress=False)
    return {"top_k_by_measure": by_measure, "random_k": random_k_summary(random, label_names),
            "comparison": {"ranking_sentences": "even-numbered dev sentences (0, 2, 4, ...)",
                           "scoring_sentences": "odd-numbered dev sentences (1, 3, 5, ...)",
                           "n_ranking_tokens": ranking_states.n_tokens, "n_scoring_tokens": scoring_states.n_tokens,
                           "n_random": n_random, "random_pool": "all", "oracle": ORACLE}}


def top_k_summary(sweep, label_names, mode="output"):
    """{label: {k: {"drop", "selectivity"}}} of a sweep's top-k records."""
    table = {label: {} for label in label_names}
    for record in sweep["records"]:
        if record["mode"] == mode and record["strategy"] == "top":
            table[record["label"]][record["k"]] = {"drop": record["target_acc_drop"],
                                                    "selectivity": record["selectivity"]}
    return table


def _measure_table(result, label_names, k=5):
    """{label: {measure: top-k drop}} and the best measure per label."""
    table = {}
    for label in label_names:
        row = {name: drops.get(label, {}).get(k, {}).get("drop") for name, drops in result["top_k_by_measure"].items()}
        valid = {n: v for n, v in row.items() if n != ORACLE and v is not None and np.isfinite(v)}
        row["best"] = max(valid, key=valid.get) if valid else None     # the oracle is never "best"
        table[label] = row
    return table


def _comparison_sections(result, label_names, k=5):
    """Markdown: grouping by predicted vs gold label, and which ranking's top-k hurts each label most."""
    from .report.markdown import markdown_table
    spearman = result["group_spearman"]
    grouping = markdown_table(["label", "Spearman of sensitivity rows, predicted vs gold grouping"],
                              [[label, None if not np.isfinite(r) else float(r)] for label, r in
                               zip(label_names, spearman)])
    table = _measure_table(result, label_names, k)
    names = [n for n in result["top_k_by_measure"] if n != ORACLE] + [ORACLE]
    random = {label: result["random_k"].get(label, {}).get(k, {}).get("drop") for label in label_names}
    rows = [[label] + [None if table[label][n] is None else 100 * table[label][n] for n in names]
            + [None if random[label] is None else 100 * random[label], table[label]["best"]] for label in label_names]
    measures = markdown_table(["label"] + [f"{n} top-{k} drop (points)" for n in names]
                              + [f"random-{k} drop", "hurts most (oracle excluded)"], rows, "{:.2f}")
    split = result["comparison"]
    how = (f"Held out: every ranking is computed on the {split['ranking_sentences']} "
           f"({split['n_ranking_tokens']:,} tokens) and its top-{k} ablation is scored on the "
           f"{split['scoring_sentences']} ({split['n_scoring_tokens']:,} tokens); random-{k} is the mean of "
           f"{split['n_random']} draws from all neurons on the scoring half. `{ORACLE}` ranks by single-neuron "
           "drops measured on the scoring half itself: an in-sample oracle, shown for reference and never "
           "counted as the ranking that hurts most.")
    correlations = markdown_table(
        ["rankings compared", "mean per-label Spearman"],
        [[pair, float(np.nanmean(r)) if np.isfinite(r).any() else None]
         for pair, r in result["rank_correlations"].items()])
    return [("Grouping tokens by predicted or by gold label", grouping),
            (f"Which ranking's top-{k} ablation hurts each label most (output mode, held out)",
             how + "\n\n" + measures + "\n\nRank agreement between the importance measures (all of dev):\n\n"
             + correlations)]


def write_outputs(out_dir, models, label_names, command, seeds, metrics, timings, rng, data_summary=None,
                  model_summary=None):
    """Figures, ablation CSV, report.md and analysis.json for M dissected models.

    models: list of dissect_model results (the first is described in detail);
    metrics: {split: evaluate dict} of the first model.
    """
    figures_dir = out_dir / "figures"
    first = models[0]
    S, states, sweep = first["sensitivity"], first["states"], first["sweep"]
    summary = sweep["summary"]
    figures = {
        "sensitivity_heatmap": plots.plot_sensitivity_heatmap(S, label_names, figures_dir / "sensitivity_heatmap.png"),
        "tuning_curves": plots.plot_tuning_curves(states.hidden, states.pred if first["group_by"] == "predicted"
                                                  else states.gold, label_names, None,
                                                  figures_dir / "tuning_curves.png", S=S,
                                                  grouping=f"{first['group_by']} label"),
        "ablation_grid_output": plots.plot_ablation_grid(summary, None, label_names,
                                                         figures_dir / "ablation_grid_output.png", "output"),
        "single_neuron_histogram": plots.plot_single_neuron_histogram(
            sweep["single_neuron"]["output"]["token_acc_drop"], figures_dir / "single_neuron_histogram.png"),
    }
    k = DROP_MATRIX_K
    M = drop_matrix(sweep, label_names, k)
    figures["drop_matrix"] = plots.plot_drop_matrix(M, label_names, figures_dir / "drop_matrix.png", k)
    if "recurrent" in summary:
        figures["ablation_grid_recurrent"] = plots.plot_ablation_grid(
            summary, None, label_names, figures_dir / "ablation_grid_recurrent.png", "recurrent")
        figures["output_vs_recurrent"] = plots.plot_output_vs_recurrent(
            summary, label_names, k, figures_dir / "output_vs_recurrent.png")
    correlations = [label_correlation(m["sensitivity"]) for m in models]
    figures["label_correlations"] = plots.plot_label_correlations(
        correlations, label_names, figures_dir / "label_correlations.png", [f"seed {s}" for s in seeds])
    consistency = pairwise_consistency([m["sensitivity"] for m in models], label_names, rng) \
        if len(models) > 1 else None
    write_ablation_csv([flatten_record(r) for r in sweep["records"]], out_dir / "ablation.csv")

    context = {
        "title": "Measuring and dissecting the neurons of an LSTM tagger",
        "command": command, "seeds": list(seeds), "timings": timings, "labels": list(label_names),
        "data": data_summary or {}, "model": model_summary or {}, "metrics": metrics,
        "sensitivity": {"matrix": S, "labels": list(label_names), "top_k": 5,
                        "split": f"dev, tokens grouped by their {first['group_by']} label"},
        "ablation": {"summary": summary, "split": "dev", "n_random_draws": sweep["n_random"],
                     "random_pool": sweep["random_pool"]},
        "drop_matrix": {"k": k, "matrix": M},
        "single_neuron_drops": sweep["single_neuron"]["output"]["token_acc_drop"],
        "paper_findings": [paper_findings(C, label_names) for C in correlations],
        "figures": figures,
    }
    if consistency is not None:
        context["consistency"] = consistency
    context["sections"] = _comparison_sections(first, label_names)
    context["files"] = {
        "analysis.json (every number above)": out_dir / "analysis.json",
        "ablation.csv (one row per ablation)": out_dir / "ablation.csv",
        "metrics.json (scores, configuration, timings)": out_dir / "metrics.json",
        **{f"seed {s}: best checkpoint metadata": out_dir / f"seed{s}" / "best.json" for s in seeds},
        **{f"seed {s}: training log": out_dir / f"seed{s}" / "train_log.jsonl" for s in seeds},
    }
    write_report(out_dir / "report.md", context)
    context["extra"] = {
        "sensitivity_group_by": first["group_by"],
        f"sensitivity_grouped_by_{'gold' if first['group_by'] == 'predicted' else 'predicted'}": first["sensitivity_other"],
        "sensitivity_group_spearman": first["group_spearman"],
        "rank_correlations": first["rank_correlations"],
        "top5_drop_by_measure": _measure_table(first, label_names),
        "neurons_for_mass": {"fractions": [0.5, 0.8], "counts": first["mass"]},
        "single_neuron_recurrent_acc_drops": sweep["single_neuron"].get("recurrent", {}).get("token_acc_drop"),
        "ranking_comparison": first["comparison"],
        "per_seed": [{"seed": s, "sensitivity": m["sensitivity"], "ablation": m["sweep"]["summary"],
                      "n_random": m["sweep"]["n_random"], "random_pool": m["sweep"]["random_pool"],
                      "single_neuron": m["sweep"]["single_neuron"], "top_k_by_measure": m["top_k_by_measure"],
                      "random_k": m["random_k"], "ranking_comparison": m["comparison"],
                      "label_correlation": label_correlation(m["sensitivity"]),
                      "paper_findings": paper_findings(label_correlation(m["sensitivity"]), label_names)}
                     for s, m in zip(seeds, models)],
    }
    write_analysis_json(out_dir / "analysis.json", context)
    return context
