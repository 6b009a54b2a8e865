"""Lesson 10: consistency across seeds: do two training runs agree?

Goal
    Train the same tagger on the same data with different seeds.  Neuron 7 of
    one run has nothing to do with neuron 7 of another (neurons can be
    permuted without changing the model), so we cannot compare neurons by
    their ids.  Labels, however, are the same in every run.  So compare what
    each run says about labels:

    * label x label correlation C[a, b] of the sensitivity rows (over
      neurons): C > 0 means the neurons that push a also push b;
    * the Mantel test: do two runs' C matrices agree, more than after
      shuffling the labels of one of them (a permutation p-value)?
    * neuron matching: pair the neurons of two runs one-to-one so that their
      sensitivity profiles (a column of S, one value per label) correlate
      best, and count pairs above 0.8, against the count after shuffling
      one run's labels (with 9 labels, random profiles often match well);
    * the paper's four findings on C (``paper_findings``), run by run.

What you will see
    For each seed its dev accuracy and C[B-PER, I-PER]; for each pair
    "Mantel r 0.83, p 0.0001"; "matched neurons with profile r > 0.8: 21 of 50
    (shuffled labels: 6)"; each finding as "holds for 4 of 4 pairs";
    ``lessons/out/10_label_correlations.png``, the C matrices side by side.

Run it (from the repository root, after ``pip install .``)::

    python lessons/10_consistency_across_seeds.py

Runtime: about 8 seconds once the three taggers (seeds 0, 1, 2) are cached in
lessons/out/; each missing one trains first, about 20 seconds (quick mode:
two small taggers, about 4 seconds, 8 the first time).

Dimension legend: K labels, H neurons, M models.
"""
import itertools
import warnings

import numpy as np
from _quick import OUT, QUICK, pin_threads, trained_tagger

from lstm_numpy.analysis.consistency import label_correlation, mantel_test, match_neurons
from lstm_numpy.analysis.findings import paper_findings
from lstm_numpy.analysis.sensitivity import xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.errors import UndefinedLabelWarning
from lstm_numpy.report import plots

rng = np.random.default_rng(0)
pin_threads()                      # one BLAS thread, one Numba thread (see lesson 05)
warnings.filterwarnings("ignore", category=UndefinedLabelWarning)   # NaN rows: labels a small tagger never predicts

# ---------------------------------------------------------------------------
# 1. M models that differ only in their seed
# ---------------------------------------------------------------------------
seeds = (0, 1) if QUICK else (0, 1, 2)
# Tokens are grouped by predicted label, as in the paper.  The small quick-mode
# taggers never predict several labels (their rows would be undefined and a
# Mantel test on three labels means nothing), so quick mode groups by gold
# label; on a good tagger the two agree (lesson 07).
group_by = "gold" if QUICK else "pred"
sensitivities, correlations = [], []
for seed in seeds:
    params, config, prepared = trained_tagger(seed=seed)
    labels = prepared.labels.labels                         # the same corpus, so the same labels
    states = collect_states(params, config, prepared.splits["dev"])
    S = xin_sensitivity(states.hidden, getattr(states, group_by), params["out.W"])   # (K, H)
    C = label_correlation(S)                                               # (K, K)
    sensitivities.append(S)
    correlations.append(C)
    a, b = labels.index("B-PER"), labels.index("I-PER")
    print(f"seed {seed}: dev token accuracy {np.mean(states.pred == states.gold):.3f}; "
          f"C[B-PER, I-PER] = {C[a, b]:+.2f}; labels without a row: "
          f"{[labels[i] for i in range(len(labels)) if np.isnan(C[i, i])] or 'none'}")
K, H = sensitivities[0].shape

# ---------------------------------------------------------------------------
# 2. Do the models agree on which labels share neurons?  (Mantel test)
# ---------------------------------------------------------------------------
# The K(K-1)/2 entries of a correlation matrix are not independent samples,
# so the p-value comes from permuting one matrix's labels (rows and columns
# together) 9999 times and counting how often the shuffled r reaches the real r.
mantel = {}
print()
for m1, m2 in itertools.combinations(range(len(seeds)), 2):
    r, p = mantel_test(correlations[m1], correlations[m2], n_permutations=9999, rng=rng)
    mantel[m1, m2] = (r, p)
    print(f"seeds {seeds[m1]} vs {seeds[m2]}: Mantel r {r:.2f}, p {p:.4f}")

# ---------------------------------------------------------------------------
# 3. Neurons with a twin in the other model
# ---------------------------------------------------------------------------
threshold, n_shuffles = 0.8, 20
matched = {}
for m1, m2 in itertools.combinations(range(len(seeds)), 2):
    pairs, profile_r = match_neurons(sensitivities[m1], sensitivities[m2])   # Hungarian matching
    above = int(np.sum(profile_r > threshold))
    # chance level: the same matching after shuffling the label rows of the second model
    shuffled = [int(np.sum(match_neurons(sensitivities[m1], sensitivities[m2][rng.permutation(K)])[1] > threshold))
                for _ in range(n_shuffles)]
    matched[m1, m2] = (above, float(np.mean(shuffled)))
    best = int(np.nanargmax(profile_r))
    print(f"seeds {seeds[m1]} vs {seeds[m2]}: matched neurons with profile r > {threshold}: {above} of {len(pairs)} "
          f"(shuffled labels: {np.mean(shuffled):.1f} on average over {n_shuffles}); best pair: neuron "
          f"{pairs[best, 0]} ~ neuron {pairs[best, 1]}, r {profile_r[best]:.2f}")

# ---------------------------------------------------------------------------
# 4. The paper's findings, model by model
# ---------------------------------------------------------------------------
print()
fractions = []
for seed, C in zip(seeds, correlations):
    result = paper_findings(C, labels)
    fractions.append(result.fraction)
    parts = [f"{name}: {f.n_holding} of {f.n_checked}" for name, f in result.findings.items()]
    print(f"seed {seed}: " + "; ".join(parts) + f"  (all: {result.n_holding} of {result.n_checked})")
figure = plots.plot_label_correlations(correlations, labels, OUT / "10_label_correlations.png",
                                       [f"seed {seed}" for seed in seeds])
print(f"wrote {figure}")

# ---------------------------------------------------------------------------
# 5. What we just showed
# ---------------------------------------------------------------------------
for C in correlations:
    defined = ~np.isnan(np.diag(C))
    assert np.allclose(C[np.ix_(defined, defined)], C[np.ix_(defined, defined)].T)
    assert np.allclose(np.diag(C)[defined], 1.0), "C is a correlation matrix"
rs = np.array([r for r, _ in mantel.values()])
ps = np.array([p for _, p in mantel.values()])
assert np.all(np.isfinite(rs)) and np.all((ps > 0) & (ps <= 1))
if not QUICK:     # the quick taggers are too weak to show it; the full ones, trained 10 epochs, do
    assert np.all(rs > 0.5) and np.all(ps < 0.05), "the seeds agree on which labels share neurons"
    assert all(above > chance for above, chance in matched.values()), \
        "more neurons find a twin than after shuffling labels"
    assert all(f > 0.5 for f in fractions), "most of the paper's checked pairs hold in every model"
assert figure.exists()
print("\nall checks passed")
