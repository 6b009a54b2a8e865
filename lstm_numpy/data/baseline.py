"""A per-word most-frequent-label baseline and entity-level F1 (conlleval semantics).

The baseline is the bar a trained tagger must clear: it knows each word's
usual label but nothing about context.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Sequence

from ..evaluation.entities import entity_prf


def entity_f1(gold_label_seqs, pred_label_seqs):
    """``(precision, recall, f1)`` in percent over exact-match entities (conlleval)."""
    return entity_prf(gold_label_seqs, pred_label_seqs)


def most_frequent_label_baseline(
    train_sentences: Sequence[Sequence[str]],
    train_labels: Sequence[Sequence[str]],
    test_sentences: Sequence[Sequence[str]],
) -> list[list[str]]:
    """Tag each test word with its most frequent training label (lower-cased).

    A word never seen in training gets the most frequent training label overall
    ("O" for entity labels, NOUN for most part-of-speech corpora).  Ties go to
    the label seen first in training.
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for words, labels in zip(train_sentences, train_labels):
        overall.update(labels)
        for word, label in zip(words, labels):
            counts[word.lower()][label] += 1
    best = {word: counter.most_common(1)[0][0] for word, counter in counts.items()}
    unseen = overall.most_common(1)[0][0] if overall else "O"
    return [[best.get(word.lower(), unseen) for word in words] for words in test_sentences]
