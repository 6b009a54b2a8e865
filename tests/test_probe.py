"""The probe (analysis/probe.py): its hand-derived gradient against central differences in
float64, the proximal step's exact zeros, the rankings, and the control task."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.probe import (class_ranking, control_labels, fit_probe, neuron_ordering, probe_loss,
                                       soft_threshold, train_probe)
from lstm_numpy.gradcheck import check_gradient


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**31), st.integers(1, 20), st.integers(1, 6), st.integers(2, 5), st.sampled_from([0.0, 0.3]))
def test_probe_gradient_matches_central_differences(seed, n, H, C, l2):
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, H)), rng.integers(0, C, n)
    W, b = rng.normal(size=(H, C)), rng.normal(size=C)
    _, dW, db = probe_loss(W, b, x, y, l2)
    for name, analytic in (("W", dW), ("b", db)):
        result = check_gradient(lambda: probe_loss(W, b, x, y, l2)[0], W if name == "W" else b, analytic)
        assert result.max_rel_error < 1e-6, (name, str(result))


def test_the_proximal_step_gives_exact_zeros_and_a_separable_task_is_learned():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = (x[:, 2] > 0).astype(np.int64)                    # only neuron 2 carries the class
    W, b = fit_probe(x, y, 2, l1=0.02, l2=0.0)
    assert ((x @ W + b).argmax(1) == y).mean() > 0.95
    assert np.count_nonzero(W[[0, 1, 3, 4, 5]]) <= 2, "L1 zeroes what does not help"
    assert np.abs(W[2]).min() > 0.1
    assert class_ranking(W)[1].argmax() == 2 and neuron_ordering(W)[0] == 2
    np.testing.assert_array_equal(soft_threshold(np.array([-2.0, -0.5, 0.5, 3.0]), 1.0), [-1.0, -0.0, 0.0, 2.0])


def test_neuron_ordering_puts_the_mass_first_and_every_neuron_once():
    W = np.array([[0.0, 5.0], [1.0, 0.0], [3.0, 0.1], [0.0, 0.0]])
    order = neuron_ordering(W)
    assert sorted(order.tolist()) == [0, 1, 2, 3] and order[:2].tolist() == [2, 0] and order[-1] == 3


def test_the_control_task_gives_each_word_one_label_and_a_selective_probe_beats_it():
    rng = np.random.default_rng(1)
    words = rng.integers(0, 50, 3000)
    control = control_labels(words, rng.integers(0, 3, 3000), np.random.default_rng(2))
    for w in np.unique(words):
        assert len(set(control[words == w])) == 1
    # a property the states carry, of words that carry no information themselves
    x = rng.normal(size=(3000, 5))
    y = (x[:, 0] + 0.2 * rng.normal(size=3000) > 0).astype(np.int64)
    fit = train_probe(x[:2000], y[:2000], words[:2000], x[2000:], y[2000:], words[2000:], 2, np.random.default_rng(3))
    assert fit.accuracy > 0.85 and fit.accuracy - fit.control_accuracy > 0.25
    assert 0.4 < fit.majority < 0.6 and fit.n_heldout == 1000
