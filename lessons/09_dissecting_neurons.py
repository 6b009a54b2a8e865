"""Lesson 09: dissecting: silence neurons and watch what the tagger loses.

Goal
    Sensitivity (lesson 07) is a correlation: a neuron's contribution is
    larger on a label's tokens.  Ablation is the experiment: set the neurons
    to zero and measure each label's accuracy.  If the top-k neurons of a
    label matter, silencing them should hurt that label more than silencing k
    neurons drawn at random, and the k least sensitive ("bottom") should hurt
    least.  Two ways to silence a neuron:

    * output ablation: h_j is zeroed only where it enters the linear layer;
      the LSTM runs as before, so ``z = logits - h[:, A] @ W[:, A].T`` from the
      cached states, no rerun (``ablate_output``);
    * recurrent ablation: h_j is clamped to zero inside the time loop at every
      step, so the other neurons never see it either; the LSTM is rerun
      (``ablate_recurrent``), so we do it only a few times.

    The accuracy of label L is the share of L's gold tokens tagged L.

What you will see
    "B-PER accuracy 0.95 -> 0.96 after ablating its top 5 neurons" (yes,
    up: see the comment there) with the mean over random draws and the bottom
    5; a table of top / random / bottom drops for every label at k = 5, and
    the label hurt most, e.g. "I-MISC accuracy 1.00 -> 0.00 after ablating its
    top 5 neurons, 0.94 after 5 random ones"; output vs recurrent ablation of
    that label's top 5; the single-neuron sweep (each neuron alone: mean and largest drop
    of overall accuracy); ``lessons/out/09_ablation_curves.png`` (drop vs k
    for every label).  A BiLSTM of 50 neurons is redundant: most labels lose
    little from any 5 neurons; read the numbers, not the hopes.

Run it (from the repository root, after ``pip install .``)::

    python lessons/09_dissecting_neurons.py

Runtime: about 6 seconds once the tagger of ``_quick.trained_tagger`` is
cached in lessons/out/ (lesson 07 trains it; about 20 s more otherwise; quick
mode: about 4 seconds).

Dimension legend: n tokens of the dev split, H neurons, K labels, k ablated neurons.
"""
import warnings

import numpy as np
from _quick import OUT, pin_threads, trained_tagger

from lstm_numpy.analysis.ablation import ablate_output, ablate_recurrent, output_cache
from lstm_numpy.analysis.rankings import rank_neurons
from lstm_numpy.analysis.sensitivity import xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.sweep import run_ablation_sweep
from lstm_numpy.evaluation.scores import per_label_accuracy
from lstm_numpy.report import plots

rng = np.random.default_rng(0)
pin_threads()                      # one BLAS thread, one Numba thread (see lesson 05)
# Labels the (quick) tagger never predicts have no sensitivity row and are not
# ablated; the package warns about them, we list them once below instead.
warnings.filterwarnings("ignore", message=".*(have no tokens|have no ranking)")

params, config, prepared = trained_tagger(seed=0)
labels = prepared.labels.labels
split = prepared.splits["dev"]
states = collect_states(params, config, split)
W, b = params["out.W"], params["out.b"]
K, H = W.shape
S = xin_sensitivity(states.hidden, states.pred, W)          # (K, H), grouped by predicted label
order = rank_neurons(S)                                      # (K, H) neuron ids, most sensitive first
base_acc = per_label_accuracy(states.gold, states.pred, K)   # (K,) before any ablation
unranked = [labels[i] for i in range(K) if np.isnan(S[i]).all()]
print(f"{states.n_tokens:,} dev tokens, {H} neurons; labels never predicted (no ranking): {unranked or 'none'}")

# ---------------------------------------------------------------------------
# 1. One label by hand: top 5 vs random 5 vs bottom 5, output ablation
# ---------------------------------------------------------------------------
k, n_random = 5, 20
target = labels.index("B-PER")
cache = output_cache(states, W, b)                           # transposed states, built once


def accuracy_after(neurons):
    return per_label_accuracy(states.gold, ablate_output(cache, neurons), K)


top_acc = accuracy_after(order[target, :k])[target]
random_acc = np.array([accuracy_after(rng.choice(H, size=k, replace=False))[target] for _ in range(n_random)])
bottom_acc = accuracy_after(order[target, ::-1][:k])[target]
print(f"\nB-PER accuracy {base_acc[target]:.2f} -> {top_acc:.2f} after ablating its top {k} neurons "
      f"{order[target, :k].tolist()}")
print(f"B-PER accuracy {base_acc[target]:.2f} -> {random_acc.mean():.2f} after ablating {k} random neurons "
      f"(mean of {n_random} draws, from {random_acc.min():.2f} to {random_acc.max():.2f})")
print(f"B-PER accuracy {base_acc[target]:.2f} -> {bottom_acc:.2f} after ablating its bottom {k} neurons "
      f"(the most negative sensitivity: they hold B-PER back on its tokens)")
# On the full BiLSTM, B-PER hardly notices any 5 neurons, its top 5 included:
# 50 neurons carry it redundantly, and a neuron that pushes B-PER may push a
# rival label even more (lesson 11).  On the quick tagger, a neuron with a
# negative sensitivity can matter more than the top ones: it is negative
# because its activation is *higher elsewhere*, yet on B-PER tokens it may
# still be what separates B-PER from its runner-up.

# ---------------------------------------------------------------------------
# 2. Every label, every k: the package's sweep
# ---------------------------------------------------------------------------
ks = (1, 2, 3, 5, 10) if H >= 10 else (1, 2, 3, 5)
sweep = run_ablation_sweep(params, config, split, labels, states, S, modes=("output",), ks=ks,
                           n_random=n_random, rng=rng, progress=False)
summary = sweep["summary"]["output"]
ranked = [name for name in labels if name in summary["top"]]
print(f"\naccuracy drop of the target label at k={k} (output ablation; random = mean of {n_random} draws):")
print(f"  {'label':7s} {'base':>5s} {'top':>6s} {'random':>7s} {'bottom':>7s}")
for name in ranked:
    print(f"  {name:7s} {sweep['base']['per_label_acc'][name]:5.2f} {summary['top'][name][k]:+6.3f} "
          f"{summary['random'][name][k]:+7.3f} {summary['bottom'][name][k]:+7.3f}")
top_at_least_random = [name for name in ranked if summary["top"][name][k] >= summary["random"][name][k]]
top_above_random = [name for name in ranked if summary["top"][name][k] > summary["random"][name][k]]
print(f"top-{k} hurts at least as much as random-{k} for {len(top_at_least_random)} of {len(ranked)} labels "
      f"(strictly more for {len(top_above_random)}; a tie is usually 0 = 0: a label no 5 neurons can dent)")
largest_k = max(ks)
mean_top = np.mean([summary["top"][name][largest_k] for name in ranked])
mean_random = np.mean([summary["random"][name][largest_k] for name in ranked])
print(f"at k={largest_k}, averaged over labels: top drop {mean_top:+.3f}, random drop {mean_random:+.3f}")
hurt_most = max(ranked, key=lambda name: summary["top"][name][k])
print(f"hurt most: {hurt_most} accuracy {sweep['base']['per_label_acc'][hurt_most]:.2f} -> "
      f"{sweep['base']['per_label_acc'][hurt_most] - summary['top'][hurt_most][k]:.2f} after ablating its top {k} "
      f"neurons, {sweep['base']['per_label_acc'][hurt_most] - summary['random'][hurt_most][k]:.2f} "
      f"after {k} random ones (mean)")
figure = plots.plot_ablation_grid(summary, None, ranked, OUT / "09_ablation_curves.png", "output")
print(f"wrote {figure}")

# ---------------------------------------------------------------------------
# 3. Output vs recurrent ablation of the same neurons
# ---------------------------------------------------------------------------
# Output ablation removes a neuron's direct vote; recurrent ablation also
# removes everything later steps (and, through the gates, the other neurons)
# computed from it.  It reruns the LSTM over the split: one run per set.
# We take the label the top-k ablation hurt most above.
target = labels.index(hurt_most)
neurons = order[target, :k]
recurrent_acc = per_label_accuracy(states.gold, ablate_recurrent(params, config, split, neurons), K)
output_acc = accuracy_after(neurons)
print(f"\n{hurt_most}'s top {k} neurons silenced: {hurt_most} accuracy {base_acc[target]:.2f} -> {output_acc[target]:.2f} "
      f"(output) vs {recurrent_acc[target]:.2f} (recurrent)")
other = np.arange(K) != target
print(f"  other labels' mean accuracy drop: {np.nanmean((base_acc - output_acc)[other]):+.3f} (output) vs "
      f"{np.nanmean((base_acc - recurrent_acc)[other]):+.3f} (recurrent)")

# ---------------------------------------------------------------------------
# 4. One neuron at a time
# ---------------------------------------------------------------------------
single = np.array(sweep["single_neuron"]["output"]["token_acc_drop"])      # (H,)
worst = int(np.argmax(single))
print(f"\nsingle-neuron sweep (output ablation): overall token accuracy drop mean {single.mean():+.4f}, "
      f"largest {single[worst]:+.4f} (neuron {worst}); {np.sum(single > 0.005)} of {H} neurons cost more "
      f"than half a point alone")

# ---------------------------------------------------------------------------
# 5. What we just showed (only what this run shows; see the printed table)
# ---------------------------------------------------------------------------
b_per = labels.index("B-PER")
assert np.isclose(base_acc[b_per] - top_acc, summary["top"]["B-PER"][k]), "by hand = the sweep's top-k drop"
assert np.isclose(base_acc[b_per] - bottom_acc, summary["bottom"]["B-PER"][k]), "by hand = the sweep's bottom-k"
assert np.allclose(output_acc, accuracy_after(neurons)), "output ablation is deterministic"
assert len(top_at_least_random) > len(ranked) / 2, \
    f"top-{k} hurts its label at least as much as random-{k} for most labels"
assert mean_top > mean_random, f"on average over labels, the top {largest_k} hurt more than {largest_k} random"
assert single.mean() < mean_top, "one neuron alone costs little next to a label's top neurons"
assert figure.exists()
print("\nall checks passed")
