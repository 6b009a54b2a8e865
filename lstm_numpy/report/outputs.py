"""Writing a run's results: figures, ablation.csv, report.md and analysis.json.

Everything here formats what analysis.dissect measured (dissect_model per
seed, compare_models across seeds); nothing is measured or parsed back.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from ..analysis.dissect import ORACLE, best_rankings
from ..analysis.sweep import DROP_MATRIX_K
from ..atomic import atomic_write_text
from . import plots
from .analysis_json import write_analysis_json
from .markdown import write_report
from .tables import markdown_table


def _comparison_sections(result, label_names, k=5):
    """Markdown: grouping by predicted vs gold label, and which ranking's top-k hurts each label most."""
    spearman = result["group_spearman"]
    grouping = markdown_table(["label", "Spearman of sensitivity rows, predicted vs gold grouping"],
                              [[label, None if not np.isfinite(r) else float(r)] for label, r in
                               zip(label_names, spearman)])
    table = best_rankings(result, label_names, k)
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


def write_outputs(out_dir, models, comparison, label_names, command, seeds, metrics, timings, data_summary=None,
                  model_summary=None):
    """Figures, ablation CSV, report.md and analysis.json for M dissected models.

    models: M dissect_model results (the first is described in detail);
    comparison: compare_models of the M models; metrics: {split: evaluate dict}
    of the first model. Returns the report's context dict.
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
    K = len(label_names)
    M = sweep["drop_matrix"].get("output", {}).get(k, np.full((K, K), np.nan))
    figures["drop_matrix"] = plots.plot_drop_matrix(M, label_names, figures_dir / "drop_matrix.png", k)
    if "recurrent" in summary:
        figures["ablation_grid_recurrent"] = plots.plot_ablation_grid(
            summary, None, label_names, figures_dir / "ablation_grid_recurrent.png", "recurrent")
        figures["output_vs_recurrent"] = plots.plot_output_vs_recurrent(
            summary, label_names, k, figures_dir / "output_vs_recurrent.png")
    correlations, findings = comparison["correlations"], comparison["findings"]
    figures["label_correlations"] = plots.plot_label_correlations(
        correlations, label_names, figures_dir / "label_correlations.png", [f"seed {s}" for s in seeds])
    write_ablation_csv(sweep["records"], out_dir / "ablation.csv")

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
        "paper_findings": findings,
        "figures": figures,
    }
    if comparison["pairwise"] is not None:
        context["consistency"] = comparison["pairwise"]
    context["sections"] = _comparison_sections(first, label_names)
    context["files"] = {
        "explorer.html (the neuron explorer: every dev token, neuron by neuron; open it in a browser)":
            out_dir / "explorer.html",
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
        "top5_drop_by_measure": best_rankings(first, label_names),
        "neurons_for_mass": {"fractions": [0.5, 0.8], "counts": first["mass"]},
        "single_neuron_recurrent_acc_drops": sweep["single_neuron"].get("recurrent", {}).get("token_acc_drop"),
        "ranking_comparison": first["comparison"],
        "per_seed": [{"seed": s, "sensitivity": m["sensitivity"], "ablation": m["sweep"]["summary"],
                      "n_random": m["sweep"]["n_random"], "random_pool": m["sweep"]["random_pool"],
                      "single_neuron": m["sweep"]["single_neuron"], "top_k_by_measure": m["top_k_by_measure"],
                      "random_k": m["random_k"], "ranking_comparison": m["comparison"],
                      "label_correlation": C, "paper_findings": found}
                     for s, m, C, found in zip(seeds, models, correlations, findings)],
    }
    write_analysis_json(out_dir / "analysis.json", context)
    return context


# ------------------------------------------------------------ ablation.csv




def flatten_record(record):
    """One nested record -> one flat row: nested dicts become "<key>[<label>]" columns."""
    row = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for label, v in value.items():
                row[f"{key}[{label}]"] = v
        elif isinstance(value, (list, tuple)):
            row[key] = " ".join(str(v) for v in value)
        else:
            row[key] = value
    return row


def write_ablation_csv(rows, path):
    """Write records (nested or flat) as CSV, atomically; columns in first-seen order."""
    flat = [flatten_record(r) for r in rows]
    columns = list(dict.fromkeys(c for row in flat for c in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in flat:
        writer.writerow({c: ("" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                         for c, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
