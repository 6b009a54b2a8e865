"""The ablation harness: kernels against references, cached output ablation
against the model, the sweep's structure, files and bookkeeping."""
import csv
import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.ablation import (
    Scorer,
    ablate_output,
    ablate_recurrent,
    keep_all_but,
    measured_importance,
    output_cache,
    single_neuron_sweep,
)
from lstm_numpy.analysis.kernels import ablated_argmax, ablated_argmax_numba
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.sweep import run_ablation_sweep
from lstm_numpy.atomic import to_json_safe
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.evaluation.entities import entity_totals, entity_totals_numba, sentence_edges
from lstm_numpy.evaluation.scores import per_label_accuracy, per_label_prf
from lstm_numpy.labels import chunk_tables
from lstm_numpy.model.tagger import TaggerConfig, init_tagger
from lstm_numpy.prediction import predict_split
from lstm_numpy.report.outputs import write_ablation_csv

IOB2 = ["O", "B-LOC", "B-PER", "I-LOC", "I-PER"]
BIOES = ["O", "B-X", "I-X", "E-X", "S-X", "S-Y"]


def random_tagger(seed, bidirectional=False, n_sentences=12, V=15, labels=IOB2, hidden=4):
    rng = np.random.default_rng(seed)
    K = len(labels)
    config = TaggerConfig(vocab_size=V, n_labels=K, word_dim=6, hidden=hidden, bidirectional=bidirectional,
                          dropout=0.0, backend="numpy", dtype="float64")
    params = init_tagger(config, rng)
    params["out.W"] *= 20                                  # varied predictions that ablations change
    params["out.b"][:] = rng.normal(size=K) * 0.1
    lengths = rng.integers(1, 9, n_sentences)
    words = [rng.integers(0, V, L) for L in lengths]
    gold = [rng.integers(0, K, L) for L in lengths]
    gold[0][:] = np.arange(len(gold[0])) % K
    split = EncodedSplit(words, [np.zeros(L, dtype=np.int64) for L in lengths], gold, [["w"] * L for L in lengths])
    return params, config, split


# ------------------------------------------------------------ kernels


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31), st.integers(1, 50), st.integers(1, 7), st.integers(1, 6), st.booleans())
def test_ablated_argmax_kernel_matches_reference(seed, n, H, K, from_bias):
    rng = np.random.default_rng(seed)
    h, W, b = rng.normal(size=(n, H)), rng.normal(size=(K, H)), rng.normal(size=K)
    z = h @ W.T + b
    neurons = rng.choice(H, size=rng.integers(0, H + 1), replace=False)
    if from_bias:
        expected = ablated_argmax(np.broadcast_to(b, z.shape), h, W, neurons, sign=1.0)
        got = ablated_argmax_numba(np.ascontiguousarray(z.T), np.ascontiguousarray(h.T), W, neurons, 1.0, bias=b)
    else:
        expected = ablated_argmax(z, h, W, neurons)
        got = ablated_argmax_numba(np.ascontiguousarray(z.T), np.ascontiguousarray(h.T), W, neurons)
    np.testing.assert_array_equal(got, expected)


@settings(deadline=None, max_examples=40)
@given(st.integers(0, 2**31), st.lists(st.integers(0, 6), min_size=1, max_size=8), st.booleans())
def test_entity_totals_kernel_matches_conlleval_reference(seed, lengths, bioes):
    names = BIOES if bioes else IOB2
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    gold, pred = rng.integers(0, len(names), n), rng.integers(0, len(names), n)
    pred = np.where(rng.random(n) < 0.5, gold, pred)          # many exact matches too
    got = entity_totals_numba(gold, pred, sentence_edges(lengths, n), chunk_tables(names))
    assert got == entity_totals(gold, pred, lengths, names)


# ------------------------------------------------------------ modes against the model


@pytest.mark.parametrize("bidirectional", [False, True])
def test_output_ablation_equals_model_with_output_mask(bidirectional):
    params, config, split = random_tagger(1, bidirectional)
    states = collect_states(params, config, split)
    cache = output_cache(states, params["out.W"], params["out.b"])
    H = config.output_size
    for neurons in ([0], [1, H - 1], list(range(H - 1))):           # the last uses the from-bias path
        keep = keep_all_but(H, neurons, np.float64)
        expected = np.concatenate(predict_split(params, config, split, output_keep_mask=keep))
        np.testing.assert_array_equal(ablate_output(cache, neurons), expected)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_ablation_equals_model_with_keep_mask(bidirectional):
    params, config, split = random_tagger(2, bidirectional)
    keep = keep_all_but(config.output_size, [0, 2], np.float64)
    expected = np.concatenate(predict_split(params, config, split, keep_mask=keep))
    np.testing.assert_array_equal(ablate_recurrent(params, config, split, [0, 2]), expected)
    hidden = collect_states(params, config, split, keep_mask=keep).hidden
    assert (hidden[:, [0, 2]] == 0).all()


# ------------------------------------------------------------ scoring


def test_scorer_agrees_with_metrics_and_lost_to_counts():
    params, config, split = random_tagger(3)
    states = collect_states(params, config, split)
    scorer = Scorer(states, IOB2)
    K = len(IOB2)
    pred = ablate_output(output_cache(states, params["out.W"], params["out.b"]), [0, 1])
    scores = scorer.score(pred)
    np.testing.assert_allclose(scores["acc"], per_label_accuracy(states.gold, pred, K), equal_nan=True)
    precision, _, f1 = per_label_prf(states.gold, pred, K)
    np.testing.assert_allclose(scores["precision"], precision, equal_nan=True)
    np.testing.assert_allclose(scores["f1"], f1, equal_nan=True)
    label = int(np.bincount(states.gold, minlength=K).argmax())
    record = scorer.record(label, scores)
    lost = (states.gold == label) & (states.pred == label) & (pred != label)
    assert sum(record["lost_to"].values()) == lost.sum()
    drops = np.array([record["per_label_acc_drop"][name] for name in IOB2])
    assert record["selectivity"] == pytest.approx(drops[label] - np.nanmean(np.delete(drops, label)))


def test_non_iob_labels_skip_entity_f1():
    params, config, split = random_tagger(4, labels=["NOUN", "VERB", "ADJ"])
    states = collect_states(params, config, split)
    assert Scorer(states, ["NOUN", "VERB", "ADJ"]).base["entity_f1"] is None


def test_single_neuron_sweep_and_measured_importance():
    params, config, split = random_tagger(5)
    states = collect_states(params, config, split)
    W, b = params["out.W"], params["out.b"]
    sweep = single_neuron_sweep(states, W, b)
    base_acc = per_label_accuracy(states.gold, states.pred, len(IOB2))
    for j in range(W.shape[1]):
        pred = np.concatenate(predict_split(params, config, split,
                                             output_keep_mask=keep_all_but(W.shape[1], [j], float)))
        expected_token = (states.gold == states.pred).mean() - (states.gold == pred).mean()
        assert sweep["token_acc_drop"][j] == pytest.approx(expected_token)
        np.testing.assert_allclose(sweep["per_label_acc_drop"][:, j],
                                   base_acc - per_label_accuracy(states.gold, pred, len(IOB2)), equal_nan=True)
    np.testing.assert_array_equal(measured_importance(states, W, b), sweep["per_label_acc_drop"])
    recurrent = single_neuron_sweep(states, W, b, "recurrent", params, config, split)
    assert recurrent["token_acc_drop"].shape == (W.shape[1],)


# ------------------------------------------------------------ the sweep


def test_sweep_structure_files_and_determinism(tmp_path):
    params, config, split = random_tagger(6, hidden=6)
    states = collect_states(params, config, split)
    # the default ranking (Xin, grouped by prediction) is defined for predicted labels only
    present = [IOB2[i] for i in np.intersect1d(states.gold, states.pred)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run_ablation_sweep(params, config, split, IOB2, states, modes=("output", "recurrent"),
                                    ks=(1, 2, 10), n_random=3, rng=np.random.default_rng(0), progress=False)
        again = run_ablation_sweep(params, config, split, IOB2, states, modes=("output", "recurrent"),
                                   ks=(1, 2, 10), n_random=3, rng=np.random.default_rng(0), progress=False)
    assert result["ks"] == [1, 2]                                   # 10 > H skipped
    assert json.dumps(to_json_safe(result)) == json.dumps(to_json_safe(again))
    for mode in ("output", "recurrent"):
        summary = result["summary"][mode]
        assert set(summary) == {"top", "bottom", "random", "control", "random_ci"}
        for label in present:
            assert set(summary["top"][label]) == {1, 2}
            lo, hi = summary["random_ci"][label][2]
            assert lo <= summary["random"][label][2] <= hi
        assert len(result["single_neuron"][mode]["token_acc_drop"]) == 6
    # controls: the next present label, cyclically
    assert result["controls"] == {a: present[(i + 1) % len(present)] for i, a in enumerate(present)}
    top = [r for r in result["records"] if r["strategy"] == "top" and r["mode"] == "output"]
    assert len(top) == 2 * len(present)
    per_mode = len(present) * 2 * (1 + 1 + 3 + 1)
    assert len(result["records"]) == 2 * per_mode
    # output and recurrent agree on what the base is, and both modes score every record
    assert {r["mode"] for r in result["records"]} == {"output", "recurrent"}
    path = tmp_path / "ablation.csv"
    write_ablation_csv(result["records"], path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(result["records"])
    assert float(rows[0]["target_acc_drop"]) == pytest.approx(result["records"][0]["target_acc_drop"])
    assert f"per_label_acc[{IOB2[0]}]" in rows[0]


def test_sweep_control_by_name_and_custom_ranking():
    params, config, split = random_tagger(7)
    states = collect_states(params, config, split)
    K, H = params["out.W"].shape
    ranking = np.tile(np.arange(H, 0, -1.0), (K, 1))              # neuron 0 first for every label
    result = run_ablation_sweep(params, config, split, IOB2, states, ranking=ranking, ks=(1,), n_random=0,
                                control={"O": "B-PER"}, single_neuron=False, progress=False)
    top = [r for r in result["records"] if r["strategy"] == "top"]
    assert all(r["neurons"] == [0] for r in top)
    bottom = [r for r in result["records"] if r["strategy"] == "bottom"]
    assert all(r["neurons"] == [H - 1] for r in bottom)
    control = [r for r in result["records"] if r["strategy"] == "control"]
    assert [(r["label"], r["control"]) for r in control] == [("O", "B-PER")]
    with pytest.raises(ValueError, match="rng"):
        run_ablation_sweep(params, config, split, IOB2, states, n_random=2, progress=False)
