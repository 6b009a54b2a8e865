"""report/plots.py and report/markdown.py: every figure is a PNG, report.md and analysis.json are complete."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from lstm_numpy.analysis.consistency import label_correlation, pairwise_consistency
from lstm_numpy.analysis.findings import paper_findings
from lstm_numpy.report import plots
from lstm_numpy.report.analysis_json import write_analysis_json
from lstm_numpy.report.markdown import write_report
from lstm_numpy.report.tables import format_value, markdown_table

LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]
K, H, N = len(LABELS), 12, 300
KS = [1, 2, 4]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MISSING = "I-MISC"  # a label absent from the split: NaN everywhere


def sensitivity(seed):
    S = np.random.default_rng(seed).normal(size=(K, H))
    S[LABELS.index(MISSING)] = np.nan
    return S


def ablation(rng, modes=("output", "recurrent")):
    summary = {mode: {strategy: {label: {k: (float("nan") if label == MISSING else float(rng.random() * k / 10))
                                         for k in KS} for label in LABELS}
                      for strategy in ("top", "random", "bottom", "control")} for mode in modes}
    random_ci = {mode: {label: {k: [0.01 * k, 0.03 * k] for k in KS} for label in LABELS} for mode in modes}
    return summary, random_ci


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000, path


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    """Every plot function, once, on small synthetic inputs with a NaN label."""
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("report") / "figures"
    S = sensitivity(0)
    labels_per_token = rng.integers(0, K, N)
    labels_per_token[labels_per_token == LABELS.index(MISSING)] = 0
    summary, random_ci = ablation(rng)
    drop_matrix = rng.normal(scale=0.1, size=(K, K))
    drop_matrix[LABELS.index(MISSING)] = np.nan
    drops = np.append(rng.random(H - 1) * 0.01, np.nan)
    Cs = [label_correlation(S), label_correlation(sensitivity(1))]
    paths = {
        "sensitivity_heatmap": plots.plot_sensitivity_heatmap(S, LABELS, out / "heat.png"),
        "tuning_curves": plots.plot_tuning_curves(rng.normal(size=(N, H)), labels_per_token, LABELS, None,
                                                  out / "tuning.png", S=S, max_panels=4),
        "ablation_curves": plots.plot_ablation_curves(summary, random_ci, "B-PER", out / "curves.png"),
        "ablation_curves_nan": plots.plot_ablation_curves(summary, random_ci, MISSING, out / "curves_nan.png",
                                                          mode="recurrent"),
        # four panels are enough to test the grid (and keep the suite fast), one of them all NaN
        "ablation_grid_output": plots.plot_ablation_grid(summary, random_ci, ["O", "B-PER", "I-PER", MISSING],
                                                         out / "grid.png", "output"),
        "drop_matrix": plots.plot_drop_matrix(drop_matrix, LABELS, out / "drop_matrix.png", k=2),
        "single_neuron_histogram": plots.plot_single_neuron_histogram(drops, out / "hist.png"),
        "label_correlations": plots.plot_label_correlations(Cs, LABELS, out / "corr.png", ["seed 0", "seed 1"]),
        "output_vs_recurrent": plots.plot_output_vs_recurrent(summary, LABELS, 2, out / "ovr.png"),
    }
    return out, paths


def test_every_plot_writes_a_png(figures):
    out, paths = figures
    for name, path in paths.items():
        assert path.parent == out, name
        assert_png(path)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_tuning_curves_with_explicit_neurons_and_json_style_keys(tmp_path):
    rng = np.random.default_rng(1)
    path = plots.plot_tuning_curves(rng.normal(size=(50, 4)), rng.integers(0, 3, 50), ["O", "B-X", "I-X"],
                                    [3, 1], tmp_path / "t.png")
    assert_png(path)
    summary = {"output": {"top": {"O": {"1": 0.1, "2": None}}, "random": {"O": {"1": 0.05, "2": 0.1}},
                          "random_ci": {"O": {"1": [0.0, 0.2], "2": [None, 0.3]}}}}  # JSON-style keys, nulls
    assert_png(plots.plot_ablation_curves(summary, None, "O", tmp_path / "a.png"))
    with pytest.raises(ValueError, match="neurons"):
        plots.plot_tuning_curves(rng.normal(size=(5, 2)), np.zeros(5, int), ["O"], None, tmp_path / "x.png")


def test_order_neurons_by_top_label():
    S = np.array([[0.9, 0.1, 0.5, np.nan], [0.2, 0.8, 0.6, np.nan]])
    order, top = plots.order_neurons_by_top_label(S)
    np.testing.assert_array_equal(top, [0, 1, 1, -1])
    np.testing.assert_array_equal(order, [0, 1, 2, 3])


# ---------------------------------------------------------------- markdown


def test_markdown_table_formats_numbers():
    table = markdown_table(["name", "value", "n"], [["a|b", 0.12345, 3], ["c", float("nan"), None]])
    lines = table.splitlines()
    assert lines[0] == "| name | value | n |"
    assert lines[1] == "|---|---:|---|"
    assert lines[2] == "| a\\|b | 0.123 | 3 |"
    assert lines[3] == "| c | n/a | n/a |"
    assert format_value(True) == "yes" and format_value(np.float32(0.5), "{:.1f}") == "0.5"


def full_context(figure_paths, n_seeds=3):
    rng = np.random.default_rng(2)
    seeds = list(range(n_seeds))
    Ss = [sensitivity(seed) for seed in seeds]
    summary, random_ci = ablation(rng)
    per_label = {label: (None if label == MISSING else 0.9) for label in LABELS}
    metrics = {"dev": {"token_acc": 0.95, "entity_f1": 81.2, "per_label_acc": per_label},
               "test": {"token_acc": 0.93, "entity_f1": 77.0, "per_label_acc": per_label}}
    context = {
        "command": "python run.py --data generated --seeds 0 1 2",
        "seeds": seeds,
        "timings": {"train": 12.5, "analysis": 3.0},
        "data": {"source": "generated", "splits": {"train": {"sentences": 400, "tokens": 5000},
                                                   "dev": {"sentences": 100, "tokens": 1200}}},
        "model": {"hidden": H, "bidirectional": False},
        "labels": LABELS,
        "metrics": metrics,
        "metrics_by_seed": {seed: metrics for seed in seeds},
        "sensitivity": {"matrix": Ss[0], "top_k": 3, "split": "dev"},
        "ablation": {"summary": summary, "random_ci": random_ci, "split": "dev", "n_random_draws": 20},
        "drop_matrix": {"k": 2, "matrix": rng.normal(scale=0.1, size=(K, K))},
        "single_neuron_drops": np.append(rng.random(H - 1) * 0.01, np.nan),
        "figures": figure_paths,
    }
    if n_seeds >= 2:
        context["consistency"] = pairwise_consistency(Ss, LABELS, np.random.default_rng(0), n_permutations=99)
    else:
        context["paper_findings"] = [paper_findings(label_correlation(Ss[0]), LABELS)]
    return context


def test_write_report_full(figures):
    out, paths = figures
    report = out.parent / "report.md"
    # figure paths as the plots return them: absolute, or relative to the current directory
    figure_paths = dict(paths)
    figure_paths["label_correlations"] = Path(os.path.relpath(paths["label_correlations"]))
    assert write_report(report, full_context(figure_paths)) == report
    text = report.read_text()
    for heading in ("## Run", "## Data", "## Model", "## Metrics", "## Sensitivity", "## Ablation",
                    "### Output ablation", "### Recurrent ablation", "## Single-neuron ablation",
                    "## Consistency across seeds", "## Other figures"):
        assert heading in text, heading
    assert "python run.py --data generated --seeds 0 1 2" in text
    assert "Paper findings, seed 2" in text and "Mantel r" in text and "| seed 0 | seed 1 |" in text
    assert "label absent from the split" in text  # I-MISC sensitivity row
    assert "[1.0, 3.0]" in text  # random CI at k=1, in points
    assert "fraction of neurons below 0.5 points" in text
    for name, path in paths.items():
        assert f"(figures/{path.name})" in text, name       # relative to the report's own folder
    assert "](/" not in text


def test_write_report_single_seed_no_recurrent_no_figures(tmp_path):
    context = full_context({}, n_seeds=1)
    del context["ablation"]["summary"]["recurrent"]
    del context["drop_matrix"], context["metrics_by_seed"]
    # run_ablation_sweep's layout: the random interval inside summary[mode]
    context["ablation"]["summary"]["output"]["random_ci"] = context["ablation"].pop("random_ci")["output"]
    text = write_report(tmp_path / "report.md", context).read_text()
    assert "[1.0, 3.0]" in text and "| random_ci |" not in text
    assert "No recurrent ablation in this run." in text and "### Output ablation" in text
    assert "No comparison across seeds" in text and "Paper findings, seed 0" in text
    assert "![" not in text
    minimal = write_report(tmp_path / "minimal.md", {}).read_text()
    assert "No metrics were given." in minimal and "No comparison across seeds" in minimal


def test_write_analysis_json(tmp_path):
    context = full_context({})
    path = write_analysis_json(tmp_path / "analysis.json", context)
    data = json.loads(path.read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN/Infinity tokens
    assert data["sensitivity"]["labels"] == LABELS
    assert len(data["sensitivity"]["matrix"]) == K and data["sensitivity"]["matrix"][6] == [None] * H
    assert data["ablation"]["output"]["top"]["B-PER"]["2"] == pytest.approx(
        context["ablation"]["summary"]["output"]["top"]["B-PER"][2])
    assert data["ablation"]["output"]["top"][MISSING]["1"] is None
    assert len(data["single_neuron_overall_acc_drops"]) == H and data["single_neuron_overall_acc_drops"][-1] is None
    assert isinstance(data["consistency"]["mantel_r"], float) and 0 < data["consistency"]["mantel_p"] <= 1
    assert len(data["consistency"]["pairs"]) == 3
    single = json.loads(write_analysis_json(tmp_path / "single.json", full_context({}, n_seeds=1)).read_text())
    assert single["consistency"]["mantel_r"] is None and single["consistency"]["paper_findings"]
