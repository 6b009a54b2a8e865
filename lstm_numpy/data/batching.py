"""From a corpus to the model's input: id arrays per sentence (:class:`EncodedSplit`),
length-bucketed minibatches, and padded :class:`Batch` es.

Dimension legend: S sentences in the data set, N sentences in a batch,
T the longest sentence of the batch, A affix kinds, L characters of the
longest word.  Sentences of similar length share a batch, so little of each
``(N, T)`` array is padding.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np

from .vocab import case_ids


class Batch(NamedTuple):
    """What the tagger reads (model.tagger): real tokens left-aligned, padding after."""

    word_ids: np.ndarray             # (N, T) int64
    mask: np.ndarray                 # (N, T) bool
    labels: Optional[np.ndarray]     # (N, T) int64, or None when predicting
    case_ids: Optional[np.ndarray] = None  # (N, T) int64
    affix_ids: Optional[np.ndarray] = None  # (N, T, A) int64
    char_ids: Optional[np.ndarray] = None   # (N, T, L) int64, 0 = padding


def make_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator | None = None, shuffle: bool = True
) -> list[np.ndarray]:
    """Split sentence indices into batches of similar length.

    ``lengths (S,)`` int.  Indices are sorted by length (ties in an order drawn
    from ``rng`` when ``shuffle``, else by index), cut into chunks of
    ``batch_size`` (the last may be smaller), and with ``shuffle`` the batch
    order is drawn from ``rng`` too.  Every index appears exactly once.
    Returns a list of ``(N,) int64`` index arrays.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-D (S,), got shape {lengths.shape}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if shuffle and rng is None:
        raise ValueError("shuffle=True needs an rng (np.random.Generator)")
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    # A stable sort keeps the random order among sentences of equal length.
    order = order[np.argsort(lengths[order], kind="stable")].astype(np.int64)
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


def pad_batch(seqs: Sequence[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stack integer sequences into ``ids (N, T) int64`` and ``mask (N, T) bool``.

    Real tokens sit at the left of each row (``mask`` True), ``pad_id`` fills the rest.
    """
    if len(seqs) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    arrays = [np.asarray(s) for s in seqs]
    for i, a in enumerate(arrays):
        if a.ndim != 1 or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"sequence {i} must be a 1-D integer array, got shape {a.shape} dtype {a.dtype}")
    lengths = np.array([a.size for a in arrays], dtype=np.int64)
    ids = np.full((len(arrays), int(lengths.max())), pad_id, dtype=np.int64)  # (N, T)
    mask = np.arange(ids.shape[1])[None, :] < lengths[:, None]  # (N, T)
    for i, a in enumerate(arrays):
        ids[i, : a.size] = a
    return ids, mask


class EncodedSplit(NamedTuple):
    """A split as id arrays, one (T_s,) int64 array per sentence."""

    words: list
    cases: list
    labels: list
    tokens: list           # the original token strings, for reports
    affixes: Optional[list] = None  # one (T_s, A) int64 array per sentence, or None
    chars: Optional[list] = None    # one (T_s, L_s) int64 array per sentence, or None

    @property
    def n_sentences(self):     # not __len__: that would break the tuple's own protocol (_replace, pickled size)
        return len(self.words)

    @property
    def n_tokens(self):
        return int(sum(len(w) for w in self.words))


def encode_corpus(corpus, vocab, label_vocab, affix_vocab=None, char_vocab=None):
    """Corpus (sentences, labels) -> EncodedSplit with the given vocabularies
    (affix and character ids only when their vocabularies are given)."""
    return EncodedSplit(
        [vocab.encode(s) for s in corpus.sentences],
        [case_ids(s) for s in corpus.sentences],
        label_vocab.encode_all(corpus.labels),
        [list(s) for s in corpus.sentences],
        None if affix_vocab is None else [affix_vocab.encode(s) for s in corpus.sentences],
        None if char_vocab is None else [char_vocab.encode(s) for s in corpus.sentences],
    )


def features_for(split, config):
    """``split`` without the affix / character ids that ``config`` does not use
    (so that batches do not pad them for nothing)."""
    affixes = split.affixes if config.affix_dim > 0 else None
    chars = split.chars if config.char_filters > 0 else None
    if affixes is split.affixes and chars is split.chars:
        return split
    return EncodedSplit(split.words, split.cases, split.labels, split.tokens, affixes, chars)


def _pad_tables(tables, shape):
    """(T_s, W_s) int64 arrays -> (N, T, max W_s), each left-aligned, 0 elsewhere."""
    out = np.zeros(shape + (max(t.shape[1] for t in tables),), dtype=np.int64)
    for row, table in enumerate(tables):
        out[row, :table.shape[0], :table.shape[1]] = table
    return out


def make_batch(split, index, word_ids=None):
    """Pad the sentences ``index`` of ``split`` into a Batch (left-aligned)."""
    words = [split.words[i] for i in index] if word_ids is None else word_ids
    ids, mask = pad_batch(words)
    cases, _ = pad_batch([split.cases[i] for i in index])
    labels, _ = pad_batch([split.labels[i] for i in index])
    affixes = None if split.affixes is None else _pad_tables([split.affixes[i] for i in index], ids.shape)
    chars = None if split.chars is None else _pad_tables([split.chars[i] for i in index], ids.shape)
    return Batch(ids, mask, labels, cases, affixes, chars)


def iterate_batches(split, batch_size):
    """Evaluation order: length-bucketed, not shuffled. Yields (index, Batch)."""
    lengths = np.array([len(w) for w in split.words])
    for index in make_batches(lengths, batch_size, rng=None, shuffle=False):
        yield index, make_batch(split, index)
