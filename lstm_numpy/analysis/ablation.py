"""Silencing neurons, and scoring what each label loses: the kernels the ablation
engine (analysis.engine) runs, and its :class:`Scorer`.

Dimension legend: n tokens, H neurons (Hout), K labels, k ablated neurons.

Two modes of silencing a set A of neurons:

* ``output``: h_j is zeroed only where it enters the linear layer. The LSTM
  is not rerun; from the cached States,
  ``z = logits - h[:, A] @ W[:, A].T`` (or ``b + h[:, kept] @ W[:, kept].T``
  when most neurons are ablated), an O(n K |A|) pass of the
  ``ablated_argmax_numba`` kernel (analysis.kernels).
* ``recurrent``: h_j is clamped to zero inside the time loop at every step
  (``tagger_forward(keep_mask=...)``), so later steps never see it either. The
  LSTM is rerun on ``config.backend``.

A neuron mask is a ``keep_mask`` (H,): 1 keeps the neuron, 0 removes it
(:func:`keep_all_but` builds one from the removed neurons).  Every ablation is
scored against the unablated predictions (the base) by a :class:`Scorer`.
Which sets are ablated: analysis.sweep plans them, analysis.engine runs them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from ..data.batching import iterate_batches
from ..evaluation.entities import EntityCounts, entity_totals_numba, prf_from_counts, sentence_edges
from ..evaluation.scores import prf_from_confusion
from ..labels import chunk_tables, is_chunking
from ..model.layers import linear_forward
from ..model.backend import get_backend
from ..model.tagger import embed_tokens, project_lstm, recur_lstm_many, run_lstm
from .kernels import ablated_argmax_numba


def keep_all_but(n_hidden, removed, dtype=np.float32):
    """keep_mask (H,) of ``dtype``: ones, zeros at the ``removed`` neuron ids."""
    keep_mask = np.ones(n_hidden, dtype=dtype)
    keep_mask[np.asarray(removed, dtype=np.int64)] = 0
    return keep_mask


# ------------------------------------------------------------ predictions


class OutputCache(NamedTuple):
    """Transposed copies of the States for the output-mode kernel (build once
    with :func:`output_cache`): baseT (K, n), hT (H, n) contiguous, W (K, H),
    b (K,), all in the dtype of the logits."""

    baseT: np.ndarray
    hT: np.ndarray
    W: np.ndarray
    b: np.ndarray


def output_cache(states, W, b):
    dtype = states.logits.dtype
    return OutputCache(np.ascontiguousarray(states.logits.T), np.ascontiguousarray(states.hidden.T, dtype=dtype),
                       np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(b, dtype=dtype))


def ablate_output(cache, neurons):
    """Predictions (n,) int64 with ``neurons`` zeroed where they enter the linear layer."""
    neurons = np.unique(np.asarray(neurons, dtype=np.int64))
    H = cache.hT.shape[0]
    if neurons.size * 2 <= H:
        return ablated_argmax_numba(cache.baseT, cache.hT, cache.W, neurons, sign=-1.0)
    kept = np.setdiff1d(np.arange(H), neurons)
    return ablated_argmax_numba(cache.baseT, cache.hT, cache.W, kept, sign=1.0, bias=cache.b)


def ablate_recurrent(params, config, split, neurons, batch_size=256):
    """Predictions (n,) int64 with ``neurons`` clamped to zero inside the LSTM: one neuron set
    of :func:`ablate_recurrent_many` (the same kernels, so the same numbers)."""
    return ablate_recurrent_many(params, config, split, [neurons], batch_size)[0]


STACK_BYTES = 2 ** 28
"""Memory for one stack of the recurrent ablation's hidden states (sets x sentences x T x Hout):
a stack of as many copies of a batch as fit; larger stacks ran faster (fewer, larger steps),
up to 128 sets of 256 CoNLL-2003 sentences at 2 x 25 neurons."""


def ablate_recurrent_many(params, config, split, neuron_sets, batch_size=256, max_rows=None, progress=False):
    """Predictions (M, n) int64: row m with ``neuron_sets[m]`` clamped to zero inside the LSTM.

    Each batch of sentences is embedded and projected (x Wx) once, then its time loop runs
    for up to ``max_rows`` rows at a time (None: as many as fit in :data:`STACK_BYTES`),
    one copy of the batch per neuron set
    (backend.lstm_recur_many: each step is one product over sets x sentences, a mask per
    copy); the cuda backend stacks the embedded batch and reruns its LSTM instead.  Every
    set's predictions equal running it alone (tests/test_recurrent_many.py).  The inference
    kernel rounds like the training kernels but is not proven bit-identical to them (see
    docs/performance.md for a check on two CoNLL-2003 models).
    """
    backend = get_backend(config.backend)
    dtype = np.dtype(config.dtype)
    masks = np.array([keep_all_but(config.output_size, s, dtype) for s in neuron_sets], dtype=dtype)  # (M, Hout)
    lengths = np.array([len(w) for w in split.words], dtype=np.int64)                     # (S,)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    preds = np.zeros((len(masks), int(lengths.sum())), dtype=np.int64)
    if not len(masks):                  # nothing to ablate (e.g. no label was ever predicted)
        return preds
    W, b = params["out.W"], params["out.b"]
    batches = iterate_batches(split, batch_size)
    for index, batch in tqdm(batches, desc=f"recurrent ablation ({len(masks)} neuron sets at once)",
                             total=-(-len(lengths) // batch_size), disable=not progress):
        x, _ = embed_tokens(params, config, batch, backend)                # (N, T, E), as in eval mode
        N, T = batch.mask.shape
        projected = project_lstm(params, config, x, batch.mask, backend) if backend.lstm_project else None
        row_lengths = lengths[index]            # flat slots of the batch's real tokens, as in collect_states
        where = np.repeat(starts[index] - np.concatenate([[0], np.cumsum(row_lengths)[:-1]]), row_lengths) \
            + np.arange(int(row_lengths.sum()))
        per_pass = max(1, (max_rows if max_rows is not None else
                           STACK_BYTES // (T * config.output_size * dtype.itemsize)) // N)
        for m0 in range(0, len(masks), per_pass):
            chunk = masks[m0:m0 + per_pass]                                # (sets, Hout)
            sets = len(chunk)
            if projected is None:                                          # (sets, real tokens, Hout)
                hidden, _ = run_lstm(params, config, np.tile(x, (sets, 1, 1)), np.tile(batch.mask, (sets, 1)),
                                     backend, np.repeat(chunk, N, axis=0))
                hidden = hidden.reshape(sets, N, T, -1)[:, batch.mask]
            else:
                hidden = recur_lstm_many(params, config, projected, batch.mask, backend, chunk)
            z, _ = linear_forward(hidden, W, b)                            # (sets, real tokens, K)
            preds[m0:m0 + sets, where] = z.argmax(axis=-1)
    return preds


# ------------------------------------------------------------ scoring


class Scores(NamedTuple):
    """The scores of one set of predictions."""

    token_acc: float
    entity_f1: float | None    # percent; None for plain tags (or entities=False)
    acc: np.ndarray            # (K,) per-label accuracy (recall), NaN without gold tokens
    precision: np.ndarray      # (K,)
    f1: np.ndarray             # (K,)
    lost: np.ndarray           # (K, K) int64: [i, c] tokens of gold label i the base got right and these label c != i


class Scorer:
    """Scores predictions against gold and the base predictions (tables built once), with the
    evaluation package's functions (evaluation.scores, evaluation.entities and its
    entity-totals kernel).  entities=False skips the entity F1 (None) even for chunk labels."""

    def __init__(self, states, label_names, entities=True):
        self.gold, self.base_pred = states.gold, states.pred
        self.names = list(label_names)
        self.K = len(self.names)
        self.entities = entities and is_chunking(self.names)
        if self.entities:
            self.edges = sentence_edges(states.lengths, states.gold.size)
            self.tables = chunk_tables(self.names)
        self.was_correct = self.gold == self.base_pred
        self.base = self.score(self.base_pred)

    def score(self, pred):
        """:class:`Scores` of predictions pred (n,) int64."""
        K, gold = self.K, self.gold
        confusion = np.bincount(gold * K + pred, minlength=K * K).reshape(K, K)   # the fast path: no id checks
        correct = np.diag(confusion).astype(np.float64)
        precision, acc, f1 = prf_from_confusion(confusion)          # per-label accuracy is per-label recall
        entity_f1 = None
        if self.entities:
            totals = entity_totals_numba(gold, pred, self.edges, self.tables)
            entity_f1 = prf_from_counts(EntityCounts(*totals))[2]
        lost = self.was_correct & (pred != gold)
        lost = np.bincount(gold[lost] * K + pred[lost], minlength=K * K).reshape(K, K)
        token_acc = float(correct.sum() / max(gold.size, 1))
        return Scores(token_acc, entity_f1, acc, precision, f1, lost)
