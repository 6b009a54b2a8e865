"""Lesson 13: interventions inside the cell: when does a neuron carry a decision, and through
which part of the cell?

Goal
    Ablation (lesson 09) says whether a neuron matters.  It cannot say *when* it matters, or
    whether it matters through its memory (the cell state c) or its output (h).  Activation
    patching answers that, on a *minimal pair*: two sentences identical but for one context
    word that flips an entity's type ("... met with Varnok ..." makes a person of Varnok, "...
    met in Varnok ..." a place).  Run both; then run the corrupted one again with a single
    value (neuron j's c at step t) copied from the clean run, and measure how much of the
    logit difference at the name comes back.  We do it once by hand with the reference LSTM
    loop, then for every step and neuron of 100 pairs at once (analysis.patching), then we
    clamp a forget gate to 0 and watch the memory go.

What you will see
    one pair and the model's logit difference on both sentences; the neuron whose cell state
    at the context word differs most between the two runs (in the direction that reads the
    context word before the name), patched by hand: the
    fraction of the difference it restores, equal to the sweep's number for that (step,
    neuron); the sweep over 100 pairs, its heatmap (``out/13_patching_heatmap.png``) and the
    causal check that a forward neuron after the name, or a backward one before it, restores
    nothing; then that neuron's forget gate forced to 0: its cell state becomes i*g at every
    step, and each label's accuracy drop on dev.

Run it (from the repository root, after ``pip install .``)::

    python lessons/13_patching_inside_the_cell.py

Runtime: about 5 seconds (quick: 2 s), plus about 20 s the first time while the shared tagger trains
(``_quick.trained_tagger``, cached in ``out/``).

Dimension legend: P pairs, T tokens, H neurons per direction, Hout = 2H, K labels.
"""
import warnings

import numpy as np
from _quick import OUT, pin_threads, trained_tagger

from lstm_numpy.analysis.activity import collect_activity
from lstm_numpy.analysis.engine import subset_split
from lstm_numpy.analysis.patching import CLAMPED_GATES, OFFSETS, gate_clamps, patching_sweep
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.data.batching import make_batch
from lstm_numpy.errors import UndefinedLabelWarning
from lstm_numpy.model.backend import get_backend
from lstm_numpy.model.lstm import SITES, Patches, lstm_recur
from lstm_numpy.model.tagger import embed_tokens, project_lstm
from lstm_numpy.pipeline import load_pairs
from lstm_numpy.report.plots import plot_patching_heatmap

pin_threads()                                  # one BLAS thread, one Numba thread (see lesson 05)
warnings.filterwarnings("ignore", category=UndefinedLabelWarning)
params, config, prepared = trained_tagger(seed=0)
labels = prepared.labels.labels
H, Hout = config.hidden, config.output_size
W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)
print(f"the BiLSTM of lesson 06: {H} neurons per direction (0-{H - 1} forward, {H}-{Hout - 1} backward)")

# ---------------------------------------------------------------------------
# 1. One minimal pair, read by the model
# ---------------------------------------------------------------------------
pairs = load_pairs("generated", prepared, "iob2", seed=0)          # 100 pairs of the generated corpus
act_clean = collect_activity(params, config, pairs.clean)          # h, c and the gates of every token
act_corrupt = collect_activity(params, config, pairs.corrupted)
starts = np.concatenate([[0], np.cumsum([len(p.clean) for p in pairs.pairs])[:-1]])


def logits_at(hidden, p):
    """The logits (K,) at pair p's read position from a (n, Hout) hidden array of its split."""
    return hidden[starts[p] + pairs.positions[p]].astype(np.float64) @ W.T + b


def reads_as_intended(p):
    return (logits_at(act_clean.hidden, p).argmax() == pairs.clean_ids[p]
            and logits_at(act_corrupt.hidden, p).argmax() == pairs.corrupted_ids[p])


p = next(p for p in range(len(pairs.pairs)) if reads_as_intended(p))      # the first pair the model reads apart
pair, read = pairs.pairs[p], int(pairs.positions[p])
yc, yx = int(pairs.clean_ids[p]), int(pairs.corrupted_ids[p])
print(f"\npair {p}:  clean     {' '.join(pair.clean)}   -> {pair.clean[read]} is {labels[yc]}")
print(f"          corrupted {' '.join(pair.corrupted)}   -> {pair.corrupted[read]} is {labels[yx]}")
gap = lambda z: z[yc] - z[yx]                  # noqa: E731  the logit difference, clean label minus corrupted
m_clean, m_corrupt = gap(logits_at(act_clean.hidden, p)), gap(logits_at(act_corrupt.hidden, p))
print(f"logit difference z[{labels[yc]}] - z[{labels[yx]}] at '{pair.clean[read]}': clean {m_clean:+.3f}, "
      f"corrupted {m_corrupt:+.3f}")

# ---------------------------------------------------------------------------
# 2. Patch one neuron's cell state by hand
# ---------------------------------------------------------------------------
# The context word is the one token the two sentences disagree on.  Before the name, the
# forward direction reads it on its way to the name; after the name, only the backward
# direction (which reads the sentence from its end) can carry it there.
cue = next(q for q, (a, c) in enumerate(zip(pair.clean, pair.corrupted)) if a != c)
T = len(pair.clean)
d = 0 if cue < read else 1                      # the direction that passes the cue before the name
step = cue if d == 0 else T - 1 - cue          # that direction's own loop step at the cue
columns = slice(d * H, (d + 1) * H)
difference = act_clean.cell[starts[p] + cue, columns] - act_corrupt.cell[starts[p] + cue, columns]
j = int(np.argmax(np.abs(difference)))          # the neuron of that direction whose memory differs most there
neuron = d * H + j
print(f"\nthe context word '{pair.clean[cue]}' / '{pair.corrupted[cue]}' is token {cue}, "
      f"{'before' if d == 0 else 'after'} the name: the {('forward', 'backward')[d]} direction carries it")
print(f"neuron {neuron}: c at the context word = {act_clean.cell[starts[p] + cue, neuron]:+.3f} (clean) / "
      f"{act_corrupt.cell[starts[p] + cue, neuron]:+.3f} (corrupted), the largest difference of its direction")

# Rerun that direction over the corrupted sentence with the reference loop (model.lstm), that one
# value replaced by the clean run's: a Patches record is (copy, step, neuron, site, value per row).
corrupted_one = subset_split(pairs.corrupted, [p])
batch = make_batch(corrupted_one, [0])
backend = get_backend(config.backend)
x, _ = embed_tokens(params, config, batch, backend)
xw = project_lstm(params, config, x, batch.mask, backend)[d].astype(np.float64)   # (1, T, 4H), backward: reversed
prefix = ("lstm_f", "lstm_b")[d]
Wh, b_lstm = params[f"{prefix}.Wh"].astype(np.float64), params[f"{prefix}.b"].astype(np.float64)
zeros = np.zeros((1, H))
patch = Patches(np.array([0]), np.array([step]), np.array([j]), np.array([SITES.index("c")]),
                np.array([[act_clean.cell[starts[p] + cue, neuron]]]))
out, _, _ = lstm_recur(xw, batch.mask, zeros, zeros, Wh, b_lstm, patches=patch)
hidden = act_corrupt.hidden[starts[p]:starts[p] + T].astype(np.float64).copy()
hidden[:, columns] = out[0] if d == 0 else out[0][::-1]     # the other direction stays the corrupted run's
m_patched = gap(hidden[read] @ W.T + b)
by_hand = (m_patched - m_corrupt) / (m_clean - m_corrupt)
print(f"patched c[{neuron}] at the context word: the difference moves {m_corrupt:+.3f} -> {m_patched:+.3f}, "
      f"restoring {by_hand:.1%} of the way to the clean run's {m_clean:+.3f}")

# ---------------------------------------------------------------------------
# 3. Every step, every neuron, every pair: the sweep
# ---------------------------------------------------------------------------
# The same experiment for h and for c at every (step, neuron) of the 100 pairs: each (step,
# neuron) of a direction is one copy of the batch of pairs in the inference kernel.
sweep = patching_sweep(params, config, pairs.clean, pairs.corrupted, pairs.positions, pairs.clean_ids,
                       pairs.corrupted_ids, pairs.source)
from_sweep = sweep.per_pair[p, sweep.sites.index("c"), cue, neuron]        # indexed by token, not loop step
print(f"\nthe sweep: {sweep.n_used} of {sweep.n_pairs} pairs read as intended; for pair {p}, c[{neuron}] at token "
      f"{cue} restores {from_sweep:.1%} (by hand {by_hand:.1%})")
path = plot_patching_heatmap(sweep.effect, sweep.offsets, sweep.sites, OUT / "13_patching_heatmap.png", sweep.n_used,
                             sweep.source)
print(f"heatmap of the mean over the pairs used (rows: step relative to the name; columns: neurons): {path.name}")
zero = OFFSETS.index(0)
for s, site in enumerate(sweep.sites):
    offset, neuron = np.unravel_index(np.nanargmax(sweep.effect[s]), sweep.effect[s].shape)
    print(f"  {site}: the largest mean effect {sweep.effect[s, offset, neuron]:.1%} is neuron {neuron} "
          f"({'forward' if neuron < H else 'backward'}) at step {OFFSETS[offset]:+d}")
# Causality, read off the heatmap: a forward neuron patched after the name cannot reach its
# logits, nor a backward one patched before it (the backward direction reads the sentence
# from its end).
after, before = sweep.effect[:, zero + 1:, :H], sweep.effect[:, :zero, H:]
print(f"largest |effect| of forward neurons after the name: {np.nanmax(np.abs(after)):.1e}; "
      f"of backward neurons before it: {np.nanmax(np.abs(before)):.1e}")

# ---------------------------------------------------------------------------
# 4. Clamp a forget gate
# ---------------------------------------------------------------------------
# f = 0 at every step wipes neuron j's memory: c_t = f c_{t-1} + i g becomes i g, the current
# token's write alone.  By hand on the pair's corrupted sentence, then on all of dev.
clamp = Patches(np.zeros(T, np.int64), np.arange(T), np.full(T, j), np.full(T, SITES.index("f")), np.zeros((T, 1)))
_, _, (gates, _, cs, _, _) = lstm_recur(xw, batch.mask, zeros, zeros, Wh, b_lstm, patches=clamp)
i_gate, g_gate = gates[0, :, j], gates[0, :, 2 * H + j]
memory_left = np.abs(cs[0, :, j] - i_gate * g_gate).max()
print(f"\nforget gate of neuron {neuron} held at 0: max |c_t - i_t g_t| over the sentence = {memory_left:.1e}")
dev = prepared.splits["dev"]
states = collect_states(params, config, dev)
clamps = gate_clamps(params, config, dev, states, [neuron])
for g, gate in enumerate(CLAMPED_GATES):
    worst = int(np.nanargmax(clamps.drop[0, g]))
    print(f"  {gate} = 0 at every step: largest accuracy drop on dev {100 * clamps.drop[0, g, worst]:.1f} points "
          f"({labels[worst]}); mean over labels {100 * np.nanmean(clamps.drop[0, g]):.1f}")
print("(i = 0 keeps c at its start value 0, so h = o tanh(0) = 0: the same silence as o = 0. The forget gate is\n"
      " the clamp that tells memory from the current input: what f = 0 costs is what the neuron remembers.)")

# ---------------------------------------------------------------------------
# What just happened, checked
# ---------------------------------------------------------------------------
assert m_clean > m_corrupt, "the pair is read as intended: the clean label wins on the clean sentence"
assert abs(from_sweep - by_hand) < 1e-3, "the batched sweep equals the one patch made by hand"
assert sweep.n_used >= 10, "the tagger reads many of the generated pairs as intended"
assert np.nanmax(np.abs(after)) < 1e-4 and np.nanmax(np.abs(before)) < 1e-4, "no effect against the arrow of time"
assert np.nanmax(sweep.effect[0, zero]) > 0.05, "some neuron's h at the name carries part of the decision"
assert memory_left < 1e-12, "with f = 0 the cell state is the current write alone"
np.testing.assert_allclose(clamps.drop[0, CLAMPED_GATES.index("i")], clamps.drop[0, CLAMPED_GATES.index("o")])
print("\nall checks passed")
