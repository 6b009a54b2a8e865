"""--cluster: the seeds of a run trained and dissected on a Dask cluster (lstm_numpy.workers), as
a user runs it: a scheduler with two worker processes on the loopback address, and
``python run.py ... --cluster ADDRESS`` in a fresh process.  The models and every number
of the analysis are the sequential run's, bit for bit; a task whose worker dies is run once
more, and one that keeps dying is named in one error line; a scheduler that is not there is
one error line, before any work.

Needs the optional extra (pip install ".[cluster]"); .ci/run installs it and sets
LSTM_NUMPY_REQUIRE_CLUSTER=1, so that these tests fail instead of skipping there.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_cli import without_timings

from lstm_numpy.errors import ClusterError
from lstm_numpy.workers import per_seed

ROOT = Path(__file__).resolve().parents[1]

try:
    import cloudpickle
    import dask
    from distributed import LocalCluster
except ImportError:
    if os.environ.get("LSTM_NUMPY_REQUIRE_CLUSTER"):
        raise
    pytest.skip('dask.distributed is not installed (pip install ".[cluster]")', allow_module_level=True)


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and 2 worker processes of 1 thread on 127.0.0.1; a worker that dies is not
    retried by the scheduler (allowed-failures 0), so that the retry seen is the project's own."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])     # the workers cannot import this file
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as local:
            yield local


def test_a_run_on_the_cluster_is_the_sequential_run_bit_for_bit(cluster, tmp_path):
    common = [sys.executable, str(ROOT / "run.py"), "--quick", "--seeds", "0-1", "--epochs", "4", "--random-draws",
              "2", "--force-analysis", "--no-progress"]
    for name, extra in (("here", []), ("cluster", ["--cluster", cluster.scheduler_address])):
        result = subprocess.run(common + extra + ["--out", str(tmp_path / name)], capture_output=True, text=True,
                                cwd=tmp_path, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    assert f"training 2 seeds on the Dask cluster at {cluster.scheduler_address} (2 workers)" in result.stdout
    assert "dissecting 2 seeds on the Dask cluster" in result.stdout
    for seed in (0, 1):
        here, there = (tmp_path / run / f"seed{seed}" / "best.npz" for run in ("here", "cluster"))
        assert here.read_bytes() == there.read_bytes(), f"seed {seed}"
    here, there = (without_timings(json.loads((tmp_path / run / "analysis.json").read_text()))
                   for run in ("here", "cluster"))
    assert here == there, "the dissection on the cluster gives every number of the sequential one"
    assert here["seeds"] == [0, 1]


def dies_once(marker, value, threads=None):
    """value * 2, but the first call (no marker file yet) kills its worker process."""
    if not Path(marker).exists():
        Path(marker).write_text("died once")
        os._exit(1)
    return value * 2, threads


def always_dies(value, threads=None):
    os._exit(1)


def test_a_lost_worker_costs_only_its_call_which_runs_once_more(cluster, tmp_path):
    marker = tmp_path / "marker"
    results = per_seed(dies_once, [(str(marker), 1), (str(marker), 2)], cluster=cluster.scheduler_address)
    assert [value for value, _ in results] == [2, 4] and marker.read_text() == "died once"
    assert all(threads == 1 for _, threads in results), "2 workers of 1 thread on 2 cores share them"


def test_a_call_that_keeps_losing_its_worker_is_named_in_one_error(cluster):
    with pytest.raises(ClusterError, match=r"seed 7 failed twice \(KilledWorker") as caught:
        per_seed(always_dies, [(1,), (2,)], cluster=cluster.scheduler_address, names=["seed 6", "seed 7"])
    assert "\n" not in str(caught.value) and "seed 6 failed twice" in str(caught.value)


def test_an_unreachable_scheduler_is_one_error_line_before_any_work(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--quick", "--cluster", "tcp://127.0.0.1:9",
                             "--out", str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("error: --cluster tcp://127.0.0.1:9: cannot reach a Dask scheduler there")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists(), "nothing written"
