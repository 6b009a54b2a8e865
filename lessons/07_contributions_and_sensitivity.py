"""Lesson 07: contributions and the sensitivity metric.

Goal
    A tagger's last layer is linear: the logit of label i at a token is a sum
    with one term per neuron, ``z[i] = sum_j W[i, j] h[j] + b[i]``.  The term
    ``u[i, j] = W[i, j] h[j]`` is neuron j's contribution to label i.  Xin,
    Lin & Yu measure how much a neuron "belongs" to a label by comparing its
    contribution on the label's tokens with its contribution elsewhere::

        S[i, j] = mean_{t: label t = i} u[t, i, j] - mean_{t: label t != i} u[t, i, j]

    This lesson splits one logit into its terms, computes S by hand in a few
    lines and checks it against ``xin_sensitivity``, compares grouping tokens
    by the predicted label (the paper's choice) with grouping by the gold one,
    and draws the label x neuron heatmap.

What you will see
    One B-PER token's logit next to the sum of its 50 contributions plus the
    bias (equal to float32 rounding) and the few neurons that contribute
    most; "max |S_by_hand - S_package|: 5e-15"; the per-label Spearman
    correlation between the predicted and gold groupings (close to 1 on a good
    tagger); "top neurons for B-PER: ..."; the figure
    ``lessons/out/07_sensitivity_heatmap.png``.

Run it (from the repository root, after ``pip install .``)::

    python lessons/07_contributions_and_sensitivity.py

Runtime: about 3 seconds once the tagger of ``_quick.trained_tagger`` is
cached in lessons/out/, about 20 more the first time, while it trains (quick
mode: about 2 seconds, 5 the first time).

Dimension legend: n tokens of the dev split, H neurons entering the linear
layer (both directions: forward 0..H/2-1, then backward), K labels.
"""
import warnings

import numpy as np
from _quick import OUT, QUICK, pin_threads, trained_tagger

from lstm_numpy.analysis.rankings import top_k_neurons
from lstm_numpy.analysis.sensitivity import contributions, sensitivity_pred_and_gold, xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.errors import UndefinedLabelWarning
from lstm_numpy.report import plots

rng = np.random.default_rng(0)
# One core for BLAS and one for Numba, as in lessons 05 and 06: on a small
# shared machine two thread pools fighting over the cores slow everything down.
pin_threads()                      # one BLAS thread, one Numba thread (see lesson 05)
# In quick mode the small tagger never predicts some labels; their sensitivity
# rows are NaN ("undefined") and the package warns each time.  We print NaN.
warnings.filterwarnings("ignore", category=UndefinedLabelWarning)

# ---------------------------------------------------------------------------
# 1. A trained tagger and its hidden states
# ---------------------------------------------------------------------------
params, config, prepared = trained_tagger(seed=0)
labels = prepared.labels.labels
K = len(labels)
states = collect_states(params, config, prepared.splits["dev"])   # eval mode: dropout off
W, b = params["out.W"], params["out.b"]                            # (K, H), (K,)
h = states.hidden                                                   # (n, H)
print(f"dev split: {states.n_tokens:,} tokens; hidden states h {h.shape} (n, H), W {W.shape} (K, H), "
      f"logits {states.logits.shape} (n, K)")
print(f"labels: {' '.join(labels)}; token accuracy {np.mean(states.pred == states.gold):.3f}"
      f"{' (quick mode: a small, weak tagger)' if QUICK else ''}")

# ---------------------------------------------------------------------------
# 2. One logit is a sum of per-neuron contributions
# ---------------------------------------------------------------------------
label = labels.index("B-PER")
t = int(rng.choice(np.flatnonzero(states.gold == label)))   # a random B-PER token of the dev split
u_t = W[label] * h[t]                                        # (H,) contribution of every neuron
by_hand = float(u_t.astype(np.float64).sum() + b[label])
print(f"\ntoken {t} (gold B-PER, predicted {labels[states.pred[t]]}):")
print(f"  logit z[B-PER] from the tagger:        {states.logits[t, label]:+.5f}")
print(f"  sum_j W[B-PER, j] h[j] + b[B-PER]:      {by_hand:+.5f}   (bias {b[label]:+.3f})")
largest = np.argsort(-np.abs(u_t))[:4]
print("  largest contributions: " + ", ".join(f"neuron {j} {u_t[j]:+.3f}" for j in largest)
      + f"; the other {u_t.size - largest.size} add up to {u_t.sum() - u_t[largest].sum():+.3f}")
u = contributions(h, W)                                      # (n, K, H), the package's version
logit_error = np.abs(u.astype(np.float64).sum(axis=2) + b - states.logits).max()
print(f"every token and label: max |sum of contributions + b - logit| = {logit_error:.1e} (float32 rounding)")

# ---------------------------------------------------------------------------
# 3. Sensitivity by hand, then the package's
# ---------------------------------------------------------------------------
# Tokens are grouped by the label the tagger predicts (the paper's choice: we
# ask what pushes the model towards a label, right or wrong).  A label the
# tagger never predicts has no "inside" mean: its row is undefined (NaN).
group = states.pred
h64, W64 = h.astype(np.float64), W.astype(np.float64)       # float64, as the package accumulates
S_by_hand = np.full((K, W.shape[1]), np.nan)
for i in range(K):
    inside = group == i
    if inside.any() and not inside.all():
        u_i = h64 * W64[i]                                   # (n, H) contributions to label i
        S_by_hand[i] = u_i[inside].mean(axis=0) - u_i[~inside].mean(axis=0)
S = xin_sensitivity(h, group, W)                             # (K, H) float64
sensitivity_error = np.nanmax(np.abs(S_by_hand - S))
print(f"\nmax |S_by_hand - S_package|: {sensitivity_error:.1e}  "
      f"(the package uses S = W * (mean_i h - mean_not_i h): per-label sums of h are enough)")
print(f"sensitivity of label {labels[label]}: from {np.nanmin(S[label]):+.2f} to {np.nanmax(S[label]):+.2f}; "
      f"{np.sum(S[label] > 0)} of {S.shape[1]} neurons push it up on its own tokens")

# ---------------------------------------------------------------------------
# 4. Grouping by predicted or by gold labels
# ---------------------------------------------------------------------------
# On a tagger that is mostly right the two groupings share most tokens, so
# they rank neurons almost the same way; they part where the tagger errs.
both = sensitivity_pred_and_gold(states, W)
print("\nSpearman correlation, per label, of the neuron rankings grouped by predicted vs gold label:")
print("  " + "  ".join(f"{name} {rho:.2f}" for name, rho in zip(labels, both["spearman"])))
mean_spearman = float(np.nanmean(both["spearman"]))
print(f"  mean over labels with both rows defined: {mean_spearman:.2f}")

# ---------------------------------------------------------------------------
# 5. Top neurons and the heatmap
# ---------------------------------------------------------------------------
half = W.shape[1] // 2
for name in ("B-PER", "I-PER", "B-LOC"):
    i = labels.index(name)
    if np.isnan(S[i]).all():
        print(f"top neurons for {name}: undefined (the tagger never predicts {name})")
        continue
    top = top_k_neurons(S, i, 5)
    print(f"top neurons for {name}: " + ", ".join(
        f"{j} ({'fwd' if j < half else 'bwd'}, {S[i, j]:+.2f})" for j in top))
figure = plots.plot_sensitivity_heatmap(S, labels, OUT / "07_sensitivity_heatmap.png")
print(f"wrote {figure}  (neurons grouped by the label they push most; red pushes, blue holds back)")

# ---------------------------------------------------------------------------
# 6. What we just showed
# ---------------------------------------------------------------------------
assert abs(by_hand - states.logits[t, label]) < 1e-4 * max(1.0, abs(by_hand)), "one logit = its contributions + bias"
assert logit_error < 1e-4, "contributions plus bias give every logit"
assert sensitivity_error < 1e-9, "sensitivity by hand equals xin_sensitivity"
assert np.array_equal(np.isnan(S_by_hand), np.isnan(S)), "the same labels are undefined both ways"
assert np.nanmax(S[label]) > 0, "some neuron pushes B-PER on its own tokens"
assert mean_spearman > 0.5, "predicted and gold groupings rank neurons alike on a mostly correct tagger"
assert figure.exists()
print("\nall checks passed")
