"""Constrained decoding (model.decoding) against brute force over every label sequence."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.data.generated import load_generated
from lstm_numpy.evaluation.decoding import decode, viterbi
from lstm_numpy.evaluation.metrics import evaluate
from lstm_numpy.labels import transitions
from lstm_numpy.model.tagger import TaggerConfig, init_tagger
from lstm_numpy.pipeline import make_config, prepare
from lstm_numpy.prediction import evaluate_split, predict_split

IOB2 = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
BIOES = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"]
POS = ["NOUN", "VERB", "DET", "ADJ"]


def is_valid(path, rules):
    return bool(rules.start[path[0]] and rules.end[path[-1]]
                and all(rules.allowed[a, b] for a, b in zip(path[:-1], path[1:])))


def brute_force(scores, rules):
    """Best valid path of one sentence (T, K) by trying all K^T of them."""
    T, K = scores.shape
    best, best_path = -np.inf, None
    for path in itertools.product(range(K), repeat=T):
        if is_valid(path, rules):
            total = scores[np.arange(T), path].sum()
            if total > best:
                best, best_path = total, path
    return best, best_path


def test_iob2_rules_by_hand():
    r = transitions(IOB2)
    i = {name: k for k, name in enumerate(IOB2)}
    assert r.scheme == "iob2"
    assert not r.allowed[i["O"], i["I-PER"]]            # an inside tag after O
    assert not r.allowed[i["B-LOC"], i["I-PER"]]        # type changes inside a chunk
    assert not r.allowed[i["I-LOC"], i["I-PER"]]
    assert r.allowed[i["B-PER"], i["I-PER"]] and r.allowed[i["I-PER"], i["I-PER"]]
    assert r.allowed[:, i["O"]].all() and r.allowed[:, i["B-PER"]].all()
    assert list(r.start) == [True, True, False, True, False] and r.end.all()


def test_bioes_rules_by_hand():
    r = transitions(BIOES)
    i = {name: k for k, name in enumerate(BIOES)}
    assert r.scheme == "bioes"
    assert r.allowed[i["B-X"], i["E-X"]] and r.allowed[i["I-X"], i["I-X"]]
    assert not r.allowed[i["B-X"], i["O"]]              # an open chunk must be closed
    assert not r.allowed[i["B-X"], i["E-Y"]]
    assert not r.allowed[i["E-X"], i["I-X"]] and r.allowed[i["E-X"], i["B-Y"]]
    assert r.allowed[i["S-X"], i["S-X"]]
    assert [BIOES[k] for k in np.flatnonzero(r.start)] == ["O", "B-X", "S-X", "B-Y"]
    assert [BIOES[k] for k in np.flatnonzero(r.end)] == ["O", "E-X", "S-X", "E-Y"]


@settings(max_examples=60, deadline=None)
@given(labels=st.sampled_from([IOB2, BIOES]), T=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_viterbi_finds_the_best_valid_path(labels, T, seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(scale=3.0, size=(1, T, len(labels)))
    rules = transitions(labels)
    path = viterbi(scores, np.ones((1, T), bool), rules)[0]
    best, _ = brute_force(scores[0], rules)
    assert is_valid(tuple(path), rules)
    np.testing.assert_allclose(scores[0, np.arange(T), path].sum(), best, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 5), T=st.integers(1, 7))
def test_padding_does_not_change_any_sentence(seed, N, T):
    """A batch decodes every sentence exactly as it decodes alone, at its own length."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, T + 1, size=N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    z = rng.normal(scale=3.0, size=(N, T, len(IOB2)))
    together = decode(z, mask, IOB2, "constrained")
    assert (together[~mask] == 0).all()
    for n, length in enumerate(lengths):
        alone = decode(z[n:n + 1, :length], np.ones((1, length), bool), IOB2, "constrained")[0]
        np.testing.assert_array_equal(together[n, :length], alone)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 8))
def test_labels_without_a_scheme_decode_to_the_argmax(seed, T):
    z = np.random.default_rng(seed).normal(size=(3, T, len(POS)))
    assert transitions(POS).scheme == "none"
    np.testing.assert_array_equal(decode(z, np.ones((3, T), bool), POS, "constrained"), z.argmax(-1))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 8))
def test_a_valid_argmax_is_kept(seed, T):
    """When the per-token argmax already obeys the scheme, nothing can beat it."""
    rng = np.random.default_rng(seed)
    rules = transitions(IOB2)
    path = [int(rng.choice(np.flatnonzero(rules.start)))]
    for _ in range(T - 1):
        path.append(int(rng.choice(np.flatnonzero(rules.allowed[path[-1]]))))
    z = rng.normal(size=(1, T, len(IOB2)))
    z[0, np.arange(T), path] += 10.0
    np.testing.assert_array_equal(decode(z, np.ones((1, T), bool), IOB2, "constrained")[0], path)


def test_an_invalid_argmax_is_repaired():
    # argmax O I-PER I-PER (an entity opened by I-) becomes O B-PER I-PER: B-PER is close behind I-PER
    z = np.log(np.array([[[.9, .02, .02, .03, .03], [.1, .0, .0, .4, .5], [.1, .0, .0, .1, .8]]]) + 1e-9)
    mask = np.ones((1, 3), bool)
    assert list(decode(z, mask, IOB2, "argmax")[0]) == [0, 4, 4]
    assert list(decode(z, mask, IOB2, "constrained")[0]) == [0, 3, 4]


def test_bad_requests_are_refused():
    z = np.zeros((1, 2, len(IOB2)))
    with pytest.raises(ValueError, match="unknown decoder"):
        decode(z, np.ones((1, 2), bool), IOB2, "beam")
    with pytest.raises(ValueError, match="label names"):
        decode(z, np.ones((1, 2), bool), None, "constrained")
    with pytest.raises(ValueError, match="unknown decode"):
        TaggerConfig(vocab_size=5, n_labels=3, decode="greedy")


def test_the_tagger_reports_scores_of_its_configured_decoder():
    """evaluate_split reads config.decode; the constrained read-out only ever emits valid sequences."""
    prepared = prepare(load_generated(None, seed=4, n_train=60, n_dev=30, n_test=10))
    labels = prepared.labels.labels
    config = make_config("bilstm", prepared, backend="numpy", hidden=4)
    assert config.decode == "constrained" and make_config("paper", prepared).decode == "argmax"
    params = init_tagger(config, np.random.default_rng(0))     # untrained: plenty of invalid argmaxes
    dev = prepared.splits["dev"]
    argmax = predict_split(params, config, dev)
    constrained = predict_split(params, config, dev, decode="constrained", label_names=labels)
    rules = transitions(labels)
    assert all(is_valid(tuple(p), rules) for p in constrained)
    assert not all(is_valid(tuple(p), rules) for p in argmax), "the test needs some invalid argmax sequences"
    scores = evaluate_split(params, config, dev, labels)
    assert {k: v for k, v in scores.items() if k != "loss"} == evaluate(dev.labels, constrained, labels)
    argmax_config = make_config("bilstm", prepared, backend="numpy", hidden=4, decode="argmax")
    argmax_scores = evaluate_split(params, argmax_config, dev, labels)
    assert {k: v for k, v in argmax_scores.items() if k != "loss"} == evaluate(dev.labels, argmax, labels)
    # the loss is the gold labels' mean cross-entropy, whatever the read-out
    assert argmax_scores["loss"] == scores["loss"] > 0
