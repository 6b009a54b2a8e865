"""run.py end to end in quick mode, and its refusal to overwrite a run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from lstm_numpy.report.analysis_json import read_analysis_json

ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


def test_help():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--data", "--preset", "--backend", "--quick", "--seed", "--out"):
        assert option in result.stdout


def test_quick_run_writes_metrics(tmp_path):
    out = tmp_path / "run"
    result = run("--quick", "--out", str(out), "--no-progress", "--seeds", "2", "--random-draws", "3")
    assert result.returncode == 0, result.stderr
    assert "have no tokens" not in result.stderr and result.stdout.count("note: labels") <= 1, \
        "labels a model never predicts are named once, not once per measure"
    assert "schedule: up to 8 epochs" in result.stdout and " dev loss " in result.stdout
    log = [json.loads(line) for line in (out / "seed0" / "train_log.jsonl").read_text().splitlines()]
    assert {"dev_loss", "lr", "progress", "event", "best"} <= set(log[0])
    assert log[-1]["event"].startswith("stopped: the last of 8 epochs") and f"  -> {log[-1]['event']}" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped"] == log[-1]["event"] and metrics["degenerate"] == {}
    assert metrics["dev_baseline_entity_f1"] > 0 and metrics["dev"]["loss"] == log[metrics["best_epoch"] - 1]["dev_loss"]
    for split in ("dev", "test"):
        assert {"token_acc", "entity_f1", "per_label_acc"} <= set(metrics[split])
    assert {"epochs", "seconds_per_epoch", "train_seconds"} <= set(metrics)
    assert metrics["config"]["decode"] == "constrained", "the bilstm preset reads well-formed sequences"
    assert all(isinstance(metrics[split]["argmax_entity_f1"], float) for split in ("dev", "test"))
    for seed in (0, 1):
        assert (out / f"seed{seed}" / "best.npz").is_file() and (out / f"seed{seed}" / "best.json").is_file()
    analysis = read_analysis_json(out / "analysis.json")
    assert analysis.seeds == (0, 1) and len(analysis.models) == 2
    assert set(analysis.models[0].sweep.modes) == {"output", "recurrent"}
    assert analysis.models[0].sweep.modes["output"].single_neuron.shape == (analysis.models[0].sensitivity.shape[1],)
    assert np.isfinite(analysis.consistency.mean_mantel_r)
    record = json.loads((out / "run.json").read_text())
    assert record["options"]["quick"] and record["options"]["seeds"] == [0, 1]
    assert set(record["data_files"]) == {"train", "dev", "test"}
    report = (out / "report.md").read_text()
    assert "figures/sensitivity_heatmap.png" in report and "## Training" in report
    assert "figures/training_curves_seed0.png" in report and "figures/training_curves_seed1.png" in report
    assert "constrained decoding" in report and f"Read by the argmax, entity F1 is dev {metrics['dev']['argmax_entity_f1']:.2f}" in report
    assert all((out / "figures" / name).stat().st_size > 0 for name in
               ("sensitivity_heatmap.png", "tuning_curves.png", "ablation_grid_output.png", "drop_matrix.png",
                "training_curves_seed0.png", "training_curves_seed1.png",
                "single_neuron_histogram.png", "label_correlations.png", "output_vs_recurrent.png"))
    # a second run into the same directory is refused without --force
    again = run("--quick", "--out", str(out), "--no-progress")
    assert again.returncode != 0 and "--force" in again.stderr
    assert json.loads((out / "metrics.json").read_text()) == metrics
    # --resume on a finished run reloads every seed (no retraining) and redoes the analysis
    weights = (out / "seed1" / "best.npz").read_bytes()
    resumed = run("--quick", "--out", str(out), "--no-progress", "--seeds", "2", "--random-draws", "3",
                  "--resume", "--recurrent-seeds", "all", "--group-by", "gold")
    assert resumed.returncode == 0, resumed.stderr
    assert "training ->" not in resumed.stdout
    assert (out / "seed1" / "best.npz").read_bytes() == weights
    analysis = read_analysis_json(out / "analysis.json")
    assert "recurrent" in analysis.models[1].sweep.modes
    assert analysis.models[0].group_by == "gold" and analysis.models[0].sweep.modes["output"].n_random == 3
    assert "grouped by their gold label" in (out / "report.md").read_text()
    # the README's example of reading a run's results runs as written
    readme = (ROOT / "README.md").read_text().split("### Reading a run's results", 1)[1]
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    exec(example.replace('"runs/generated-bilstm-seed0/analysis.json"', repr(str(out / "analysis.json"))), {})


def test_decode_option_overrides_the_preset(tmp_path):
    out = tmp_path / "run"
    result = run("--quick", "--out", str(out), "--no-progress", "--no-analysis", "--decode", "argmax")
    assert result.returncode == 0, result.stderr
    assert "argmax decoding" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["decode"] == "argmax" and "argmax_entity_f1" not in metrics["test"]
    assert run("--decode", "beam").returncode == 2


def test_cuda_backend_without_gpu_fails_at_once_with_a_clear_message(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--backend", "cuda", "--quick",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=ROOT,
                            timeout=300, env=env)
    try:
        from numba import cuda
        if cuda.is_available():
            import pytest
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    assert result.returncode != 0
    assert "cuda backend needs an NVIDIA GPU" in result.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
