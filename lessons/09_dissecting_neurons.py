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
    First the label whose own top 5 neurons matter most, by hand: e.g. "I-MISC
    accuracy 1.00 -> 0.00 after ablating its top 5 neurons", against the mean
    over 20 random draws of 5 and the bottom 5.  Then the contrast: "B-PER
    accuracy 0.95 -> 0.96 after ablating its top 5 neurons" (yes, up: see the
    comment there), a label the BiLSTM carries redundantly.  Then the
    package's sweep (plan -> run -> summarise) over every label and k, equal
    to the hand-made numbers; output vs recurrent ablation of the first
    label's top 5; the single-neuron sweep (each neuron alone: mean and
    largest drop of overall accuracy); ``lessons/out/09_ablation_curves.png``
    (drop vs k for every label).  A BiLSTM of 50 neurons is redundant: most
    labels lose little from any 5 neurons; read the numbers, not the hopes.

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
from lstm_numpy.analysis.engine import Target
from lstm_numpy.analysis.rankings import rank_neurons
from lstm_numpy.analysis.sensitivity import xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.sweep import run_sweep
from lstm_numpy.errors import UndefinedLabelWarning
from lstm_numpy.evaluation.scores import per_label_accuracy
from lstm_numpy.report import plots

rng = np.random.default_rng(0)
pin_threads()                      # one BLAS thread, one Numba thread (see lesson 05)
# Labels the (quick) tagger never predicts have no sensitivity row and are not
# ablated; the package warns about them, we list them once below instead.
warnings.filterwarnings("ignore", category=UndefinedLabelWarning)

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
# 1. The label that needs its top neurons most, by hand (output ablation)
# ---------------------------------------------------------------------------
k, n_random = 5, 20
cache = output_cache(states, W, b)                           # transposed states, built once


def accuracy_after(neurons):
    return per_label_accuracy(states.gold, ablate_output(cache, neurons), K)


ranked = [i for i in range(K) if not np.isnan(S[i]).all() and np.isfinite(base_acc[i])]
top_drop = {i: base_acc[i] - accuracy_after(order[i, :k])[i] for i in ranked}     # each label's own top k
target = max(ranked, key=top_drop.get)
hurt_most = labels[target]
top_acc = accuracy_after(order[target, :k])[target]
random_acc = np.array([accuracy_after(rng.choice(H, size=k, replace=False))[target] for _ in range(n_random)])
bottom_acc = accuracy_after(order[target, ::-1][:k])[target]
print(f"\n{hurt_most} accuracy {base_acc[target]:.2f} -> {top_acc:.2f} after ablating its top {k} neurons "
      f"{order[target, :k].tolist()} (the largest own-top-{k} drop of the {len(ranked)} ranked labels)")
print(f"{hurt_most} accuracy {base_acc[target]:.2f} -> {random_acc.mean():.2f} after ablating {k} random neurons "
      f"(mean of {n_random} draws, from {random_acc.min():.2f} to {random_acc.max():.2f})")
print(f"{hurt_most} accuracy {base_acc[target]:.2f} -> {bottom_acc:.2f} after ablating its bottom {k} neurons "
      f"(the most negative sensitivity: they hold {hurt_most} back on its tokens)")

# ---------------------------------------------------------------------------
# 2. The contrast: a label carried redundantly
# ---------------------------------------------------------------------------
b_per = labels.index("B-PER")
b_per_top = accuracy_after(order[b_per, :k])[b_per]
b_per_random = np.mean([accuracy_after(rng.choice(H, size=k, replace=False))[b_per] for _ in range(n_random)])
print(f"\nB-PER accuracy {base_acc[b_per]:.2f} -> {b_per_top:.2f} after ablating its top {k} neurons "
      f"{order[b_per, :k].tolist()}, {b_per_random:.2f} after {k} random ones (mean of {n_random})")
# On the full BiLSTM, B-PER hardly notices any 5 neurons, its top 5 included:
# 50 neurons carry it redundantly, and a neuron that pushes B-PER may push a
# rival label even more (lesson 11).  On the quick tagger, a neuron with a
# negative sensitivity can matter more than the top ones: it is negative
# because its activation is *higher elsewhere*, yet on B-PER tokens it may
# still be what separates B-PER from its runner-up.

# ---------------------------------------------------------------------------
# 3. Every label, every k: the package's sweep
# ---------------------------------------------------------------------------
# The package plans every ablation (top, bottom, random draws, another label's
# top as a control), runs the plan through the kernels and summarises it into
# a ModeSweep: (K, J) arrays of drops over the labels and the k values.
ks = (1, 2, 3, 5, 10) if H >= 10 else (1, 2, 3, 5)
sweep = run_sweep(Target(params, config, split, states), labels, S, {"output": (ks, n_random)}, rng)
swept = sweep.modes["output"]                                # analysis.results.ModeSweep
j = swept.at(k)
print(f"\naccuracy drop of the target label at k={k} (output ablation; random = mean of {n_random} draws):")
print(f"  {'label':7s} {'base':>5s} {'top':>6s} {'random':>7s} {'bottom':>7s}")
for i in ranked:
    print(f"  {labels[i]:7s} {sweep.base_label_acc[i]:5.2f} {swept.top[i, j]:+6.3f} "
          f"{swept.random[i, j]:+7.3f} {swept.bottom[i, j]:+7.3f}")
top_at_least_random = [i for i in ranked if swept.top[i, j] >= swept.random[i, j]]
top_above_random = [i for i in ranked if swept.top[i, j] > swept.random[i, j]]
print(f"top-{k} hurts at least as much as random-{k} for {len(top_at_least_random)} of {len(ranked)} labels "
      f"(strictly more for {len(top_above_random)}; a tie is usually 0 = 0: a label no 5 neurons can dent)")
largest_k = max(ks)
mean_top = np.mean(swept.top[ranked, swept.at(largest_k)])
mean_random = np.mean(swept.random[ranked, swept.at(largest_k)])
print(f"at k={largest_k}, averaged over labels: top drop {mean_top:+.3f}, random drop {mean_random:+.3f}")
figure = plots.plot_ablation_grid(swept, labels, OUT / "09_ablation_curves.png")
print(f"wrote {figure}")

# ---------------------------------------------------------------------------
# 4. Output vs recurrent ablation of the same neurons
# ---------------------------------------------------------------------------
# Output ablation removes a neuron's direct vote; recurrent ablation also
# removes everything later steps (and, through the gates, the other neurons)
# computed from it.  It reruns the LSTM over the split.  We take the label of
# section 1.
neurons = order[target, :k]
recurrent_acc = per_label_accuracy(states.gold, ablate_recurrent(params, config, split, neurons), K)
output_acc = accuracy_after(neurons)
print(f"\n{hurt_most}'s top {k} neurons silenced: {hurt_most} accuracy {base_acc[target]:.2f} -> "
      f"{output_acc[target]:.2f} (output) vs {recurrent_acc[target]:.2f} (recurrent)")
other = np.arange(K) != target
print(f"  other labels' mean accuracy drop: {np.nanmean((base_acc - output_acc)[other]):+.3f} (output) vs "
      f"{np.nanmean((base_acc - recurrent_acc)[other]):+.3f} (recurrent)")

# ---------------------------------------------------------------------------
# 5. One neuron at a time
# ---------------------------------------------------------------------------
single = swept.single_neuron                                 # (H,)
worst = int(np.argmax(single))
print(f"\nsingle-neuron sweep (output ablation): overall token accuracy drop mean {single.mean():+.4f}, "
      f"largest {single[worst]:+.4f} (neuron {worst}); {np.sum(single > 0.005)} of {H} neurons cost more "
      f"than half a point alone")

# ---------------------------------------------------------------------------
# 6. What we just showed (only what this run shows; see the printed table)
# ---------------------------------------------------------------------------
assert top_drop[target] == max(top_drop.values()), "section 1 opened on the label its top-k hurt most"
assert np.isclose(base_acc[target] - top_acc, swept.top[target, j]), "by hand = the sweep's top-k drop"
assert np.isclose(base_acc[target] - bottom_acc, swept.bottom[target, j]), "by hand = the sweep's bottom-k"
assert np.isclose(base_acc[b_per] - b_per_top, swept.top[b_per, j]), "B-PER by hand = the sweep"
assert top_drop[target] >= swept.top[b_per, j], "the first label loses at least as much as B-PER"
assert base_acc[target] - top_acc > base_acc[target] - random_acc.mean(), \
    f"{hurt_most}'s top {k} hurt it more than {k} random neurons"
assert np.allclose(output_acc, accuracy_after(neurons)), "output ablation is deterministic"
assert len(top_at_least_random) > len(ranked) / 2, \
    f"top-{k} hurts its label at least as much as random-{k} for most labels"
assert mean_top > mean_random, f"on average over labels, the top {largest_k} hurt more than {largest_k} random"
assert single.mean() < mean_top, "one neuron alone costs little next to a label's top neurons"
assert figure.exists()
