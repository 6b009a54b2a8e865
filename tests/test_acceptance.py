"""The acceptance matrix: every data format, preset and decoding the README and
``--help`` name, run the way a user runs them (``python run.py ...`` in a
subprocess, from a folder that is not the report's), each checked for a
finished run, a report whose links resolve, the label scheme it detected and
scores that are plausible (not below the most-frequent-label baseline on an
easy corpus, where that baseline is near 100).

Real data (../shared/data) is used when present, in small subsets written to
a temporary folder, and skipped with the reason when not.
"""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpora import subset, write_columns, write_conllu

from lstm_numpy.data.readers import default_conll2003_dir
from lstm_numpy.report.analysis_json import read_analysis_json

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
SEQUOIA = SHARED / "ud_french_sequoia"
FAST = ("--no-progress", "--seeds", "1", "--random-draws", "2", "--no-recurrent", "--force-analysis")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def finished(result, out):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics, read_analysis_json(out / "analysis.json")


def assert_links_resolve(report):
    """Every link in report.md points to a file that exists relative to the report's own folder."""
    text = report.read_text()
    links = [target for target in LINK.findall(text) if not target.startswith(("http:", "https:", "#"))]
    assert any(target.endswith(".png") for target in links), "the report shows its figures"
    assert any(target.endswith("analysis.json") for target in links), "the report links its files"
    missing = [target for target in links if not (report.parent / target).is_file()]
    assert not missing, f"links that do not resolve from {report.parent}: {missing}"


def test_generated_corpus_bilstm_argmax(tmp_path):
    # the generated corpus decides some types by words after the entity: the bilstm preset, not paper
    out = tmp_path / "runs" / "generated"
    result = run_cli("--quick", "--decode", "argmax", "--out", "runs/generated", *FAST,
                     cwd=tmp_path)       # a relative --out: the report's links must still resolve from its folder
    metrics, analysis = finished(result, out)
    assert "label scheme: IOB2" in result.stdout
    assert metrics["config"]["decode"] == "argmax" and metrics["config"]["bidirectional"]
    assert metrics["test"]["entity_f1"] > metrics["test_baseline_entity_f1"], "context beats the per-word baseline"
    assert_links_resolve(out / "report.md")
    claims = check_claims(tmp_path, out)
    assert "**C2 holds**" in claims or "**C2 does not hold**" in claims
    assert "Test entity F1 over seeds" in claims and "C4 (within models)" in claims


def check_claims(tmp_path, *runs):
    """The claims document of finished runs (python -m lstm_numpy.report.claims), its figure links resolved."""
    out = tmp_path / "docs" / "claims.md"
    result = subprocess.run([sys.executable, "-m", "lstm_numpy.report.claims", *map(str, runs), "--out", str(out),
                             "--command", "the commands"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    text = out.read_text()
    links = [target for target in LINK.findall(text)]
    assert links and all((out.parent / target).is_file() for target in links), links
    assert "oracle excluded" in text and "held out" in text
    return text


@pytest.mark.parametrize("kind, scheme, preset, decode", [
    ("conll2003", "iob2", "bilstm", "constrained"),
    ("columns", "iob1", "paper", "constrained"),     # the bug: IOB1 decoded as IOB2 scored entity F1 0.00
    ("tsv", "iob2", "paper", "argmax"),
    ("tsv", "bioes", "bilstm", "constrained"),
])
def test_files_by_path(tmp_path, kind, scheme, preset, decode):
    paths = write_columns(tmp_path / "data", scheme, kind)
    out = tmp_path / "run"
    result = run_cli("--data", kind, "--train", paths["train"], "--dev", paths["dev"], "--test", paths["test"],
                     "--preset", preset, "--decode", decode, "--quick", "--epochs", "4", "--out", out, *FAST,
                     cwd=tmp_path / "data")
    metrics, analysis = finished(result, out)
    used = "bioes" if scheme == "bioes" else "iob2"
    assert metrics["label_scheme"]["detected"] == {"train": scheme, "dev": scheme, "test": scheme}
    assert metrics["label_scheme"]["scheme"] == used
    assert f"label scheme: {used.upper()}" in result.stdout
    if scheme == "iob1":
        assert "converted to IOB2" in result.stdout
    for split in ("train", "dev", "test"):
        assert str(paths[split]) in result.stdout, "the run reads the files it was given"
    assert metrics["test"]["n_tokens"] == sum(1 for line in paths["test"].read_text().splitlines()
                                              if line.strip() and not line.startswith("-DOCSTART-"))
    baseline, f1 = metrics["test_baseline_entity_f1"], metrics["test"]["entity_f1"]
    if scheme != "bioes":   # in BIOES a first word is B- or S- by what follows it: no per-word answer
        assert baseline > 95, "the easy corpus is learnable word by word"
    assert f1 >= 90 and f1 >= baseline - 5, (f1, baseline)
    assert metrics["config"]["decode"] == decode
    assert {"O", "B-PER", "B-LOC", "B-ORG"} <= set(analysis.labels)
    assert_links_resolve(out / "report.md")


def test_conllu_part_of_speech(tmp_path):
    write_conllu(tmp_path / "data")
    out = tmp_path / "run"
    result = run_cli("--data", "conllu", "--data-dir", tmp_path / "data", "--quick", "--epochs", "4", "--out", out,
                     "--no-progress", "--seeds", "2", "--random-draws", "2", cwd=tmp_path)
    metrics, analysis = finished(result, out)
    assert metrics["label_scheme"]["scheme"] == "none" and not metrics["label_scheme"]["chunking"]
    for split in ("dev", "test"):
        assert metrics[split]["entity_f1"] is None and "not a chunking task" in metrics[split]["entity_scores"]
        assert set(metrics[split]["per_label_f1"]) == {"ADP", "DET", "NOUN", "PROPN", "PUNCT", "VERB"}
    assert "entity F1 n/a (not a chunking task)" in result.stdout
    assert metrics["test"]["token_acc"] >= metrics["test_baseline_token_acc"] - 0.02
    assert "test_baseline_entity_f1" not in metrics
    history = [json.loads(line) for line in (out / "seed0" / "train_log.jsonl").read_text().splitlines()]
    best = max(history, key=lambda r: r["dev_token_acc"])
    assert best["best"], "the best epoch is chosen by dev token accuracy"
    report = (out / "report.md").read_text()
    assert "| dev |" in report and "not a chunking task" in report
    assert "Paper findings, seed 0: not applicable" in report
    assert analysis.consistency.pairs, "two seeds are compared across seeds"
    assert_links_resolve(out / "report.md")
    claims = check_claims(tmp_path, out)
    assert "Test token accuracy (%) over seeds" in claims and "not a chunking task" in claims
    assert "**C4 (within models) not applicable**" in claims and "Mantel" in claims


@pytest.mark.skipif(not (default_conll2003_dir() / "train.txt").is_file(),
                    reason=f"CoNLL-2003 not found at {default_conll2003_dir()} (set LSTM_NUMPY_CONLL2003)")
def test_real_conll2003_files_by_path_are_the_ones_read(tmp_path):
    source = default_conll2003_dir()
    files = {split: subset(source / name, tmp_path / f"{split}.txt", n)
             for split, name, n in (("train", "train.txt", 400), ("dev", "valid.txt", 80), ("test", "test.txt", 80))}
    out = tmp_path / "run"
    result = run_cli("--data", "conll2003", "--train", files["train"], "--dev", files["dev"], "--test", files["test"],
                     "--quick", "--epochs", "2", "--no-analysis", "--no-progress", "--seeds", "1", "--out", out,
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["n_sentences"] == 80, "the given test file, not the default copy, was read"
    assert "train:    400 sentences" in result.stdout


@pytest.mark.skipif(not (SEQUOIA / "train.conllu").is_file(), reason=f"UD French-Sequoia not found at {SEQUOIA}")
def test_real_treebank_trains_and_dissects(tmp_path):
    out = tmp_path / "run"
    result = run_cli("--data", "conllu", "--train", SEQUOIA / "train.conllu", "--dev", SEQUOIA / "dev.conllu",
                     "--test", SEQUOIA / "test.conllu", "--quick", "--epochs", "1", "--out", out, *FAST, cwd=tmp_path)
    metrics, analysis = finished(result, out)
    assert metrics["dev"]["n_tokens"] == 9999 and metrics["test"]["n_tokens"] == 10044, "range lines are skipped"
    assert metrics["label_scheme"]["scheme"] == "none"
    assert len(analysis.labels) == 16 and "INTJ" in analysis.labels
    intj = analysis.labels.index("INTJ")
    assert np.isnan(analysis.models[0].sensitivity[intj]).all(), "no dev INTJ: a NaN row"
    assert "INTJ" not in metrics["dev"]["per_label_acc"] or metrics["dev"]["per_label_acc"]["INTJ"] is None
    assert "without a gold token on dev: INTJ (seed 0)" in result.stdout, "named once, in one line"
    assert "have no tokens" not in result.stderr and "Traceback" not in result.stderr
    assert metrics["test"]["token_acc"] > metrics["test_baseline_token_acc"] - 0.1
    assert_links_resolve(out / "report.md")


def test_the_other_options_reach_the_run(tmp_path):
    """The options not exercised above, in one run, each checked where it shows (metrics.json, the report)."""
    write_columns(tmp_path / "data", "iob2", "columns")      # word POS NER: --label-column 1 is the POS
    glove = tmp_path / "vectors.txt"
    glove.write_text("".join(f"{w} " + " ".join(["0.1"] * 100) + "\n" for w in ("the", "said", "anna")))
    out = tmp_path / "run"
    result = run_cli("--data", "columns", "--data-dir", tmp_path / "data", "--label-column", "1",
                     "--embeddings", glove, "--hidden", "6", "--char-filters", "4",
                     "--affix-dim", "3", "--dropout-mask", "token", "--backend", "numpy", "--dtype", "float64",
                     "--optimizer", "sgd", "--lr", "0.1", "--epochs", "3", "--batch-size", "16", "--patience", "1",
                     "--lr-decay", "0.5", "--restore-best", "--average", "0.9", "--unk-replace", "0.2",
                     "--word-unk", "0.05", "--seed", "5", "--seeds", "2", "--random-draws", "2",
                     "--random-pool", "outside-top", "--group-by", "gold", "--recurrent-seeds", "all",
                     "--force-analysis", "--no-progress", "--out", out, cwd=tmp_path)
    metrics, analysis = finished(result, out)
    config = metrics["config"]
    assert (config["hidden"], config["char_filters"], config["affix_dim"], config["variational"],
            config["backend"], config["dtype"]) == (6, 4, 3, False, "numpy", "float64")
    assert metrics["seeds"] == [5, 6] and metrics["label_scheme"]["scheme"] == "none"
    assert set(metrics["dev"]["per_label_acc"]) == {"DT", "NNP"}, "--label-column 1 reads the POS column"
    assert metrics["embeddings_coverage"] > 0 and "pretrained vectors from" in result.stdout
    meta = json.loads((out / "seed5" / "best.json").read_text())
    train_config = meta["meta"]["training"]["train_config"]
    assert (train_config["optimizer"], train_config["lr"], train_config["patience"], train_config["lr_decay"],
            train_config["restore_best"], train_config["average"], train_config["unk_replace"],
            train_config["word_unk"], train_config["batch_size"]) == ("sgd", 0.1, 1, 0.5, True, 0.9, 0.2, 0.05, 16)
    assert all(model.group_by == "gold" for model in analysis.models)
    assert all("recurrent" in model.sweep.modes for model in analysis.models), "--recurrent-seeds all"
    assert all(model.sweep.random_pool == "outside-top" for model in analysis.models)
    assert all(model.sweep.modes["output"].n_random == 2 for model in analysis.models)
    report = (out / "report.md").read_text()
    assert "drawn only from the neurons outside the label's top-k" in report
    assert "grouped by their gold label" in report
    assert_links_resolve(out / "report.md")


def test_a_probe_of_another_column_is_trained_held_out_and_its_neurons_ablated(tmp_path):
    """--probe-column: a linear probe of a property the model never trained on (here the POS column
    of word POS NER files, which says whether a word is in an entity), held out, with its control
    task, and the model's own labels' drops when each class's top neurons are ablated."""
    write_columns(tmp_path / "data", "iob2", "columns")
    out = tmp_path / "run"
    result = run_cli("--data", "columns", "--data-dir", tmp_path / "data", "--quick", "--probe-column", "1",
                     "--out", out, *FAST, cwd=tmp_path)
    metrics, analysis = finished(result, out)
    labels_probe, column_probe = analysis.models[0].probes
    assert labels_probe.target == "labels" and labels_probe.classes == analysis.labels
    assert column_probe.target == "column 1" and column_probe.classes == ("DT", "NNP")
    assert column_probe.accuracy > 0.9 and column_probe.accuracy >= column_probe.majority
    assert column_probe.top_drop.shape == (2, len(analysis.labels)) and column_probe.weights.shape[1] == 2
    assert sorted(column_probe.ordering.tolist()) == list(range(analysis.models[0].sensitivity.shape[1]))
    assert "probe" in analysis.models[0].rankings.measures and "probe" in analysis.models[0].measures
    report = (out / "report.md").read_text()
    assert "## Probes" in report and "What column 1 is worth to the model's own labels" in report
    assert "probing the hidden states for column 1" in result.stdout
    refused = run_cli("--data", "conllu", "--data-dir", tmp_path / "data", "--probe-column", "1", cwd=tmp_path)
    assert refused.returncode == 2 and "--probe-column reads a column of whitespace-column files" in refused.stderr


def test_patching_on_the_generated_pairs_by_default_and_on_a_users_pair_file_for_their_model(tmp_path):
    """Activation patching, as a user meets it: the generated corpus patches its own pairs; the
    offset-0 effect of patching h equals its closed form (a forward or backward h at the token read
    reaches the logits only through the output layer there); then the model is dissected again
    as a --checkpoint, on the files of the corpus, with the user's own pair file, whose pairs carry
    no labels (the model's readings decide); a malformed pair file is refused before any work."""
    from lstm_numpy.analysis.activity import collect_activity
    from lstm_numpy.data.pairs import generated_pairs, write_pairs
    from lstm_numpy.data.vocab import AffixVocab, CharVocab
    from lstm_numpy.pipeline import Prepared, load_pairs, load_tagger

    out = tmp_path / "run"
    metrics, analysis = finished(run_cli("--quick", "--out", out, *FAST, cwd=tmp_path), out)
    patching, clamps = analysis.models[0].patching, analysis.models[0].clamps
    assert patching.n_pairs == 100 and patching.source == "100 pairs of the generated corpus"
    assert 10 <= patching.n_used == patching.used.sum(), "a trained model reads many pairs as intended"
    H = analysis.models[0].sensitivity.shape[1]
    assert patching.effect.shape == (2, len(patching.offsets), H)
    params, config, vocab, labels = load_tagger(out / "seed0" / "best")
    pairs = load_pairs("generated", Prepared(vocab, labels, {}, AffixVocab(vocab), CharVocab(vocab)), "iob2", 0)
    clean, corrupted = (collect_activity(params, config, split) for split in (pairs.clean, pairs.corrupted))
    starts = np.concatenate([[0], np.cumsum([len(p.clean) for p in pairs.pairs])[:-1]])
    read = starts + pairs.positions
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)
    rows = np.arange(len(read))
    yc, yx = patching.clean_labels, patching.corrupted_labels
    gap = lambda h: (h @ W.T + b)[rows, yc] - (h @ W.T + b)[rows, yx]  # noqa: E731
    h_clean, h_corrupt = clean.hidden[read].astype(np.float64), corrupted.hidden[read].astype(np.float64)
    closed = (W[yc] - W[yx]) * (h_clean - h_corrupt) / (gap(h_clean) - gap(h_corrupt))[:, None]   # (P, H)
    used = patching.used
    assert np.array_equal(yc[used], (h_clean @ W.T + b).argmax(1)[used])
    np.testing.assert_allclose(patching.effect[0, patching.offsets.index(0)], closed[used].mean(axis=0), atol=1e-4)
    assert "patching" in analysis.models[0].rankings.measures
    assert clamps.drop.shape == (len(clamps.neurons), 3, len(analysis.labels))
    np.testing.assert_allclose(clamps.drop[:, 1], clamps.drop[:, 2])   # input gate 0 silences as output gate 0 does
    report = (out / "report.md").read_text()
    assert f"**{patching.n_used} of 100**" in report and "figures/patching_heatmap.png" in report
    assert "### Gate clamps" in report
    assert_links_resolve(out / "report.md")

    pair_file = write_pairs(tmp_path / "my_pairs.txt", generated_pairs(12, seed=5))
    mine = tmp_path / "mine"
    result = run_cli("--checkpoint", out / "seed0" / "best.npz", "--data", "columns", "--data-dir", out / "data",
                     "--pairs", pair_file, "--out", mine, "--no-progress", "--random-draws", "2", cwd=tmp_path)
    _, again = finished(result, mine)
    theirs = again.models[0].patching
    assert theirs.n_pairs == 12 and theirs.source == str(pair_file)
    assert 0 < theirs.n_used and np.all(theirs.clean_labels[theirs.used] != theirs.corrupted_labels[theirs.used])
    assert json.loads((mine / "run.json").read_text())["pairs_file"]["path"] == str(pair_file.resolve())

    broken = tmp_path / "broken.txt"
    broken.write_text("a\tb\tc\na\tb\n1\n")
    refused = run_cli("--quick", "--pairs", broken, "--out", tmp_path / "never", *FAST, cwd=tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"error: {broken}:2: 2 tokens, the clean sentence above has 3" in refused.stderr
    assert not (tmp_path / "never" / "seed0").exists(), "refused before training"
