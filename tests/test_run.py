"""run.py end to end in quick mode, and its refusal to overwrite a run."""
import json
import subprocess
import sys
from pathlib import Path

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
    result = run("--quick", "--out", str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("dev", "test"):
        assert {"token_acc", "entity_f1", "per_label_acc"} <= set(metrics[split])
    assert {"epochs", "seconds_per_epoch", "train_seconds"} <= set(metrics)
    assert (out / "best.npz").is_file() and (out / "best.json").is_file()
    # a second run into the same directory is refused without --force
    again = run("--quick", "--out", str(out), "--no-progress")
    assert again.returncode != 0 and "--force" in again.stderr
    assert json.loads((out / "metrics.json").read_text()) == metrics
