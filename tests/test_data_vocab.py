"""Vocabularies, casing features, word dropout and GloVe loading."""

import json

import numpy as np
import pytest

from lstm_numpy.data.vocab import (
    CASE_DIGIT,
    CASE_LOWER,
    CASE_OTHER,
    CASE_TITLE,
    CASE_UPPER,
    PAD_ID,
    UNK_ID,
    AffixVocab,
    LabelVocab,
    Vocab,
    affix,
    case_ids,
    load_glove,
    replace_singletons,
)
from lstm_numpy.errors import DataFormatError

SENTENCES = [["The", "cat", "sat"], ["the", "Cat", "ran", "home"], ["THE", "dog"]]


def test_vocab_build_encode_and_min_count():
    vocab = Vocab.build(SENTENCES)
    assert vocab.words[:4] == ["<pad>", "<unk>", "the", "cat"]  # most frequent first
    ids = vocab.encode(["THE", "Cat", "zebra"])
    assert ids.dtype == np.int64 and ids.tolist() == [2, 3, UNK_ID]
    assert vocab.decode(ids) == ["the", "cat", "<unk>"]
    assert "Dog" in vocab and "zebra" not in vocab
    small = Vocab.build(SENTENCES, min_count=2)
    assert small.words == ["<pad>", "<unk>", "the", "cat"]
    assert small.encode(["dog"]).tolist() == [UNK_ID]


def test_vocab_json_round_trip():
    vocab = Vocab.build(SENTENCES, min_count=1)
    again = Vocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.encode(["home"]).tolist() == vocab.encode(["home"]).tolist()
    labels = LabelVocab.build([["B-PER", "O"], ["I-PER", "B-LOC"]])
    assert LabelVocab.from_dict(json.loads(json.dumps(labels.to_dict()))) == labels
    with pytest.raises(ValueError, match="not a Vocab"):
        Vocab.from_dict(labels.to_dict())


def test_case_ids():
    words = ["the", "EU", "Jordan", "1996", "A4", "McDonald", ",", "I", "U.S."]
    expected = [CASE_LOWER, CASE_UPPER, CASE_TITLE, CASE_DIGIT, CASE_DIGIT, CASE_OTHER, CASE_OTHER,
                CASE_UPPER, CASE_UPPER]
    ids = case_ids(words)
    assert ids.dtype == np.int64 and ids.tolist() == expected
    assert PAD_ID == 0 and 0 not in ids  # id 0 is left for padding


def test_affixes_of_seen_and_unseen_words():
    vocab = Vocab.build([["Johnson", "Davidson", "Jones", "the", "Johnson"]])
    affixes = AffixVocab(vocab, kinds=("p2", "s3"), min_count=2)
    # counted over training tokens: "p2:jo" 4 (Johnson x2, Jones), "s3:son" 3; "s3:nes" once, dropped
    assert affixes.keys[:2] == ["<pad>", "<unk>"] and set(affixes.keys[2:]) == {"p2:jo", "s3:son"}
    ids = affixes.encode(["KOWALSON", "Jo", "x"])      # (T, A): case ignored; "jo" is its own p2
    assert ids.shape == (3, 2) and ids.dtype == np.int64
    jo, son = affixes.index["p2:jo"], affixes.index["s3:son"]
    assert ids.tolist() == [[UNK_ID, son], [jo, UNK_ID], [UNK_ID, UNK_ID]]
    assert affix("Kowalczyk", "s2") == "yk" and affix("ab", "p3") == "ab"
    assert affixes.encode([]).shape == (0, 2)
    with pytest.raises(ValueError, match="affix kinds"):
        AffixVocab(vocab, kinds=("x3",))


def test_label_vocab_order_and_unknown_label():
    labels = LabelVocab.build([["B-PER", "O", "I-PER"], ["B-LOC", "O"]])
    assert labels.labels == ["O", "B-LOC", "B-PER", "I-PER"]
    assert LabelVocab(["B-X", "O"]).labels == ["B-X", "O"]  # as given
    assert labels.encode(["O", "B-PER"]).tolist() == [0, 2]
    assert labels.decode([3, 1]) == ["I-PER", "B-LOC"]
    with pytest.raises(DataFormatError, match=r"unknown label 'B-MISC' in sentence 1"):
        labels.encode_all([["O"], ["O", "B-MISC"]])


def test_replace_singletons_uses_rng_and_only_singletons():
    vocab = Vocab.build(SENTENCES)
    mask = vocab.singleton_mask()
    assert mask.shape == (len(vocab),) and not mask[:2].any()
    singles = {i for i in range(len(vocab)) if mask[i]}
    ids = np.tile(np.arange(len(vocab)), 200)
    dropped = replace_singletons(ids, mask, 0.5, np.random.default_rng(0))
    changed = dropped != ids
    assert set(ids[changed].tolist()) <= singles and dropped[changed].tolist() == [UNK_ID] * changed.sum()
    share = changed.sum() / np.isin(ids, list(singles)).sum()
    assert 0.4 < share < 0.6
    again = replace_singletons(ids, singles, 0.5, np.random.default_rng(0))  # a set works too
    assert np.array_equal(again, dropped)
    assert np.array_equal(replace_singletons(ids, mask, 0.0, np.random.default_rng(1)), ids)
    assert ids.tolist() == np.tile(np.arange(len(vocab)), 200).tolist()  # input untouched
    both = replace_singletons(ids, mask, 0.5, np.random.default_rng(0), p_other=0.2)
    others = ~np.isin(ids, list(singles)) & (ids > UNK_ID)
    assert np.array_equal(both[~others], dropped[~others])        # same draws for the singletons
    assert 0.15 < (both[others] == UNK_ID).mean() < 0.25
    assert (both[ids == PAD_ID] == PAD_ID).all()
    with pytest.raises(ValueError, match="p_other"):
        replace_singletons(ids, mask, 0.5, np.random.default_rng(0), p_other=1.5)


def test_load_glove_alignment_and_coverage(tmp_path):
    vocab = Vocab.build(SENTENCES)  # the cat sat ran home dog
    path = tmp_path / "glove.txt"
    path.write_text("the 1 2 3\nCat 4 5 6\ncat 7 8 9\nzebra 0 0 0\ndog -1 -2 -3.5\n")
    vectors, coverage = load_glove(path, vocab, 3, np.random.default_rng(0))
    assert vectors.shape == (len(vocab), 3) and vectors.dtype == np.float64
    idx = vocab.index
    assert vectors[idx["the"]].tolist() == [1, 2, 3]
    assert vectors[idx["cat"]].tolist() == [7, 8, 9]  # the exact lower-case entry wins
    assert vectors[idx["dog"]].tolist() == [-1, -2, -3.5]
    assert not vectors[PAD_ID].any() and vectors[idx["sat"]].any()  # missing rows are random
    assert coverage == pytest.approx(3 / 6)
    again, _ = load_glove(path, vocab, 3, np.random.default_rng(0))
    assert np.array_equal(again, vectors)


def test_load_glove_malformed(tmp_path):
    vocab = Vocab.build(SENTENCES)
    path = tmp_path / "bad.txt"
    path.write_text("the 1 2 3\ncat 1 2\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt line 2: expected a word and 3 numbers, got 3 fields"):
        load_glove(path, vocab, 3, np.random.default_rng(0))
    path.write_text("the 1 2 3\ncat 1 x 3\n")
    with pytest.raises(DataFormatError, match=r"bad\.txt line 2: expected 3 numbers"):
        load_glove(path, vocab, 3, np.random.default_rng(0))
