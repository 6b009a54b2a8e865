"""Prediction: run a trained tagger over a split, batch by batch, and read labels off its logits.

Training evaluates on dev with these functions after each epoch; the pipeline
scores dev and test with them; the analysis collects hidden states its own
way (analysis.states) and reads the argmax.
"""
from __future__ import annotations

from .data.batching import features_for, iterate_batches
from .evaluation.decoding import decode as decode_logits
from .evaluation.metrics import evaluate
from .model.layers import cross_entropy_sum
from .model.tagger import tagger_forward


def _predict(params, config, split, batch_size, output_keep_mask, keep_mask, decode, label_names, with_loss):
    """(predictions per sentence, summed cross-entropy of the gold labels or None)."""
    preds, total = [None] * split.n_sentences, 0.0
    for index, batch in iterate_batches(features_for(split, config), batch_size):
        z, _ = tagger_forward(params, config, batch, keep_mask=keep_mask, output_keep_mask=output_keep_mask)
        if with_loss:
            total += cross_entropy_sum(z, batch.labels, batch.mask)
        best = decode_logits(z, batch.mask, label_names, decode)
        for row, i in enumerate(index):
            preds[i] = best[row, :len(split.words[i])]
    return preds, (total if with_loss else None)


def predict_split(params, config, split, batch_size=256, output_keep_mask=None, keep_mask=None,
                  decode="argmax", label_names=None):
    """Predicted label ids, one (T_s,) array per sentence, in the split's order.

    decode: "argmax" (per token; what the analysis reads) or "constrained"
    (the best well-formed sequence; needs label_names; evaluation.decoding).
    keep_mask / output_keep_mask: neuron masks (1 kept, 0 removed), as in tagger_forward.
    """
    return _predict(params, config, split, batch_size, output_keep_mask, keep_mask, decode, label_names, False)[0]


def evaluate_split(params, config, split, label_names, batch_size=256):
    """evaluation.metrics.evaluate of the model's predictions on ``split``, decoded as ``config.decode``
    says, and "loss": the mean cross-entropy of the gold labels per real token (what training
    minimises, with dropout off)."""
    preds, total = _predict(params, config, split, batch_size, None, None, config.decode, label_names, True)
    scores = evaluate(split.labels, preds, label_names)
    scores["loss"] = total / max(scores["n_tokens"], 1)
    return scores
