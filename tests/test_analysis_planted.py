"""Planted ground truth: a hand-built tagger whose neuron j* alone carries label
i*, and property tests that hold for any hidden states and output layer.

The planted tagger: one-hot word embeddings; "carrier" neuron j of label l has
an input gate that opens only on l's trigger word (forget gate shut, candidate
and output gates open, no recurrent input), so h_j ~ tanh(1) on the trigger
and ~0 elsewhere; its output column is zero except W[l, j] = 10. The other
neurons are distractors with random LSTM weights and small output weights;
the bias favours O.
"""
import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.ablation import ablate_output, ablate_recurrent, output_cache
from lstm_numpy.analysis.sensitivity import (
    SensitivityAccumulator,
    contributions,
    sensitivity_pred_and_gold,
    xin_sensitivity,
)
from lstm_numpy.analysis.states import States, collect_states
from lstm_numpy.analysis.engine import Target
from lstm_numpy.analysis.sweep import run_sweep
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.evaluation.scores import per_label_accuracy
from lstm_numpy.model.tagger import TaggerConfig

LABELS = ["O", "B-PER", "B-LOC", "B-ORG"]
TRIGGER = {1: 1, 2: 2, 3: 3}            # word id -> label id; words 4..9 are O fillers
CARRIER = {1: 5, 2: 2, 3: 6}            # label id -> its carrier neuron
V, H = 10, 8


def planted_tagger(seed=0, n_sentences=60):
    rng = np.random.default_rng(seed)
    K = len(LABELS)
    config = TaggerConfig(vocab_size=V, n_labels=K, word_dim=V, hidden=H, dropout=0.0,
                          backend="numpy", dtype="float64")
    Wx = rng.normal(0, 0.5, (V, 4 * H))
    Wh = rng.normal(0, 0.5, (H, 4 * H))
    b = rng.normal(0, 0.5, 4 * H)
    W = rng.normal(0, 0.1, (K, H))
    gate = lambda k, j: k * H + j                                  # noqa: E731  (gates i, f, g, o)
    for label, j in CARRIER.items():
        word = next(w for w, l in TRIGGER.items() if l == label)
        for k in range(4):
            Wx[:, gate(k, j)] = 0.0
            Wh[:, gate(k, j)] = 0.0
        Wx[word, gate(0, j)] = 20.0                                # input gate opens on the trigger only
        b[[gate(0, j), gate(1, j), gate(2, j), gate(3, j)]] = [-10.0, -10.0, 10.0, 10.0]
        W[:, j] = 0.0
        W[label, j] = 10.0
    params = {"embed.word": np.eye(V), "lstm.Wx": Wx, "lstm.Wh": Wh, "lstm.b": b,
              "out.W": W, "out.b": np.array([3.0, 0.0, 0.0, 0.0])}
    lengths = rng.integers(3, 11, n_sentences)
    words = [np.where(rng.random(L) < 0.3, rng.integers(1, 4, L), rng.integers(4, V, L)) for L in lengths]
    labels = [np.array([TRIGGER.get(int(w), 0) for w in s], dtype=np.int64) for s in words]
    split = EncodedSplit(words, [np.zeros(L, dtype=np.int64) for L in lengths], labels,
                         [[str(w) for w in s] for s in words])
    return params, config, split


@pytest.fixture(scope="module")
def planted():
    params, config, split = planted_tagger()
    return params, config, split, collect_states(params, config, split)


def test_planted_tagger_is_accurate(planted):
    _, _, _, states = planted
    assert (states.pred == states.gold).all()


@pytest.mark.parametrize("label", sorted(CARRIER))
def test_xin_sensitivity_ranks_the_carrier_first(planted, label):
    params, _, _, states = planted
    both = sensitivity_pred_and_gold(states, params["out.W"])
    for grouping in ("predicted", "gold"):
        assert int(np.argmax(both[grouping][label])) == CARRIER[label], grouping


@pytest.mark.parametrize("mode", ["output", "recurrent"])
@pytest.mark.parametrize("label", sorted(CARRIER))
def test_ablating_the_carrier_removes_its_label_only(planted, mode, label):
    params, config, split, states = planted
    j = CARRIER[label]
    if mode == "output":
        pred = ablate_output(output_cache(states, params["out.W"], params["out.b"]), [j])
    else:
        pred = ablate_recurrent(params, config, split, [j])
    K = len(LABELS)
    drop = per_label_accuracy(states.gold, states.pred, K) - per_label_accuracy(states.gold, pred, K)
    assert drop[label] > 0.9
    assert np.abs(np.delete(drop, label)).max() <= 0.01


def test_sweep_finds_the_planted_neurons(planted):
    params, config, split, states = planted
    ranking = sensitivity_pred_and_gold(states, params["out.W"])["predicted"]
    result = run_sweep(Target(params, config, split, states), LABELS, ranking, {"output": ((1, 2), 5)},
                       np.random.default_rng(0))
    swept = result.modes["output"]
    for label in CARRIER:
        assert swept.top[label, 0] > 0.9
        assert swept.bottom[label, 0] < 0.05
        assert swept.random[label, 0] < swept.top[label, 0]
    outcomes = result.outcomes
    for i in outcomes.select(strategy="top", k=1):
        if outcomes.items[i].label != 0:
            assert outcomes.selectivity[i] > 0.9
            assert np.flatnonzero(outcomes.lost_to[i]).tolist() == [0], "the lost tokens all went to O"


# ------------------------------------------------------------ properties


@contextlib.contextmanager
def quiet():
    """Absent labels warn and give NaN rows (which assert_allclose compares equal)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@st.composite
def random_states(draw, max_n=40, max_h=7, max_k=5):
    n, H, K = draw(st.integers(1, max_n)), draw(st.integers(1, max_h)), draw(st.integers(2, max_k))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    h, W, b = np.tanh(rng.normal(size=(n, H))), rng.normal(size=(K, H)), rng.normal(size=K)
    logits = h @ W.T + b
    gold = rng.integers(0, K, n)
    states = States(h, logits, gold, logits.argmax(axis=1), np.array([n]))
    return states, W, b, rng


@settings(deadline=None, max_examples=40)
@given(random_states())
def test_permuting_neurons_permutes_sensitivity_columns(problem):
    states, W, _, rng = problem
    perm = rng.permutation(W.shape[1])
    with quiet():
        S = xin_sensitivity(states.hidden, states.gold, W)
        S_perm = xin_sensitivity(states.hidden[:, perm], states.gold, W[:, perm])
    np.testing.assert_allclose(S_perm, S[:, perm], atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(random_states())
def test_empty_mask_changes_nothing_and_full_mask_leaves_the_bias(problem):
    states, W, b, _ = problem
    cache = output_cache(states, W, b)
    np.testing.assert_array_equal(ablate_output(cache, []), states.pred)
    everything = np.arange(W.shape[1])
    np.testing.assert_array_equal(ablate_output(cache, everything), np.full(states.gold.size, np.argmax(b)))


def test_recurrent_masks_on_the_planted_tagger(planted):
    params, config, split, states = planted
    np.testing.assert_array_equal(ablate_recurrent(params, config, split, []), states.pred)
    np.testing.assert_array_equal(ablate_recurrent(params, config, split, np.arange(H)),
                                  np.full(states.gold.size, np.argmax(params["out.b"])))


@settings(deadline=None, max_examples=40)
@given(random_states())
def test_contributions_sum_to_the_logit(problem):
    states, W, b, _ = problem
    u = contributions(states.hidden, W)                              # (n, K, H)
    np.testing.assert_allclose(u.sum(axis=2) + b, states.logits, atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(random_states(), st.lists(st.integers(0, 40), min_size=1, max_size=4))
def test_streaming_accumulator_equals_one_shot(problem, cuts):
    states, W, _, _ = problem
    n = states.gold.size
    edges = [0] + sorted(min(c, n) for c in cuts) + [n]
    accumulator = SensitivityAccumulator(*W.shape)
    for start, stop in zip(edges[:-1], edges[1:]):
        accumulator.update(states.hidden[start:stop], states.gold[start:stop])
    with quiet():
        streamed, one_shot = accumulator.result(W), xin_sensitivity(states.hidden, states.gold, W)
    np.testing.assert_allclose(streamed, one_shot, atol=1e-12)
