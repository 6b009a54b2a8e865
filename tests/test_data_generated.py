"""The generated corpus, and the most-frequent-label baseline with entity F1 that it must defeat."""

from collections import defaultdict

import numpy as np
import pytest

from lstm_numpy.data.baseline import entity_f1, most_frequent_label_baseline
from lstm_numpy.data.generated import ENTITY_TYPES, SPLITS, build_lexicon, generate_corpus, load_generated
from lstm_numpy.data.readers import read_conll
from lstm_numpy.labels import extract_entities


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return load_generated(tmp_path_factory.mktemp("generated"), seed=0)


def test_same_seed_same_files_other_seed_other_files(tmp_path):
    sizes = dict(n_train=200, n_dev=50, n_test=50)
    first = generate_corpus(tmp_path / "a", seed=3, **sizes)
    second = generate_corpus(tmp_path / "b", seed=3, **sizes)
    other = generate_corpus(tmp_path / "c", seed=4, **sizes)
    assert set(first) == set(SPLITS)
    for split in SPLITS:
        assert first[split].read_bytes() == second[split].read_bytes(), split
        assert first[split].read_bytes() != other[split].read_bytes(), split
    # a split's stream does not depend on the other splits' sizes
    bigger = generate_corpus(tmp_path / "d", seed=3, n_train=300, n_dev=50, n_test=50)
    assert bigger["test"].read_bytes() == first["test"].read_bytes()


def test_round_trip_sizes_and_lengths(corpus):
    assert [len(corpus[s]) for s in SPLITS] == [3000, 500, 500]
    for split in SPLITS:
        again = read_conll(corpus[split].path)
        assert again == corpus[split]
        lengths = [len(words) for words in corpus[split].sentences]
        assert 5 <= min(lengths) and max(lengths) <= 40, split
    lengths = [len(words) for words in corpus["train"].sentences]
    assert min(lengths) <= 6 and max(lengths) >= 30  # the range is used, not just allowed
    print("train tokens", corpus["train"].n_tokens, "mean length", np.mean(lengths))


def test_four_types_multi_token_entities_and_iob2(corpus):
    entities = [e for labels in corpus["train"].labels for e in extract_entities(labels)]
    assert {kind for kind, _, _ in entities} == set(ENTITY_TYPES)
    multi = np.mean([end - start > 1 for _, start, end in entities])
    assert multi > 0.2, multi
    for labels in corpus["train"].labels:  # IOB2: every entity opens with B-
        for t, label in enumerate(labels):
            if label.startswith("I-"):
                assert labels[t - 1][2:] == label[2:] and labels[t - 1] != "O"
    o_words = {w.lower() for words, labels in zip(corpus["train"].sentences, corpus["train"].labels)
               for w, label in zip(words, labels) if label == "O"}
    assert len(o_words) >= 200, len(o_words)
    assert any(w.isdigit() for w in o_words)


def test_entity_words_are_ambiguous(corpus):
    types_of = defaultdict(set)
    for words, labels in zip(corpus["train"].sentences, corpus["train"].labels):
        for word, label in zip(words, labels):
            if label != "O":
                types_of[word.lower()].add(label[2:])
    share = np.mean([len(kinds) >= 2 for kinds in types_of.values()])
    print(f"entity word types {len(types_of)}, with >= 2 types: {share:.1%}")
    assert share >= 0.3


def test_baseline_is_well_below_perfect(corpus):
    train, test = corpus["train"], corpus["test"]
    predicted = most_frequent_label_baseline(train.sentences, train.labels, test.sentences)
    precision, recall, f1 = entity_f1(test.labels, predicted)
    print(f"most-frequent-label baseline, test: P {precision:.1f} R {recall:.1f} F1 {f1:.1f}")
    assert 40 <= f1 <= 75
    assert entity_f1(test.labels, test.labels) == (100.0, 100.0, 100.0)


def test_lexicon_is_fixed_and_disjoint():
    lexicon, again = build_lexicon(), build_lexicon()
    assert lexicon == again
    pools = [lexicon.ambiguous, lexicon.first_names, lexicon.surnames, lexicon.places, lexicon.firms,
             lexicon.events, lexicon.nationalities]
    names = [name for pool in pools for name in pool]
    assert len(names) == len(set(names))


def test_extract_entities_conlleval_semantics():
    assert extract_entities(["B-PER", "I-PER", "O", "B-LOC"]) == {("PER", 0, 2), ("LOC", 3, 4)}
    assert extract_entities(["O", "I-PER", "I-PER"]) == {("PER", 1, 3)}  # I- after O opens
    assert extract_entities(["B-PER", "I-LOC"]) == {("PER", 0, 1), ("LOC", 1, 2)}  # type change opens
    assert extract_entities(["B-PER", "B-PER"]) == {("PER", 0, 1), ("PER", 1, 2)}
    assert extract_entities(["S-PER", "B-LOC", "E-LOC", "E-LOC"]) == {("PER", 0, 1), ("LOC", 1, 3), ("LOC", 3, 4)}
    assert extract_entities([]) == set()
    assert extract_entities(["NNP", "VBZ"]) == set()    # plain tags (POS) hold no entities


def test_entity_f1_counts_exact_matches_only():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG"]]
    pred = [["B-PER", "O", "O", "B-LOC"], ["B-MISC"]]  # wrong boundary, right, wrong type
    precision, recall, f1 = entity_f1(gold, pred)
    assert precision == pytest.approx(100 / 3) and recall == pytest.approx(100 / 3)
    assert f1 == pytest.approx(100 / 3)
    assert entity_f1([["O"]], [["O"]]) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="sentence 0"):
        entity_f1([["O"]], [["O", "O"]])


def test_baseline_most_frequent_and_unknown():
    train_sentences = [["Jordan", "flew"], ["jordan", "ran"], ["Jordan", "ran"]]
    train_labels = [["B-LOC", "O"], ["B-PER", "O"], ["B-PER", "O"]]
    predicted = most_frequent_label_baseline(train_sentences, train_labels, [["JORDAN", "Varnok"]])
    assert predicted == [["B-PER", "O"]]
