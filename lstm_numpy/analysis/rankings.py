"""Turning (K, H) importance matrices into rankings, and comparing rankings.

Dimension legend: K labels, H neurons (Hout of the tagger), F fractions.
Every importance measure of :mod:`.sensitivity` is a (K, H) float matrix,
larger = more important for the label; a NaN row means "undefined for this
label" (e.g. the label never occurs) and ranks nothing.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np


def rank_neurons(scores):
    """Neuron ids per label by descending score: (K, H) int64.

    Ties keep the lower neuron id first; NaN scores go last.
    """
    scores = np.asarray(scores, dtype=np.float64)
    keyed = np.where(np.isnan(scores), np.inf, -scores)
    return np.argsort(keyed, axis=1, kind="stable").astype(np.int64)


def top_k_neurons(scores, label, k):
    """The k neurons of highest score for ``label``: (k,) int64 (fewer if k > H)."""
    return rank_neurons(np.asarray(scores)[label:label + 1])[0, :k]


def top_labels_per_neuron(scores, k):
    """For each neuron, the labels whose top-k neurons include it.

    Returns a list of H lists of label ids (ascending). Labels with a NaN row
    are left out.
    """
    scores = np.asarray(scores, dtype=np.float64)
    K, H = scores.shape
    ranked = rank_neurons(scores)[:, :k]
    holders = [[] for _ in range(H)]
    for label in range(K):
        if np.isnan(scores[label]).all():
            continue
        for neuron in ranked[label]:
            holders[int(neuron)].append(label)
    return holders


def neurons_for_mass(scores, fractions=(0.5, 0.8)):
    """How many neurons hold each fraction of a label's positive score: (K, F) float64.

    Entry [i, f] is the smallest m such that the m largest positive scores of
    label i sum to at least fractions[f] of the sum of all its positive scores.
    NaN where label i has no positive score (or a NaN row).
    """
    scores = np.asarray(scores, dtype=np.float64)
    fractions = np.asarray(fractions, dtype=np.float64)
    positive = np.where(scores > 0, scores, 0.0)
    ordered = -np.sort(-positive, axis=1)                      # (K, H) descending
    cumulative = np.cumsum(ordered, axis=1)
    total = cumulative[:, -1:]                                 # (K, 1)
    out = np.full((scores.shape[0], fractions.size), np.nan)
    for label in range(scores.shape[0]):
        if np.isnan(scores[label]).any() or total[label, 0] <= 0:
            continue
        # small tolerance so that "exactly half" counts as reaching half
        needed = fractions * total[label, 0] * (1 - 1e-12)
        out[label] = np.searchsorted(cumulative[label], needed, side="left") + 1
    return out


def average_ranks(x):
    """Ranks 1..n of a 1-D array, ties sharing the mean of their ranks: (n,) float64."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    # group boundaries of equal values
    new_group = np.concatenate([[True], sorted_x[1:] != sorted_x[:-1]])
    group = np.cumsum(new_group) - 1
    first = np.flatnonzero(new_group)
    last = np.concatenate([first[1:], [x.size]]) - 1
    mean_rank = (first + last) / 2.0 + 1.0
    ranks = np.empty(x.size)
    ranks[order] = mean_rank[group]
    return ranks


def spearman(a, b):
    """Spearman rank correlation of two (n,) arrays, average ranks for ties.

    The Pearson correlation of the average ranks. NaN when either input holds
    a NaN, has fewer than 2 entries or is constant.
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"spearman needs equal lengths, got {a.size} and {b.size}")
    if a.size < 2 or np.isnan(a).any() or np.isnan(b).any():
        return float("nan")
    ra, rb = average_ranks(a), average_ranks(b)
    ra -= ra.mean()
    rb -= rb.mean()
    denominator = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    if denominator == 0:
        return float("nan")
    return float((ra * rb).sum() / denominator)


def spearman_rows(a, b):
    """Per-row Spearman of two (K, H) matrices: (K,) float64."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return np.array([spearman(a[i], b[i]) for i in range(a.shape[0])])


def rank_correlations(measures):
    """Per-label Spearman between every pair of measures.

    measures: {name: (K, H)}. Returns {"<a> vs <b>": (K,) float64} for every
    unordered pair, in the dict's order.
    """
    names = list(measures)
    return {f"{a} vs {b}": spearman_rows(measures[a], measures[b]) for a, b in combinations(names, 2)}
