"""From logits to labels: per-token argmax, or the best *well-formed* sequence.

The tagger scores every token on its own (no CRF, no learned transitions), so
its argmax can produce sequences no annotator would write, such as ``O I-PER``
or ``B-ORG I-PER``. Constrained decoding keeps the tagger exactly as it is and
only changes the read-out: among the label sequences that obey the chunk
scheme, pick the one with the highest sum of per-token log-probabilities,

    best = argmax over valid y of  sum_t log softmax(z_t)[y_t],

found by Viterbi in O(T K^2). Each token's log-normaliser adds the same constant
to every path, so summing the logits z_t[y_t] instead picks the same path. The transition "scores" are 0 (allowed) or
-inf (forbidden): nothing is learned, so with labels that have no chunk scheme
(POS tags) every transition is allowed and the result is the argmax.

Which label may follow which comes from the label names
(:func:`lstm_numpy.labels.transitions`): IOB2 (``I-X`` only after ``B-X`` or
``I-X``) or BIOES.  A corpus written in IOB1 is converted to IOB2 when it is
read, so these rules are never applied to IOB1 tags.

The analysis (per-label accuracy, ablation) reads the argmax, the paper's
per-token measure; only the entity scores of a model whose config says
``decode="constrained"`` use this.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..defaults import DECODERS  # noqa: F401 (the decoders this module offers)
from ..labels import Transitions, transitions


def viterbi(scores: np.ndarray, mask: np.ndarray, rules: Transitions) -> np.ndarray:
    """Best allowed label sequence of every sentence in a batch.

    scores: (N, T, K) additive per-token scores: logits or log-probabilities.
    mask:   (N, T) bool, True on real tokens; each row's tokens come first.
    Returns (N, T) int64 label ids (0 at padding).
    The loop runs over time; each step handles the whole batch.
    """
    N, T, K = scores.shape
    if T == 0:
        return np.zeros((N, 0), dtype=np.int64)
    trans = np.where(rules.allowed, 0.0, -np.inf)               # (K, K)
    best = np.where(rules.start, 0.0, -np.inf) + scores[:, 0]    # (N, K)
    back = np.zeros((N, T, K), dtype=np.int64)
    keep = np.broadcast_to(np.arange(K), (N, K))
    for t in range(1, T):
        candidates = best[:, :, None] + trans                   # (N, prev K, cur K)
        came_from = candidates.argmax(axis=1)                   # (N, K)
        step = np.take_along_axis(candidates, came_from[:, None, :], axis=1)[:, 0] + scores[:, t]
        live = mask[:, t][:, None]
        best = np.where(live, step, best)                       # padding carries the score on
        back[:, t] = np.where(live, came_from, keep)
    best = best + np.where(rules.end, 0.0, -np.inf)
    path = np.zeros((N, T), dtype=np.int64)
    last = best.argmax(axis=1)
    for t in range(T - 1, -1, -1):
        path[:, t] = last
        last = np.take_along_axis(back[:, t], last[:, None], axis=1)[:, 0]
    return np.where(mask, path, 0)


def decode(z: np.ndarray, mask: np.ndarray, label_names: Sequence[str] | None, method: str = "argmax") -> np.ndarray:
    """(N, T, K) logits -> (N, T) label ids by ``method`` (one of DECODERS)."""
    if method == "argmax":
        return z.argmax(axis=-1)
    if method != "constrained":
        raise ValueError(f"unknown decoder {method!r}; choose one of {', '.join(DECODERS)}")
    if label_names is None or len(label_names) != z.shape[-1]:
        raise ValueError("constrained decoding needs the K label names of the logits")
    rules = transitions(label_names)
    if rules.scheme == "none":            # plain tags: every sequence is allowed
        return z.argmax(axis=-1)
    return viterbi(np.asarray(z, dtype=np.float64), np.asarray(mask, dtype=bool), rules)
