"""The command line speaks to people: the project's own errors are one line on
stderr, ``error: <message>``, with exit status 2 and no traceback; nothing on
the command line is silently ignored; ``python -m lstm_numpy`` is the same
program as ``run.py``.

Most cases call ``lstm_numpy.cli.main`` in-process (each fails before any
training); a few run ``run.py`` / ``python -m lstm_numpy`` as a user would.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpora import write_columns

from lstm_numpy import cli
from lstm_numpy.analysis.dissect import DissectOptions
from lstm_numpy.errors import UsageError
from lstm_numpy.options import QUICK_EPOCHS, QUICK_HIDDEN, QUICK_LR, RunOptions, parse_seeds, resolve_options
from lstm_numpy.pipeline import GENERATED_SIZES
from lstm_numpy.report.analysis_json import read_analysis_json
from lstm_numpy.training.loop import TrainConfig

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys, argv):
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if not line.startswith("warning:")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def tsv(path, text):
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.fixture
def good(tmp_path):
    return write_columns(tmp_path / "good", "iob2", "tsv")


def with_files(good, **replace):
    paths = {**good, **replace}
    return ["--data", "tsv", "--train", paths["train"], "--dev", paths["dev"], "--test", paths["test"],
            "--no-progress", "--quick"]


def test_empty_file(capsys, tmp_path, good):
    message = one_line_error(capsys, with_files(good, train=tsv(tmp_path / "empty.tsv", "")) + ["--out", tmp_path / "r"])
    assert "no sentences in" in message and "empty.tsv" in message


def test_wrong_column_count(capsys, tmp_path, good):
    bad = tsv(tmp_path / "bad.tsv", "Paris\tB-LOC\nis\tO\textra\n")
    message = one_line_error(capsys, with_files(good, dev=bad) + ["--out", tmp_path / "r"])
    assert "bad.tsv line 2" in message and "2 tab-separated columns" in message


def test_invalid_utf8(capsys, tmp_path, good):
    bad = tsv(tmp_path / "latin1.tsv", "Paris\tB-LOC\n\nS\xe3o\tB-LOC\n".encode("latin-1"))
    message = one_line_error(capsys, with_files(good, test=bad) + ["--out", tmp_path / "r"])
    assert "latin1.tsv line 3: invalid UTF-8 byte" in message and "byte offset" in message


def test_dev_label_unseen_in_training(capsys, tmp_path, good):
    bad = tsv(tmp_path / "dev.tsv", "Anna\tB-PER\nsaid\tO\nhi\tB-MISC\n")
    message = one_line_error(capsys, with_files(good, dev=bad) + ["--out", tmp_path / "r"])
    assert "dev.tsv" in message and "B-MISC" in message and "--unknown-labels O" in message


def test_mixed_label_scheme(capsys, tmp_path, good):
    bad = tsv(tmp_path / "train.tsv", "Anna\tB-PER\nsaid\tVERB\n")
    message = one_line_error(capsys, with_files(good, train=bad) + ["--out", tmp_path / "r"])
    assert "train.tsv" in message and "mix chunk tags" in message


def test_missing_file_and_missing_split(capsys, tmp_path, good):
    message = one_line_error(capsys, with_files(good, train=tmp_path / "nowhere.tsv") + ["--out", tmp_path / "r"])
    assert "nowhere.tsv: no such file" in message
    message = one_line_error(capsys, ["--data", "tsv", "--train", good["train"], "--out", tmp_path / "r"])
    assert "needs a file for dev, test" in message


@pytest.mark.parametrize("argv, words", [
    (["--data", "generated", "--train", "x.txt"], "--train reads files"),
    (["--data", "generated-pos", "--data-dir", "."], "--data-dir reads files"),
    (["--data", "tsv", "--label-column", "2", "--data-dir", "."], "--label-column is for --data columns"),
    (["--conllu-tag", "xpos"], "--conllu-tag is for --data conllu"),
    (["--no-analysis", "--group-by", "gold"], "--group-by configure the analysis"),
    (["--no-analysis", "--random-draws", "3", "--no-recurrent"], "--random-draws, --no-recurrent configure"),
    (["--no-recurrent", "--recurrent-seeds", "all"], "--no-recurrent skips"),
    (["--resume", "--force"], "choose one"),
    (["--no-analysis", "--pairs", "pairs.txt"], "--pairs configures the analysis, which --no-analysis skips"),
    (["--pairs", "pairs.txt", "--no-patching"], "--no-patching skips patching; choose one"),
    (["--pairs", "no_such_pairs.txt"], "--pairs no_such_pairs.txt: no such file"),
])
def test_options_that_would_be_ignored_are_refused(capsys, tmp_path, argv, words):
    assert words in one_line_error(capsys, argv + ["--out", tmp_path / "r"])
    assert not (tmp_path / "r").exists(), "nothing is written for a refused command"


def test_an_existing_run_directory_is_kept(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.md").write_text("an earlier report\n")
    assert "already exists" in one_line_error(capsys, ["--quick", "--out", out])
    assert (out / "report.md").read_text() == "an earlier report\n"
    assert "nothing to resume" in one_line_error(capsys, ["--quick", "--resume", "--out", tmp_path / "empty"])


def test_a_bad_checkpoint_on_resume(capsys, tmp_path):
    out = tmp_path / "run"
    (out / "seed0").mkdir(parents=True)
    (out / "seed0" / "summary.json").write_text(json.dumps({"dev": {}, "test": {}}))
    (out / "seed0" / "best.npz").write_bytes(b"not a zip file")
    (out / "seed0" / "best.json").write_text("{}")
    message = one_line_error(capsys, ["--quick", "--resume", "--seeds", "1", "--no-progress", "--out", out])
    assert "best" in message
    assert (out / "seed0" / "best.npz").read_bytes() == b"not a zip file", "nothing saved is touched"


def test_argument_errors_exit_with_status_2(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--seeds", "0"])
    assert exit_.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_an_unexpected_exception_keeps_its_traceback(monkeypatch, tmp_path):
    def broken(args, command):
        raise ZeroDivisionError("a bug, not a user error")
    monkeypatch.setattr(cli, "pipeline", lambda: (broken, None, None))
    with pytest.raises(ZeroDivisionError):
        cli.main(["--out", str(tmp_path / "r")])


def test_run_py_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--data", "conllu", "--train", "missing.conllu",
                             "--dev", "d", "--test", "t", "--out", str(tmp_path / "r")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: --train missing.conllu: no such file"]


def test_python_m_lstm_numpy_from_outside_the_checkout(tmp_path):
    """The installed package runs with no run.py in sight (CI installs it non-editable)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    helped = subprocess.run([sys.executable, "-m", "lstm_numpy", "--help"], capture_output=True, text=True,
                            cwd=tmp_path, env=env, timeout=300)
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m lstm_numpy")
    for option in ("--data", "generated-pos", "--train", "--random-pool", "--decode"):
        assert option in helped.stdout
    ran = subprocess.run([sys.executable, "-m", "lstm_numpy", "--quick", "--seeds", "1", "--epochs", "1",
                          "--no-analysis", "--no-progress"], capture_output=True, text=True, cwd=tmp_path, env=env,
                         timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    metrics = json.loads((tmp_path / "runs" / "generated-bilstm-seed0" / "metrics.json").read_text())
    assert metrics["command"].startswith("python -m lstm_numpy --quick")


def test_unknown_labels_mapped_to_o_with_a_warning(capsys, tmp_path, good):
    dev = tsv(tmp_path / "dev.tsv", good["dev"].read_text() + "Zed\tB-MISC\n")
    out = tmp_path / "r"
    with pytest.warns(UserWarning, match=r"labels \['B-MISC'\] not in training; mapped to O"):
        assert cli.main([str(a) for a in with_files(good, dev=dev) + ["--unknown-labels", "O", "--epochs", "1",
                                                                     "--seeds", "1", "--no-analysis", "--out", out]]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "B-MISC" not in metrics["dev"]["per_label_acc"]


def test_conllu_xpos_column(capsys, tmp_path):
    from corpora import write_conllu
    paths = write_conllu(tmp_path / "data")
    for path in paths.values():     # put an XPOS in column 5: the UPOS in lower case
        rows = [line.split("\t") for line in path.read_text().splitlines()]
        path.write_text("\n".join("\t".join(r[:4] + [r[3].lower()] + r[5:]) if len(r) == 10 and r[0].isdigit()
                                  else "\t".join(r) for r in rows) + "\n")
    out = tmp_path / "r"
    assert cli.main(["--data", "conllu", "--data-dir", str(tmp_path / "data"), "--conllu-tag", "xpos", "--quick",
                     "--epochs", "1", "--seeds", "1", "--no-analysis", "--no-progress", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["dev"]["per_label_acc"]) == {"adp", "det", "noun", "propn", "punct", "verb"}


def without_timings(value):
    """analysis.json's content less the seconds each step took."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if "timing" not in k and "seconds" not in k}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def test_seeds_trained_and_dissected_in_parallel_processes_are_bit_identical(tmp_path):
    # as a user runs it: a fresh process, where run.py's thread settings (one BLAS thread) hold
    common = [sys.executable, str(ROOT / "run.py"), "--quick", "--seeds", "2", "--epochs", "4", "--random-draws", "2",
              "--force-analysis",
              "--no-progress"]
    for name, extra in (("one", []), ("two", ["--jobs", "2"])):
        result = subprocess.run(common + extra + ["--out", str(tmp_path / name)], capture_output=True, text=True,
                                cwd=tmp_path, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
    assert "in 2 processes" in result.stdout
    for seed in (0, 1):
        one, two = (tmp_path / run / f"seed{seed}" / "best.npz" for run in ("one", "two"))
        assert one.read_bytes() == two.read_bytes(), f"seed {seed}"
    one, two = (without_timings(json.loads((tmp_path / run / "analysis.json").read_text())) for run in ("one", "two"))
    assert one == two, "the dissection in worker processes gives every number of the sequential one"
    assert all(model["sweep"]["modes"].get("recurrent") for model in one["models"]), "both seeds: a recurrent sweep"


def test_options_are_resolved_in_one_place_and_read_back_whole():
    quick = resolve_options(quick=True, seed=4, seeds=2)
    assert (quick.train.epochs, quick.train.lr, quick.model.hidden) == (QUICK_EPOCHS, QUICK_LR, QUICK_HIDDEN)
    assert quick.data.generated_sizes == GENERATED_SIZES["quick"] and quick.seeds == (4, 5)
    assert quick.output.out == str(Path("runs") / "generated-bilstm-seed4")
    full = resolve_options()
    assert (full.train.epochs, full.train.patience, full.train.lr, full.model.hidden) == (None, None, None, None), \
        "the corpus decides the epochs and the patience (training.loop.schedule)"
    assert full.train == TrainConfig(), "a run's training defaults are training's own"
    assert full.analysis == DissectOptions() and full.data.generated_sizes == GENERATED_SIZES["full"]
    assert resolve_options(no_recurrent=True).analysis.recurrent_seeds == "none"
    assert resolve_options(no_analysis=True).analysis is None
    assert resolve_options(random_draws=0).analysis.n_random == 0, "0 draws is a choice, not a missing value"
    given = resolve_options(data="columns", data_dir="d", label_column=1, dropout_mask="token", group_by="gold")
    assert given.data.label_column == 1 and given.model.variational is False and given.analysis.group_by == "gold"
    for options in (quick, full, given, resolve_options(no_analysis=True)):
        assert RunOptions.from_dict(json.loads(json.dumps(options.to_dict()))) == options
    with pytest.raises(UsageError, match="--label-column"):
        resolve_options(label_column=2)


def test_a_model_that_learned_nothing_is_named_and_dissected_only_when_forced(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["--data", "generated-rare", "--quick", "--epochs", "1", "--lr", "1e-5", "--seeds", "1", "--no-progress",
            "--random-draws", "2", "--out", out]
    message = one_line_error(capsys, argv)
    assert "not dissected: the model of seed 0 learned nothing" in message and "--force-analysis" in message
    assert "--lr 1e-3 --anneals 1" in message, "it says what to try"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["degenerate"]["0"] == metrics["by_seed"]["0"]["degenerate"] != []
    assert (out / "seed0" / "best.npz").is_file() and not (out / "analysis.json").exists(), "nothing dissected"
    assert cli.main([str(a) for a in argv] + ["--force", "--force-analysis"]) == 0
    report = (out / "report.md").read_text()
    assert report.startswith("> **Warning: This analysis describes models that learned nothing (seed 0: ")
    assert (out / "analysis.json").is_file() and "| 0 | 1 | 1 |" in report, "the training table names the seed"
    with pytest.raises(UsageError, match="--force-analysis"):
        resolve_options(force_analysis=True, no_analysis=True)


def test_the_schedule_options_reach_the_run(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["--quick", "--max-updates", "260", "--patience-updates", "13", "--anneals", "0", "--seeds", "1",
                     "--no-analysis", "--no-progress", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    # 400 quick sentences make 13 batches: 260 updates are 20 epochs, 13 updates the smallest patience, 3
    assert metrics["schedule"] == {"epochs": 20, "patience": 3, "batches_per_epoch": 13}
    train_config = json.loads((out / "seed0" / "best.json").read_text())["meta"]["training"]["train_config"]
    assert (train_config["max_updates"], train_config["patience_updates"], train_config["anneals"]) == (260, 13, 0)
    assert metrics["stopped"].startswith("stopped:") and "anneal" not in metrics["stopped"]
    with pytest.raises(UsageError, match="--epochs"):
        resolve_options(epochs=3, max_updates=100)


def test_a_runs_own_checkpoints_dissected_again_give_its_analysis(tmp_path, capsys, good):
    trained = tmp_path / "trained"
    assert cli.main(["--quick", "--seeds", "2", "--random-draws", "2", "--no-progress", "--recurrent-seeds", "first",
                     "--out", str(trained)]) == 0
    again = tmp_path / "again"
    assert cli.main(["--checkpoint", str(trained / "seed0"), "--checkpoint", str(trained / "seed1"), "--quick",
                     "--random-draws", "2", "--recurrent-seeds", "first", "--no-progress", "--out", str(again)]) == 0
    first, second = read_analysis_json(trained / "analysis.json"), read_analysis_json(again / "analysis.json")
    for a, b in zip(first.models, second.models):
        np.testing.assert_array_equal(a.sensitivity, b.sensitivity)
        np.testing.assert_array_equal(a.sweep.modes["output"].top, b.sweep.modes["output"].top)
        np.testing.assert_array_equal(a.rankings.drop, b.rankings.drop)
    metrics = json.loads((again / "metrics.json").read_text())
    assert [m["checkpoint"] for m in metrics["models"]] == [str(trained / "seed0"), str(trained / "seed1")]
    assert metrics["models"][0]["imported from"]["kind"] == "lstm_numpy" and metrics["epochs"] is None
    assert metrics["dev"] == json.loads((trained / "metrics.json").read_text())["dev"]
    report = (again / "report.md").read_text()
    assert str(trained / "seed0") in report and "## Training" not in report
    # options that train are refused; a label the models do not know is named, or mapped to O
    message = one_line_error(capsys, ["--checkpoint", trained / "seed0", "--quick", "--epochs", "3"])
    assert "--epochs configure training, but --checkpoint dissects trained models" in message
    tsv(tmp_path / "dev.tsv", "Zed\tB-FOOD\n\n")
    message = one_line_error(capsys, ["--checkpoint", trained / "seed0", "--data", "tsv", "--dev", tmp_path / "dev.tsv",
                                      "--test", good["test"], "--no-analysis", "--out", tmp_path / "x"])
    assert "labels ['B-FOOD'] never occur in the model's labels" in message


def test_seeds_are_a_count_a_range_or_a_list(capsys):
    assert parse_seeds("3") == 3 and parse_seeds("0-4") == (0, 1, 2, 3, 4) and parse_seeds("0,2,7") == (0, 2, 7)
    assert parse_seeds("0-2,10") == (0, 1, 2, 10)
    ranged = resolve_options(seeds=parse_seeds("0-49"))
    assert ranged.seeds == tuple(range(50)) and ranged.train.seed == 0
    assert resolve_options(seeds=parse_seeds("5,3")).seeds == (5, 3), "the seeds in the order given"
    counted, named = resolve_options(seeds=2, seed=4), resolve_options(seeds=parse_seeds("4-5"))
    assert counted == named, "a range is the same run as its count from its first seed"
    for text, words in (("4-2", "runs backwards"), ("a-b", "not a count"), ("0", "must be at least 1")):
        with pytest.raises(SystemExit):
            cli.main(["--seeds", text])
        assert words in capsys.readouterr().err
    for args, words in ((["--seeds", "0-3", "--seed", "2"], "--seed gives the first of a count"),
                        (["--seeds", "1,1"], "distinct"), (["--jobs", "2", "--cluster", "tcp://x:1"], "choose one")):
        assert words in one_line_error(capsys, args)
