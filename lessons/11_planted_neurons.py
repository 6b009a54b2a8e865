"""Lesson 11: planted neurons: does the method find a neuron whose role we know?

Goal
    On a trained tagger nobody knows the right answer.  So build a tagger by
    hand where we do: a "carrier" neuron that fires on one trigger word and
    is the only neuron whose output weight favours that word's label, among
    distractor neurons with random weights.  Then check that Xin sensitivity
    ranks the carrier first and that ablating it removes its label and only
    its label.  Finally plant a decoy: a neuron that also fires on B-PER's
    trigger and lifts B-PER, but lifts its rivals (O and B-ORG) even more.  Xin
    sensitivity ranks the decoy *first* for B-PER (it does lift B-PER on
    B-PER tokens); ablating it does not hurt B-PER at all, it widens B-PER's
    margin.  The competitor-aware sensitivity, which counts a neuron's push for
    the label minus its push for the runner-up, ranks it last.

What you will see
    The carrier neuron of each label ranked first by Xin sensitivity, with its
    S value and the runner-up's; "ablating carrier 5: B-PER accuracy 1.00 ->
    0.00, other labels' largest change 0.00", in output and recurrent mode;
    then, with the decoy, its Xin rank 1 vs competitor-aware rank last, and
    "ablating the decoy: B-PER accuracy 1.00 -> 1.00, B-PER margin over
    the runner-up 3.1 -> 4.6".

Run it (from the repository root, after ``pip install .``)::

    python lessons/11_planted_neurons.py

Runtime: about 2 seconds (quick mode the same: nothing is trained).

The planted LSTM (gate order i, f, g, o; one-hot word embeddings, so row w of
Wx is what word w adds to the gates).  For a carrier neuron j of trigger
word w: every weight into j is zero except Wx[w, i_j] = 20, and its biases
are i: -10, f: -10, g: +10, o: +10.  So the input gate opens only on w, the
forget gate is shut, and h_j = sigmoid(10) tanh(sigmoid(10) tanh(10)) ~ 0.76
on w and ~0 elsewhere.  Its output column is zero except W[label, j] = 10.

Dimension legend: V words, H neurons, K labels, n tokens.
"""
import numpy as np

from lstm_numpy.analysis.ablation import ablate_output, ablate_recurrent, output_cache
from lstm_numpy.analysis.rankings import rank_neurons
from lstm_numpy.analysis.sensitivity import competitor_sensitivity, xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.evaluation.scores import per_label_accuracy
from lstm_numpy.model.tagger import TaggerConfig

rng = np.random.default_rng(0)
np.set_printoptions(precision=2, suppress=True)

# ---------------------------------------------------------------------------
# 1. A tagger with known carriers
# ---------------------------------------------------------------------------
labels = ["O", "B-PER", "B-LOC", "B-ORG"]
K, V, H = len(labels), 10, 8
trigger = {1: 1, 2: 2, 3: 3}             # word id -> its label id; words 4..9 are O fillers
carrier = {1: 5, 2: 2, 3: 6}             # label id -> its carrier neuron (any ids would do)
config = TaggerConfig(vocab_size=V, n_labels=K, word_dim=V, hidden=H, dropout=0.0,
                      backend="numpy", dtype="float64")            # a unidirectional LSTM of H neurons


def gate(k, j):
    """Column of neuron j's gate k (0 i, 1 f, 2 g, 3 o) in the fused (., 4H) weights."""
    return k * H + j


def plant_carrier(Wx, Wh, b, j, word):
    """Neuron j fires (h ~ 0.76) on ``word`` only, whatever came before."""
    Wx[:, [gate(k, j) for k in range(4)]] = 0.0
    Wh[:, [gate(k, j) for k in range(4)]] = 0.0           # no recurrent input: no memory of earlier words
    Wx[word, gate(0, j)] = 20.0                            # the input gate opens on the trigger only
    b[[gate(0, j), gate(1, j), gate(2, j), gate(3, j)]] = [-10.0, -10.0, 10.0, 10.0]


# Distractors: random LSTM weights and small random output weights.
Wx = rng.normal(0, 0.5, (V, 4 * H))                        # (V, 4H): one-hot words, so row w is word w's input
Wh = rng.normal(0, 0.5, (H, 4 * H))                        # (H, 4H)
b = rng.normal(0, 0.5, 4 * H)                              # (4H,)
W = rng.normal(0, 0.1, (K, H))                             # (K, H) output layer
for label, j in carrier.items():
    word = next(w for w, l in trigger.items() if l == label)
    plant_carrier(Wx, Wh, b, j, word)
    W[:, j] = 0.0
    W[label, j] = 10.0                                     # the carrier votes for its label, and only for it
params = {"embed.word": np.eye(V), "lstm.Wx": Wx, "lstm.Wh": Wh, "lstm.b": b,
          "out.W": W, "out.b": np.array([3.0, 0.0, 0.0, 0.0])}   # without a trigger, O wins

# Sentences of random words, about 30% of them triggers; gold labels follow the words.
lengths = rng.integers(3, 11, 200)
words = [np.where(rng.random(L) < 0.3, rng.integers(1, 4, L), rng.integers(4, V, L)) for L in lengths]
gold = [np.array([trigger.get(int(w), 0) for w in sentence], dtype=np.int64) for sentence in words]
split = EncodedSplit(words, [np.zeros(L, dtype=np.int64) for L in lengths], gold,
                     [[str(w) for w in sentence] for sentence in words])
states = collect_states(params, config, split)
h_carrier = states.hidden[:, carrier[1]]
print(f"{split.n_sentences} sentences, {states.n_tokens} tokens; tagger accuracy {np.mean(states.pred == states.gold):.3f}")
print(f"carrier {carrier[1]} of B-PER: h {h_carrier[states.gold == 1].mean():.3f} on B-PER tokens, "
      f"max |h| {np.abs(h_carrier[states.gold != 1]).max():.1e} elsewhere")

# ---------------------------------------------------------------------------
# 2. Xin sensitivity ranks each carrier first
# ---------------------------------------------------------------------------
S = xin_sensitivity(states.hidden, states.pred, W)          # (K, H)
order = rank_neurons(S)
print("\nXin sensitivity, tokens grouped by predicted label:")
for label, j in carrier.items():
    print(f"  {labels[label]:6s}: ranked first neuron {order[label, 0]} (S {S[label, order[label, 0]]:+.2f}), "
          f"carrier {j}; runner-up neuron {order[label, 1]} (S {S[label, order[label, 1]]:+.2f})")

carriers_first = all(order[label, 0] == j for label, j in carrier.items())

# ---------------------------------------------------------------------------
# 3. Ablating a carrier removes its label, and only its label
# ---------------------------------------------------------------------------
base_acc = per_label_accuracy(states.gold, states.pred, K)
cache = output_cache(states, W, params["out.b"])
carrier_drops = {}
for label, j in carrier.items():
    for mode in ("output", "recurrent"):
        pred = ablate_output(cache, [j]) if mode == "output" else ablate_recurrent(params, config, split, [j])
        drop = base_acc - per_label_accuracy(states.gold, pred, K)              # (K,)
        carrier_drops[label, mode] = drop
        print(f"ablating carrier {j} ({mode:9s}): {labels[label]} accuracy {base_acc[label]:.2f} -> "
              f"{base_acc[label] - drop[label]:.2f}, other labels' largest change "
              f"{np.abs(np.delete(drop, label)).max():.2f}")

# ---------------------------------------------------------------------------
# 4. A decoy that Xin sensitivity gets wrong
# ---------------------------------------------------------------------------
# Neuron 0, a distractor so far, now fires on B-PER's trigger too, with output
# weights +12 for B-PER and +14 for both rivals, B-ORG and O.  On a B-PER
# token the logits are about
#   B-PER: 0.76 (10 + 12) = 16.7     O: 3 + 0.76 * 14 = 13.6     B-ORG: 0.76 * 14 = 10.6
# so the token is still B-PER, thanks to the carrier.  Xin sensitivity of the
# decoy for B-PER is 12 x 0.76 = 9.1, above the carrier's 7.6: ranked first.
# Yet the decoy pushes the rivals harder than B-PER: without it the logits are
# 7.6 vs 3 vs 0, and B-PER wins by more (4.6 instead of 3.1).
PER, ORG, decoy = 1, 3, 0
plant_carrier(Wx, Wh, b, decoy, word=1)
W[:, decoy] = 0.0
W[PER, decoy], W[ORG, decoy], W[0, decoy] = 12.0, 14.0, 14.0
states = collect_states(params, config, split)               # params holds these very arrays
assert np.all(states.pred == states.gold), "with the decoy the tagger is still always right"
S = xin_sensitivity(states.hidden, states.pred, W)
S_competitor = competitor_sensitivity(states.hidden, states.logits, states.pred, W)
xin_rank = int(np.flatnonzero(rank_neurons(S)[PER] == decoy)[0]) + 1
competitor_rank = int(np.flatnonzero(rank_neurons(S_competitor)[PER] == decoy)[0]) + 1
print(f"\ndecoy neuron {decoy} for B-PER: Xin S {S[PER, decoy]:+.2f}, rank {xin_rank} of {H}; "
      f"competitor-aware {S_competitor[PER, decoy]:+.2f}, rank {competitor_rank} of {H}")
print(f"carrier neuron {carrier[PER]} for B-PER: Xin S {S[PER, carrier[PER]]:+.2f}, "
      f"competitor-aware {S_competitor[PER, carrier[PER]]:+.2f}, rank "
      f"{int(np.flatnonzero(rank_neurons(S_competitor)[PER] == carrier[PER])[0]) + 1}")


def margin(logits, rows, label):
    """Mean of (logit of label - best other logit) over the given tokens."""
    others = np.delete(logits[rows], label, axis=1)
    return float(np.mean(logits[rows, label] - others.max(axis=1)))


per_tokens = states.gold == PER
base_acc = per_label_accuracy(states.gold, states.pred, K)
cache = output_cache(states, W, params["out.b"])
without_decoy = ablate_output(cache, [decoy])
without_carrier = ablate_output(cache, [carrier[PER]])
logits_without_decoy = states.logits - np.outer(states.hidden[:, decoy], W[:, decoy])   # output ablation by hand
acc_without_decoy = per_label_accuracy(states.gold, without_decoy, K)[PER]
acc_without_carrier = per_label_accuracy(states.gold, without_carrier, K)[PER]
print(f"ablating the decoy:   B-PER accuracy {base_acc[PER]:.2f} -> {acc_without_decoy:.2f}, B-PER margin over "
      f"the runner-up {margin(states.logits, per_tokens, PER):.1f} -> {margin(logits_without_decoy, per_tokens, PER):.1f}")
print(f"ablating the carrier: B-PER accuracy {base_acc[PER]:.2f} -> {acc_without_carrier:.2f} "
      f"(its tokens go to {labels[np.bincount(without_carrier[per_tokens], minlength=K).argmax()]})")
# The lesson: sensitivity measures how much a neuron lifts a label on its
# tokens, not whether the label would lose without it.  Ablation answers the
# second question; the competitor-aware measure approximates it without
# rerunning anything.

# ---------------------------------------------------------------------------
# 5. What we just showed
# ---------------------------------------------------------------------------
for label, j in carrier.items():
    for mode in ("output", "recurrent"):
        drop = carrier_drops[label, mode]
        assert drop[label] > 0.9, f"ablating carrier {j} ({mode}) removes {labels[label]}"
        assert np.abs(np.delete(drop, label)).max() <= 0.01, f"and leaves the other labels alone ({mode})"
assert carriers_first, "Xin sensitivity ranks every carrier first (before the decoy)"
assert xin_rank == 1, "Xin sensitivity ranks the decoy first for B-PER"
assert competitor_rank == H, "the competitor-aware sensitivity ranks it last"
assert acc_without_decoy >= base_acc[PER], "ablating the decoy does not hurt B-PER"
assert margin(logits_without_decoy, per_tokens, PER) > margin(states.logits, per_tokens, PER), \
    "it widens B-PER's margin"
assert np.array_equal(logits_without_decoy.argmax(axis=1), without_decoy), "ablation by hand = ablate_output"
assert acc_without_carrier < 0.1, "while ablating the carrier, now ranked second by Xin, removes B-PER"
print("\nall checks passed")
