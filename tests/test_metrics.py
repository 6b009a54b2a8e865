"""metrics.py: token and per-label scores, confusion matrix, conlleval entity scores."""
import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lstm_numpy.errors import LabelSchemeError
from lstm_numpy.evaluation.entities import (
    EntityCounts,
    entity_counts,
    entity_counts_from_ids,
    entity_prf,
    prf_from_counts,
)
from lstm_numpy.evaluation.metrics import evaluate
from lstm_numpy.evaluation.scores import confusion_matrix, per_label_accuracy, per_label_prf, token_accuracy
from lstm_numpy.labels import extract_entities, scheme_of_names

CONLL_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
BIOES_LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
NAN = float("nan")


# ---------------------------------------------------------------- token level


def test_token_accuracy():
    assert token_accuracy([0, 1, 2, 3], [0, 1, 0, 3]) == 0.75
    assert np.isnan(token_accuracy([], []))
    with pytest.raises(ValueError, match="same length"):
        token_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="integer label ids"):
        token_accuracy([0.0, 1.0], [0.0, 1.0])


def test_confusion_matrix_rows_gold_columns_predicted():
    gold = [0, 0, 1, 2, 2, 2]
    pred = [0, 1, 1, 2, 0, 0]
    confusion = confusion_matrix(gold, pred, 3)
    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion, [[1, 1, 0], [0, 1, 0], [2, 0, 1]])


def test_confusion_matrix_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        confusion_matrix([0, 3], [0, 0], 3)
    with pytest.raises(ValueError, match="pred"):
        confusion_matrix([0, 1], [0, -1], 3)


@settings(deadline=None, max_examples=50)
@given(st.integers(1, 6).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)), max_size=40))))
def test_confusion_matrix_matches_a_loop(problem):
    n_labels, pairs = problem
    gold = np.array([g for g, _ in pairs], dtype=np.int32)
    pred = np.array([p for _, p in pairs], dtype=np.int32)
    expected = np.zeros((n_labels, n_labels), dtype=np.int64)
    for g, p in pairs:
        expected[g, p] += 1
    np.testing.assert_array_equal(confusion_matrix(gold, pred, n_labels), expected)
    if pairs:
        accuracy = per_label_accuracy(gold, pred, n_labels)
        for label in range(n_labels):
            gold_count = np.sum(gold == label)
            if gold_count == 0:
                assert np.isnan(accuracy[label])
            else:
                assert accuracy[label] == np.sum((gold == label) & (pred == label)) / gold_count


def test_per_label_accuracy_is_correct_over_gold_and_nan_when_absent():
    gold = [0, 0, 0, 1, 1]
    pred = [0, 0, 1, 1, 2]
    np.testing.assert_array_equal(per_label_accuracy(gold, pred, 3), [2 / 3, 1 / 2, NAN])


def test_per_label_prf_with_undefined_denominators():
    # label 0: P 2/2, R 2/3; label 1: P 1/2, R 1/2; label 2: never in gold (R NaN), P 0/1;
    # label 3: never predicted, never gold -> all NaN.
    gold = [0, 0, 0, 1, 1]
    pred = [0, 0, 1, 1, 2]
    precision, recall, f1 = per_label_prf(gold, pred, 4)
    np.testing.assert_allclose(precision, [1.0, 0.5, 0.0, NAN])
    np.testing.assert_allclose(recall, [2 / 3, 0.5, NAN, NAN])
    np.testing.assert_allclose(f1, [0.8, 0.5, NAN, NAN])


def test_per_label_f1_is_zero_when_precision_and_recall_are_zero():
    precision, recall, f1 = per_label_prf([0, 1], [1, 0], 2)
    np.testing.assert_array_equal(precision, [0.0, 0.0])
    np.testing.assert_array_equal(recall, [0.0, 0.0])
    np.testing.assert_array_equal(f1, [0.0, 0.0])


# --------------------------------------------------------------- entity level


@pytest.mark.parametrize("labels, expected", [
    (["B-PER", "I-PER"], {("PER", 0, 2)}),
    (["B-PER", "O"], {("PER", 0, 1)}),
    (["O", "I-LOC"], {("LOC", 1, 2)}),                                  # IOB1: I- after O opens
    (["O", "I-LOC", "I-LOC", "O", "I-LOC"], {("LOC", 1, 3), ("LOC", 4, 5)}),
    (["I-PER", "I-PER", "B-PER"], {("PER", 0, 2), ("PER", 2, 3)}),       # IOB1 B- splits
    (["B-PER", "I-LOC", "I-LOC"], {("PER", 0, 1), ("LOC", 1, 3)}),       # type change inside a span
    (["B-PER", "B-PER"], {("PER", 0, 1), ("PER", 1, 2)}),
    (["O", "O", "B-MISC", "I-MISC"], {("MISC", 2, 4)}),                  # entity at the end
    (["O", "O"], set()),
    ([], set()),
    (["S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"],                      # BIOES
     {("PER", 0, 1), ("LOC", 1, 4), ("LOC", 4, 5)}),
    (["B-PER", "E-PER", "E-PER"], {("PER", 0, 2), ("PER", 2, 3)}),       # E after E opens
    (["E-PER", "I-PER"], {("PER", 0, 1), ("PER", 1, 2)}),
    (["S-PER", "I-PER", "E-PER"], {("PER", 0, 1), ("PER", 1, 3)}),
    (["B-ORG", "I-ORG", "S-ORG"], {("ORG", 0, 2), ("ORG", 2, 3)}),
    (["B-I-X", "I-I-X"], {("I-X", 0, 2)}),                               # type may hold a dash
])
def test_extract_entities_conlleval_cases(labels, expected):
    assert extract_entities(labels) == expected


@pytest.mark.parametrize("label", ["PER", "X-PER", "B-", "o", ""])
def test_plain_tags_hold_no_entities_and_do_not_mix_with_chunk_tags(label):
    assert extract_entities(["O", label]) == set()
    assert extract_entities(["B-PER", label]) == {("PER", 0, 1)}    # a plain tag reads as outside
    with pytest.raises(LabelSchemeError, match="mix chunk tags"):
        scheme_of_names(["O", "B-PER", label])


def test_entity_prf_seqeval_readme_example():
    # conlleval: 2 gold, 2 predicted, 1 correct -> 50 / 50 / 50.
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    assert entity_prf(gold, pred) == (50.0, 50.0, 50.0)


def test_entity_prf_boundary_must_match():
    # B-PER I-PER vs B-PER O: one gold, one predicted, none correct.
    assert entity_counts([["B-PER", "I-PER"]], [["B-PER", "O"]])[""] == EntityCounts(1, 1, 0)
    assert entity_prf([["B-PER", "I-PER"]], [["B-PER", "O"]]) == (0.0, 0.0, 0.0)


def test_entity_prf_iob1_and_iob2_spellings_of_one_span_match():
    assert entity_prf([["O", "B-LOC", "I-LOC"]], [["O", "I-LOC", "I-LOC"]]) == (100.0, 100.0, 100.0)


def test_entity_prf_type_must_match():
    assert entity_counts([["B-PER", "I-PER"]], [["B-ORG", "I-ORG"]])[""] == EntityCounts(1, 1, 0)


def test_entity_prf_empty_predictions_give_zero_not_crash():
    assert entity_prf([["B-PER", "O", "B-LOC"]], [["O", "O", "O"]]) == (0.0, 0.0, 0.0)
    assert entity_prf([["O"]], [["O"]]) == (0.0, 0.0, 0.0)
    assert entity_prf([], []) == (0.0, 0.0, 0.0)


def test_entity_prf_entities_do_not_cross_sentences():
    # The same tokens as one sentence would be one entity; split, they are two.
    gold = [["O", "B-PER"], ["I-PER", "O"]]
    assert entity_counts(gold, gold)[""] == EntityCounts(2, 2, 2)


def test_entity_counts_per_type_and_prf():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    counts = entity_counts(gold, pred)
    assert counts == {
        "LOC": EntityCounts(1, 0, 0),
        "ORG": EntityCounts(1, 2, 1),
        "PER": EntityCounts(2, 1, 1),
        "": EntityCounts(4, 3, 2),
    }
    precision, recall, f1 = entity_prf(gold, pred)
    assert precision == pytest.approx(200 / 3)
    assert recall == 50.0
    assert f1 == pytest.approx(2 * (200 / 3) * 50 / (200 / 3 + 50))
    assert prf_from_counts(counts["LOC"]) == (0.0, 0.0, 0.0)


def test_entity_counts_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="sentence 0"):
        entity_counts([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="sentences"):
        entity_counts([["O"]], [])


# ------------------------------------------------- entity level, vectorised


@st.composite
def tagged_corpora(draw):
    label_names = draw(st.sampled_from([CONLL_LABELS, BIOES_LABELS, ["O"]]))
    lengths = draw(st.lists(st.integers(0, 7), max_size=6))
    ids = st.integers(0, len(label_names) - 1)
    gold = [draw(st.lists(ids, min_size=n, max_size=n)) for n in lengths]
    # Predictions: often a copy of gold with a few changes, so matches happen.
    pred = [[draw(ids) if draw(st.booleans()) else g for g in sentence] for sentence in gold]
    return label_names, gold, pred


@settings(deadline=None, max_examples=200)
@given(tagged_corpora())
@example((CONLL_LABELS, [[0, 1, 2], [2, 2]], [[0, 1, 0], [4, 2]]))
@example((BIOES_LABELS, [[4, 1, 3, 3], []], [[4, 1, 2, 3], []]))
def test_vectorised_entity_counts_match_scalar(corpus):
    label_names, gold, pred = corpus
    gold_strings = [[label_names[i] for i in s] for s in gold]
    pred_strings = [[label_names[i] for i in s] for s in pred]
    scalar = entity_counts(gold_strings, pred_strings)
    flat = lambda sentences: np.array([i for s in sentences for i in s], dtype=np.int64)  # noqa: E731
    vectorised = entity_counts_from_ids(flat(gold), flat(pred), [len(s) for s in gold], label_names)
    # The vectorised path lists every type in label_names, the scalar path only those seen.
    vectorised_seen = {t: c for t, c in vectorised.items() if t == "" or c != EntityCounts(0, 0, 0)}
    assert vectorised_seen == scalar, f"vectorised {vectorised_seen} vs scalar {scalar}"


def test_vectorised_rejects_bad_sentence_lengths():
    with pytest.raises(ValueError, match="sum to N=3"):
        entity_counts_from_ids(np.zeros(3, int), np.zeros(3, int), [1, 1], CONLL_LABELS)


# ------------------------------------------------------------------ summary


def test_evaluate_is_json_ready_and_agrees_with_the_parts():
    gold_strings = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-PER"]]
    pred_strings = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "O"]]
    index = {name: i for i, name in enumerate(CONLL_LABELS)}
    gold = [np.array([index[x] for x in s]) for s in gold_strings]
    pred = [np.array([index[x] for x in s]) for s in pred_strings]
    result = evaluate(gold, pred, CONLL_LABELS)
    json.dumps(result, allow_nan=False)  # plain types, no NaN

    flat_gold, flat_pred = np.concatenate(gold), np.concatenate(pred)
    assert result["n_tokens"] == 7 and result["n_sentences"] == 2
    assert result["token_acc"] == token_accuracy(flat_gold, flat_pred)
    precision, recall, f1 = entity_prf(gold_strings, pred_strings)
    assert (result["entity_precision"], result["entity_recall"], result["entity_f1"]) == (precision, recall, f1)
    assert result["entity_per_type"]["ORG"] == {
        "precision": 50.0, "recall": 100.0, "f1": pytest.approx(200 / 3), "n_gold": 1, "n_pred": 2, "n_correct": 1
    }
    assert result["entity_per_type"]["MISC"]["n_gold"] == 0
    assert result["per_label_acc"]["B-PER"] == 0.5
    assert result["per_label_acc"]["I-MISC"] is None  # absent from gold
    assert result["per_label_precision"]["B-ORG"] == 0.5
    assert result["per_label_precision"]["B-LOC"] is None  # never predicted
    assert result["per_label_recall"] == result["per_label_acc"]
    assert result["per_label_f1"]["I-PER"] == 1.0
    np.testing.assert_array_equal(result["confusion"], confusion_matrix(flat_gold, flat_pred, len(CONLL_LABELS)))
    assert list(result["per_label_acc"]) == CONLL_LABELS


def test_evaluate_empty_corpus():
    result = evaluate([], [], CONLL_LABELS)
    json.dumps(result, allow_nan=False)
    assert result["token_acc"] is None
    assert result["entity_f1"] == 0.0
    assert result["confusion"] == [[0] * 9 for _ in range(9)]


def test_evaluate_rejects_mismatched_sentences():
    with pytest.raises(ValueError, match="sentence 1"):
        evaluate([np.array([0]), np.array([0, 0])], [np.array([0]), np.array([0])], CONLL_LABELS)
