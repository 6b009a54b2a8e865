"""consistency.py: label correlations, Mantel test, Hungarian neuron matching, paper findings."""
import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.consistency import (
    _hungarian,
    _hungarian_kernel,
    label_correlation,
    linear_assignment,
    linear_assignment_numba,
    mantel_test,
    match_neurons,
    pairwise_consistency,
)
from lstm_numpy.analysis.findings import paper_findings

LABELS = ["O", "B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER"]


def random_correlation(rng, K=9, H=40):
    return label_correlation(rng.normal(size=(K, H)))


# ---------------------------------------------------------------- label correlation


def test_label_correlation_equals_corrcoef_on_rows():
    S = np.random.default_rng(0).normal(size=(9, 30))
    C = label_correlation(S)
    np.testing.assert_allclose(C, np.corrcoef(S), atol=1e-12)
    np.testing.assert_array_equal(C, C.T)


def test_label_correlation_nan_and_constant_rows_give_nan():
    S = np.random.default_rng(1).normal(size=(5, 20))
    S[1] = np.nan
    S[3] = 2.5  # zero variance
    C = label_correlation(S)
    good = [0, 2, 4]
    np.testing.assert_allclose(C[np.ix_(good, good)], np.corrcoef(S[good]), atol=1e-12)
    assert np.all(np.isnan(C[[1, 3]])) and np.all(np.isnan(C[:, [1, 3]]))


# ---------------------------------------------------------------- Mantel test


def test_mantel_identical_structured_matrices():
    C = random_correlation(np.random.default_rng(2))
    r, p = mantel_test(C, C, n_permutations=9999, rng=np.random.default_rng(3))
    assert r == pytest.approx(1.0)
    assert p < 0.001, p


def test_mantel_independent_matrices_p_not_systematically_small():
    rng = np.random.default_rng(4)
    ps = np.array([mantel_test(random_correlation(rng), random_correlation(rng), 999, rng)[1] for _ in range(20)])
    print("p over 20 independent pairs:", np.round(ps, 3))
    assert np.mean(ps < 0.05) <= 0.2
    assert 0.25 < np.median(ps) < 0.75


def test_mantel_r_invariant_to_common_relabelling():
    rng = np.random.default_rng(5)
    A = random_correlation(rng)
    B = 0.5 * A + 0.5 * random_correlation(rng)
    perm = rng.permutation(9)
    r, _ = mantel_test(A, B, 99, np.random.default_rng(0))
    r_relabelled, _ = mantel_test(A[np.ix_(perm, perm)], B[np.ix_(perm, perm)], 99, np.random.default_rng(0))
    assert r_relabelled == pytest.approx(r, abs=1e-12)


def test_mantel_p_formula_bounds_and_reproducibility():
    rng = np.random.default_rng(6)
    A, B = random_correlation(rng), random_correlation(rng)
    r1, p1 = mantel_test(A, B, 49, np.random.default_rng(7))
    r2, p2 = mantel_test(A, B, 49, np.random.default_rng(7))
    assert (r1, p1) == (r2, p2)
    assert 1 / 50 <= p1 <= 1 and (p1 * 50) == pytest.approx(round(p1 * 50))


def test_mantel_drops_nan_labels_and_needs_three():
    S = np.random.default_rng(8).normal(size=(9, 30))
    S[6] = np.nan
    C = label_correlation(S)
    r, p = mantel_test(C, C, 999, np.random.default_rng(0))
    assert r == pytest.approx(1.0) and p < 0.01
    r, p = mantel_test(C[:2, :2], C[:2, :2], 99)
    assert np.isnan(r) and np.isnan(p)
    with pytest.raises(ValueError, match="square"):
        mantel_test(C, C[:3])


def test_mantel_equals_a_loop_over_its_permutations():
    """The vectorised test (all P relabellings at once) counts what a plain loop over the same
    relabellings counts, with np.corrcoef on the upper triangles."""
    rng = np.random.default_rng(9)
    A, B = random_correlation(rng), random_correlation(rng)
    B = (B + 0.1 * A) / 1.1   # a little agreement, so that p is neither the smallest possible nor 1
    P = 999
    r, p = mantel_test(A, B, P, np.random.default_rng(3))
    K = A.shape[0]
    upper = np.triu_indices(K, k=1)
    perms = np.random.default_rng(3).permuted(np.tile(np.arange(K), (P, 1)), axis=1)  # the draws mantel_test makes
    r_loop = np.corrcoef(A[upper], B[upper])[0, 1]
    at_least = sum(np.corrcoef(A[upper], B[np.ix_(q, q)][upper])[0, 1] >= r_loop - 1e-12 for q in perms)
    assert r == pytest.approx(r_loop, abs=1e-12)
    assert p == (1 + at_least) / (1 + P) and 0.01 < p < 0.5


# ---------------------------------------------------------------- Hungarian matching


def brute_force_min(cost):
    n, m = cost.shape
    if n <= m:
        return min(cost[np.arange(n), list(p)].sum() for p in itertools.permutations(range(m), n))
    return min(cost[list(p), np.arange(m)].sum() for p in itertools.permutations(range(n), m))


@settings(deadline=None, max_examples=60)
@given(n=st.integers(1, 6), m=st.integers(1, 6), seed=st.integers(0, 2**31), ties=st.booleans())
@example(n=6, m=6, seed=0, ties=True)
def test_linear_assignment_matches_brute_force(n, m, seed, ties):
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 3, size=(n, m)).astype(float) if ties else rng.normal(size=(n, m))
    rows, cols = linear_assignment(cost)
    assert len(rows) == min(n, m) and len(set(rows)) == len(rows) and len(set(cols)) == len(cols)
    mine, theirs = cost[rows, cols].sum(), brute_force_min(cost)
    assert mine == pytest.approx(theirs, abs=1e-9), f"mine {mine} vs brute force {theirs}"
    rows_max, cols_max = linear_assignment(cost, maximize=True)
    assert cost[rows_max, cols_max].sum() == pytest.approx(-brute_force_min(-cost), abs=1e-9)


@settings(deadline=None, max_examples=80)
@given(n=st.integers(0, 12), m=st.integers(0, 12), seed=st.integers(0, 2**31), ties=st.booleans(),
       maximize=st.booleans())
@example(n=50, m=50, seed=1, ties=False, maximize=True)   # match_neurons' shape
@example(n=9, m=40, seed=2, ties=True, maximize=False)
@example(n=0, m=3, seed=0, ties=False, maximize=False)
def test_linear_assignment_numba_equals_numpy(n, m, seed, ties, maximize):
    """The Numba kernel gives the NumPy reference's assignment, ties and all: the same
    row_of_col from the solver itself (the same augmenting paths), so the same pairs."""
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 3, size=(n, m)).astype(float) if ties else rng.normal(size=(n, m))
    rows, cols = linear_assignment(cost, maximize=maximize)
    rows_nb, cols_nb = linear_assignment_numba(cost, maximize=maximize)
    np.testing.assert_array_equal(rows_nb, rows)
    np.testing.assert_array_equal(cols_nb, cols)
    assert rows_nb.dtype == cols_nb.dtype == np.int64
    square = np.ascontiguousarray(-cost if maximize else cost)
    square = square if n <= m else np.ascontiguousarray(square.T)
    np.testing.assert_array_equal(_hungarian_kernel(square), _hungarian(square))


def test_linear_assignment_numba_refuses_what_numpy_refuses():
    for bad in (np.full((2, 2), np.nan), np.array([[1.0, np.inf]]), np.zeros(3)):
        with pytest.raises(ValueError) as numpy_error:
            linear_assignment(bad)
        with pytest.raises(ValueError) as numba_error:
            linear_assignment_numba(bad)
        assert str(numba_error.value) == str(numpy_error.value)


def test_match_neurons_recovers_a_permutation():
    rng = np.random.default_rng(10)
    S_a = rng.normal(size=(9, 64))
    perm = rng.permutation(64)
    S_b = S_a[:, perm] + 0.01 * rng.normal(size=S_a.shape)  # neuron c of b is neuron perm[c] of a
    pairs, profile_r = match_neurons(S_a, S_b)
    np.testing.assert_array_equal(pairs[:, 0], perm[pairs[:, 1]])
    assert np.all(profile_r > 0.99)


def test_match_neurons_nan_labels_and_unequal_sizes():
    rng = np.random.default_rng(11)
    S_a = rng.normal(size=(9, 6))
    S_b = np.concatenate([S_a[:, ::-1], rng.normal(size=(9, 3))], axis=1)
    S_a[2] = np.nan
    pairs, profile_r = match_neurons(S_a, S_b)
    assert pairs.shape == (6, 2)
    np.testing.assert_array_equal(pairs[:, 1], 5 - pairs[:, 0])
    np.testing.assert_allclose(profile_r, 1.0)


def test_pairwise_consistency_keys():
    rng = np.random.default_rng(12)
    base = rng.normal(size=(9, 20))
    Ss = [base[:, rng.permutation(20)] + 0.1 * rng.normal(size=(9, 20)) for _ in range(3)]
    out = pairwise_consistency(Ss, LABELS, np.random.default_rng(0), n_permutations=999)
    assert [(p.a, p.b) for p in out.pairs] == [(0, 1), (0, 2), (1, 2)]
    for pair in out.pairs:
        assert pair.mantel_r > 0.9 and pair.mantel_p < 0.01
        assert pair.n_matched == 20 and pair.n_matched_above >= 18
        low, high = pair.n_matched_above_shuffled_interval
        assert low <= pair.n_matched_above_shuffled <= high < 18, "shuffled labels match far fewer neurons"
    assert out.mean_mantel_r > 0.9 and len(out.findings) == 3 and out.correlations.shape == (3, 9, 9)
    one = pairwise_consistency(Ss[:1], LABELS)
    assert one.pairs == () and np.isnan(one.mean_mantel_r) and len(one.findings) == 1
    with pytest.raises(ValueError, match="at least one"):
        pairwise_consistency([], LABELS)


# ---------------------------------------------------------------- paper findings


def hand_made_C(labels):
    """A C that agrees with the paper everywhere except B-PER/I-LOC (set positive)."""
    K = len(labels)
    C = np.zeros((K, K))
    index = {name: i for i, name in enumerate(labels)}

    def put(a, b, value):
        if a in index and b in index:
                C[index[a], index[b]] = C[index[b], index[a]] = value
    for x in ("LOC", "MISC", "ORG", "PER"):
        put(f"B-{x}", f"I-{x}", 0.6)
        put("O", f"I-{x}", -0.3)
        for y in ("LOC", "MISC", "ORG", "PER"):
            if x != y:
                put(f"B-{x}", f"I-{y}", -0.2)
    for x, y in (("LOC", "ORG"), ("LOC", "MISC"), ("ORG", "MISC")):
        put(f"I-{x}", f"I-{y}", 0.4)
    put("B-PER", "I-LOC", 0.1)
    np.fill_diagonal(C, 1.0)
    return C


def test_paper_findings_on_hand_made_C():
    out = paper_findings(hand_made_C(LABELS), LABELS)
    findings = out.findings
    assert findings["B-x/I-x positive"].fraction == 1.0 and findings["B-x/I-x positive"].n_checked == 4
    assert findings["I-LOC/I-ORG/I-MISC positive"].n_checked == 3
    assert findings["O/I-x negative"].fraction == 1.0
    negative = findings["B-x/I-y negative"]
    assert negative.n_checked == 12 and negative.n_holding == 11
    assert [(a, b) for a, b, _, holds in negative.pairs if not holds] == [("B-PER", "I-LOC")]
    assert out.n_checked == 23 and out.fraction == pytest.approx(22 / 23)


def test_paper_findings_missing_and_nan_labels_are_skipped():
    labels = [name for name in LABELS if name != "I-MISC"]
    C = hand_made_C(labels)
    C[labels.index("B-ORG"), :] = C[:, labels.index("B-ORG")] = np.nan
    out = paper_findings(C, labels)
    skipped = out.findings["B-x/I-x positive"].skipped
    assert ("B-MISC", "I-MISC", "label I-MISC not in the label set") in skipped
    assert any(a == "B-ORG" and "NaN" in reason for a, _, reason in skipped)
    assert out.findings["B-x/I-x positive"].n_checked == 2
    # B-x/I-x 2, I-x/I-y 1, B-x/I-y 7 (B-PER/I-LOC fails), O/I-x 3
    assert (out.n_holding, out.n_checked) == (12, 13)
    assert np.isnan(paper_findings(np.full((2, 2), np.nan), ["A", "B"]).fraction)
