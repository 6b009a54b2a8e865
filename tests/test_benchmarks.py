"""Every benchmark runs after the documented install (``.[bench]``; the test extra
includes it): ``--help`` names that install, and a tiny run of each finishes and
prints its numbers.  Nothing here is timed: the sizes are only small."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_numpy.data.readers import default_conll2003_dir

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
HAS_CONLL = (default_conll2003_dir() / "valid.txt").is_file()
TINY = {
    "bench_lstm": ["--hidden", "8", "--dtypes", "float32", "--backends", "numpy", "numba", "--repeats", "1",
                   "--min-time", "0.001", "--pause", "0", "--threads", "1", "--json"],
    "bench_scaling": ["--quick", "--backends", "numba", "--sweeps", "N", "--no-profile", "--repeats", "1",
                      "--min-time", "0.001", "--pause", "0", "--threads", "1", "--json"],
    "bench_analysis": ["--data", "synthetic", "--repeats", "1", "--recurrent", "1", "--n-random", "1", "--json"],
    "bench_train": ["--data", "generated", "--epochs", "1", "--threads", "1", "--json"],
    "bench_dev_pass": ["--repeats", "1"],
    "bench_patching": ["--pairs", "5", "--hidden", "4", "--clamp-neurons", "2", "--repeats", "1", "--json"],
    "bench_epoch_torch": ["--data", "generated", "--models", "paper", "--epochs", "1", "--threads", "1", "--rounds",
                          "1", "--json"],
    "bench_consistency": ["--models", "3", "--hidden", "12", "--json"],
    "bench_step_layouts": ["--hidden", "64", "--threads", "1", "2", "--rounds", "1", "--repeats", "1", "--pause", "0",
                           "--json"],
}
NEEDS_TORCH = {"bench_epoch_torch"}


def bench(path, *args):
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_every_benchmark_is_covered():
    assert {path.stem for path in BENCHMARKS} == set(TINY)


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_help_names_the_install(path):
    result = bench(path, "--help")
    assert result.returncode == 0, result.stderr
    assert 'python -m pip install ".[bench]"' in result.stdout


@pytest.mark.parametrize("path", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_a_tiny_run_finishes(path):
    if path.stem == "bench_dev_pass" and not HAS_CONLL:
        pytest.skip(f"bench_dev_pass times a CoNLL-2003 dev pass; not found at {default_conll2003_dir()}")
    if path.stem in NEEDS_TORCH:
        pytest.importorskip("torch", reason=f"{path.stem} compares with PyTorch, which is not installed")
    result = bench(path, *TINY[path.stem])
    assert result.returncode == 0, result.stderr[-3000:]
    if "--json" in TINY[path.stem]:
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report, path.stem
    else:
        assert "character CNN" in result.stdout or "pass" in result.stdout


def test_bench_lstm_compares_with_both_torch_paths():
    """With PyTorch installed, bench_lstm.py times torch with oneDNN (the default) and without
    it (``torch-generic``), and each numba ratio is numba's tokens/s over that row's."""
    pytest.importorskip("torch", reason="optional comparison: PyTorch is not installed")
    args = TINY["bench_lstm"][:]
    at = args.index("--backends")
    args[at + 1:at + 3] = ["numba", "torch", "torch-generic"]
    result = bench(ROOT / "benchmarks" / "bench_lstm.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["backend"]: row for row in json.loads(result.stdout.strip().splitlines()[-1])["rows"]}
    assert set(rows) == {"numba", "torch", "torch-generic"}
    for baseline, key in (("torch", "fwd_bwd_vs_torch"), ("torch-generic", "fwd_bwd_vs_torch_generic")):
        assert rows["numba"][key] == pytest.approx(rows["numba"]["fwd_bwd_tok_s"] / rows[baseline]["fwd_bwd_tok_s"])


def test_bench_epoch_torch_trains_the_same_data_on_both_sides():
    """The epoch benchmark's two sides read the same tokens, and its ratio is torch's seconds over ours."""
    pytest.importorskip("torch", reason="optional comparison: PyTorch is not installed")
    result = bench(ROOT / "benchmarks" / "bench_epoch_torch.py", *TINY["bench_epoch_torch"])
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(result.stdout.strip().splitlines()[-1])["rows"]
    assert row["model"] == "paper" and row["tokens"] > 10_000 and row["here_s"] > 0 and row["torch_s"] > 0
    assert row["speedup"] == pytest.approx(row["torch_s"] / row["here_s"])
    (one,) = row["rounds"]   # --rounds 1: the median round is that round
    assert (one["here_s"], one["torch_s"]) == (row["here_s"], row["torch_s"])


def test_bench_epoch_torch_reports_each_sides_median_round():
    """With --rounds 3 the sides take turns three times; each side's figure is its median round."""
    pytest.importorskip("torch", reason="optional comparison: PyTorch is not installed")
    args = TINY["bench_epoch_torch"][:]
    args[args.index("--rounds") + 1] = "3"
    result = bench(ROOT / "benchmarks" / "bench_epoch_torch.py", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    (row,) = json.loads(result.stdout.strip().splitlines()[-1])["rows"]
    assert len(row["rounds"]) == 3
    for side in ("here_s", "torch_s"):
        assert row[side] == sorted(r[side] for r in row["rounds"])[1]
    assert [r["speedup"] for r in row["rounds"]] == pytest.approx([r["torch_s"] / r["here_s"] for r in row["rounds"]])


def test_bench_lstm_parts_time_the_products_and_onednn():
    """--parts times numba's GEMMs apart from its loops and, with torch in float32, oneDNN's own
    forward and backward primitives (read from its verbose log)."""
    pytest.importorskip("torch", reason="optional comparison: PyTorch is not installed")
    args = TINY["bench_lstm"][:]
    args[args.index("--hidden") + 1] = "32"  # N 32, H 32: the BLAS path, whose step products are timed
    at = args.index("--backends")
    args[at + 1:at + 3] = ["numba", "torch"]
    result = bench(ROOT / "benchmarks" / "bench_lstm.py", *args, "--parts")
    assert result.returncode == 0, result.stderr[-3000:]
    (part,) = json.loads(result.stdout.strip().splitlines()[-1])["parts_ms"]
    assert part["recurrence"] == "blas"
    for name in ("input GEMM", "forward loop", "backward loop", "param GEMMs", "fwd step GEMMs", "bwd step GEMMs",
                 "oneDNN forward", "oneDNN backward"):
        assert part[name] > 0, name


def test_bench_step_layouts_variants_compute_the_same_layer():
    """The layouts tried in bench_step_layouts.py compute the project's layer: their hidden states and
    gradients agree with lstm_forward_numba / lstm_backward_numba to float32 rounding."""
    result = bench(ROOT / "benchmarks" / "bench_step_layouts.py", *TINY["bench_step_layouts"])
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout.strip().splitlines()[-1])["rows"]
    assert [row["threads"] for row in rows] == [1, 2]  # the split variant one half after the other, then threaded
    for row in rows:
        assert row["H"] == 64 and set(row["max_abs_diff"]) == {"time-major h", "time-major dWh", "time-major dx",
                                                               "transposed h", "split h", "padded h", "parallel h"}
        assert max(row["max_abs_diff"].values()) < 1e-4
        assert all(ms > 0 for ms in row["ms"].values())


def test_bench_consistency_times_both_matchings_on_the_same_results():
    """The consistency benchmark times the NumPy and Numba matchings on the same models, and the
    two give the same results (3 models: 3 pairs)."""
    result = bench(ROOT / "benchmarks" / "bench_consistency.py", *TINY["bench_consistency"])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["pairs"] == 3 and report["same_results"] is True
    assert report["numpy_s_per_pair"] > 0 and report["numba_s_per_pair"] > 0
