"""Minimal pairs (lstm_numpy.data.pairs): the generated corpus's pairs differ in one context
word only; a pair file reads back what was written and refuses a block that does not fit,
naming the file and line; pairs built from a corpus by swapping a context cue follow the cue
counts of its training split."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lstm_numpy.data.pairs import (PAIR_TEMPLATES, MinimalPair, context_cues, context_swap_pairs, generated_pairs,
                                   read_pairs, write_pairs)
from lstm_numpy.data.readers import Corpus, default_conll2003_dir
from lstm_numpy.errors import DataFormatError

ROOT = Path(__file__).resolve().parents[1]


def test_generated_pairs_differ_in_one_context_word_and_read_the_same_name():
    pairs = generated_pairs(60, seed=3)
    assert pairs == generated_pairs(60, seed=3) and pairs != generated_pairs(60, seed=4)
    labels = {label for _, _, two in PAIR_TEMPLATES for label in two}
    for pair in pairs:
        assert len(pair.clean) == len(pair.corrupted)
        differ = [i for i, (a, b) in enumerate(zip(pair.clean, pair.corrupted)) if a != b]
        assert len(differ) == 1 and differ[0] != pair.position
        assert pair.clean[pair.position] == pair.corrupted[pair.position]
        assert {pair.clean_label, pair.corrupted_label} <= labels and pair.clean_label != pair.corrupted_label


def test_a_pair_file_reads_back_what_was_written(tmp_path):
    pairs = generated_pairs(5, seed=1) + [MinimalPair(["a", "b"], ["c", "b"], 1, None, None)]
    path = write_pairs(tmp_path / "pairs.txt", pairs, comment="five generated pairs\nand one without labels")
    assert path.read_text().startswith("# five generated pairs\n# and one without labels\n")
    assert read_pairs(path) == pairs


@pytest.mark.parametrize("text, where, words", [
    ("a\tb\na\tb\n", 1, "a pair is three lines"),
    ("a\tb\tc\na\tb\n1\n", 2, "2 tokens, the clean sentence above has 3"),
    ("a\tb\na\tc\none\n", 3, "must be a token number, got 'one'"),
    ("a\tb\na\tc\n2\n", 3, "position 2 is outside the 2 tokens"),
    ("# a comment\n\na\tb\na\tc\n1\nB-PER\n", 6, "two labels separated by a tab"),
    ("a\tb\na\tc\n1\n\nx\ny\tz\n0\n", 6, "2 tokens, the clean sentence above has 1"),
])
def test_a_block_that_does_not_fit_is_named_by_file_and_line(tmp_path, text, where, words):
    path = tmp_path / "pairs.txt"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=words) as raised:
        read_pairs(path)
    assert str(raised.value).startswith(f"{path}:{where}: ")


def test_an_empty_or_missing_pair_file_is_named(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(DataFormatError, match="no pairs"):
        read_pairs(empty)
    with pytest.raises(DataFormatError, match="no such file"):
        read_pairs(tmp_path / "gone.txt")


def test_context_swap_pairs_follow_the_training_splits_cues():
    train = Corpus([["met", "in", "Paris"]] * 9 + [["met", "in", "Anna"]] + [["said", "Mr", "Smith"]] * 5
                   + [["the", "big", "Acme"]] * 2 + [["(", "1", "Acme"]] * 6,
                   [["O", "O", "B-LOC"]] * 9 + [["O", "O", "B-PER"]] + [["O", "O", "B-PER"]] * 5
                   + [["O", "O", "B-ORG"]] * 2 + [["O", "O", "B-ORG"]] * 6)
    assert context_cues(train, min_count=5, purity=0.9) == {"in": ("LOC", 10), "Mr": ("PER", 5)}
    assert context_cues(train, min_count=5, purity=0.9, words_only=False)["1"] == ("ORG", 6)
    assert context_cues(train, min_count=5, purity=0.95) == {"Mr": ("PER", 5)}
    target = Corpus([["we", "live", "in", "Rome", "now"], ["in", "New", "York"], ["Mr", "Jones", "spoke"],
                     ["with", "Bob"]],
                    [["O", "O", "O", "B-LOC", "O"], ["O", "B-LOC", "I-LOC"], ["O", "B-PER", "O"], ["O", "B-PER"]])
    pairs, cues, strongest = context_swap_pairs(train, target, min_count=5, purity=0.9)
    assert strongest == {"LOC": "in", "PER": "Mr"}
    assert pairs == [MinimalPair(["we", "live", "in", "Rome", "now"], ["we", "live", "Mr", "Rome", "now"], 3,
                                 "B-LOC", "B-PER"),
                     MinimalPair(["Mr", "Jones", "spoke"], ["in", "Jones", "spoke"], 1, "B-PER", "B-LOC")]


@pytest.mark.skipif(not (default_conll2003_dir() / "train.txt").is_file(),
                    reason=f"CoNLL-2003 not found at {default_conll2003_dir()} (set LSTM_NUMPY_CONLL2003)")
def test_the_conll2003_pair_script_as_documented(tmp_path):
    """docs/results/conll2003_pairs.py on the real corpus: the count it prints is the file's, each pair
    swaps the word right before its entity for another type's strongest cue, and --unseen-name puts a
    name the training split never has in place of the entity, in both sentences."""
    script = ROOT / "docs" / "results" / "conll2003_pairs.py"
    runs = {}
    for name, extra in (("known", []), ("unseen", ["--unseen-name", "Varnok"])):
        out = tmp_path / f"{name}.txt"
        result = subprocess.run([sys.executable, str(script), str(out), "--data-dir", str(default_conll2003_dir()),
                                 *extra], capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        found = re.search(r"^(\d+) pairs from (\d+) one-token dev entities", result.stdout, re.M)
        strongest = dict(re.findall(r"^  (\w+): .*; strongest '(\w+)'$", result.stdout, re.M))
        pairs = read_pairs(out)
        assert found and int(found[1]) == len(pairs) > 100 and int(found[2]) < len(pairs)
        assert set(strongest) == {"LOC", "MISC", "ORG", "PER"}
        for pair in pairs:
            differ = [i for i, (a, b) in enumerate(zip(pair.clean, pair.corrupted, strict=True)) if a != b]
            assert differ == [pair.position - 1] and pair.corrupted[pair.position - 1] in strongest.values()
            assert pair.clean_label is None, "without --with-labels the model's readings decide"
        runs[name] = pairs
    assert [p.position for p in runs["known"]] == [p.position for p in runs["unseen"]]
    assert all(p.clean[p.position] == p.corrupted[p.position] == "Varnok" for p in runs["unseen"])
    assert any(p.clean[p.position] != "Varnok" for p in runs["known"])
