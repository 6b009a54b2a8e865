"""Collect what the analysis needs from one pass of a trained tagger over a split.

Dimension legend: n real tokens of the split (padding removed), S sentences,
Hout neurons entering the linear layer (H, or 2H for a BiLSTM: forward
directions first, then backward, exactly as ``tagger_forward`` concatenates
them), K labels.

Every array is flat over the real tokens, sentences in the split's order and
tokens in sentence order, so ``np.split(pred, np.cumsum(lengths)[:-1])``
gives the sentences back.  The hidden states are the evaluation-time ones
(dropout off), i.e. exactly what multiplies ``out.W``::

    logits[t] = hidden[t] @ W.T + b            W = params["out.W"] (K, Hout)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..model.tagger import tagger_forward
from ..data.batching import iterate_batches


class States(NamedTuple):
    hidden: np.ndarray    # (n, Hout) model dtype: what enters the linear layer
    logits: np.ndarray    # (n, K)   model dtype
    gold: np.ndarray      # (n,) int64 gold label ids
    pred: np.ndarray      # (n,) int64 argmax of logits
    lengths: np.ndarray   # (S,) int64 sentence lengths, summing to n

    @property
    def n_tokens(self):
        return int(self.gold.size)


def collect_states(params, config, split, batch_size=256, keep_mask=None):
    """Run the tagger (eval mode) over ``split`` and flatten its states.

    params: dict from ``init_tagger``; config: TaggerConfig;
    split: EncodedSplit; keep_mask: (Hout,) recurrent ablation mask or None
    (1 kept, 0 removed; passed to ``tagger_forward``: removed neurons are
    clamped to zero inside the LSTM at every step, so ``hidden`` shows zeros
    in their columns).
    Returns States.
    """
    if keep_mask is not None:
        keep_mask = np.asarray(keep_mask, dtype=np.dtype(config.dtype))
        if keep_mask.shape != (config.output_size,):
            raise ValueError(f"keep_mask must have shape ({config.output_size},), got {keep_mask.shape}")
    lengths = np.array([len(w) for w in split.words], dtype=np.int64)     # (S,)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n = int(lengths.sum())
    dtype = np.dtype(config.dtype)
    hidden = np.zeros((n, config.output_size), dtype=dtype)
    logits = np.zeros((n, config.n_labels), dtype=dtype)
    for index, batch in iterate_batches(split, batch_size):
        z, cache = tagger_forward(params, config, batch, keep_mask=keep_mask)   # (N, T, K)
        # batch.mask is left-aligned, so boolean indexing walks sentence by
        # sentence in batch order; `where` sends each token to its flat slot.
        row_lengths = lengths[index]
        offsets = np.repeat(starts[index] - np.concatenate([[0], np.cumsum(row_lengths)[:-1]]), row_lengths)
        where = offsets + np.arange(int(row_lengths.sum()))
        hidden[where] = cache.h_out[batch.mask]
        logits[where] = z[batch.mask]
    empty = np.zeros(0, dtype=np.int64)
    gold = np.concatenate([np.asarray(labels, dtype=np.int64) for labels in split.labels] or [empty])
    return States(hidden, logits, gold, logits.argmax(axis=1).astype(np.int64), lengths)


def subset_states(states, sentences):
    """The States of some sentences only: ``sentences`` (m,) sentence indices, in the order given."""
    sentences = np.asarray(sentences, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(states.lengths)[:-1]]).astype(np.int64)
    lengths = states.lengths[sentences]
    tokens = np.concatenate([np.arange(a, a + n) for a, n in zip(starts[sentences], lengths)] or
                            [np.zeros(0, dtype=np.int64)])
    return States(states.hidden[tokens], states.logits[tokens], states.gold[tokens], states.pred[tokens], lengths)


def split_halves(n_sentences):
    """Two disjoint halves of a split's sentences for held-out comparisons:
    (even indices 0, 2, 4, ...; odd indices 1, 3, 5, ...), each (about S/2,) int64."""
    if n_sentences < 2:
        raise ValueError(f"splitting a split in halves needs at least 2 sentences, got {n_sentences}")
    index = np.arange(n_sentences, dtype=np.int64)
    return index[0::2], index[1::2]
