"""The ablation harness: kernels against references, cached output ablation
against the model, the engine's plan -> run -> summarise, the sweep's records, files and
bookkeeping."""
import csv
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.ablation import Scorer, ablate_output, ablate_recurrent, keep_all_but, output_cache
from lstm_numpy.analysis.engine import Plan, Target, ablate, item, run_plan
from lstm_numpy.analysis.kernels import ablated_argmax, ablated_argmax_numba
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.sweep import measured_importance, plan_sweep, run_sweep, single_neuron_drops
from lstm_numpy.analysis.sensitivity import sensitivity_from_states
from lstm_numpy.analysis.token_ablation import accuracy_drop, planned_top_k, top_k_changes
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.evaluation.entities import entity_totals, entity_totals_numba, sentence_edges
from lstm_numpy.evaluation.scores import per_label_accuracy, per_label_prf
from lstm_numpy.labels import chunk_tables
from lstm_numpy.model.tagger import TaggerConfig, init_tagger
from lstm_numpy.prediction import predict_split
from lstm_numpy.report.analysis_json import _encode
from lstm_numpy.report.outputs import outcome_rows, write_ablation_csv

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


# ------------------------------------------------------------ scoring and the engine


def test_scorer_agrees_with_metrics_and_the_engine_with_the_scorer():
    params, config, split = random_tagger(3)
    states = collect_states(params, config, split)
    scorer = Scorer(states, IOB2)
    K = len(IOB2)
    pred = ablate_output(output_cache(states, params["out.W"], params["out.b"]), [0, 1])
    scores = scorer.score(pred)
    np.testing.assert_allclose(scores.acc, per_label_accuracy(states.gold, pred, K), equal_nan=True)
    precision, _, f1 = per_label_prf(states.gold, pred, K)
    np.testing.assert_allclose(scores.precision, precision, equal_nan=True)
    np.testing.assert_allclose(scores.f1, f1, equal_nan=True)
    label = int(np.bincount(states.gold, minlength=K).argmax())
    outcomes = ablate(Plan((item("output", [1, 0], strategy="top", label=label, k=2),)),
                      Target(params, config, split, states), IOB2)
    lost = (states.gold == label) & (states.pred == label) & (pred != label)
    assert outcomes.lost_to[0].sum() == lost.sum()
    drops = scorer.base.acc - scores.acc
    np.testing.assert_array_equal(outcomes.label_drop[0], drops)
    assert outcomes.selectivity[0] == pytest.approx(drops[label] - np.nanmean(np.delete(drops, label)))
    assert outcomes.entity_f1[0] == pytest.approx(scores.entity_f1)


def test_non_iob_labels_skip_entity_f1():
    params, config, split = random_tagger(4, labels=["NOUN", "VERB", "ADJ"])
    states = collect_states(params, config, split)
    assert Scorer(states, ["NOUN", "VERB", "ADJ"]).base.entity_f1 is None


def test_run_plan_shares_one_run_per_key_and_scores_the_planned_sentences():
    params, config, split = random_tagger(5, bidirectional=True)
    states = collect_states(params, config, split)
    target = Target(params, config, split, states)
    items = (item("output", [2, 0], label=1), item("output", [0, 2], label=3), item("recurrent", [1], label=1),
             item("recurrent", [1], label=2))
    runs = list(run_plan(Plan(items), target))
    assert [key for key, _ in runs] == [("output", "zero", (0, 2)), ("recurrent", "zero", (1,))]
    np.testing.assert_array_equal(runs[1][1], ablate_recurrent(params, config, split, [1]))
    odd = np.arange(1, len(split.words), 2)
    scored = dict(run_plan(Plan(items, odd), target))
    tokens = np.concatenate([np.arange(a, a + n) for a, n in
                             zip(np.concatenate([[0], np.cumsum(states.lengths)[:-1]])[odd], states.lengths[odd])])
    np.testing.assert_array_equal(scored[("output", "zero", (0, 2))], runs[0][1][tokens])
    np.testing.assert_array_equal(scored[("recurrent", "zero", (1,))], runs[1][1][tokens])
    with pytest.raises(ValueError, match="effect"):
        list(run_plan(Plan((item("output", [0], effect="boil"),)), target))


def test_single_neuron_drops_and_measured_importance():
    params, config, split = random_tagger(5)
    states = collect_states(params, config, split)
    W, b = params["out.W"], params["out.b"]
    target = Target(params, config, split, states)
    token_drop, label_drop = single_neuron_drops(target, IOB2)
    base_acc = per_label_accuracy(states.gold, states.pred, len(IOB2))
    for j in range(W.shape[1]):
        pred = np.concatenate(predict_split(params, config, split,
                                             output_keep_mask=keep_all_but(W.shape[1], [j], float)))
        expected_token = (states.gold == states.pred).mean() - (states.gold == pred).mean()
        assert token_drop[j] == pytest.approx(expected_token)
        np.testing.assert_allclose(label_drop[:, j], base_acc - per_label_accuracy(states.gold, pred, len(IOB2)),
                                   equal_nan=True)
    np.testing.assert_array_equal(measured_importance(Target({"out.W": W, "out.b": b}, None, None, states), IOB2),
                                  label_drop)
    recurrent, _ = single_neuron_drops(target, IOB2, "recurrent")
    for j in (0, W.shape[1] - 1):
        pred = ablate_recurrent(params, config, split, [j])
        assert recurrent[j] == pytest.approx((states.gold == states.pred).mean() - (states.gold == pred).mean())


# ------------------------------------------------------------ the sweep


def test_sweep_structure_files_and_determinism(tmp_path):
    params, config, split = random_tagger(6, hidden=6)
    states = collect_states(params, config, split)
    target = Target(params, config, split, states)
    # the default ranking (Xin, grouped by prediction) is defined for predicted labels only
    present = [IOB2[i] for i in np.intersect1d(states.gold, states.pred)]
    modes = {"output": ((1, 2, 10), 3), "recurrent": ((1, 2, 10), 3)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ranking = sensitivity_from_states(states, params["out.W"])
        result = run_sweep(target, IOB2, ranking, modes, np.random.default_rng(0))
        again = run_sweep(target, IOB2, ranking, modes, np.random.default_rng(0))
    assert str(_encode(result)) == str(_encode(again))
    for mode in ("output", "recurrent"):
        swept = result.modes[mode]
        assert swept.ks == (1, 2)                                   # 10 > H skipped
        for label in present:
            i = IOB2.index(label)
            assert np.isfinite(swept.top[i]).all()
            lo, hi = swept.random_interval[i, 1]
            assert lo <= swept.random[i, 1] <= hi
        absent = [i for i, name in enumerate(IOB2) if name not in present]
        assert np.isnan(swept.top[absent]).all()
        assert swept.single_neuron.shape == (6,)
        # the drop matrix's diagonal is each label's own top-k drop
        for j in range(2):
            np.testing.assert_array_equal(np.diagonal(swept.drop_matrix[j])[[IOB2.index(x) for x in present]],
                                          swept.top[[IOB2.index(x) for x in present], j])
    # controls: the next present label, cyclically
    assert result.controls == {a: present[(i + 1) % len(present)] for i, a in enumerate(present)}
    rows = outcome_rows(result.outcomes)
    top = [r for r in rows if r["strategy"] == "top" and r["mode"] == "output"]
    assert len(top) == 2 * len(present)
    per_mode = len(present) * 2 * (1 + 1 + 3 + 1)
    assert len(rows) == 2 * per_mode
    assert {r["mode"] for r in rows} == {"output", "recurrent"}
    path = tmp_path / "ablation.csv"
    write_ablation_csv(rows, path)
    with open(path, newline="") as handle:
        written = list(csv.DictReader(handle))
    assert len(written) == len(rows)
    assert float(written[0]["target_acc_drop"]) == pytest.approx(rows[0]["target_acc_drop"])
    assert f"per_label_acc[{IOB2[0]}]" in written[0]


def test_sweep_control_by_name_and_custom_ranking():
    params, config, split = random_tagger(7)
    states = collect_states(params, config, split)
    K, H = params["out.W"].shape
    ranking = np.tile(np.arange(H, 0, -1.0), (K, 1))              # neuron 0 first for every label
    result = run_sweep(Target(params, config, split, states), IOB2, ranking, {"output": ((1,), 0)}, None,
                       control={"O": "B-PER"}, single_neuron=False)
    rows = outcome_rows(result.outcomes)
    assert all(r["neurons"] == [0] for r in rows if r["strategy"] == "top")
    assert all(r["neurons"] == [H - 1] for r in rows if r["strategy"] == "bottom")
    assert [(r["label"], r["control"]) for r in rows if r["strategy"] == "control"] == [("O", "B-PER")]
    with pytest.raises(ValueError, match="rng"):
        plan_sweep(ranking, np.ones(K, bool), [1], 2, None, {})


def test_random_draws_do_not_depend_on_the_other_strategies_planned():
    ranking = np.random.default_rng(0).normal(size=(4, 9))
    present = np.array([True, False, True, True])
    everything = plan_sweep(ranking, present, [1, 3], 4, np.random.default_rng(1), {0: 2, 2: 3, 3: 0})
    only_random = plan_sweep(ranking, present, [1, 3], 4, np.random.default_rng(1), {}, strategies=("random",))
    assert [e for e in everything if e.strategy == "random"] == only_random
    outside = plan_sweep(ranking, present, [3], 4, np.random.default_rng(1), {}, "outside-top", strategies=("random",))
    top = np.argsort(-ranking, axis=1, kind="stable")[:, :3]
    assert all(not set(e.neurons) & set(top[e.label]) for e in outside)


def test_token_changes_reproduce_the_sweeps_drops():
    params, config, split = random_tagger(8, bidirectional=True)
    states = collect_states(params, config, split)
    target = Target(params, config, split, states)
    ranking = np.random.default_rng(3).normal(size=params["out.W"].shape)
    sweep = run_sweep(target, IOB2, ranking, {"output": ((1, 3), 0), "recurrent": ((1, 3), 0)}, None,
                      single_neuron=False)
    changes = top_k_changes(target, ranking, IOB2, planned_top_k(sweep))
    for mode, by_label in changes.items():
        swept = sweep.modes[mode]
        for label, by_k in by_label.items():
            for k, change in by_k.items():
                i = IOB2.index(label)
                drop = accuracy_drop(states.gold, states.pred, change.changed, change.to, i)
                assert drop == pytest.approx(swept.top[i, swept.at(k)], nan_ok=True)
