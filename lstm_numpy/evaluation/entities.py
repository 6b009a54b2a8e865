"""Entity scores, as conlleval computes them: counts of gold, predicted and exactly
matching entities per type, precision, recall and F1 in percent.

Entities follow conlleval (CoNLL-2000 `conlleval.pl`, with the usual BIOES
extension), as `lstm_numpy.labels` reads chunks: IOB2, IOB1 and BIOES input
are all read the way conlleval reads them, and an entity is correct only
when its type, first and last token all match.  Plain tags (part of speech,
scheme "none") hold no entities.

Three ways to count, one answer: `entity_counts` over label strings (the
readable one), `entity_counts_from_ids` over flat id arrays (vectorised), and
the Numba kernel `entity_totals_numba` that the ablation sweeps call thousands
of times, whose reference is `entity_totals` (= `entity_counts_from_ids`).

Dimension legend: N tokens (sentences concatenated), S sentences, K labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

from lstm_numpy.labels import chunk_tables, extract_entities
from lstm_numpy.evaluation.scores import check_ids

__all__ = ["EntityCounts", "prf_from_counts", "entity_counts", "entity_prf", "sentence_edges",
           "entity_counts_from_ids", "entity_totals", "entity_totals_numba"]


class EntityCounts(NamedTuple):
    """Entity counts for one type (or all): gold entities, predicted entities, exact matches."""

    n_gold: int
    n_pred: int
    n_correct: int


def prf_from_counts(counts: EntityCounts) -> tuple[float, float, float]:
    """(precision, recall, F1) in percent, conlleval style: 0 (not NaN) for an empty denominator."""
    precision = 100.0 * counts.n_correct / counts.n_pred if counts.n_pred else 0.0
    recall = 100.0 * counts.n_correct / counts.n_gold if counts.n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_counts(gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> dict[str, EntityCounts]:
    """Per-type entity counts over a corpus, plus the total under the key "" (empty string).

    gold_seqs, pred_seqs : lists of sentences of label strings, sentence by
    sentence the same lengths. Types are sorted by name.
    """
    if len(gold_seqs) != len(pred_seqs):
        raise ValueError(f"gold has {len(gold_seqs)} sentences, pred has {len(pred_seqs)}")
    gold_by_type: dict[str, int] = {}
    pred_by_type: dict[str, int] = {}
    correct_by_type: dict[str, int] = {}
    for index, (gold_labels, pred_labels) in enumerate(zip(gold_seqs, pred_seqs)):
        if len(gold_labels) != len(pred_labels):
            raise ValueError(f"sentence {index}: gold has {len(gold_labels)} labels, pred has {len(pred_labels)}")
        gold_entities = extract_entities(gold_labels)
        pred_entities = extract_entities(pred_labels)
        for entities, tally in ((gold_entities, gold_by_type), (pred_entities, pred_by_type),
                                (gold_entities & pred_entities, correct_by_type)):
            for type_, _, _ in entities:
                tally[type_] = tally.get(type_, 0) + 1
    types = sorted(set(gold_by_type) | set(pred_by_type))
    counts = {
        type_: EntityCounts(gold_by_type.get(type_, 0), pred_by_type.get(type_, 0), correct_by_type.get(type_, 0))
        for type_ in types
    }
    counts[""] = EntityCounts(*(sum(column) for column in zip(*counts.values()))) if counts else EntityCounts(0, 0, 0)
    return counts


def entity_prf(gold_seqs: Sequence[Sequence[str]], pred_seqs: Sequence[Sequence[str]]) -> tuple[float, float, float]:
    """Overall entity (precision, recall, F1) in percent, as conlleval's first line reports them."""
    return prf_from_counts(entity_counts(gold_seqs, pred_seqs)[""])


# ------------------------------------------------- entity level, vectorised


def sentence_edges(lengths, n: int) -> tuple[np.ndarray, np.ndarray]:
    """is_first, is_last (n,) bool: where each sentence of ``lengths`` (S,) begins and ends."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or (lengths < 0).any() or lengths.sum() != n:
        raise ValueError(f"sentence lengths must be non-negative and sum to N={n}, got sum {lengths.sum()}")
    ends = np.cumsum(lengths)[lengths > 0]
    is_first = np.zeros(n, dtype=np.bool_)
    is_last = np.zeros(n, dtype=np.bool_)
    is_first[ends - lengths[lengths > 0]] = True
    is_last[ends - 1] = True
    return is_first, is_last


def _entity_keys(ids: np.ndarray, is_first: np.ndarray, is_last: np.ndarray, starts, ends, type_ids):
    """Entities of a flat id array as sorted unique int64 keys (start, end, type) packed into one int."""
    outside = len(type_ids) - 1
    prev_ids = np.where(is_first, outside, np.roll(ids, 1))
    next_ids = np.where(is_last, outside, np.roll(ids, -1))
    first = np.flatnonzero(starts[prev_ids, ids])
    last = np.flatnonzero(ends[ids, next_ids]) + 1  # exclusive, like extract_entities
    assert first.shape == last.shape, "conlleval rules must pair every chunk start with an end"
    entity_types = type_ids[ids[first]]
    n_tokens, n_types = ids.size, max(int(type_ids.max()) + 1, 1)
    return (first * (n_tokens + 1) + last) * n_types + entity_types, entity_types


def entity_counts_from_ids(
    gold_ids: np.ndarray, pred_ids: np.ndarray, sentence_lengths: Sequence[int], label_names: Sequence[str]
) -> dict[str, EntityCounts]:
    """Same result as `entity_counts`, computed on flat label ids without Python loops over tokens.

    gold_ids, pred_ids : (N,) int label ids, sentences concatenated.
    sentence_lengths : (S,) ints summing to N; entities never cross sentences.
    label_names : (K,) the label string of each id.
    Types are those in `label_names`, sorted; "" holds the total.
    """
    gold_ids, pred_ids = check_ids(gold_ids, pred_ids, len(label_names))
    starts, ends, type_ids, types = chunk_tables(label_names)
    is_first, is_last = sentence_edges(sentence_lengths, gold_ids.size)
    gold_keys, gold_types = _entity_keys(gold_ids, is_first, is_last, starts, ends, type_ids)
    pred_keys, pred_types = _entity_keys(pred_ids, is_first, is_last, starts, ends, type_ids)
    n_types = max(len(types), 1)
    correct_types = np.intersect1d(gold_keys, pred_keys, assume_unique=True) % n_types
    n_gold = np.bincount(gold_types, minlength=n_types)
    n_pred = np.bincount(pred_types, minlength=n_types)
    n_correct = np.bincount(correct_types, minlength=n_types)
    counts = {type_: EntityCounts(int(n_gold[t]), int(n_pred[t]), int(n_correct[t])) for t, type_ in enumerate(types)}
    counts[""] = EntityCounts(int(n_gold.sum()), int(n_pred.sum()), int(n_correct.sum()))
    return counts


# ------------------------------------------------- entity totals, the sweeps' kernel


def entity_totals(gold, pred, lengths, label_names):
    """Reference: (n_gold, n_pred, n_correct) entities over the corpus."""
    return tuple(entity_counts_from_ids(gold, pred, lengths, label_names)[""])


@njit(cache=True)
def _entity_totals_kernel(gold, pred, is_first, is_last, starts, ends, type_ids, out):
    outside = type_ids.shape[0] - 1
    n_gold = n_pred = n_correct = 0
    gold_start = pred_start = -1
    n = gold.shape[0]
    for t in range(n):
        g, p = gold[t], pred[t]
        g_prev = outside if is_first[t] else gold[t - 1]
        p_prev = outside if is_first[t] else pred[t - 1]
        g_next = outside if is_last[t] else gold[t + 1]
        p_next = outside if is_last[t] else pred[t + 1]
        if starts[g_prev, g]:
            gold_start = t
        if starts[p_prev, p]:
            pred_start = t
        g_end = ends[g, g_next]
        p_end = ends[p, p_next]
        n_gold += g_end
        n_pred += p_end
        if g_end and p_end and gold_start == pred_start and type_ids[g] == type_ids[p]:
            n_correct += 1
    out[0], out[1], out[2] = n_gold, n_pred, n_correct


def entity_totals_numba(gold, pred, edges, tables):
    """Kernel of :func:`entity_totals`; edges = :func:`sentence_edges` (...),
    tables = ``labels.chunk_tables(...)``. Returns (n_gold, n_pred, n_correct)."""
    out = np.zeros(3, dtype=np.int64)
    _entity_totals_kernel(np.ascontiguousarray(gold, dtype=np.int64), np.ascontiguousarray(pred, dtype=np.int64),
                          edges[0], edges[1], tables[0], tables[1], tables[2], out)
    return int(out[0]), int(out[1]), int(out[2])
