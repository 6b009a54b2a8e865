"""Length-bucketed minibatches and padding.

Dimension legend: S sentences in the data set, N sentences in a batch,
T the longest sentence of the batch.  Sentences of similar length share a
batch, so little of each ``(N, T)`` array is padding.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
