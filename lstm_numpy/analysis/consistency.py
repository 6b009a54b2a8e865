"""Consistency of neuron-label affinity within one model and across seeds.

Notation: K labels, H hidden neurons, M models (same data and config, different
seeds), P permutations.

- `label_correlation(S)`: for one model, the Pearson correlation between the
  sensitivity rows of every two labels, taken over neurons. C[a, b] > 0 means
  the neurons that push label a also push label b.
- the paper's four observations on one C: analysis.findings.paper_findings.
- `mantel_test(A, B)`: do two models agree on *which labels share neurons*?
  Neurons are not comparable across seeds (neuron 7 of seed 0 is not neuron 7
  of seed 1), but labels are, so the K x K matrices C can be compared. The
  entries of a correlation matrix are not independent, so the p-value comes
  from permuting the labels of one matrix (rows and columns together).
- `match_neurons(S_a, S_b)`: a one-to-one matching of neurons between two
  models that maximises the summed correlation of their sensitivity profiles
  (columns of S), found with the Hungarian algorithm (`linear_assignment`; the
  matching runs its Numba kernel, `linear_assignment_numba`, which equals it).
- `pairwise_consistency(Ss, labels, rng)`: all of the above for every pair.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from numba import njit

from .findings import paper_findings
from .results import Consistency, PairAgreement

__all__ = [
    "label_correlation",
    "mantel_test",
    "linear_assignment",
    "linear_assignment_numba",
    "match_neurons",
    "pairwise_consistency",
]



def _as_matrix(S, name: str) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (K, H) or (K, K), got shape {S.shape}")
    return S


def _row_correlations(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Pearson correlation of every row of X (n, d) with every row of Y (m, d) -> (n, m).

    Rows with a NaN or with zero variance give NaN.
    """
    def standardise(Z):
        scale = np.sqrt((Z * Z).sum(axis=1, keepdims=True))
        Z = Z - Z.mean(axis=1, keepdims=True)
        norm = np.sqrt((Z * Z).sum(axis=1, keepdims=True))
        # a constant row leaves only rounding error after centring: call it zero variance
        ok = np.isfinite(norm) & (norm > 1e-10 * scale) & (norm > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(ok, Z / np.where(ok, norm, 1.0), np.nan)
    return np.clip(standardise(X) @ standardise(Y).T, -1.0, 1.0)


def label_correlation(S) -> np.ndarray:
    """Label x label Pearson correlation of sensitivity over neurons.

    S : (K, H) float, sensitivity; a row with a NaN (label absent from the
        split) or with zero variance gets NaN correlations, diagonal included.
    Returns C : (K, K) float64, equal to `np.corrcoef(S)` when S has no NaN.
    """
    S = _as_matrix(S, "S")
    C = _row_correlations(S, S)
    valid = np.isfinite(np.diag(C))
    C[np.ix_(valid, valid)] = (C[np.ix_(valid, valid)] + C[np.ix_(valid, valid)].T) / 2  # exact symmetry
    C[np.flatnonzero(valid), np.flatnonzero(valid)] = 1.0
    return C


def mantel_test(A, B, n_permutations: int = 9999, rng: np.random.Generator | None = None):
    """Mantel test: Pearson r of the upper off-diagonal entries of A and B, and a permutation p.

    A, B : (K, K) symmetric float matrices over the same labels (e.g. two
        models' `label_correlation`). Labels whose row has a NaN in either
        matrix are dropped first (the test needs the same labels on both sides);
        any other NaN raises ValueError.
    n_permutations : P, number of random relabellings of B.
    rng : np.random.Generator; a fresh default_rng(0) if None.

    Returns (r, p): p = (1 + #{r_perm >= r}) / (1 + P), one-sided (agreement).
    (nan, nan) if fewer than 3 labels remain or either side is constant.
    All P permutations are applied at once: B[perm[:, :, None], perm[:, None, :]]
    is a (P, K, K) array, so 9999 permutations of 9 labels take milliseconds.
    """
    A, B = _as_matrix(A, "A"), _as_matrix(B, "B")
    if A.shape != B.shape or A.shape[0] != A.shape[1]:
        raise ValueError(f"mantel_test needs two square matrices of one shape, got {A.shape} and {B.shape}")
    off_diagonal = ~np.eye(A.shape[0], dtype=bool)

    def absent(X):  # labels that `label_correlation` left all-NaN
        return np.isnan(np.diag(X)) | np.all(np.isnan(X) | ~off_diagonal, axis=1)
    keep = ~absent(A) & ~absent(B)
    A, B = A[np.ix_(keep, keep)], B[np.ix_(keep, keep)]
    if np.isnan(A).any() or np.isnan(B).any():
        raise ValueError("mantel_test: NaN entries outside whole NaN rows; cannot compare these matrices")
    K = A.shape[0]
    if K < 3:
        return float("nan"), float("nan")
    upper = np.triu_indices(K, k=1)
    r = _row_correlations(A[upper][None, :], B[upper][None, :])[0, 0]
    if not np.isfinite(r):
        return float("nan"), float("nan")
    rng = np.random.default_rng(0) if rng is None else rng
    perms = rng.permuted(np.tile(np.arange(K), (n_permutations, 1)), axis=1)  # (P, K)
    B_perm = B[perms[:, :, None], perms[:, None, :]]  # (P, K, K)
    r_perm = _row_correlations(A[upper][None, :], B_perm[:, upper[0], upper[1]])[0]  # (P,)
    # a permutation that maps B onto itself gives r up to rounding: count it as a tie
    n_at_least = int(np.count_nonzero(r_perm >= r - 1e-12))
    return float(r), (1 + n_at_least) / (1 + n_permutations)


def linear_assignment(cost, maximize: bool = False):
    """Hungarian algorithm (Kuhn-Munkres with potentials), O(n^2 m) for an (n, m) cost.

    cost : (n, m) finite float. Every row is assigned a distinct column when
        n <= m (the transpose is solved otherwise), minimising (or, with
        maximize=True, maximising) the summed cost.
    Returns (rows, cols) : two (min(n, m),) int64 arrays sorted by rows,
        like scipy.optimize.linear_sum_assignment.

    Rows are added one at a time; each addition grows a shortest augmenting
    path with Dijkstra over reduced costs cost[i, j] - u[i] - v[j] >= 0, then
    flips the path (:func:`_hungarian`). The inner loop over columns is
    vectorised with NumPy. :func:`linear_assignment_numba` is the same in a
    Numba kernel.
    """
    return _assignment(cost, maximize, _hungarian)


def linear_assignment_numba(cost, maximize: bool = False):
    """:func:`linear_assignment` (same arguments, same results, bit for bit) with the
    augmenting paths in one Numba kernel, :func:`_hungarian_kernel`.

    The NumPy version makes about ten array operations per step of a path; at the
    50 x 50 matchings of :func:`match_neurons` those calls were nearly all of
    :func:`pairwise_consistency`'s time (``benchmarks/bench_consistency.py``).
    """
    return _assignment(cost, maximize, _hungarian_kernel)


def _assignment(cost, maximize, solve):
    """linear_assignment's checks, sign and orientation around ``solve``, which takes a
    finite (n, m) float64 cost with n <= m and returns row_of_col (m + 1,) as
    :func:`_hungarian` does."""
    cost = _as_matrix(cost, "cost")
    if not np.all(np.isfinite(cost)):
        raise ValueError("linear_assignment: cost must be finite")
    if maximize:
        cost = -cost
    if cost.shape[0] > cost.shape[1]:
        cols, rows = _assignment(cost.T, False, solve)
        order = np.argsort(rows)
        return rows[order], cols[order]
    row_of_col = solve(np.ascontiguousarray(cost))
    cols = np.flatnonzero(row_of_col[1:]).astype(np.int64)
    rows = row_of_col[1:][cols] - 1
    order = np.argsort(rows)
    return rows[order].astype(np.int64), cols[order]


def _hungarian(cost):
    """The minimising assignment of a finite (n, m) cost, n <= m: row_of_col (m + 1,) int64,
    row_of_col[j] = 1 + the row assigned to column j - 1, or 0 for none (1-based as in the
    textbook version: column 0 and row 0 are the virtual start)."""
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    row_of_col = np.zeros(m + 1, dtype=np.int64)  # row assigned to column j (0: none)
    way = np.zeros(m + 1, dtype=np.int64)  # previous column on the augmenting path
    for i in range(1, n + 1):
        row_of_col[0] = i
        j0 = 0
        min_reduced = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, dtype=bool)
        while True:
            used[j0] = True
            i0 = row_of_col[j0]
            free = ~used
            free[0] = False
            reduced = cost[i0 - 1] - u[i0] - v[1:]  # (m,)
            better = free[1:] & (reduced < min_reduced[1:])
            min_reduced[1:][better] = reduced[better]
            way[1:][better] = j0
            candidates = np.where(free, min_reduced, np.inf)
            j1 = int(np.argmin(candidates))
            delta = candidates[j1]
            u[row_of_col[used]] += delta
            v[used] -= delta
            min_reduced[free] -= delta
            j0 = j1
            if row_of_col[j0] == 0:
                break
        while j0:  # flip the augmenting path
            j1 = way[j0]
            row_of_col[j0] = row_of_col[j1]
            j0 = j1
    return row_of_col


@njit(cache=True)
def _hungarian_kernel(cost):
    """:func:`_hungarian` with its array operations as loops over the columns; must equal it.

    The same operations on the same floats in the same order, element by element (no
    fastmath), and np.argmin's first minimum kept by a strict ``<``: the same bits.
    """
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    row_of_col = np.zeros(m + 1, dtype=np.int64)
    way = np.zeros(m + 1, dtype=np.int64)
    min_reduced = np.empty(m + 1)
    used = np.empty(m + 1, dtype=np.bool_)
    for i in range(1, n + 1):
        row_of_col[0] = i
        j0 = 0
        min_reduced[:] = np.inf
        used[:] = False
        while True:
            used[j0] = True
            i0 = row_of_col[j0]
            for j in range(1, m + 1):
                if not used[j]:
                    reduced = cost[i0 - 1, j - 1] - u[i0] - v[j]
                    if reduced < min_reduced[j]:
                        min_reduced[j] = reduced
                        way[j] = j0
            j1, delta = 0, np.inf  # column 0 is used: its candidate is inf, as in np.where
            for j in range(1, m + 1):
                if not used[j] and min_reduced[j] < delta:
                    j1, delta = j, min_reduced[j]
            for j in range(m + 1):
                if used[j]:
                    u[row_of_col[j]] += delta
                    v[j] -= delta
                else:
                    min_reduced[j] -= delta
            j0 = j1
            if row_of_col[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            row_of_col[j0] = row_of_col[j1]
            j0 = j1
    return row_of_col


def match_neurons(S_a, S_b):
    """Match the neurons of two models one-to-one by their sensitivity profiles.

    S_a : (K, H_a), S_b : (K, H_b) float sensitivity over the same K labels.
        Labels with a NaN in either matrix are left out of the profiles.
    Returns
    pairs : (min(H_a, H_b), 2) int64, rows (neuron in a, neuron in b), sorted by a.
    profile_correlations : (min(H_a, H_b),) float64, Pearson r of the matched
        columns (NaN for a constant profile). The matching maximises their sum,
        a NaN counting as 0. Count `profile_correlations > 0.8` for "neurons
        that have a twin in the other model".
    """
    S_a, S_b = _as_matrix(S_a, "S_a"), _as_matrix(S_b, "S_b")
    if S_a.shape[0] != S_b.shape[0]:
        raise ValueError(f"match_neurons: both models need the same K labels, got {S_a.shape} and {S_b.shape}")
    keep = ~np.any(np.isnan(S_a), axis=1) & ~np.any(np.isnan(S_b), axis=1)
    R = _row_correlations(S_a[keep].T, S_b[keep].T)  # (H_a, H_b)
    rows, cols = linear_assignment_numba(np.nan_to_num(R, nan=0.0), maximize=True)
    return np.stack([rows, cols], axis=1), R[rows, cols]


def pairwise_consistency(Ss: Sequence, labels: Sequence[str], rng: np.random.Generator | None = None,
                         n_permutations: int = 9999, threshold: float = 0.8, n_shuffles: int = 100) -> dict:
    """Compare M >= 2 models (same labels, different seeds) pair by pair.

    Ss : M arrays (K, H_m). labels : K names.
    Returns Consistency (analysis.results): every model's `label_correlation` and
    `paper_findings`, and a PairAgreement for every a < b: the Mantel test, and the
    neurons matched with profile r > threshold, beside the mean count over
    ``n_shuffles`` shufflings of b's label rows and its 2.5 and 97.5 percentiles (a
    chance level: 9-d profiles of random neurons often match well).  For one model
    there are no pairs and the Mantel summaries are NaN.
    """
    if len(Ss) < 1:
        raise ValueError("pairwise_consistency needs at least one model")
    rng = np.random.default_rng(0) if rng is None else rng
    correlations = [label_correlation(S) for S in Ss]
    for C in correlations:
        if C.shape[0] != len(labels):
            raise ValueError(f"{len(labels)} label names for sensitivity matrices of {C.shape[0]} rows")
    pairs = []
    for a, b in itertools.combinations(range(len(Ss)), 2):
        r, p = mantel_test(correlations[a], correlations[b], n_permutations, rng)
        _, profile_r = match_neurons(Ss[a], Ss[b])
        # chance level: with few labels, random profiles match well too; shuffle b's labels
        chance = np.array([np.count_nonzero(match_neurons(Ss[a], np.asarray(Ss[b])[rng.permutation(len(labels))])[1]
                                            > threshold) for _ in range(n_shuffles)], dtype=np.float64)
        pairs.append(PairAgreement(
            a=a, b=b, mantel_r=r, mantel_p=p, n_matched=int(profile_r.size),
            n_matched_above=int(np.count_nonzero(profile_r > threshold)),
            n_matched_above_shuffled=float(chance.mean()) if chance.size else float("nan"),
            n_matched_above_shuffled_interval=np.array([np.percentile(chance, 2.5), np.percentile(chance, 97.5)])
            if chance.size else np.full(2, np.nan),
            mean_profile_correlation=float(np.nanmean(profile_r)) if np.any(np.isfinite(profile_r))
            else float("nan")))
    rs = np.array([pair.mantel_r for pair in pairs])
    ps = np.array([pair.mantel_p for pair in pairs])
    return Consistency(correlations=np.array(correlations).reshape(len(Ss), len(labels), len(labels)),
                       findings=tuple(paper_findings(C, labels) for C in correlations), pairs=tuple(pairs),
                       mean_mantel_r=float(np.nanmean(rs)) if np.any(np.isfinite(rs)) else float("nan"),
                       max_mantel_p=float(np.nanmax(ps)) if np.any(np.isfinite(ps)) else float("nan"),
                       threshold=threshold, n_shuffles=n_shuffles if len(Ss) > 1 else 0)
