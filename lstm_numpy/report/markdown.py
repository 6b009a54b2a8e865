"""report.md from a run's typed results (analysis.results.RunAnalysis) and the facts of
the run around them (:class:`ReportFacts`: command, timings, data, model, metrics).

Notation: K labels, H hidden neurons, J k values. Accuracies and drops are fractions
in the records and shown in the report as percentages / accuracy points (x 100);
entity F1 is already a percentage (as `evaluation.metrics.evaluate` gives it).

The first model (the run's first seed) is the one the single-model sections describe;
the consistency section covers every model.  Figures are {name: path}: file paths,
absolute or relative to the current directory, linked relative to the report's own
folder (so the report renders wherever it is opened).  Known names are shown in their
section: sensitivity_heatmap, tuning_curves, ablation_grid_output,
ablation_grid_recurrent, output_vs_recurrent, drop_matrix, single_neuron_histogram,
label_correlations; others at the end.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..analysis.results import MODES, STRATEGIES
from ..atomic import atomic_write_text
from ..labels import NOT_CHUNKING
from .tables import chance_level, decoding_note, format_value, link, markdown_table, number, points, token_acc

__all__ = ["ReportFacts", "write_report", "DROP_MATRIX_K", "COMPARISON_K"]

DROP_MATRIX_K = 5    # the "which labels suffer" matrix
COMPARISON_K = 5     # the held-out comparison of rankings shown in the report
SENSITIVITY_TOP = 5  # neurons listed per label

SECTION_FIGURES = {
    "sensitivity": ("sensitivity_heatmap", "tuning_curves"),
    "ablation": ("ablation_grid_output", "ablation_grid_recurrent", "output_vs_recurrent", "drop_matrix"),
    "single": ("single_neuron_histogram",),
    "consistency": ("label_correlations",),
    "patching": ("patching_heatmap",),
}


class ReportFacts(NamedTuple):
    """What report.md says about a run beside its analysis."""

    command: str                 # the command line that produced the run
    timings: dict                # {step: seconds}
    data: dict                   # {name: scalar} listed, and/or {name: {row: {column: value}}} as a table
    model: dict                  # {setting: value}
    metrics: dict                # {split: evaluation.metrics.evaluate dict} of the first model
    training: dict = None        # {seed: {"history", "stopped", "schedule", "best_epoch", "degenerate"}}
    warning: str | None = None   # the report's first line, when its models learned nothing
    notes: tuple = ()            # shown at the top
    title: str = "Measuring and dissecting the neurons of an LSTM tagger"


class _Page(NamedTuple):
    analysis: object             # RunAnalysis
    facts: ReportFacts
    figures: dict
    report_dir: Path
    used: set


def _figure(page, name) -> list[str]:
    path = page.figures.get(name)
    if path is None:
        return []
    page.used.add(name)
    return [f"![{name.replace('_', ' ')}]({link(path, page.report_dir)})", ""]


def _entity_cell(metrics: Mapping):
    """The entity F1 of one split's metrics, or the words that say why there is none."""
    if metrics.get("label_scheme") == "none":
        return NOT_CHUNKING
    return number(metrics.get("entity_f1"))


def _metrics_section(page) -> list[str]:
    metrics, labels = page.facts.metrics, list(page.analysis.labels)
    if not metrics:
        return ["## Metrics", "", "No metrics were given.", ""]
    lines = ["## Metrics", ""]
    splits = list(metrics)
    rows = [[split, 100 * number(token_acc(metrics[split])), _entity_cell(metrics[split])] for split in splits]
    lines += [markdown_table(["split", "token accuracy (%)", "entity F1 (%)"], rows, "{:.2f}"), ""]
    if all(metrics[split].get("label_scheme") == "none" for split in splits):
        lines += ["The labels are plain tags with no chunk scheme (B-/I-/E-/S-), so there are no entities to "
                  "score: the best epoch was chosen by dev token accuracy.", ""]
    elif page.facts.model.get("decode") == "constrained":
        argmax = [(split, metrics[split].get("argmax_entity_f1")) for split in splits]
        lines += [decoding_note("constrained", argmax, "the analysis below"), ""]
    scores = (("per_label_acc", "accuracy"), ("per_label_precision", "precision"), ("per_label_f1", "F1"))
    per_label = {(split, key): metrics[split].get(key) or {} for split in splits for key, _ in scores}
    if labels and any(per_label.values()):
        rows = [[name] + [100 * number(per_label[split, key].get(name)) for split in splits for key, _ in scores]
                for name in labels]
        lines += ["Per label (%; accuracy is the recall of the gold label, the paper's per-label measure; "
                  "n/a where a label has no gold or no predicted tokens):", "",
                  markdown_table(["label"] + [f"{split} {what}" for split in splits for _, what in scores],
                                 rows, "{:.2f}"), ""]
    return lines


def _training_section(page) -> list[str]:
    training = page.facts.training
    if not training:
        return []
    rows = [[seed, len(entry["history"]), entry["best_epoch"], entry["stopped"] or "-",
             "; ".join(entry.get("degenerate") or []) or "-"] for seed, entry in training.items()]
    schedules = sorted({entry["schedule"] for entry in training.values()})
    lines = ["## Training", "", f"Schedule: {'; '.join(schedules)}.", "",
             markdown_table(["seed", "epochs", "best epoch", "how it ended", "learned nothing?"], rows), ""]
    for seed in training:
        lines += [f"Seed {seed}:", ""] + _figure(page, f"training_curves_seed{seed}")
    return lines


def _sensitivity_section(page) -> list[str]:
    first, labels = page.analysis.models[0], page.analysis.labels
    lines = ["## Sensitivity", "",
             f"Sensitivity of neuron j to label i on dev, tokens grouped by their {first.group_by} label: mean of "
             "W[i, j] h_j on tokens of label i minus its mean on other tokens. Top "
             f"{SENSITIVITY_TOP} neurons per label (neuron: sensitivity):", ""]
    rows = []
    for name, row in zip(labels, first.sensitivity):
        if np.all(np.isnan(row)):
            rows.append([name, "label absent from the split"])
            continue
        order = np.argsort(-np.nan_to_num(row, nan=-np.inf))[:SENSITIVITY_TOP]
        rows.append([name, ", ".join(f"{j}: {row[j]:.3f}" for j in order)])
    lines += [markdown_table(["label", f"top {SENSITIVITY_TOP} neurons"], rows), ""]
    for name in SECTION_FIGURES["sensitivity"]:
        lines += _figure(page, name)
    return lines


def _mode_table(sweep, labels) -> str:
    """One mode's sweep: a row per label and k, a column per strategy, and whether top-k
    lies above the random draws' interval."""
    rows = []
    for label, name in enumerate(labels):
        for j, k in enumerate(sweep.ks):
            row = [name, k]
            low, high = sweep.random_interval[label, j]
            for strategy in STRATEGIES:
                drop = getattr(sweep, strategy)[label, j]
                cell = points(drop)
                if strategy == "random" and np.isfinite(drop) and np.isfinite(low):
                    cell += f" [{points(low)}, {points(high)}]"
                row.append(cell)
            top = sweep.top[label, j]
            row.append(None if not (np.isfinite(top) and np.isfinite(high)) else bool(top > high))
            rows.append(row)
    return markdown_table(["label", "k", *STRATEGIES, "top above random interval"], rows)


def _ablation_section(page) -> list[str]:
    sweep, labels = page.analysis.models[0].sweep, list(page.analysis.labels)
    lines = ["## Ablation", ""]
    if sweep is None or not sweep.modes:
        return lines + ["No ablation results were given.", ""]
    pool = ("drawn only from the neurons outside the label's top-k" if sweep.random_pool == "outside-top"
            else "drawn from all neurons, so a draw may include some of the label's top-k")
    lines += ["Target-label accuracy drop (points) on dev after zeroing k neurons: the label's top-k "
              f"sensitive neurons, k random neurons ({pool}; mean [2.5th, 97.5th percentile of the draws]), "
              "its k least sensitive (bottom), and the top-k of another label (control).", ""]
    for mode in MODES:
        if mode not in sweep.modes:
            lines += [f"No {mode} ablation in this run.", ""]
            continue
        swept = sweep.modes[mode]
        lines += [f"### {mode.capitalize()} ablation", "", f"Random-k: {swept.n_random} draws per label and k.", "",
                  _mode_table(swept, labels), ""]
        lines += _figure(page, f"ablation_grid_{mode}")
    lines += _figure(page, "output_vs_recurrent")
    output = sweep.modes.get("output")
    if output is not None and DROP_MATRIX_K in output.ks:
        M = output.drop_matrix[output.at(DROP_MATRIX_K)]
        lines += [f"### Which labels suffer (k={DROP_MATRIX_K})", "",
                  "Rows: label whose top-k neurons are ablated; columns: label whose accuracy drop (points) "
                  "is measured.", "",
                  markdown_table(["ablated \\ measured"] + labels,
                                 [[name] + list(100 * M[i]) for i, name in enumerate(labels)], "{:.1f}"), ""]
    lines += _figure(page, "drop_matrix")
    return lines


def _single_neuron_section(page) -> list[str]:
    lines = ["## Single-neuron ablation", ""]
    output = page.analysis.models[0].sweep.modes.get("output") if page.analysis.models[0].sweep else None
    if output is None or output.single_neuron is None:
        return lines + ["No single-neuron drops were given.", ""]
    drops = output.single_neuron
    finite = drops[np.isfinite(drops)]
    if finite.size == 0:
        return lines + ["All single-neuron drops are undefined.", ""]
    rows = [["neurons with a defined drop", finite.size], ["mean drop (points)", 100 * finite.mean()],
            ["max drop (points)", 100 * finite.max()], ["neuron with the max drop", int(np.nanargmax(drops))],
            ["fraction of neurons below 0.5 points", float(np.mean(finite < 0.005))]]
    lines += ["Overall token-accuracy drop from zeroing one neuron at a time:", "",
              markdown_table(["statistic", "value"], rows, "{:.3f}"), ""]
    return lines + _figure(page, "single_neuron_histogram")


def findings_lines(findings, title: str) -> list[str]:
    """One model's Findings (analysis.results) as a sentence and a table."""
    if not findings.applicable:
        return [f"{title}: not applicable ({findings.reason or NOT_CHUNKING}).", ""]
    rows = []
    for name, finding in findings.findings.items():
        failing = [f"{pair.a}/{pair.b} ({pair.value:+.2f})" for pair in finding.pairs if not pair.holds]
        skipped = ", ".join(f"{pair.a}/{pair.b}" for pair in finding.skipped)
        rows.append([name, f"{finding.n_holding}/{finding.n_checked}", ", ".join(failing) or "-", skipped or "-"])
    return [f"{title}: {findings.n_holding}/{findings.n_checked} pairs agree with the paper.", "",
            markdown_table(["finding", "holds", "pairs that do not hold", "skipped (label missing or absent)"], rows), ""]


def _consistency_section(page) -> list[str]:
    lines = ["## Consistency across seeds", ""]
    consistency, seeds = page.analysis.consistency, list(page.analysis.seeds)
    for seed, one in zip(seeds, consistency.findings):
        lines += findings_lines(one, f"Paper findings, seed {seed}")
    if not consistency.pairs:
        lines += [f"No comparison across seeds: it needs at least two models with different seeds, "
                  f"and this run has {len(seeds)} ({', '.join(map(str, seeds))}).", ""]
        return lines + _figure(page, "label_correlations")
    threshold = consistency.threshold
    rows = [[f"seed {seeds[p.a]}", f"seed {seeds[p.b]}", p.mantel_r, p.mantel_p, f"{p.n_matched_above}/{p.n_matched}",
             chance_level(p)] for p in consistency.pairs]
    lines += ["Mantel test on the label x label correlation matrices (labels permuted; one-sided p), and a "
              f"Hungarian matching of neurons by sensitivity profile (pairs with profile r > {threshold}; "
              "the last column is the same count after shuffling one model's label rows, a chance level: "
              f"the mean [2.5th, 97.5th percentile] over {consistency.n_shuffles} shuffles):", "",
              markdown_table(["model A", "model B", "Mantel r", "p", f"matched r > {threshold}",
                              "chance level"], rows, "{:.3g}"), "",
              f"Mean Mantel r: {format_value(consistency.mean_mantel_r)}; "
              f"largest p: {format_value(consistency.max_mantel_p, '{:.3g}')}.", ""]
    return lines + _figure(page, "label_correlations")


def _comparison_sections(page) -> list[str]:
    """Grouping by predicted vs gold label, and which ranking's top-k hurts each label most."""
    first, labels, k = page.analysis.models[0], page.analysis.labels, COMPARISON_K
    lines = ["## Grouping tokens by predicted or by gold label", "",
             markdown_table(["label", "Spearman of sensitivity rows, predicted vs gold grouping"],
                            [[label, None if not np.isfinite(r) else float(r)]
                             for label, r in zip(labels, first.group_spearman)]), ""]
    comparison = first.rankings
    if comparison is None or k not in comparison.ks:
        return lines
    j = comparison.at(k)
    names = [n for n in comparison.measures if n != comparison.oracle] + [comparison.oracle]
    best = comparison.best(k)
    rows = [[label] + [100 * comparison.of(n)[i, j] if np.isfinite(comparison.of(n)[i, j]) else None for n in names]
            + [100 * comparison.random_drop[i, j] if np.isfinite(comparison.random_drop[i, j]) else None, best[i]]
            for i, label in enumerate(labels)]
    table = markdown_table(["label"] + [f"{n} top-{k} drop (points)" for n in names]
                           + [f"random-{k} drop", "hurts most (oracle excluded)"], rows, "{:.2f}")
    how = (f"Held out: every ranking is computed on the {comparison.ranking_sentences} "
           f"({comparison.n_ranking_tokens:,} tokens) and its top-{k} ablation is scored on the "
           f"{comparison.scoring_sentences} ({comparison.n_scoring_tokens:,} tokens); random-{k} is the mean of "
           f"{comparison.n_random} draws from all neurons on the scoring half. `{comparison.oracle}` ranks by "
           "single-neuron drops measured on the scoring half itself: an in-sample oracle, shown for reference and "
           "never counted as the ranking that hurts most.")
    correlations = markdown_table(
        ["rankings compared", "mean per-label Spearman"],
        [[pair, float(np.nanmean(r)) if np.isfinite(r).any() else None]
         for pair, r in first.rank_correlations.items()])
    return lines + [f"## Which ranking's top-{k} ablation hurts each label most (output mode, held out)", "",
                    how, "", table, "", "Rank agreement between the importance measures (all of dev):", "",
                    correlations, ""]


def _probe_section(page) -> list[str]:
    first, labels = page.analysis.models[0], list(page.analysis.labels)
    if not first.probes:
        return []
    rows = [[probe.target, len(probe.classes), 100 * probe.accuracy, 100 * probe.majority,
             100 * probe.control_accuracy, 100 * probe.selectivity, probe.l1, probe.n_train, probe.n_heldout]
            for probe in first.probes]
    lines = ["## Probes", "",
             "A linear probe (multinomial logistic regression with an elastic net, as NeuroX's linguistic correlation "
             "analysis; `lstm_numpy/analysis/probe.py`) reads each property off the standardised hidden states. It is "
             "trained on the even-numbered dev sentences (its strength chosen on a quarter of them) and scored on the "
             "odd-numbered ones, beside the most frequent class and a control task (Hewitt and Liang: every word type "
             "given a random label); selectivity is the accuracy minus the control's. Its per-label weights |W| are "
             "one more ranking in the held-out comparison above (`probe`).", "",
             markdown_table(["property", "classes", "accuracy (%)", "majority (%)", "control (%)", "selectivity (points)",
                             "strength", "training tokens", "held-out tokens"], rows, "{:.2f}"), ""]
    for probe in first.probes:
        if probe.top_drop is None:
            continue
        rows = [[name] + list(100 * probe.top_drop[c]) for c, name in enumerate(probe.classes)]
        lines += [f"What {probe.target} is worth to the model's own labels: the accuracy drop (points, held out) of "
                  f"each label when a class's top {probe.top_k} neurons by the probe's weights are ablated (output "
                  "mode):", "", markdown_table(["class \\ label"] + labels, rows, "{:.1f}"), ""]
    return lines


GATE_WORDS = {"f": "forget gate 0 (no memory)", "i": "input gate 0 (no writing)", "o": "output gate 0 (silent)"}


def _patching_section(page) -> list[str]:
    """Activation patching on minimal pairs and the gate clamps of each label's top neurons."""
    first, labels = page.analysis.models[0], list(page.analysis.labels)
    patching, clamps = first.patching, first.clamps
    if patching is None:
        return []
    lines = ["## Activation patching over time", "",
             f"Minimal pairs ({patching.source}): two sentences identical but for the context that decides one "
             "token's label. For each pair the model's logit difference at that token, clean label minus corrupted "
             "label, is measured on both sentences; then the corrupted sentence is run again with one neuron's `h` "
             "(or `c`) at one step copied from the clean run (`lstm_numpy/analysis/patching.py`). The fraction of "
             "the difference that one value restores is 1 when it carries the whole decision and 0 when it carries "
             "none." + (f" A step is a token, patched in the direction the neuron belongs to (neurons "
                        f"0-{first.sensitivity.shape[1] // 2 - 1} forward, the rest backward); offsets count tokens "
                        "from the one read." if page.facts.model.get("bidirectional") else
                        " Offsets count steps from the token read."), "",
             f"Pairs read as intended (each sentence given its label at the token read), so averaged: "
             f"**{patching.n_used} of {patching.n_pairs}**.", ""]
    if not patching.n_used:
        return lines + ["No pair is read as intended, so there is nothing to average.", ""]
    lines += _figure(page, "patching_heatmap")
    used = patching.used
    k = SENSITIVITY_TOP
    rows = []
    for label in range(len(labels)):
        n = int(np.sum(used & (patching.clean_labels == label)))
        if not n:
            continue
        top = patching.top(label, k)
        row = [labels[label], n, " ".join(map(str, top)), f"{np.nanmax(patching.ranking[label]):.2f}"]
        for name in first.measures:
            other = np.argsort(np.where(np.isnan(first.measures[name][label]), np.inf, -first.measures[name][label]),
                               kind="stable")[:k]
            row.append(f"{len(set(top) & set(other))}/{k}")
        rows.append(row)
    names = list(first.measures)
    lines += [f"Each label's top-{k} neurons by the total fraction patching `h` restores (summed over the steps, "
              f"mean over its pairs), beside how many of them each ranking's top-{k} on all of dev shares:", "",
              markdown_table(["clean label", "pairs", f"top-{k} by patching", "largest total"]
                             + [f"shared with {name}" for name in names], rows), ""]
    comparison = first.rankings
    if comparison is not None and "patching" in comparison.measures and COMPARISON_K in comparison.ks:
        j, q = comparison.at(COMPARISON_K), comparison.measures.index("patching")
        best = comparison.best(COMPARISON_K)
        wins = [labels[i] for i, name in enumerate(best) if name == "patching"]
        ranked = np.isfinite(comparison.drop[q, :, j])
        lines += [f"As one more ranking in the held-out comparison above, patching's top-{COMPARISON_K} ablation hurts "
                  f"most for {len(wins)} of the {int(ranked.sum())} labels it ranks"
                  + (f" ({', '.join(wins)})" if wins else "") + ".", ""]
    if clamps is not None and clamps.neurons.size:
        lines += ["### Gate clamps", "",
                  f"Each label's top-{clamps.top.shape[1]} neurons by its best held-out ranking, one gate forced to 0 at "
                  "every step, scored on the held-out half of dev: the label's accuracy drop (points). A forget gate "
                  "at 0 leaves the neuron only its current token (c restarts from i g at each step), an input gate "
                  "at 0 stops it writing, an output gate at 0 silences it while its cell still runs. As the cell starts at 0, "
                  "an input gate held at 0 keeps it at 0 and h = o tanh(0) = 0: the same as the output gate at 0, and "
                  "as the neuron's recurrent ablation, so those two columns agree; the forget gate's is the one that "
                  "tells memory from the current input.", ""]
        rows, summary = [], []
        for label in range(len(labels)):
            neurons = [n for n in clamps.top[label] if n >= 0]
            if not neurons:
                continue
            drops = np.array([clamps.drop[clamps.row(n), :, label] for n in neurons])      # (k, G)
            summary.append([labels[label], clamps.chosen_by[label]] + list(100 * np.nanmean(drops, axis=0)))
            for i, n in enumerate(neurons):
                rows.append([labels[label] if i == 0 else "", int(n)] + list(100 * drops[i]))
        gates = [GATE_WORDS[g] for g in clamps.gates]
        lines += ["Mean over each label's top neurons:", "",
                  markdown_table(["label", "ranking"] + gates, summary, "{:.2f}"), "",
                  "Neuron by neuron:", "", markdown_table(["label", "neuron"] + gates, rows, "{:.2f}"), ""]
    return lines


def write_report(path, analysis, facts: ReportFacts, figures=None, files=None) -> Path:
    """Write report.md at ``path`` (atomically): ``analysis`` a RunAnalysis, ``facts`` the run's
    ReportFacts; figures and files {name: path} (see the module docstring)."""
    path = Path(path)
    page = _Page(analysis, facts, dict(figures or {}), path.parent.resolve(), set())
    lines = ([f"> **Warning: {facts.warning}**", ""] if facts.warning else []) + [f"# {facts.title}", ""]
    lines += [f"> {note}" for note in facts.notes] + ([""] if facts.notes else [])
    lines += ["## Run", "", "```", facts.command, "```", "", f"Seeds: {', '.join(map(str, analysis.seeds))}", ""]
    if facts.timings:
        lines += [markdown_table(["step", "seconds"], list(facts.timings.items()), "{:.1f}"), ""]
    if facts.data:
        lines += ["## Data", ""]
        lines += [f"- {key}: {format_value(value)}" for key, value in facts.data.items()
                  if not isinstance(value, Mapping)]
        for key, table in facts.data.items():
            if isinstance(table, Mapping):
                columns = list(dict.fromkeys(c for row in table.values() if isinstance(row, Mapping) for c in row))
                rows = [[name] + [row.get(c) if isinstance(row, Mapping) else row for c in columns]
                        for name, row in table.items()]
                lines += ["", markdown_table([key] + columns, rows)]
        lines += [""]
    if facts.model:
        lines += ["## Model", "", markdown_table(["setting", "value"],
                                                 [[k, format_value(v)] for k, v in facts.model.items()]), ""]
    lines += _metrics_section(page)
    lines += _training_section(page)
    lines += _sensitivity_section(page)
    lines += _ablation_section(page)
    lines += _single_neuron_section(page)
    lines += _consistency_section(page)
    lines += _comparison_sections(page)
    lines += _probe_section(page)
    lines += _patching_section(page)
    if files:
        lines += ["## Files", ""] + [f"- [{name}]({link(p, page.report_dir)})" for name, p in files.items()] + [""]
    others = [name for name in page.figures if name not in page.used]
    if others:
        lines += ["## Other figures", ""]
        for name in others:
            lines += _figure(page, name)
    atomic_write_text(path, "\n".join(lines).rstrip() + "\n")
    return path
