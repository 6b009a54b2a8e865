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
extension): a chunk starts and ends where `_start_of_chunk` / `_end_of_chunk`
say, so IOB2, IOB1 and BIOES input are all read the way conlleval reads them,
and an entity is correct only when its type, first and last token all match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lstm_numpy.atomic import to_json_safe

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
    "evaluate",
]

_TAG_PATTERN = re.compile(r"^([BIES])-(.+)$")


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


def _split_tag(label: str) -> tuple[str, str]:
    """"B-PER" -> ("B", "PER"); "O" -> ("O", ""). Other strings raise ValueError."""
    if label == "O":
        return "O", ""
    match = _TAG_PATTERN.match(label)
    if match is None:
        raise ValueError(f"label {label!r} is neither 'O' nor of the form B-/I-/E-/S-<type>")
    return match.group(1), match.group(2)


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval: did a chunk end between the previous token and this one?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != type_


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """conlleval: did a chunk start between the previous token and this one?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and prev_type != type_


def extract_entities(labels: Sequence[str]) -> set[tuple[str, int, int]]:
    """Entities of one sentence as a set of (type, start, end), `end` exclusive.

    labels : one label string per token, IOB2, IOB1 or BIOES. The sentence is
    taken to be surrounded by "O", so an entity running to the last token is
    closed there. `I-X` after `O` or after another type opens a new entity.
    """
    entities = set()
    prev_tag, prev_type = "O", ""
    start = None
    for position, label in enumerate(list(labels) + ["O"]):
        tag, type_ = _split_tag(label)
        if start is not None and _end_of_chunk(prev_tag, tag, prev_type, type_):
            entities.add((prev_type, start, position))
            start = None
        if _start_of_chunk(prev_tag, tag, prev_type, type_):
            start = position
        prev_tag, prev_type = tag, type_
    return entities


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


def _chunk_tables(label_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Lookup tables for the vectorised path, built from the scalar conlleval rules.

    Index K stands for the "O" outside a sentence. Returns
    starts (K+1, K+1) bool: [prev, cur] -> a chunk starts at cur;
    ends (K+1, K+1) bool: [cur, next] -> a chunk ends after cur;
    type_ids (K+1,) int64 index into `types`; types: sorted entity types.
    """
    tags_and_types = [_split_tag(name) for name in label_names] + [("O", "")]
    types = sorted({type_ for tag, type_ in tags_and_types if tag != "O"})
    type_ids = np.array([types.index(type_) if tag != "O" else -1 for tag, type_ in tags_and_types], dtype=np.int64)
    size = len(tags_and_types)
    starts = np.zeros((size, size), dtype=bool)
    ends = np.zeros((size, size), dtype=bool)
    for i, (prev_tag, prev_type) in enumerate(tags_and_types):
        for j, (tag, type_) in enumerate(tags_and_types):
            starts[i, j] = _start_of_chunk(prev_tag, tag, prev_type, type_)
            # A chunk can only end at a token that is inside one, i.e. not "O".
            ends[i, j] = prev_tag != "O" and _end_of_chunk(prev_tag, tag, prev_type, type_)
    return starts, ends, type_ids, types


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
    lengths = np.asarray(sentence_lengths, dtype=np.int64)
    if lengths.ndim != 1 or (lengths < 0).any() or lengths.sum() != gold_ids.size:
        raise ValueError(f"sentence_lengths must be non-negative and sum to N={gold_ids.size}, got sum {lengths.sum()}")
    starts, ends, type_ids, types = _chunk_tables(label_names)
    offsets = np.cumsum(lengths)[lengths > 0]
    is_first = np.zeros(gold_ids.size, dtype=bool)
    is_last = np.zeros(gold_ids.size, dtype=bool)
    is_first[offsets - lengths[lengths > 0]] = True
    is_last[offsets - 1] = True
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


def evaluate(
    gold_ids_per_sentence: Sequence[np.ndarray],
    pred_ids_per_sentence: Sequence[np.ndarray],
    label_names: Sequence[str],
) -> dict:
    """All metrics of one tagging run, as plain JSON-ready Python types (NaN -> None).

    gold_ids_per_sentence, pred_ids_per_sentence : S arrays, sentence s of shape (T_s,),
    int label ids over real tokens. label_names : (K,) label strings.

    Keys: n_tokens, n_sentences, token_acc [0, 1]; entity_precision,
    entity_recall, entity_f1 in percent (conlleval); entity_per_type
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
    counts = entity_counts_from_ids(gold, pred, lengths, label_names)
    entity_precision, entity_recall, entity_f1 = prf_from_counts(counts.pop(""))
    per_type = {}
    for type_, type_counts in counts.items():
        type_precision, type_recall, type_f1 = prf_from_counts(type_counts)
        per_type[type_] = {"precision": type_precision, "recall": type_recall, "f1": type_f1, **type_counts._asdict()}

    names = list(label_names)
    result = {
        "n_tokens": int(gold.size),
        "n_sentences": len(lengths),
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
    return to_json_safe(result)
