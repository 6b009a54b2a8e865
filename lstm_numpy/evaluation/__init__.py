"""Evaluation: scores of predicted labels (tokens, labels, entities) and decoding labels from scores.

Data, training, prediction and analysis all score with these functions; they
depend only on :mod:`lstm_numpy.labels`.
"""
from .decoding import DECODERS, decode
from .entities import entity_counts, entity_counts_from_ids, entity_prf, prf_from_counts, sentence_edges
from .metrics import evaluate, format_entity_f1
from .scores import confusion_matrix, per_label_accuracy, per_label_prf, prf_from_confusion, token_accuracy

__all__ = ["DECODERS", "decode", "entity_counts", "entity_counts_from_ids", "entity_prf", "prf_from_counts",
           "sentence_edges", "evaluate", "format_entity_f1", "confusion_matrix", "per_label_accuracy",
           "per_label_prf", "prf_from_confusion", "token_accuracy"]
