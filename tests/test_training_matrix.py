"""The acceptance matrix of training on its small corpora: the default command, nothing else,
must beat the most-frequent-label baseline on each, and reach 62 test entity F1 on the first
1,500 sentences of CoNLL-2003 (with its full dev and test files).

The corpora and the way each is run are docs/results/training_matrix.py's (one place); the full
corpora run there, into docs/results/training_matrix.md.  A corpus whose shared data is absent
is skipped, saying where it was looked for.
"""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("training_matrix", ROOT / "docs" / "results" / "training_matrix.py")
matrix = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(matrix)
NEEDS = {"conll": matrix.CONLL / "train.txt", "sequoia": matrix.SEQUOIA / "train.conllu"}


@pytest.mark.parametrize("corpus", matrix.SMALL)
def test_the_default_command_beats_the_most_frequent_label_baseline(corpus, tmp_path):
    needed = NEEDS.get(corpus.split("-")[0])
    if needed is not None and not needed.is_file():
        pytest.skip(f"{corpus}: {needed} not found (the shared data)")
    result = matrix.run_one(ROOT, matrix.corpus_args(corpus, tmp_path), [], tmp_path / "run")
    print(f"\n{corpus}: test {result['what']} {result['test']:.2f} against the baseline's {result['baseline']:.2f}, "
          f"{result['epochs']} epochs (best {result['best_epoch']}), {result['train_seconds']:.0f} s")
    assert result["test"] > result["baseline"], result
    assert result["degenerate"] == [], result
    if corpus == "conll-1500":
        assert result["test"] >= 62, result
