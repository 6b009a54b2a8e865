"""explorer.html: what a run writes, what the command writes, what the page holds, and what a
real browser shows.

One quick run (two seeds, recurrent ablation for the first) serves every test.  The
page's numbers are checked three ways: decoded in Python against the tagger's own
activity (within the rounding the page states), its ablation lists against
analysis.json, and, in headless Chromium driven by Playwright, what the page
displays after clicks against analysis.json and recomputed values.  The browser
test skips (with the reason) without Playwright or a Chromium binary, unless
LSTM_NUMPY_REQUIRE_BROWSER=1 (CI sets it) makes that a failure.
LSTM_NUMPY_EXPLORER_RUN=RUN_DIR runs the browser test on an existing run
instead (read-only: page and screenshot go to a temporary folder) and prints
the page's size and timings.
"""
import json
import os
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from lstm_numpy.analysis.activity import collect_activity, direction_of
from lstm_numpy.analysis.rankings import rank_neurons
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.token_ablation import accuracy_drop
from lstm_numpy.data.batching import encode_corpus, features_for
from lstm_numpy.data.generated import generate_corpus
from lstm_numpy.data.readers import read_conll
from lstm_numpy.model.tagger import init_tagger
from lstm_numpy.pipeline import make_config, prepare
from lstm_numpy.report import explorer
from lstm_numpy.report.explorer_encoding import (ESCAPED, GATE_LEVELS, decode_activity, from_ascii, pack_nibbles,
                                                 predict_output_gate, quantise_gate, to_ascii, unpack_nibbles)
from lstm_numpy.report.explorer_run import load_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("explorer") / "run"
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--quick", "--out", str(out), "--no-progress",
                             "--seeds", "2", "--random-draws", "2"], capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "explorer.html" in result.stdout
    return out


@pytest.fixture(scope="module")
def truth(quick_run):
    """The first seed's tagger, dev split, states and activity, read back from the run."""
    run = load_run(quick_run)
    return run, collect_activity(run.params, run.config, run.split)


def analysis_of(run_dir, seed):
    analysis = json.loads((Path(run_dir) / "analysis.json").read_text())
    return next(p for p in analysis["per_seed"] if p["seed"] == seed)


def matrix(rows):
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=np.float64)


# ------------------------------------------------------------ encoding


def test_ascii_encoding_round_trips_every_byte_and_avoids_what_html_alters():
    rng = np.random.default_rng(0)
    for data in (bytes(range(256)) * 3, rng.integers(0, 256, 10_001, dtype=np.uint8).tobytes(), b"", b"<\r\x00\x01"):
        text = to_ascii(data)
        codes = np.frombuffer(text, dtype=np.uint8)
        assert codes.max(initial=0) < 128, "ASCII only"
        assert not np.isin(codes, [c for c in ESCAPED if c != 0x01]).any(), "no NUL, CR or < in the page"
        assert from_ascii(text) == data
        assert len(text) <= len(data) * 8 / 7 * 1.04 + 2


def test_nibbles_round_trip():
    codes = np.random.default_rng(1).integers(0, 16, 999).astype(np.uint8)
    assert (unpack_nibbles(pack_nibbles(codes), codes.size) == codes).all()


def scalar_prediction(h_code, h_scale, c_code, c_scale):
    """The page's JavaScript (explorer.js outputGate), transcribed operation for operation."""
    x = c_code * c_scale
    if x > 3:
        t = 1.0
    elif x < -3:
        t = -1.0
    else:
        x2 = x * x
        t = x * (27 + x2) / (27 + 9 * x2)
    ratio = 0.5 if abs(t) < 1 / 16 else (h_code * h_scale) / t
    return min(GATE_LEVELS, max(0, int(np.floor(ratio * GATE_LEVELS + 0.5))))


def test_the_output_gate_prediction_is_the_pages_operation_for_operation():
    rng = np.random.default_rng(2)
    h_codes = rng.integers(-127, 128, (3, 400)).astype(np.int8)
    c_codes = rng.integers(-63, 64, (3, 400)).astype(np.int8)
    h_scale, c_scale = rng.uniform(0.001, 0.01, 3), rng.uniform(0.01, 0.3, 3)
    vectorised = predict_output_gate(h_codes, h_scale, c_codes, c_scale)
    by_hand = [[scalar_prediction(int(h_codes[j, t]), h_scale[j], int(c_codes[j, t]), c_scale[j]) for t in range(400)]
               for j in range(3)]
    assert (vectorised == np.array(by_hand)).all()


# ------------------------------------------------------------ activity


@pytest.mark.parametrize("preset", ["paper", "bilstm"])
def test_activity_matches_the_states_and_runs_each_direction_in_its_own_time(tmp_path, preset):
    paths = generate_corpus(tmp_path, seed=0, n_train=60, n_dev=20, n_test=5)
    prepared = prepare({split: read_conll(path, scheme=None) for split, path in paths.items()})
    config = make_config(preset, prepared, dtype="float64", hidden=6, char_filters=0, affix_dim=0)
    params = init_tagger(config, np.random.default_rng(0))
    for name, value in params.items():          # non-zero biases everywhere, so nothing agrees by accident
        if name.endswith(".b"):
            value[...] = np.random.default_rng(1).normal(0, 0.5, value.shape)
    split = features_for(prepared.splits["dev"], config)
    states = collect_states(params, config, split)
    activity = collect_activity(params, config, split)
    np.testing.assert_allclose(activity.hidden, states.hidden, rtol=0, atol=1e-12)
    np.testing.assert_allclose(activity.hidden, activity.output_gate * np.tanh(activity.cell), atol=1e-12)
    # c_t = f_t c_prev + i_t g_t with |g_t| < 1: c_prev is the previous word forward, the next word backward
    H = config.hidden
    starts = np.concatenate([[0], np.cumsum(states.lengths)[:-1]])
    for d, step in enumerate((1, -1) if config.bidirectional else (1,)):
        cols = slice(d * H, (d + 1) * H)
        c, f, i = activity.cell[:, cols], activity.forget_gate[:, cols], activity.input_gate[:, cols]
        for a, n in zip(starts, states.lengths):
            order = range(a, a + n) if step == 1 else range(a + n - 1, a - 1, -1)
            prev = np.zeros(H)
            for t in order:
                assert (np.abs(c[t] - f[t] * prev) <= i[t] + 1e-12).all(), f"direction {d}, token {t}"
                prev = c[t]
    expected = [None] * (2 * H) if not config.bidirectional else ["forward"] * H + ["backward"] * H
    assert [direction_of(j, config) for j in range(config.output_size)] == expected[:config.output_size]


# ------------------------------------------------------------ the page, in Python


def test_the_run_writes_a_page_of_seed_0_on_dev(quick_run):
    page = quick_run / "explorer.html"
    text = page.read_bytes()
    assert max(text) < 128, "the page is ASCII"
    meta, _ = explorer.read_page(page)
    assert meta["about"]["seed"] == 0 and meta["about"]["split"] == "dev"
    assert "bilstm" in meta["about"]["model"] and "BiLSTM" in meta["about"]["model"]
    seed0 = analysis_of(quick_run, 0)
    assert set(meta["ablation"]) == set(seed0["ablation"]) == {"output", "recurrent"}
    for mode, entries in meta["ablation"].items():
        assert meta["ablation"][mode]["ks"] == sorted(int(k) for k in next(iter(seed0["ablation"][mode]["top"].values())))
        assert set(entries["entries"]) == set(seed0["ablation"][mode]["top"])
    assert set(meta["measures"]) >= {"xin", "competitor", "grad_x_act", "measured"}
    np.testing.assert_array_equal(matrix(meta["measures"]["xin"]), matrix(seed0["sensitivity"]))


def test_page_values_are_the_taggers_within_the_stated_rounding(quick_run, truth):
    run, activity = truth
    meta, section = explorer.read_page(quick_run / "explorer.html")
    n, Hout = activity.hidden.shape
    assert (meta["n_tokens"], meta["n_neurons"]) == (n, Hout)
    words = section("words").decode("utf-8").split("\n")
    assert words == [token for sentence in run.split.tokens for token in sentence]
    assert (np.frombuffer(section("gold"), dtype=np.uint8) == run.states.gold).all()
    assert (np.frombuffer(section("pred"), dtype=np.uint8) == run.states.pred).all()
    decoded = decode_activity(section, meta["quant"], n, Hout)
    for name, true in zip("hcifo", (activity.hidden, activity.cell, activity.input_gate, activity.forget_gate,
                                    activity.output_gate)):
        error = np.abs(decoded[name] - true)
        bound = np.broadcast_to(np.asarray(meta["quant"][name]["within"], dtype=np.float64), error.shape)
        assert (error <= bound + 1e-6).all(), f"{name}: max error {error.max():.3g}, bound {bound.max():.3g}"
    # the output gate's residual coding is exact: the page decodes the very code the gate was rounded to
    assert (decoded["o"] == quantise_gate(activity.output_gate).T / GATE_LEVELS).all()


def test_the_pages_ablated_tokens_give_the_runs_accuracy_drops(quick_run, truth):
    run, _ = truth
    meta, section = explorer.read_page(quick_run / "explorer.html")
    gaps = np.frombuffer(section("ablation_tokens"), dtype=np.uint32).astype(np.int64)
    to = np.frombuffer(section("ablation_to"), dtype=np.uint8).astype(np.int64)
    summary = analysis_of(quick_run, 0)["ablation"]
    order = rank_neurons(matrix(analysis_of(quick_run, 0)["sensitivity"]))
    checked = 0
    for mode, block in meta["ablation"].items():
        for label, by_k in block["entries"].items():
            for k, entry in by_k.items():
                part = slice(entry["offset"], entry["offset"] + entry["count"])
                changed = np.cumsum(gaps[part])
                assert entry["neurons"] == sorted(order[run.label_names.index(label), :int(k)].tolist())
                drop = accuracy_drop(run.states.gold, run.states.pred, changed, to[part], run.label_names.index(label))
                assert drop == pytest.approx(summary[mode]["top"][label][k], abs=1e-12), (mode, label, k)
                assert entry["run_drop"] == summary[mode]["top"][label][k]
                checked += 1
    assert checked >= 9 * 6


def test_the_command_writes_the_runs_page_again(quick_run, tmp_path):
    out = tmp_path / "again.html"
    result = subprocess.run([sys.executable, "-m", "lstm_numpy.report.explorer", str(quick_run), "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "MB" in result.stdout
    assert out.read_bytes() == (quick_run / "explorer.html").read_bytes(), "same run, same page, byte for byte"


def test_the_command_shows_another_seed(quick_run, tmp_path, capsys):
    assert explorer.main([str(quick_run), "--seed", "1", "--out", str(tmp_path / "seed1.html")]) == 0
    meta, _ = explorer.read_page(tmp_path / "seed1.html")
    assert meta["about"]["seed"] == 1 and set(meta["ablation"]) == {"output"}, "seed 1 had no recurrent ablation"
    np.testing.assert_array_equal(matrix(meta["measures"]["xin"]), matrix(analysis_of(quick_run, 1)["sensitivity"]))


def test_a_bad_run_directory_is_one_line_and_status_2(quick_run, tmp_path, capsys):
    def fails(args, *words):
        assert explorer.main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        for word in words:
            assert word in err, err
    fails([tmp_path / "nowhere"], "no such run directory")
    (tmp_path / "empty").mkdir()
    fails([tmp_path / "empty"], "metrics.json")
    copy = tmp_path / "copy"
    shutil.copytree(quick_run, copy, ignore=shutil.ignore_patterns("*.html", "figures"))
    fails([copy, "--seed", "7"], "seed")
    (copy / "seed0" / "best.npz").write_bytes(b"not a checkpoint")
    fails([copy], "best.npz")
    (copy / "analysis.json").unlink()
    fails([copy], "analysis.json", "--no-analysis")
    result = subprocess.run([sys.executable, "-m", "lstm_numpy.report.explorer", str(tmp_path / "nowhere")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_the_page_files_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = sorted((ROOT / "lstm_numpy" / "report" / "explorer_page").iterdir())
    assert {f.name for f in files} == set(explorer.PAGE_FILES)
    for f in files:
        assert any(fnmatch(f"explorer_page/{f.name}", pattern) for pattern in config["lstm_numpy.report"]), f.name
        f.read_text(encoding="ascii")      # the page is ASCII
    installed = [str(p) for p in metadata.files("lstm_numpy") or []]
    if any(p.endswith("report/explorer.py") for p in installed):    # a regular install (CI's), not an editable one
        for name in explorer.PAGE_FILES:
            assert any(p.endswith(f"report/explorer_page/{name}") for p in installed), name
