"""explorer.html: what a run writes, what the command writes, what the page holds, and what a
real browser shows.

One quick run (two seeds, recurrent ablation for the first) serves most tests; it patches
the generated corpus's minimal pairs, which the page shows one at a time.  The
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
from lstm_numpy.analysis.patching import patching_sweep
from lstm_numpy.analysis.rankings import rank_neurons
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.token_ablation import accuracy_drop
from lstm_numpy.data.batching import features_for
from lstm_numpy.data.generated import generate_corpus
from lstm_numpy.data.pairs import generated_pairs, write_pairs
from lstm_numpy.data.readers import read_conll
from lstm_numpy.model.tagger import init_tagger
from lstm_numpy.pipeline import encode_with, load_pairs, load_tagger, make_config, prepare
from lstm_numpy.report import explorer
from lstm_numpy.report.analysis_json import read_analysis_json
from lstm_numpy.report.explorer_encoding import (ESCAPED, GATE_LEVELS, PATCH_NAN, decode_activity, decode_patching,
                                                 from_ascii, json_for_script, pack_nibbles, predict_output_gate,
                                                 quantise_gate, quantise_matrix, to_ascii, unpack_nibbles)
from lstm_numpy.report.explorer_run import load_run

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("explorer") / "run"
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--quick", "--out", str(out), "--no-progress",
                             "--seeds", "2", "--random-draws", "2", "--recurrent-seeds", "first"],
                            capture_output=True, text=True, cwd=ROOT,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "explorer.html" in result.stdout
    return out


@pytest.fixture(scope="module")
def truth(quick_run):
    """The first seed's tagger, dev split, states and activity, read back from the run."""
    run = load_run(quick_run)
    return run, collect_activity(run.params, run.config, run.split)


@pytest.fixture(scope="module")
def patched(quick_run):
    """The run's minimal pairs (the generated corpus's 100, drawn with the run's seed) patched again
    here on seed 0's checkpoint: (EncodedPairs, PatchingResult with per_pair)."""
    params, config, vocab, labels = load_tagger(quick_run / "seed0" / "best")
    pairs = load_pairs("generated", encode_with({}, vocab, labels), "iob2", seed=0)
    result = patching_sweep(params, config, pairs.clean, pairs.corrupted, pairs.positions, pairs.clean_ids,
                            pairs.corrupted_ids)
    assert np.array_equal(result.used, analysis_of(quick_run, 0).patching.used), "the pairs the run patched"
    return pairs, result


def analysis_of(run_dir, seed):
    """The ModelDissection of one seed, read back from the run's analysis.json."""
    return read_analysis_json(Path(run_dir) / "analysis.json").model(seed)


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


def test_patching_codes_round_within_half_a_step_and_keep_nan():
    x = np.array([[0.5, -1.25, np.nan], [1e-7, np.inf, 0.0]])
    codes, scale = quantise_matrix(x)
    assert scale == 1.25 / 127 and codes.dtype == np.int8
    assert (codes[np.isfinite(x)] != PATCH_NAN).all() and (codes[~np.isfinite(x)] == PATCH_NAN).all()
    meta = {"sites": ["h"], "pairs": [{"clean": ["a", "b"], "offset": 0, "scale": [scale]}]}
    (decoded,) = decode_patching(codes.tobytes(), meta, 3)
    assert decoded.shape == (1, 2, 3) and np.array_equal(np.isnan(decoded[0]), ~np.isfinite(x))
    finite = np.isfinite(x)
    assert (np.abs(decoded[0][finite] - x[finite]) <= scale / 2).all()
    assert quantise_matrix(np.full((2, 2), np.nan))[1] == 1.0


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
    assert set(meta["ablation"]) == set(seed0.sweep.modes) == {"output", "recurrent"}
    for mode, entries in meta["ablation"].items():
        swept = seed0.sweep.modes[mode]
        assert meta["ablation"][mode]["ks"] == list(swept.ks)
        ablated = [label for label, row in zip(seed0.sweep.labels, swept.top) if np.isfinite(row).any()]
        assert sorted(entries["entries"]) == sorted(ablated)
    assert set(meta["measures"]) >= {"xin", "competitor", "grad_x_act", "measured"}
    np.testing.assert_array_equal(matrix(meta["measures"]["xin"]), seed0.sensitivity)


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
    seed0 = analysis_of(quick_run, 0)
    order = rank_neurons(seed0.sensitivity)
    checked = 0
    for mode, block in meta["ablation"].items():
        for label, by_k in block["entries"].items():
            for k, entry in by_k.items():
                part = slice(entry["offset"], entry["offset"] + entry["count"])
                changed = np.cumsum(gaps[part])
                assert entry["neurons"] == sorted(order[run.label_names.index(label), :int(k)].tolist())
                drop = accuracy_drop(run.states.gold, run.states.pred, changed, to[part], run.label_names.index(label))
                swept = seed0.sweep.modes[mode]
                recorded = swept.top[run.label_names.index(label), swept.at(int(k))]
                assert drop == pytest.approx(recorded, abs=1e-12), (mode, label, k)
                assert entry["run_drop"] == recorded
                checked += 1
    assert checked >= 9 * 6


def test_the_pages_pairs_are_the_patching_of_the_pairs_the_model_reads_as_intended(quick_run, patched):
    """The page's pairs are the first MAX_PAIRS used ones, in order, with their tokens, read position and
    labels, and each site's (T, Hout) restored fractions are per_pair's within the stated rounding."""
    pairs, result = patched
    meta, section = explorer.read_page(quick_run / "explorer.html")
    shown = meta["pairs"]
    assert shown["sites"] == ["h", "c"] and shown["n_pairs"] == 100 and shown["n_used"] == result.used.sum() > 0
    assert [entry["pair"] for entry in shown["pairs"]] == np.flatnonzero(result.used)[:explorer.MAX_PAIRS].tolist()
    decoded = decode_patching(section("patching"), shown, meta["n_neurons"])
    for entry, values in zip(shown["pairs"], decoded, strict=True):
        p, pair = entry["pair"], pairs.pairs[entry["pair"]]
        assert (entry["clean"], entry["corrupted"], entry["position"]) == (pair.clean, pair.corrupted, pair.position)
        assert (entry["clean_label"], entry["corrupted_label"]) == (pair.clean_label, pair.corrupted_label)
        assert meta["labels"].index(entry["clean_label"]) == result.clean_labels[p]
        true = result.per_pair[p, :, :len(pair.clean)]
        assert values.shape == true.shape == (2, len(pair.clean), meta["n_neurons"])
        assert np.array_equal(np.isnan(values), np.isnan(true))
        bound = np.asarray(entry["scale"])[:, None, None] / 2
        assert np.nanmax(np.abs(values - true) - bound) <= 1e-12, f"pair {p}"
        assert np.nanmax(np.abs(values)) > 0.1, "a pair the model reads as intended has a cell that restores much"


def test_the_command_patches_the_runs_pair_file_again(quick_run, tmp_path, capsys):
    """A run with --pairs FILE (seed 0's model as a --checkpoint: no training): the explorer command
    re-reads the file and writes the run's page again, pairs included; a changed file is refused."""
    pair_file = write_pairs(tmp_path / "pairs.txt", generated_pairs(16, seed=3))
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--checkpoint", str(quick_run / "seed0" / "best.npz"),
                             "--data", "columns", "--data-dir", str(quick_run / "data"), "--pairs", str(pair_file),
                             "--random-draws", "2", "--no-recurrent", "--no-progress", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    meta, _ = explorer.read_page(out / "explorer.html")
    assert meta["pairs"]["source"] == str(pair_file) and meta["pairs"]["n_pairs"] == 16 and meta["pairs"]["pairs"]
    assert explorer.main([str(out), "--out", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_bytes() == (out / "explorer.html").read_bytes()
    pair_file.write_text("# edited since the run\n" + pair_file.read_text())
    assert explorer.main([str(out), "--out", str(tmp_path / "never.html")]) == 2
    assert "the --pairs file changed since the run" in capsys.readouterr().err


def test_the_command_writes_the_runs_page_again(quick_run, tmp_path):
    out = tmp_path / "again.html"
    result = subprocess.run([sys.executable, "-m", "lstm_numpy.report.explorer", str(quick_run), "--out", str(out)],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout and "MB" in result.stdout
    assert out.read_bytes() == (quick_run / "explorer.html").read_bytes(), "same run, same page, byte for byte"


@pytest.mark.filterwarnings("ignore::lstm_numpy.errors.UndefinedLabelWarning")   # seed 1 never predicts two labels
def test_the_command_shows_another_seed(quick_run, tmp_path, capsys):
    assert explorer.main([str(quick_run), "--seed", "1", "--out", str(tmp_path / "seed1.html")]) == 0
    meta, _ = explorer.read_page(tmp_path / "seed1.html")
    assert meta["about"]["seed"] == 1 and set(meta["ablation"]) == {"output"}, "seed 1 had no recurrent ablation"
    np.testing.assert_array_equal(matrix(meta["measures"]["xin"]), analysis_of(quick_run, 1).sensitivity)


def test_a_bad_run_directory_is_one_line_and_status_2(quick_run, tmp_path, capsys):
    def fails(args, *words):
        assert explorer.main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        for word in words:
            assert word in err, err
    fails([tmp_path / "nowhere"], "no such run directory")
    (tmp_path / "empty").mkdir()
    fails([tmp_path / "empty"], "run.json")
    copy = tmp_path / "copy"
    shutil.copytree(quick_run, copy, ignore=shutil.ignore_patterns("*.html", "figures"))
    fails([copy, "--seed", "7"], "seed")
    analysis = (copy / "analysis.json").read_text()
    (copy / "analysis.json").write_text('{"seeds": [0], "per_seed": [{"seed": 0}]}')
    fails([copy], "not an analysis.json of this package")
    (copy / "analysis.json").write_text(analysis)
    (copy / "seed0" / "best.npz").write_bytes(b"not a checkpoint")
    fails([copy], "best.npz")
    (copy / "analysis.json").unlink()
    fails([copy], "analysis.json", "--no-analysis")
    result = subprocess.run([sys.executable, "-m", "lstm_numpy.report.explorer", str(tmp_path / "nowhere")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2 and result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_the_run_json_names_what_changed_and_data_dir_relocates_what_did_not(quick_run, tmp_path, capsys):
    """run.json holds the run's options and each data file's checksum: the explorer reads them back
    (nothing parses a command line), refuses data that changed and a run.json from a newer version,
    and --data-dir finds moved data whose checksum matches."""
    copy = tmp_path / "moved"
    shutil.copytree(quick_run, copy, ignore=shutil.ignore_patterns("*.html", "*.png", "figures", "data"))
    record = json.loads((copy / "run.json").read_text())
    assert record["options"]["data"]["kind"] == "generated" and record["options"]["seeds"] == [0, 1]
    assert record["options"]["analysis"]["n_random"] == 2 and record["options"]["analysis"]["recurrent_seeds"] == "first"
    assert record["package_version"] == metadata.version("lstm_numpy")

    def fails(args, *words):
        assert explorer.main([str(a) for a in args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        for word in words:
            assert word in err, err
    data = quick_run / "data"
    moved = tmp_path / "elsewhere"
    shutil.copytree(data, moved)
    (copy / "run.json").write_text(json.dumps({**record, "data_files": {
        split: {**entry, "path": str(tmp_path / "gone" / Path(entry["path"]).name)}
        for split, entry in record["data_files"].items()}}))
    fails([copy], "no such file", "--data-dir")
    assert explorer.main([str(copy), "--data-dir", str(moved), "--out", str(tmp_path / "page.html")]) == 0
    meta, _ = explorer.read_page(tmp_path / "page.html")
    assert meta["about"]["data"].endswith(str((moved / "dev.txt").resolve()))
    (moved / "dev.txt").write_text((moved / "dev.txt").read_text().replace("B-PER", "B-LOC", 1))
    fails([copy, "--data-dir", moved], "dev.txt", "changed since the run", "SHA-256")
    (copy / "run.json").write_text(json.dumps({**record, "format_version": 99, "package_version": "9.0"}))
    fails([copy], "run.json", "9.0", "upgrade")


def test_the_page_files_are_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    files = sorted((ROOT / "lstm_numpy" / "report" / "explorer_page").iterdir())
    assert {f.name for f in files} == set(explorer.PAGE_FILES)
    for f in files:
        assert any(fnmatch(f"explorer_page/{f.name}", pattern) for pattern in config["lstm_numpy.report"]), f.name
        f.read_text(encoding="ascii")      # the page is ASCII
    for dist in metadata.distributions(name="lstm_numpy"):      # a wheel install (CI's): its RECORD lists them
        record, direct = dist.read_text("RECORD"), json.loads(dist.read_text("direct_url.json") or "{}")
        if record and not direct.get("dir_info", {}).get("editable"):
            for name in explorer.PAGE_FILES:
                assert f"lstm_numpy/report/explorer_page/{name}" in record, name


# ------------------------------------------------------------ the page, in a real browser


def chromium_or_skip():
    """The Chromium binary to drive, or a skip (a failure with LSTM_NUMPY_REQUIRE_BROWSER=1) saying what is missing."""
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed (python -m pip install playwright; the test extra has it)"
    candidates = (os.environ.get("LSTM_NUMPY_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                  "/usr/bin/chromium")
    executable = next((c for c in candidates if c and Path(c).is_file()), None)
    if problem is None and executable is None:
        problem = "no Chromium binary (Debian: apt-get install -y chromium; or set LSTM_NUMPY_CHROMIUM)"
    if problem:
        if os.environ.get("LSTM_NUMPY_REQUIRE_BROWSER") == "1":
            pytest.fail(problem + " and LSTM_NUMPY_REQUIRE_BROWSER=1")
        pytest.skip(problem)
    return executable


def launch(playwright, executable, tmp_path):
    """Headless Chromium with a fresh profile under tmp_path and a window the page's two columns fit."""
    return playwright.chromium.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 1250})


def rows_of(page):
    """[(neuron, ranking score, Xin S)] of the table "Neurons by label" as the page shows it."""
    return page.eval_on_selector_all("#rank-table tbody tr", """rows => rows.map(r =>
        [Number(r.dataset.neuron), Number(r.cells[2].dataset.value), Number(r.cells[3].dataset.value)])""")


def assert_rows(rows, scores, xin, label):
    expected = rank_neurons(scores)[label, :len(rows)]
    assert [r[0] for r in rows] == expected.tolist()
    np.testing.assert_allclose([r[1] for r in rows], scores[label, expected], rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose([r[2] for r in rows], xin[label, expected], rtol=1e-12, equal_nan=True)


def test_the_pages_ranking_breaks_ties_like_rank_neurons(quick_run, tmp_path):
    """The table "Neurons by label" (explorer.js rankOrder) orders every neuron as rank_neurons does where
    scores tie (0.0 and -0.0 too) or are NaN: the run's page, its measures replaced by scores full of ties."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright
    raw = (quick_run / "explorer.html").read_bytes()
    meta, _ = explorer.read_page(quick_run / "explorer.html")
    K, H = len(meta["labels"]), meta["n_neurons"]
    assert H > 6, "too few neurons for six values to tie"
    rng = np.random.default_rng(0)
    tied = {name: rng.choice([0.5, 0.25, 0.0, -0.0, -0.25, np.nan], size=(K, H)) for name in meta["measures"]}
    tied["xin"][K - 1] = np.nan                     # a label without any score
    meta["measures"] = tied
    start = raw.index(explorer.META_TAG) + len(explorer.META_TAG)
    page_path = tmp_path / "ties.html"
    page_path.write_bytes(raw[:start] + json_for_script(meta).encode("ascii") + raw[raw.index(b"</script>", start):])
    problems = []
    with sync_playwright() as playwright:
        context = launch(playwright, executable, tmp_path)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(page_path.as_uri())
        page.wait_for_function("document.body.dataset.ready === '1' || "
                               "document.getElementById('status').classList.contains('error')", timeout=60_000)
        assert not problems and page.get_attribute("#status", "class") != "error", (problems, page.inner_text("#status"))
        if page.is_visible("#rank-more"):
            page.click("#rank-more")                # every neuron, not the top 12
        for name, scores in tied.items():
            page.select_option("#ranking", name)
            for label in range(K):
                page.select_option("#rank-label", str(label))
                rows = rows_of(page)
                assert len(rows) == H
                assert_rows(rows, scores, tied["xin"], label)
        context.close()
    assert not problems, problems


def test_the_page_in_chromium(request, tmp_path):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright
    given = os.environ.get("LSTM_NUMPY_EXPLORER_RUN")
    if given:       # an existing run, read-only: the page and the screenshot go to tmp_path
        run_dir, page_path, shot = Path(given), tmp_path / "explorer.html", tmp_path / "explorer.png"
        assert explorer.main([str(run_dir), "--out", str(page_path)]) == 0
        run = load_run(run_dir)
        activity = collect_activity(run.params, run.config, run.split)
    else:
        run_dir = request.getfixturevalue("quick_run")
        run, activity = request.getfixturevalue("truth")
        page_path, shot = run_dir / "explorer.html", run_dir / "explorer.png"
    meta, _ = explorer.read_page(page_path)
    seed = analysis_of(run_dir, run.seed)
    labels, S = run.label_names, seed.sensitivity
    sentence_of = np.repeat(np.arange(run.states.lengths.size), run.states.lengths)
    problems = []
    with sync_playwright() as playwright:
        context = launch(playwright, executable, tmp_path)
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(page_path.as_uri())
        page.wait_for_function("document.body.dataset.complete === '1' || "
                               "document.getElementById('status').classList.contains('error')", timeout=60_000)
        status = page.inner_text("#status")
        assert not problems and page.get_attribute("#status", "class") != "error", (problems, status)
        about = page.inner_text("#about")
        for words in (meta["about"]["model"], f"Seed {run.seed}", "Split: dev", f"{run.states.n_tokens:,} tokens"):
            assert words in about, (words, about)

        # neurons by label: the run's ranking, then a click picks a neuron
        first = next(i for i, name in enumerate(labels) if name != "O")
        assert page.input_value("#rank-label") == str(first)
        assert_rows(rows_of(page), S, S, first)
        page.click("#rank-table tbody tr:nth-child(2)")
        neuron = int(rank_neurons(S)[first, 1])
        assert page.input_value("#neuron") == str(neuron)
        assert page.get_attribute("#rank-table tbody tr:nth-child(2)", "class") == "current"
        other = max((i for i in range(len(labels)) if i != first and np.isfinite(S[i]).any()),
                    key=lambda i: np.nanmax(S[i]))
        page.select_option("#rank-label", str(other))
        assert_rows(rows_of(page), S, S, other)
        for name in meta["measures"]:
            page.select_option("#ranking", name)
            assert_rows(rows_of(page), run.measures[name], S, other)

        # the neuron under the microscope: colour by its contribution to `other`, hover a token
        page.select_option("#colour", "contribution")
        page.select_option("#contribution-label", str(other))
        assert f"W[{labels[other]}, {neuron}]" in page.inner_text("#legend-caption")
        on_page = np.flatnonzero(sentence_of < 25)
        token = int(on_page[np.argmax(np.abs(activity.hidden[on_page, neuron]))])
        styles = "xs => xs.map(x => x.getAttribute('style'))"
        before = page.eval_on_selector_all("#sentences .tok", styles)
        page.hover(f'.tok[data-t="{token}"]')
        shown = page.eval_on_selector_all("#tooltip .num", "xs => xs.map(x => [x.dataset.q, Number(x.dataset.value), "
                                          "Number(x.dataset.within)])")
        W = run.params["out.W"].astype(np.float64)
        true = {"h": activity.hidden, "c": activity.cell, "i": activity.input_gate, "f": activity.forget_gate,
                "o": activity.output_gate}
        true = {q: float(x[token, neuron]) for q, x in true.items()}
        true["contribution"] = W[other, neuron] * true["h"]
        assert {q for q, _, _ in shown} == set(true)
        for q, value, within in shown:
            assert abs(value - true[q]) <= within + 1e-6, f"{q}: page {value}, tagger {true[q]}, within {within}"
        page.select_option("#colour", "f")
        assert page.eval_on_selector_all("#sentences .tok", styles) != before, "the colouring follows the quantity"

        # filters and paging
        page.check("#filter-errors")
        errors = np.unique(sentence_of[run.states.gold != run.states.pred]).size
        assert f"({errors:,} of {run.states.lengths.size:,} sentences match)" in page.inner_text("#page-info")
        page.uncheck("#filter-errors")
        if run.states.lengths.size > 25:
            page.click("#page-next")
            assert page.inner_text("#page-info").startswith("page 2 of")
            page.click("#page-prev")
        page.click(f'.tok[data-t="{token}"]')
        words = [word for sentence in run.split.tokens for word in sentence]
        assert page.inner_text("#token-info").startswith(f"{words[token]} (token {token})")

        # ablation, in every mode the run ran: the page's drop, recomputed from its tokens, is analysis.json's
        for mode, block in meta["ablation"].items():
            k = block["ks"][len(block["ks"]) // 2]
            label = max(block["entries"], key=lambda name: block["entries"][name][str(k)]["count"])
            page.select_option("#ablation-mode", mode)
            page.select_option("#ablation-label", label)
            page.select_option("#ablation-k", str(k))
            page.click("#ablation-apply")
            swept = seed.sweep.modes[mode]
            recorded = swept.top[labels.index(label), swept.at(k)]
            assert float(page.get_attribute("#ablation-drop", "data-value")) == pytest.approx(recorded, abs=1e-12)
            assert float(page.get_attribute("#ablation-run-drop", "data-value")) == recorded
            count = block["entries"][label][str(k)]["count"]
            assert int(page.get_attribute("#ablation-changed", "data-value")) == count > 0
            page.check("#filter-ablated")
            gaps = np.frombuffer(explorer.read_page(page_path)[1]("ablation_tokens"), dtype=np.uint32).astype(np.int64)
            entry = block["entries"][label][str(k)]
            changed = np.cumsum(gaps[entry["offset"]:entry["offset"] + count])
            sentences = np.unique(sentence_of[changed])
            assert f"({sentences.size:,} of" in page.inner_text("#page-info")
            shown_changed = page.eval_on_selector_all(".tok.changed", "xs => xs.map(x => Number(x.dataset.t))")
            assert shown_changed == [t for t in changed.tolist() if sentence_of[t] in sentences[:25]]
        # the screenshot: the last ablation's first neuron, coloured by its contribution to the ablated label
        page.select_option("#neuron", str(entry["neurons"][0]))
        page.select_option("#colour", "contribution")
        page.select_option("#contribution-label", str(labels.index(label)))
        page.hover(".tok.changed >> nth=0")
        page.screenshot(path=str(shot))
        timings = page.evaluate("window.explorerTimings")
        context.close()
    assert not problems, problems
    slowest = max(timings["interactions"], key=lambda x: x["ms"])
    print(f"\n{page_path}: {page_path.stat().st_size / 1e6:.2f} MB; usable after {timings['ready_ms']:.0f} ms, "
          f"complete after {timings['complete_ms']:.0f} ms (from navigation); {len(timings['interactions'])} "
          f"interactions, slowest {slowest['name']} {slowest['ms']:.0f} ms; screenshot {shot}")
    assert shot.stat().st_size > 10_000


def test_the_pair_view_in_chromium(quick_run, patched, tmp_path):
    """The minimal-pair view as a user meets it: open it, pick a pair and a site; the grid's rows are the
    neurons by their total restored fraction, and each cell's value is the sweep's per-pair fraction
    (patching_sweep run here) within the page's rounding."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright
    pairs, result = patched
    meta, _ = explorer.read_page(quick_run / "explorer.html")
    shown = meta["pairs"]["pairs"]
    problems = []
    with sync_playwright() as playwright:
        context = launch(playwright, executable, tmp_path)
        page = context.new_page()
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto((quick_run / "explorer.html").as_uri())
        page.wait_for_function("document.body.dataset.complete === '1'", timeout=60_000)
        assert page.is_visible("#pair-panel")
        summary = page.inner_text("#pair-summary")
        assert f"reads {result.used.sum()} of the run's 100 pairs" in summary, summary
        page.click("#pair-details summary")
        for k, site in ((len(shown) // 2, "c"), (0, "h")):
            entry = shown[k]
            p, s = entry["pair"], meta["pairs"]["sites"].index(site)
            page.select_option("#pair", str(k))
            page.select_option("#pair-site", site)
            page.click("#pair-more")                   # every neuron
            true = result.per_pair[p, s, :len(entry["clean"])]            # (T, Hout)
            rows = page.eval_on_selector_all("#pair-grid tbody tr", "rs => rs.map(r => [Number(r.dataset.neuron), "
                                             "Array.from(r.querySelectorAll('td.cell')).map(c => Number(c.dataset.value))])")
            assert sorted(j for j, _ in rows) == list(range(meta["n_neurons"]))
            within = entry["scale"][s] / 2
            for j, values in rows:
                values = np.array(values)
                assert np.array_equal(np.isnan(values), np.isnan(true[:, j]))
                assert np.nanmax(np.abs(values - true[:, j]), initial=0.0) <= within + 1e-9, (p, site, j)
            totals = np.nansum(true, axis=0)[[j for j, _ in rows]]
            assert (np.diff(totals) <= 2 * within * true.shape[0] + 1e-9).all(), "rows by total, largest first"
            info = page.inner_text("#pair-info")
            assert entry["clean_label"] in info and entry["corrupted_label"] in info
            read = page.eval_on_selector_all("#pair-grid thead tr.clean th.read", "xs => xs.map(x => x.textContent)")
            assert read == [entry["clean"][entry["position"]]]
            page.click("#pair-more")                   # back to the top rows
        page.click('#pair-grid td.cell[data-t="0"] >> nth=0')
        assert "position 0" in page.inner_text("#pair-cell")
        context.close()
    assert not problems, problems


def test_a_probed_column_shows_under_each_word(tmp_path):
    """A run with --probe-column shows that column under every word (the page's own section), and the
    explorer command writes the same page again from run.json."""
    from corpora import write_columns
    write_columns(tmp_path / "data", "iob2", "columns")            # word POS NER
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, str(ROOT / "run.py"), "--data", "columns", "--data-dir",
                             str(tmp_path / "data"), "--quick", "--probe-column", "1", "--seeds", "1",
                             "--random-draws", "2", "--no-recurrent", "--force-analysis", "--no-progress",
                             "--out", str(out)], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    meta, section = explorer.read_page(out / "explorer.html")
    assert meta["pairs"] is None, "a run without pairs: no pair view"
    assert meta["column"]["name"] == "column 1" and meta["column"]["classes"] == ["DT", "NNP"]
    codes = np.frombuffer(section("column"), dtype=np.uint8)
    gold = np.frombuffer(section("gold"), dtype=np.uint8)
    assert ((codes == 1) == (gold != meta["labels"].index("O"))).all(), "NNP exactly on the entity words"
    assert explorer.main([str(out), "--out", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_bytes() == (out / "explorer.html").read_bytes()
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        context = launch(playwright, executable, tmp_path)
        page = context.new_page()
        problems = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto((out / "explorer.html").as_uri())
        page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
        shown = page.eval_on_selector_all(".tok", "xs => xs.map(x => [Number(x.dataset.t), "
                                                  "x.querySelector('.c').textContent])")
        hint = page.inner_text("#under-each-word")
        no_pair_view = page.is_hidden("#pair-panel")
        context.close()
    assert no_pair_view
    assert not problems and shown
    assert all(text == meta["column"]["classes"][codes[t]] for t, text in shown)
    assert "column 1, the property the probe reads" in hint
