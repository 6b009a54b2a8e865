"""Tagging metrics: token accuracy, per-label scores, confusion matrix, conlleval entity F1.

Notation: N tokens (real tokens only, padding already removed), K labels.
Token-level inputs are flat int arrays `gold`, `pred` of shape (N,) holding
label ids in [0, K). Entity-level inputs are lists of sentences, each a list of
label strings such as "B-PER".

Units: token and per-label scores are fractions in [0, 1]; entity precision,
recall and F1 are percentages in [0, 100], as conlleval prints them.
"Undefined" (a denominator of zero) is NaN in the array functions, and None
in the JSON-ready dict returned by `evaluate`.

Entities follow conlleval (CoNLL-2000 `conlleval.pl`, with the usual BIOES
extension), as `lstm_numpy.labels` reads chunks: IOB2, IOB1 and BIOES input
are all read the way conlleval reads them, and an entity is correct only
when its type, first and last token all match.  Plain tags (part of speech,
scheme "none") hold no entities: `evaluate` gives no entity scores for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lstm_numpy.atomic import to_json_safe
from lstm_numpy.labels import NOT_CHUNKING, chunk_tables, extract_entities, scheme_of_names

__all__ = [
    "token_accuracy",
    "confusion_matrix",
    "per_label_accuracy",
    "per_label_prf",
    "extract_entities",
    "EntityCounts",
    "entity_counts",
    "entity_counts_from_ids",
    "prf_from_counts",
    "entity_prf",
    "sentence_edges",
    "evaluate",
    "format_entity_f1",
]


# ---------------------------------------------------------------- token level


def _check_ids(gold, pred, n_labels: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of flat label-id arrays; return them as int64 arrays."""
    gold = np.asarray(gold)
    pred = np.asarray(pred)
    if gold.ndim != 1 or pred.ndim != 1:
        raise ValueError(f"gold and pred must be flat (N,) arrays, got shapes {gold.shape} and {pred.shape}")
    if gold.shape != pred.shape:
        raise ValueError(f"gold and pred must have the same length, got {gold.shape[0]} and {pred.shape[0]}")
    for name, ids in (("gold", gold), ("pred", pred)):
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{name} must hold integer label ids, got dtype {ids.dtype}")
        if n_labels is not None and ids.size and (ids.min() < 0 or ids.max() >= n_labels):
            raise ValueError(
                f"{name} holds label ids in [{ids.min()}, {ids.max()}], outside [0, {n_labels}) for n_labels={n_labels}"
            )
    return gold.astype(np.int64, copy=False), pred.astype(np.int64, copy=False)


def token_accuracy(gold, pred) -> float:
    """Fraction of tokens whose predicted label equals the gold label; NaN if N == 0.

    gold, pred : (N,) int label ids.
    """
    gold, pred = _check_ids(gold, pred)
    if gold.size == 0:
        return float("nan")
    return float(np.count_nonzero(gold == pred)) / gold.size


def confusion_matrix(gold, pred, n_labels: int) -> np.ndarray:
    """Counts (K, K) int64: entry [i, j] is the number of tokens with gold i predicted j.

    gold, pred : (N,) int label ids in [0, K). One `np.bincount` over gold*K+pred,
    so it is cheap enough to call inside ablation sweeps.
    """
    gold, pred = _check_ids(gold, pred, n_labels)
    counts = np.bincount(gold * n_labels + pred, minlength=n_labels * n_labels)
    return counts.reshape(n_labels, n_labels).astype(np.int64, copy=False)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator elementwise, NaN where denominator == 0."""
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def per_label_accuracy(gold, pred, n_labels: int) -> np.ndarray:
    """Per-label accuracy (K,) float64, the paper's measure.

    Entry i = (tokens with gold label i predicted i) / (tokens with gold label i),
    i.e. per-label recall. NaN for a label absent from `gold`.
    """
    confusion = confusion_matrix(gold, pred, n_labels)
    return _divide(np.diag(confusion).astype(np.float64), confusion.sum(axis=1))


def _prf_from_confusion(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    correct = np.diag(confusion).astype(np.float64)
    precision = _divide(correct, confusion.sum(axis=0))
    recall = _divide(correct, confusion.sum(axis=1))
    total = precision + recall  # NaN if either is NaN
    f1 = _divide(2 * precision * recall, np.where(np.isnan(total), 0.0, total))
    f1[(total == 0)] = 0.0
    return precision, recall, f1


def per_label_prf(gold, pred, n_labels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token-level precision, recall and F1 per label, each (K,) float64 in [0, 1].

    precision[i] is NaN when label i is never predicted, recall[i] is NaN when
    label i never occurs in gold, and f1[i] is NaN when either is NaN
    (0 when both are defined and both 0).
    """
    return _prf_from_confusion(confusion_matrix(gold, pred, n_labels))


# --------------------------------------------------------------- entity level


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
    gold_ids, pred_ids = _check_ids(gold_ids, pred_ids, len(label_names))
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


# ------------------------------------------------------------------ summary

def format_entity_f1(value, digits: int = 2) -> str:
    """An entity F1 for people: the number, or "n/a (not a chunking task)" for plain tags (None)."""
    return f"n/a ({NOT_CHUNKING})" if value is None else f"{value:.{digits}f}"



def evaluate(
    gold_ids_per_sentence: Sequence[np.ndarray],
    pred_ids_per_sentence: Sequence[np.ndarray],
    label_names: Sequence[str],
) -> dict:
    """All metrics of one tagging run, as plain JSON-ready Python types (NaN -> None).

    gold_ids_per_sentence, pred_ids_per_sentence : S arrays, sentence s of shape (T_s,),
    int label ids over real tokens. label_names : (K,) label strings.

    Keys: n_tokens, n_sentences, label_scheme ("iob2", "bioes" or "none",
    `labels.scheme_of_names`), token_acc [0, 1]; entity_precision,
    entity_recall, entity_f1 in percent (conlleval; None for plain tags such
    as part of speech, which are not a chunking task); entity_per_type
    {type: {precision, recall, f1 (percent), n_gold, n_pred, n_correct}};
    per_label_acc, per_label_precision, per_label_recall, per_label_f1
    {label: value in [0, 1] or None}; confusion K lists of K ints (rows gold,
    columns predicted, in `label_names` order).
    """
    if len(gold_ids_per_sentence) != len(pred_ids_per_sentence):
        raise ValueError(f"gold has {len(gold_ids_per_sentence)} sentences, pred has {len(pred_ids_per_sentence)}")
    lengths = [len(sentence) for sentence in gold_ids_per_sentence]
    for index, (length, pred) in enumerate(zip(lengths, pred_ids_per_sentence)):
        if len(pred) != length:
            raise ValueError(f"sentence {index}: gold has {length} labels, pred has {len(pred)}")
    n_labels = len(label_names)
    empty = np.zeros(0, dtype=np.int64)
    gold = np.concatenate([np.asarray(s).ravel() for s in gold_ids_per_sentence] or [empty])
    pred = np.concatenate([np.asarray(s).ravel() for s in pred_ids_per_sentence] or [empty])

    confusion = confusion_matrix(gold, pred, n_labels)
    precision, recall, f1 = _prf_from_confusion(confusion)
    scheme = scheme_of_names(label_names)
    entity_precision = entity_recall = entity_f1 = None    # plain tags: not a chunking task
    per_type = {}
    if scheme != "none":
        counts = entity_counts_from_ids(gold, pred, lengths, label_names)
        entity_precision, entity_recall, entity_f1 = prf_from_counts(counts.pop(""))
        for type_, type_counts in counts.items():
            type_precision, type_recall, type_f1 = prf_from_counts(type_counts)
            per_type[type_] = {"precision": type_precision, "recall": type_recall, "f1": type_f1,
                               **type_counts._asdict()}

    names = list(label_names)
    result = {
        "n_tokens": int(gold.size),
        "n_sentences": len(lengths),
        "label_scheme": scheme,
        "token_acc": token_accuracy(gold, pred),
        "entity_precision": entity_precision,
        "entity_recall": entity_recall,
        "entity_f1": entity_f1,
        "entity_per_type": per_type,
        "per_label_acc": dict(zip(names, recall)),  # the paper's per-label accuracy is per-label recall
        "per_label_precision": dict(zip(names, precision)),
        "per_label_recall": dict(zip(names, recall)),
        "per_label_f1": dict(zip(names, f1)),
        "confusion": confusion.tolist(),
    }
    if scheme == "none":
        result["entity_scores"] = f"{NOT_CHUNKING}: the labels have no chunk scheme (B-/I-/E-/S-)"
    return to_json_safe(result)
