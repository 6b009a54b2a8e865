"""Writing a run's results: figures, ablation.csv, report.md and analysis.json.

Everything here formats what analysis.dissect measured (a RunAnalysis: one
ModelDissection per seed and their Consistency, analysis.results); nothing is
measured or parsed back.
"""
from __future__ import annotations

import csv
import io

import numpy as np

from ..atomic import atomic_write_text
from . import plots
from .analysis_json import write_analysis_json
from .markdown import DROP_MATRIX_K, write_report


def write_figures(figures_dir, analysis, training=None):
    """Every figure of the report: {name: Path}; training: {seed: {"history": ...}} (ReportFacts.training)."""
    first, labels = analysis.models[0], list(analysis.labels)
    states, modes = first.states, first.sweep.modes
    figures = {
        "sensitivity_heatmap": plots.plot_sensitivity_heatmap(first.sensitivity, labels,
                                                              figures_dir / "sensitivity_heatmap.png"),
        "tuning_curves": plots.plot_tuning_curves(states.hidden, states.pred if first.group_by == "predicted"
                                                  else states.gold, labels, None,
                                                  figures_dir / "tuning_curves.png", S=first.sensitivity,
                                                  grouping=f"{first.group_by} label"),
        "ablation_grid_output": plots.plot_ablation_grid(modes["output"], labels,
                                                         figures_dir / "ablation_grid_output.png"),
        "single_neuron_histogram": plots.plot_single_neuron_histogram(
            modes["output"].single_neuron, figures_dir / "single_neuron_histogram.png"),
    }
    output, K = modes["output"], len(labels)
    M = output.drop_matrix[output.at(DROP_MATRIX_K)] if DROP_MATRIX_K in output.ks else np.full((K, K), np.nan)
    figures["drop_matrix"] = plots.plot_drop_matrix(M, labels, figures_dir / "drop_matrix.png", DROP_MATRIX_K)
    if "recurrent" in modes:
        figures["ablation_grid_recurrent"] = plots.plot_ablation_grid(
            modes["recurrent"], labels, figures_dir / "ablation_grid_recurrent.png")
        figures["output_vs_recurrent"] = plots.plot_output_vs_recurrent(
            modes, labels, DROP_MATRIX_K, figures_dir / "output_vs_recurrent.png")
    for seed, entry in (training or {}).items():
        figures[f"training_curves_seed{seed}"] = plots.plot_training_curves(
            {f"seed {seed}": entry["history"]}, figures_dir / f"training_curves_seed{seed}.png")
    if first.patching is not None and first.patching.n_used:
        figures["patching_heatmap"] = plots.plot_patching_heatmap(
            first.patching.effect, first.patching.offsets, first.patching.sites,
            figures_dir / "patching_heatmap.png", first.patching.n_used)
    figures["label_correlations"] = plots.plot_label_correlations(
        list(analysis.consistency.correlations), labels, figures_dir / "label_correlations.png",
        [f"seed {s}" for s in analysis.seeds])
    return figures


def write_outputs(out_dir, analysis, facts):
    """Figures, ablation.csv (the first model's sweep), report.md and analysis.json of a
    RunAnalysis; facts: the run's report.markdown.ReportFacts."""
    seeds = analysis.seeds
    figures = write_figures(out_dir / "figures", analysis, facts.training)
    write_ablation_csv(outcome_rows(analysis.models[0].sweep.outcomes), out_dir / "ablation.csv")
    files = {
        "explorer.html (the neuron explorer: every dev token, neuron by neuron; open it in a browser)":
            out_dir / "explorer.html",
        "analysis.json (every number above)": out_dir / "analysis.json",
        "ablation.csv (one row per ablation)": out_dir / "ablation.csv",
        "metrics.json (scores, configuration, timings)": out_dir / "metrics.json",
        "run.json (every option of the run, the data files and their checksums)": out_dir / "run.json",
        **{f"seed {s}: best checkpoint metadata": out_dir / f"seed{s}" / "best.json" for s in seeds},
        **{f"seed {s}: training log": out_dir / f"seed{s}" / "train_log.jsonl" for s in seeds},
    }
    write_report(out_dir / "report.md", analysis, facts, figures, files)
    write_analysis_json(out_dir / "analysis.json", analysis)


# ------------------------------------------------------------ ablation.csv


def outcome_rows(outcomes):
    """One nested record per ablation of engine.Outcomes, in plan order, for the CSV."""
    names = list(outcomes.labels)
    drops, selectivity = outcomes.target_drop, outcomes.selectivity
    as_dict = lambda values: {name: float(v) for name, v in zip(names, values)}  # noqa: E731
    rows = []
    for i, entry in enumerate(outcomes.items):
        label = entry.label
        entity = None if np.isnan(outcomes.entity_f1[i]) else float(outcomes.entity_f1[i])
        rows.append({
            "mode": entry.mode, "strategy": entry.strategy, "k": entry.k,
            "draw": None if entry.draw < 0 else entry.draw,
            "control": None if entry.control < 0 else names[entry.control], "neurons": list(entry.neurons),
            "label": names[label], "target_acc": float(outcomes.label_acc[i, label]),
            "target_acc_drop": float(drops[i]), "target_precision": float(outcomes.label_precision[i, label]),
            "target_f1": float(outcomes.label_f1[i, label]), "selectivity": float(selectivity[i]),
            "token_acc": float(outcomes.token_acc[i]), "token_acc_drop": outcomes.base_token_acc - outcomes.token_acc[i],
            "entity_f1": entity, "entity_f1_drop": None if entity is None else outcomes.base_entity_f1 - entity,
            "per_label_acc": as_dict(outcomes.label_acc[i]), "per_label_acc_drop": as_dict(outcomes.label_drop[i]),
            "per_label_precision": as_dict(outcomes.label_precision[i]), "per_label_f1": as_dict(outcomes.label_f1[i]),
            "lost_to": {name: int(c) for name, c in zip(names, outcomes.lost_to[i]) if c},
        })
    return rows


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
