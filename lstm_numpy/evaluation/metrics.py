"""All the metrics of one tagging run in one JSON-ready dict (:func:`evaluate`), and
how an entity score reads for people.

Token and per-label scores come from :mod:`.scores` (fractions in [0, 1]),
entity scores from :mod:`.entities` (percent, as conlleval prints them).
"Undefined" (a denominator of zero) is None here; plain tags (scheme "none")
have no entity scores at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lstm_numpy.atomic import to_json_safe
from lstm_numpy.evaluation.entities import entity_counts_from_ids, prf_from_counts
from lstm_numpy.evaluation.scores import confusion_matrix, prf_from_confusion, token_accuracy
from lstm_numpy.labels import NOT_CHUNKING, scheme_of_names

__all__ = ["evaluate", "format_entity_f1"]


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
    precision, recall, f1 = prf_from_confusion(confusion)
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
