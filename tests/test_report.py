"""report/plots.py, report/markdown.py and report/analysis_json.py: every figure is a PNG, report.md
is complete, analysis.json reads back to the records that were written."""
import dataclasses
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from lstm_numpy.analysis.consistency import pairwise_consistency
from lstm_numpy.analysis.dissect import DissectOptions, compare_models, dissect_model
from lstm_numpy.analysis.results import ModeSweep, RunAnalysis
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.errors import RunFormatError
from lstm_numpy.model.tagger import TaggerConfig, init_tagger
from lstm_numpy.report import plots
from lstm_numpy.report.analysis_json import SCHEMA_VERSION, read_analysis_json, write_analysis_json
from lstm_numpy.report.markdown import ReportFacts, write_report
from lstm_numpy.report.tables import format_value, markdown_table

LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]
K, H, N = len(LABELS), 12, 300
KS = (1, 2, 4)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MISSING = "I-MISC"  # a label absent from the split: NaN everywhere


def sensitivity(seed):
    S = np.random.default_rng(seed).normal(size=(K, H))
    S[LABELS.index(MISSING)] = np.nan
    return S


def mode_sweep(rng, mode):
    """A ModeSweep of made-up drops, NaN for the missing label."""
    J = len(KS)
    grid = lambda: np.where(np.arange(K)[:, None] == LABELS.index(MISSING), np.nan,  # noqa: E731
                            rng.random((K, J)) * np.array(KS) / 10)
    interval = np.stack([np.tile(0.01 * np.array(KS, float), (K, 1)), np.tile(0.03 * np.array(KS, float), (K, 1))],
                        axis=-1)
    return ModeSweep(mode=mode, ks=KS, n_random=20, top=grid(), bottom=grid(), control=grid(), random=grid(),
                     random_interval=interval, top_selectivity=grid(), random_selectivity=grid(),
                     drop_matrix=rng.normal(scale=0.1, size=(J, K, K)),
                     single_neuron=np.append(rng.random(H - 1) * 0.01, np.nan))


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
    output, recurrent = mode_sweep(rng, "output"), mode_sweep(rng, "recurrent")
    drop_matrix = rng.normal(scale=0.1, size=(K, K))
    drop_matrix[LABELS.index(MISSING)] = np.nan
    drops = np.append(rng.random(H - 1) * 0.01, np.nan)
    Cs = list(pairwise_consistency([S, sensitivity(1)], LABELS, rng, n_permutations=9, n_shuffles=2).correlations)
    paths = {
        "sensitivity_heatmap": plots.plot_sensitivity_heatmap(S, LABELS, out / "heat.png"),
        "tuning_curves": plots.plot_tuning_curves(rng.normal(size=(N, H)), labels_per_token, LABELS, None,
                                                  out / "tuning.png", S=S, max_panels=4),
        "ablation_curves": plots.plot_ablation_curves(output, LABELS.index("B-PER"), LABELS, out / "curves.png"),
        "ablation_curves_nan": plots.plot_ablation_curves(recurrent, LABELS.index(MISSING), LABELS,
                                                          out / "curves_nan.png"),
        # four panels are enough to test the grid (and keep the suite fast), one of them all NaN
        "ablation_grid_output": plots.plot_ablation_grid(
            dataclasses.replace(output, **{f: getattr(output, f)[[0, 4, 8, 6]] for f in
                                           ("top", "bottom", "control", "random", "random_interval")}),
            ["O", "B-PER", "I-PER", MISSING], out / "grid.png"),
        "drop_matrix": plots.plot_drop_matrix(drop_matrix, LABELS, out / "drop_matrix.png", k=2),
        "single_neuron_histogram": plots.plot_single_neuron_histogram(drops, out / "hist.png"),
        "label_correlations": plots.plot_label_correlations(Cs, LABELS, out / "corr.png", ["seed 0", "seed 1"]),
        "output_vs_recurrent": plots.plot_output_vs_recurrent({"output": output, "recurrent": recurrent}, LABELS, 2,
                                                              out / "ovr.png"),
        "training_curves": plots.plot_training_curves(
            {"seed 0": [{"epoch": e, "train_loss": 1 / e, "dev_loss": 1.2 / e, "dev_entity_f1": min(90, 10 * e),
                         "dev_token_acc": 0.9, "lr": 1e-3 if e < 5 else 5e-4, "best": e < 8,
                         "event": "rate x0.5" if e == 4 else None} for e in range(1, 9)],
             "POS": [{"epoch": e, "train_loss": 1 / e, "dev_loss": None, "dev_entity_f1": None,
                      "dev_token_acc": 0.5 + e / 20, "lr": 1e-3, "best": True, "event": None} for e in range(1, 4)]},
            out / "training.png"),
    }
    return out, paths


def test_every_plot_writes_a_png(figures):
    out, paths = figures
    for name, path in paths.items():
        assert path.parent == out, name
        assert_png(path)
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_tuning_curves_with_explicit_neurons_and_a_label_never_ablated(tmp_path):
    rng = np.random.default_rng(1)
    path = plots.plot_tuning_curves(rng.normal(size=(50, 4)), rng.integers(0, 3, 50), ["O", "B-X", "I-X"],
                                    [3, 1], tmp_path / "t.png")
    assert_png(path)
    swept = mode_sweep(rng, "output")
    swept.top[0, 1:] = np.nan                                 # a k that was not run for this label
    assert_png(plots.plot_ablation_curves(swept, 0, LABELS, tmp_path / "a.png"))
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


def tiny_tagger(seed=0, hidden=4, n_sentences=16):
    """A random tagger over LABELS (no I-MISC in its data) and a small dev split."""
    rng = np.random.default_rng(seed)
    config = TaggerConfig(vocab_size=20, n_labels=K, word_dim=6, hidden=hidden, bidirectional=True, dropout=0.0,
                          backend="numpy", dtype="float64")
    params = init_tagger(config, rng)
    params["out.W"] *= 20
    lengths = rng.integers(2, 9, n_sentences)
    present = [i for i, name in enumerate(LABELS) if name != MISSING]
    gold = [rng.choice(present, L) for L in lengths]
    split = EncodedSplit([rng.integers(0, 20, L) for L in lengths], [np.zeros(L, dtype=np.int64) for L in lengths],
                         gold, [["w"] * L for L in lengths])
    return params, config, split


@pytest.fixture(scope="module")
def dissected():
    """A RunAnalysis of three small models, dissected as a run does."""
    options = DissectOptions(ks=(1, 2, 4), recurrent_ks=(1, 2), claim_ks=(1, 2, 5), n_random=3, n_random_recurrent=2)
    models = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # labels without a row are recorded, not warned about
        for seed in range(3):
            params, config, split = tiny_tagger(seed)
            models.append(dissect_model(params, config, split, LABELS, np.random.default_rng(seed), options,
                                        recurrent=seed == 0, progress=False, seed=seed))
    assert all(model.absent == (MISSING,) for model in models)
    return RunAnalysis(labels=tuple(LABELS), seeds=(0, 1, 2), models=tuple(models),
                       consistency=compare_models(models, LABELS, np.random.default_rng(0)))


def facts():
    per_label = {label: (None if label == MISSING else 0.9) for label in LABELS}
    metrics = {"dev": {"token_acc": 0.95, "entity_f1": 81.2, "per_label_acc": per_label},
               "test": {"token_acc": 0.93, "entity_f1": 77.0, "per_label_acc": per_label}}
    return ReportFacts(command="python run.py --data generated --seeds 3", timings={"train": 12.5, "analysis": 3.0},
                       data={"source": "generated", "splits": {"train": {"sentences": 400, "tokens": 5000},
                                                               "dev": {"sentences": 100, "tokens": 1200}}},
                       model={"hidden": H, "bidirectional": False}, metrics=metrics)


def test_write_report_full(figures, dissected):
    out, paths = figures
    report = out.parent / "report.md"
    # figure paths as the plots return them: absolute, or relative to the current directory
    figure_paths = dict(paths)
    figure_paths["label_correlations"] = Path(os.path.relpath(paths["label_correlations"]))
    assert write_report(report, dissected, facts(), figure_paths) == report
    text = report.read_text()
    for heading in ("## Run", "## Data", "## Model", "## Metrics", "## Sensitivity", "## Ablation",
                    "### Output ablation", "### Recurrent ablation", "## Single-neuron ablation",
                    "## Consistency across seeds", "## Which ranking's top-5 ablation hurts each label most",
                    "## Other figures"):
        assert heading in text, heading
    assert "python run.py --data generated --seeds 3" in text
    assert "Paper findings, seed 2" in text and "Mantel r" in text and "| seed 0 | seed 1 |" in text
    assert "label absent from the split" in text  # I-MISC sensitivity row
    first = dissected.models[0].sweep.modes["output"]
    i = int(np.flatnonzero(np.isfinite(first.random_interval[:, 0, 0]))[0])
    low, high = first.random_interval[i, 0]
    assert f"[{100 * low:.1f}, {100 * high:.1f}]" in text  # random interval at k=1, in points
    assert "fraction of neurons below 0.5 points" in text and "Random-k: 3 draws per label and k." in text
    for name, path in paths.items():
        assert f"(figures/{path.name})" in text, name       # relative to the report's own folder
    assert "](/" not in text


def test_write_report_single_seed_no_recurrent_no_figures(tmp_path, dissected):
    second = dissected.models[1]
    one = RunAnalysis(labels=dissected.labels, seeds=(1,), models=(second,),
                      consistency=compare_models([second], LABELS, np.random.default_rng(0)))
    text = write_report(tmp_path / "report.md", one, facts()._replace(metrics={})).read_text()
    assert "No recurrent ablation in this run." in text and "### Output ablation" in text
    assert "No comparison across seeds" in text and "Paper findings, seed 1" in text
    assert "No metrics were given." in text and "![" not in text


def test_analysis_json_reads_back_what_was_written(tmp_path, dissected):
    path = write_analysis_json(tmp_path / "analysis.json", dissected)
    data = json.loads(path.read_text(), parse_constant=pytest.fail)  # strict JSON: no NaN/Infinity tokens
    assert data["schema_version"] == SCHEMA_VERSION and data["labels"] == LABELS
    undefined = np.flatnonzero(np.isnan(dissected.models[0].sensitivity).all(axis=1))
    assert undefined.size and all(data["models"][0]["sensitivity"][i] == [None] * 8 for i in undefined)
    back = read_analysis_json(path)
    assert isinstance(back, RunAnalysis) and back.seeds == (0, 1, 2)
    for written, read in zip(dissected.models, back.models):
        np.testing.assert_array_equal(read.sensitivity, written.sensitivity)
        for mode, swept in written.sweep.modes.items():
            for field in dataclasses.fields(swept):
                a, b = getattr(swept, field.name), getattr(read.sweep.modes[mode], field.name)
                if isinstance(a, np.ndarray):
                    np.testing.assert_array_equal(a, b)
                    assert a.dtype == b.dtype
                else:
                    assert a == b, field.name
        np.testing.assert_array_equal(read.rankings.drop, written.rankings.drop)
        assert read.rankings.measures == written.rankings.measures and isinstance(read.rankings.ks[0], int)
        assert set(read.measures) == set(written.measures) and read.states is None
    assert back.consistency.pairs[0].n_matched == dissected.consistency.pairs[0].n_matched
    assert back.consistency.findings[0].findings["B-x/I-x positive"].pairs == \
        dissected.consistency.findings[0].findings["B-x/I-x positive"].pairs
    assert write_analysis_json(tmp_path / "again.json", back).read_text() == path.read_text()


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(schema_version=SCHEMA_VERSION + 1), "written by a newer version"),
    (lambda d: d.pop("format"), "not an analysis.json of this package"),
    (lambda d: d["models"][0].pop("sweep"), "has no 'sweep'"),
    (lambda d: d["models"][0].pop("patching"), "has no 'patching'"),     # version 2 wrote it
    (lambda d: d.update(schema_version=0), "schema version 0"),
])
def test_an_analysis_json_this_version_cannot_read_is_named(tmp_path, dissected, change, words):
    path = write_analysis_json(tmp_path / "analysis.json", dissected)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(RunFormatError, match=words) as raised:
        read_analysis_json(path)
    assert str(path) in str(raised.value)


def test_an_analysis_json_of_schema_version_1_reads_without_the_fields_version_2_added(tmp_path, dissected):
    path = write_analysis_json(tmp_path / "analysis.json", dissected)
    data = json.loads(path.read_text())
    for model in data["models"]:
        del model["patching"], model["clamps"]
    data["schema_version"] = 1
    path.write_text(json.dumps(data))
    back = read_analysis_json(path)
    assert all(m.patching is None and m.clamps is None for m in back.models)
    np.testing.assert_array_equal(back.models[0].sensitivity, dissected.models[0].sensitivity)
