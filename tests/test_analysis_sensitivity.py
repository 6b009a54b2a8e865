"""States, contributions, sensitivity measures and rankings against slow oracles."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.kernels import group_sums, group_sums_numba
from lstm_numpy.analysis.rankings import (
    average_ranks,
    neurons_for_mass,
    rank_correlations,
    rank_neurons,
    spearman,
    top_labels_per_neuron,
)
from lstm_numpy.analysis.sensitivity import (
    SensitivityAccumulator,
    competitor_sensitivity,
    contributions,
    grad_times_activation,
    sensitivity_pred_and_gold,
    softmax,
    weight_spread,
    xin_sensitivity,
)
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.data.batching import Batch, EncodedSplit
from lstm_numpy.model.tagger import TaggerConfig, init_tagger, tagger_forward
from lstm_numpy.prediction import predict_split


def random_problem(seed, n=60, K=4, H=6):
    rng = np.random.default_rng(seed)
    h = np.tanh(rng.normal(size=(n, H)))
    W = rng.normal(size=(K, H))
    b = rng.normal(size=K)
    labels = np.concatenate([np.arange(K), rng.integers(0, K, n - K)])   # every label present
    return h, W, b, labels


def random_tagger(seed, bidirectional=False, n_sentences=7, K=4, V=12):
    rng = np.random.default_rng(seed)
    config = TaggerConfig(vocab_size=V, n_labels=K, word_dim=5, hidden=3, bidirectional=bidirectional,
                          dropout=0.5, backend="numpy", dtype="float64")
    params = init_tagger(config, rng)
    params["out.b"][:] = rng.normal(size=K)
    lengths = rng.integers(1, 9, n_sentences)
    words = [rng.integers(0, V, L) for L in lengths]
    split = EncodedSplit(words, [np.zeros(L, dtype=np.int64) for L in lengths],
                         [rng.integers(0, K, L) for L in lengths], [["w"] * L for L in lengths])
    return params, config, split


# ------------------------------------------------------------ states


@pytest.mark.parametrize("bidirectional", [False, True])
def test_collect_states_matches_sentence_by_sentence_forward(bidirectional):
    params, config, split = random_tagger(0, bidirectional)
    states = collect_states(params, config, split, batch_size=3)
    assert states.hidden.shape == (split.n_tokens, config.output_size)
    assert states.gold.dtype == np.int64 and states.pred.dtype == np.int64
    start = 0
    for words, labels in zip(split.words, split.labels):
        batch = Batch(words[None], np.ones((1, len(words)), bool), labels[None], np.zeros((1, len(words)), np.int64))
        z, cache = tagger_forward(params, config, batch)
        stop = start + len(words)
        np.testing.assert_allclose(states.hidden[start:stop], cache.h_out[0], atol=1e-12)
        np.testing.assert_allclose(states.logits[start:stop], z[0], atol=1e-12)
        np.testing.assert_array_equal(states.gold[start:stop], labels)
        start = stop
    np.testing.assert_allclose(states.hidden @ params["out.W"].T + params["out.b"], states.logits, atol=1e-12)
    np.testing.assert_array_equal(states.pred, np.concatenate(predict_split(params, config, split)))
    np.testing.assert_array_equal(states.lengths, [len(w) for w in split.words])


# ------------------------------------------------------------ sensitivity


def test_xin_sensitivity_equals_contribution_means_oracle():
    h, W, b, labels = random_problem(1)
    u = contributions(h, W)                                         # (n, K, H)
    oracle = np.array([[u[labels == i, i, j].mean() - u[labels != i, i, j].mean()
                        for j in range(W.shape[1])] for i in range(W.shape[0])])
    np.testing.assert_allclose(xin_sensitivity(h, labels, W), oracle, atol=1e-12)


@settings(deadline=None, max_examples=25)
@given(st.integers(0, 2**31), st.integers(1, 40), st.integers(1, 6), st.integers(1, 5))
def test_group_sums_kernel_matches_one_hot_reference(seed, n, H, K):
    rng = np.random.default_rng(seed)
    x, labels = rng.normal(size=(n, H)), rng.integers(0, K, n)
    sums, counts = group_sums_numba(x, labels, K)
    ref_sums, ref_counts = group_sums(x, labels, K)
    np.testing.assert_allclose(sums, ref_sums, atol=1e-12)
    np.testing.assert_array_equal(counts, ref_counts)


def test_absent_label_gives_nan_row_and_warning():
    h, W, b, labels = random_problem(2)
    labels[labels == 2] = 0
    with pytest.warns(UserWarning, match=r"labels \[2\]"):
        S = xin_sensitivity(h, labels, W)
    assert np.isnan(S[2]).all() and np.isfinite(np.delete(S, 2, axis=0)).all()
    with pytest.warns(UserWarning):
        assert np.isnan(competitor_sensitivity(h, h @ W.T + b, labels, W)[2]).all()
    with pytest.warns(UserWarning):
        assert np.isnan(grad_times_activation(h, h @ W.T + b, labels, W)[2]).all()


def test_accumulator_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"\(m, 4\)"):
        SensitivityAccumulator(3, 4).update(np.zeros((5, 3)), np.zeros(5, int))


def test_competitor_sensitivity_matches_token_loop():
    h, W, b, labels = random_problem(3)
    z = h @ W.T + b
    K, H = W.shape
    oracle = np.zeros((K, H))
    for i in range(K):
        rows = np.flatnonzero(labels == i)
        terms = []
        for t in rows:
            others = [k for k in range(K) if k != i]
            c = others[int(np.argmax(z[t, others]))]
            terms.append((W[i] - W[c]) * h[t])
        oracle[i] = np.mean(terms, axis=0)
    np.testing.assert_allclose(competitor_sensitivity(h, z, labels, W), oracle, atol=1e-12)


def test_grad_times_activation_matches_finite_differences():
    h, W, b, labels = random_problem(4, n=20)
    K, H = W.shape
    log_p = lambda hh: np.log(softmax(hh @ W.T + b))             # noqa: E731
    eps = 1e-6
    grads = np.zeros((h.shape[0], K, H))                           # d log p_i / d h_j per token
    for j in range(H):
        step = np.zeros(H)
        step[j] = eps
        grads[:, :, j] = (log_p(h + step) - log_p(h - step)) / (2 * eps)
    oracle = np.array([(h[labels == i] * grads[labels == i, i]).mean(axis=0) for i in range(K)])
    np.testing.assert_allclose(grad_times_activation(h, h @ W.T + b, labels, W), oracle, atol=1e-8)


def test_weight_spread():
    h, W, _, _ = random_problem(5)
    np.testing.assert_allclose(weight_spread(h, W), np.abs(W) * h.std(axis=0)[None])


def test_pred_and_gold_groupings_agree_when_predictions_are_perfect():
    params, config, split = random_tagger(6)
    states = collect_states(params, config, split)
    states = states._replace(gold=states.pred.copy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # some labels may be missing
        both = sensitivity_pred_and_gold(states, params["out.W"])
    np.testing.assert_array_equal(both["predicted"], both["gold"])
    defined = ~np.isnan(both["predicted"]).any(axis=1)
    np.testing.assert_allclose(both["spearman"][defined], 1.0)


# ------------------------------------------------------------ rankings


def test_average_ranks_and_spearman_with_ties():
    np.testing.assert_allclose(average_ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_allclose(average_ranks([3, 1, 2]), [3, 1, 2])
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): Pearson of the ranks
    ra, rb = np.array([1, 2.5, 2.5, 4]), np.arange(1, 5.0)
    expected = np.corrcoef(ra, rb)[0, 1]
    assert spearman([1, 2, 2, 3], [5, 6, 7, 8]) == pytest.approx(expected)
    assert np.isnan(spearman([1, 1, 1], [1, 2, 3]))
    assert np.isnan(spearman([1, np.nan, 2], [1, 2, 3]))


def test_rank_neurons_orders_descending_and_puts_nan_last():
    scores = np.array([[0.1, 0.5, -1.0, 0.5], [np.nan, np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(rank_neurons(scores)[0], [1, 3, 0, 2])
    scores[0, 0] = np.nan
    np.testing.assert_array_equal(rank_neurons(scores)[0], [1, 3, 2, 0])


def test_top_labels_per_neuron_and_mass():
    scores = np.array([[4.0, 3.0, 2.0, 1.0, -5.0],
                       [0.0, 0.0, 0.0, 0.0, 1.0],
                       [-1.0, -1.0, -1.0, -1.0, -1.0]])
    # label 1: neuron 4, then the tie at 0 goes to the lowest id, neuron 0
    assert top_labels_per_neuron(scores[:2], 2) == [[0, 1], [0], [], [], [1]]
    # label 0: positives 4, 3, 2, 1 (total 10): 50% needs 2 neurons (7), 80% needs 3 (9)
    mass = neurons_for_mass(scores)
    np.testing.assert_array_equal(mass[0], [2, 3])
    np.testing.assert_array_equal(mass[1], [1, 1])
    assert np.isnan(mass[2]).all()


def test_rank_correlations_has_every_pair():
    h, W, b, labels = random_problem(7)
    measures = {"a": xin_sensitivity(h, labels, W), "b": weight_spread(h, W), "c": -weight_spread(h, W)}
    result = rank_correlations(measures)
    assert list(result) == ["a vs b", "a vs c", "b vs c"]
    np.testing.assert_allclose(result["b vs c"], -1.0)
    assert result["a vs b"].shape == (W.shape[0],)
