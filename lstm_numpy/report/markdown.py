"""report.md from one plain dict of results (analysis.json: report.analysis_json).

Notation: K labels, H hidden neurons. Accuracies and drops are fractions in the
context and shown in the report as percentages / accuracy points (x 100);
entity F1 is already a percentage (as `evaluation.metrics.evaluate` gives it).

The context dict (every key optional; a missing part is skipped or explained):

  "title"        str
  "command"      str, the exact command line that produced the run
  "seeds"        list[int], one per model; the first is the model the
                 single-model sections describe
  "timings"      {step: seconds}
  "data"         {name: scalar} shown as a list, and/or {name: {column: value}}
                 (e.g. "splits": {"train": {"sentences": .., "tokens": ..}}) as a table
  "model"        {name: value}, the model configuration
  "labels"       list of K label names
  "metrics"      {split: `evaluation.metrics.evaluate` dict}; uses "token_acc"
                 (or "token_accuracy"), "entity_f1", "per_label_acc" {label: acc}
  "metrics_by_seed"  {seed: {split: metrics dict}}, a per-seed summary table
  "sensitivity"  {"matrix": (K, H), "labels": K names (default "labels"),
                  "top_k": neurons per label in the table (default 5), "split": str}
  "ablation"     {"summary": {mode: {strategy: {label: {k: drop}}}},
                  "random_ci": {mode: {label: {k: [low, high]}}} (or, as
                  `analysis.sweep.run_ablation_sweep` gives it, summary[mode]["random_ci"]),
                  "split": str,
                  "n_random_draws": {mode: int} (or one int), "random_pool": "all" | "outside-top"};
                  mode in "output", "recurrent",
                  strategy in "top", "random", "bottom", "control"
  "drop_matrix"  {"k": int, "matrix": (K, K) drops, rows ablated label, columns measured label}
  "single_neuron_drops"  (H,) overall token-accuracy drop when ablating each neuron alone
  "consistency"  the dict `analysis.consistency.pairwise_consistency` returns
  "paper_findings"  list of `analysis.consistency.paper_findings` dicts, one per
                 model; used when "consistency" is absent (e.g. a single seed)
  "figures"      {name: path}; file paths, absolute or relative to the current
                 directory, linked relative to the report's own folder (so the
                 report renders wherever it is opened). Known names are shown in their section:
                 sensitivity_heatmap, tuning_curves, ablation_grid_output,
                 ablation_grid_recurrent, output_vs_recurrent, drop_matrix,
                 single_neuron_histogram, label_correlations; others at the end.
  "files"        {name: path} of the run's other files, listed (and linked like figures) at the end
  "notes"        list[str], shown at the top
  "sections"     list of (title, markdown body), added after the consistency section
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lstm_numpy.analysis.sweep import MODES
from lstm_numpy.atomic import atomic_write_text
from lstm_numpy.labels import NOT_CHUNKING
from lstm_numpy.report.tables import (chance_level, decoding_note, format_value, get_k, link, markdown_table,
                                      number, points, token_acc)

__all__ = ["write_report"]

SECTION_FIGURES = {
    "sensitivity": ("sensitivity_heatmap", "tuning_curves"),
    "ablation": ("ablation_grid_output", "ablation_grid_recurrent", "output_vs_recurrent", "drop_matrix"),
    "single": ("single_neuron_histogram",),
    "consistency": ("label_correlations",),
}


def _figure(context, name, report_dir: Path, used: set) -> list[str]:
    path = context.get("figures", {}).get(name)
    if path is None:
        return []
    used.add(name)
    return [f"![{name.replace('_', ' ')}]({link(path, report_dir)})", ""]


def _entity_cell(metrics: Mapping):
    """The entity F1 of one split's metrics, or the words that say why there is none."""
    if metrics.get("label_scheme") == "none":
        return NOT_CHUNKING
    return number(metrics.get("entity_f1"))


def _metrics_section(context) -> list[str]:
    metrics, labels = context.get("metrics"), context.get("labels")
    if not metrics:
        return ["## Metrics", "", "No metrics were given.", ""]
    lines = ["## Metrics", ""]
    splits = list(metrics)
    rows = [[split, 100 * number(token_acc(metrics[split])), _entity_cell(metrics[split])] for split in splits]
    lines += [markdown_table(["split", "token accuracy (%)", "entity F1 (%)"], rows, "{:.2f}"), ""]
    if all(metrics[split].get("label_scheme") == "none" for split in splits):
        lines += ["The labels are plain tags with no chunk scheme (B-/I-/E-/S-), so there are no entities to "
                  "score: the best epoch was chosen by dev token accuracy.", ""]
    elif (context.get("model") or {}).get("decode") == "constrained":
        argmax = [(split, metrics[split].get("argmax_entity_f1")) for split in splits]
        lines += [decoding_note("constrained", argmax, "the analysis below"), ""]
    scores = (("per_label_acc", "accuracy"), ("per_label_precision", "precision"), ("per_label_f1", "F1"))
    per_label = {(split, key): metrics[split].get(key) or {} for split in splits for key, _ in scores}
    names = labels or list(next((pl for pl in per_label.values() if pl), {}))
    if names and any(per_label.values()):
        rows = [[name] + [100 * number(per_label[split, key].get(name)) for split in splits for key, _ in scores]
                for name in names]
        lines += ["Per label (%; accuracy is the recall of the gold label, the paper's per-label measure; "
                  "n/a where a label has no gold or no predicted tokens):", "",
                  markdown_table(["label"] + [f"{split} {what}" for split in splits for _, what in scores],
                                 rows, "{:.2f}"), ""]
    by_seed = context.get("metrics_by_seed")
    if by_seed:
        rows = [[seed, split, 100 * number(token_acc(m)), _entity_cell(m)]
                for seed, per_split in by_seed.items() for split, m in per_split.items()]
        lines += ["Per seed:", "", markdown_table(["seed", "split", "token accuracy (%)", "entity F1 (%)"],
                                                  rows, "{:.2f}"), ""]
    return lines


def _sensitivity_section(context, report_dir, used) -> list[str]:
    sensitivity = context.get("sensitivity")
    lines = ["## Sensitivity", ""]
    if not sensitivity or sensitivity.get("matrix") is None:
        return lines + ["No sensitivity matrix was given.", ""]
    S = np.asarray(sensitivity["matrix"], dtype=float)
    labels = sensitivity.get("labels") or context.get("labels") or [str(k) for k in range(S.shape[0])]
    top_k = int(sensitivity.get("top_k", 5))
    where = f" on {sensitivity['split']}" if sensitivity.get("split") else ""
    lines += [f"Sensitivity of neuron j to label i{where}: mean of W[i, j] h_j on tokens of label i "
              f"minus its mean on other tokens. Top {top_k} neurons per label (neuron: sensitivity):", ""]
    rows = []
    for name, row in zip(labels, S):
        if np.all(np.isnan(row)):
            rows.append([name, "label absent from the split"])
            continue
        order = np.argsort(-np.nan_to_num(row, nan=-np.inf))[:top_k]
        rows.append([name, ", ".join(f"{j}: {row[j]:.3f}" for j in order)])
    lines += [markdown_table(["label", f"top {top_k} neurons"], rows), ""]
    for name in SECTION_FIGURES["sensitivity"]:
        lines += _figure(context, name, report_dir, used)
    return lines


def _ablation_section(context, report_dir, used) -> list[str]:
    ablation = context.get("ablation")
    lines = ["## Ablation", ""]
    if not ablation or not ablation.get("summary"):
        return lines + ["No ablation results were given.", ""]
    summary, ci = ablation["summary"], ablation.get("random_ci") or {}
    where = f" on {ablation['split']}" if ablation.get("split") else ""
    pool = ("drawn only from the neurons outside the label's top-k" if ablation.get("random_pool") == "outside-top"
            else "drawn from all neurons, so a draw may include some of the label's top-k")
    lines += [f"Target-label accuracy drop (points){where} after zeroing k neurons: the label's top-k "
              f"sensitive neurons, k random neurons ({pool}; mean [2.5th, 97.5th percentile of the draws]), "
              "its k least sensitive (bottom), and the top-k of another label (control).", ""]
    n_draws = ablation.get("n_random_draws")
    labels = context.get("labels")
    for mode in MODES:
        if mode not in summary:
            lines += [f"No {mode} ablation in this run.", ""]
            continue
        per_strategy = summary[mode]
        names = labels or sorted({name for per_label in per_strategy.values() for name in per_label})
        ks = sorted({int(k) for per_label in per_strategy.values() for per_k in per_label.values() for k in per_k})
        strategies = [s for s in ("top", "random", "bottom", "control") if s in per_strategy]
        rows = []
        for name in names:
            for k in ks:
                row = [name, k]
                interval = get_k((ci.get(mode) or per_strategy.get("random_ci") or {}).get(name), k)
                for strategy in strategies:
                    drop = get_k(per_strategy[strategy].get(name), k)
                    cell = points(drop)
                    if strategy == "random" and drop is not None and interval is not None:
                        cell += f" [{points(interval[0])}, {points(interval[1])}]"
                    row.append(cell)
                top = get_k(per_strategy.get("top", {}).get(name), k)
                high = None if interval is None else interval[1]
                row.append(None if top is None or high is None else bool(top > high))
                rows.append(row)
        draws = n_draws.get(mode) if isinstance(n_draws, Mapping) else n_draws
        lines += [f"### {mode.capitalize()} ablation", "",
                  f"Random-k: {draws} draws per label and k." if draws else "Random-k: number of draws not given.", "",
                  markdown_table(["label", "k"] + strategies + ["top above random interval"], rows), ""]
        lines += _figure(context, f"ablation_grid_{mode}", report_dir, used)
    lines += _figure(context, "output_vs_recurrent", report_dir, used)
    drop_matrix = context.get("drop_matrix")
    if drop_matrix and drop_matrix.get("matrix") is not None:
        M = np.asarray(drop_matrix["matrix"], dtype=float)
        names = labels or [str(k) for k in range(M.shape[0])]
        lines += [f"### Which labels suffer (k={drop_matrix.get('k')})", "",
                  "Rows: label whose top-k neurons are ablated; columns: label whose accuracy drop (points) "
                  "is measured.", "",
                  markdown_table(["ablated \\ measured"] + list(names),
                                 [[name] + list(100 * M[i]) for i, name in enumerate(names)], "{:.1f}"), ""]
    lines += _figure(context, "drop_matrix", report_dir, used)
    return lines


def _single_neuron_section(context, report_dir, used) -> list[str]:
    lines = ["## Single-neuron ablation", ""]
    drops = context.get("single_neuron_drops")
    if drops is None:
        return lines + ["No single-neuron drops were given.", ""]
    drops = np.asarray(drops, dtype=float)
    finite = drops[np.isfinite(drops)]
    if finite.size == 0:
        return lines + ["All single-neuron drops are undefined.", ""]
    rows = [["neurons with a defined drop", finite.size], ["mean drop (points)", 100 * finite.mean()],
            ["max drop (points)", 100 * finite.max()], ["neuron with the max drop", int(np.nanargmax(drops))],
            ["fraction of neurons below 0.5 points", float(np.mean(finite < 0.005))]]
    lines += ["Overall token-accuracy drop from zeroing one neuron at a time:", "",
              markdown_table(["statistic", "value"], rows, "{:.3f}"), ""]
    return lines + _figure(context, "single_neuron_histogram", report_dir, used)


def _findings_lines(findings: dict, title: str) -> list[str]:
    if not findings.get("applicable", True):
        return [f"{title}: not applicable ({findings.get('reason', NOT_CHUNKING)}).", ""]
    rows = []
    for name, finding in findings["findings"].items():
        failing = [f"{a}/{b} ({value:+.2f})" for a, b, value, holds in finding["pairs"] if not holds]
        skipped = ", ".join(f"{a}/{b}" for a, b, _ in finding["skipped"])
        rows.append([name, f"{finding['n_holding']}/{finding['n_checked']}", ", ".join(failing) or "-",
                     skipped or "-"])
    return [f"{title}: {findings['n_holding']}/{findings['n_checked']} pairs agree with the paper.", "",
            markdown_table(["finding", "holds", "pairs that do not hold", "skipped (label missing or absent)"], rows), ""]


def _consistency_section(context, report_dir, used) -> list[str]:
    lines = ["## Consistency across seeds", ""]
    consistency, seeds = context.get("consistency"), list(context.get("seeds") or [])
    findings = consistency.get("findings") if consistency else context.get("paper_findings")
    names = [f"seed {s}" for s in seeds] if findings and len(seeds) == len(findings) else \
        [f"model {m}" for m in range(len(findings or []))]
    for name, one in zip(names, findings or []):
        lines += _findings_lines(one, f"Paper findings, {name}")
    if not consistency or not consistency.get("pairs"):
        lines += [f"No comparison across seeds: it needs at least two models with different seeds, "
                  f"and this run has {len(seeds) or 'one'} ({', '.join(map(str, seeds)) or 'seed not given'}).", ""]
        return lines + _figure(context, "label_correlations", report_dir, used)
    label = (lambda m: f"seed {seeds[m]}") if len(seeds) == len(consistency.get("correlations", seeds)) \
        else (lambda m: f"model {m}")
    threshold = consistency.get("threshold", 0.8)
    rows = [[label(p["a"]), label(p["b"]), p["mantel_r"], p["mantel_p"],
             f"{p['n_matched_above']}/{p['n_matched']}", chance_level(p)] for p in consistency["pairs"]]
    shuffles = consistency.get("n_shuffles")
    lines += ["Mantel test on the label x label correlation matrices (labels permuted; one-sided p), and a "
              f"Hungarian matching of neurons by sensitivity profile (pairs with profile r > {threshold}; "
              "the last column is the same count after shuffling one model's label rows, a chance level: "
              f"the mean [2.5th, 97.5th percentile] over {shuffles or 'several'} shuffles):", "",
              markdown_table(["model A", "model B", "Mantel r", "p", f"matched r > {threshold}",
                              "chance level"], rows, "{:.3g}"), "",
              f"Mean Mantel r: {format_value(consistency.get('mean_mantel_r'))}; "
              f"largest p: {format_value(consistency.get('max_mantel_p'), '{:.3g}')}.", ""]
    return lines + _figure(context, "label_correlations", report_dir, used)


def write_report(path, context: dict) -> Path:
    """Write report.md at `path` (atomically) from `context` (keys in the module docstring)."""
    path = Path(path)
    report_dir = path.parent.resolve()
    used: set = set()
    lines = [f"# {context.get('title', 'What part of the LSTM does this? Neuron analysis')}", ""]
    lines += [f"> {note}" for note in context.get("notes", [])] + ([""] if context.get("notes") else [])
    lines += ["## Run", ""]
    if context.get("command"):
        lines += ["```", context["command"], "```", ""]
    if context.get("seeds") is not None:
        lines += [f"Seeds: {', '.join(map(str, context['seeds']))}", ""]
    if context.get("timings"):
        lines += [markdown_table(["step", "seconds"], list(context["timings"].items()), "{:.1f}"), ""]
    data = context.get("data") or {}
    if data:
        lines += ["## Data", ""]
        lines += [f"- {key}: {format_value(value)}" for key, value in data.items() if not isinstance(value, Mapping)]
        for key, table in data.items():
            if isinstance(table, Mapping):
                columns = list(dict.fromkeys(c for row in table.values() if isinstance(row, Mapping) for c in row))
                rows = [[name] + [row.get(c) if isinstance(row, Mapping) else row for c in columns]
                        for name, row in table.items()]
                lines += ["", markdown_table([key] + columns, rows)]
        lines += [""]
    if context.get("model"):
        lines += ["## Model", "", markdown_table(["setting", "value"],
                                                 [[k, format_value(v)] for k, v in context["model"].items()]), ""]
    lines += _metrics_section(context)
    lines += _sensitivity_section(context, report_dir, used)
    lines += _ablation_section(context, report_dir, used)
    lines += _single_neuron_section(context, report_dir, used)
    lines += _consistency_section(context, report_dir, used)
    for title, body in context.get("sections", []):
        lines += [f"## {title}", "", body, ""]
    files = context.get("files") or {}
    if files:
        lines += ["## Files", ""] + [f"- [{name}]({link(path, report_dir)})" for name, path in files.items()] + [""]
    others = [name for name in context.get("figures", {}) if name not in used]
    if others:
        lines += ["## Other figures", ""]
        for name in others:
            lines += _figure(context, name, report_dir, used)
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path
