"""Lesson 08: the biologist's view: how single neurons respond to each label.

Goal
    A neuroscientist records one neuron while showing stimuli and plots its
    firing rate per stimulus: a tuning curve.  Do the same with the tagger:
    for a neuron j, the distribution of its activation h_j over the tokens of
    each label.  Look at the most specialized neurons (the highest
    sensitivity S[i, j] of lesson 07 for some label i) and at the least
    specialized ones (the smallest max_i |S[i, j]|).  A specialized neuron
    should respond differently to its label than to the rest.

    Remember that S[i, j] = W[i, j] (mean_i h_j - mean_not_i h_j): the
    activation gap times the output weight.  A positive S can come from a
    neuron that is *lower* on its label, with a negative weight; and a small S
    can come from a neuron with a large gap whose weights are small.  The
    biologist sees only the gap; the sensitivity also asks whether the next
    layer listens.

    Then open the same tagger in the explorer (explorer.html, one file, any
    browser, no server): every dev token coloured by one neuron, the gold and
    predicted label under each word, and what ablating a label's top neurons
    changes, token by token.

What you will see
    For three specialized and three unspecialized neurons: the label each
    pushes most, its sensitivity, its mean activation on that label vs on
    other tokens, and its largest output weight; e.g. "neuron 11 (top label
    I-PER, S=+1.10): mean h on I-PER -0.76 vs +0.71 elsewhere, gap -1.47";
    the figure ``lessons/out/08_tuning_curves.png`` (one panel per neuron,
    a box per label, the neuron's top label in red); then
    ``lessons/out/08_explorer.html``, its size, and what to look at in it
    (run without LSTM_NUMPY_QUICK on a desktop, the lesson opens it in your browser).

Run it (from the repository root, after ``pip install .``)::

    python lessons/08_the_biologists_view.py

Runtime: about 5 seconds once the tagger of ``_quick.trained_tagger`` is
cached in lessons/out/ (lesson 07 trains it; about 20 s more otherwise; quick
mode: about 3 seconds).

Dimension legend: n tokens of the dev split, H neurons, K labels.
"""
import os
import sys
import warnings
import webbrowser

import numpy as np
from _quick import OUT, QUICK, pin_threads, trained_tagger

from lstm_numpy.analysis.measures import all_measures
from lstm_numpy.analysis.sensitivity import xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.analysis.engine import Target
from lstm_numpy.analysis.sweep import run_sweep
from lstm_numpy.analysis.token_ablation import accuracy_drop
from lstm_numpy.errors import UndefinedLabelWarning
from lstm_numpy.report import explorer, plots
from lstm_numpy.report.explorer_encoding import decode_activity

rng = np.random.default_rng(0)      # nothing is random below; kept for the lessons' common form
pin_threads()                      # one BLAS thread, one Numba thread (see lesson 05)
warnings.filterwarnings("ignore", category=UndefinedLabelWarning)   # NaN rows: labels never predicted
                                                                   # (quick mode), which the sweep then skips

# ---------------------------------------------------------------------------
# 1. Activations and sensitivity, tokens grouped by predicted label
# ---------------------------------------------------------------------------
params, config, prepared = trained_tagger(seed=0)
labels = prepared.labels.labels
states = collect_states(params, config, prepared.splits["dev"])
W = params["out.W"].astype(np.float64)                                # (K, H)
h = states.hidden.astype(np.float64)                                  # (n, H)
S = xin_sensitivity(h, states.pred, W)                                # (K, H), NaN rows for unpredicted labels
K, H = S.shape
print(f"{states.n_tokens:,} dev tokens, {H} neurons, {K} labels")

# ---------------------------------------------------------------------------
# 2. Specialized and unspecialized neurons
# ---------------------------------------------------------------------------
best_sensitivity = np.nanmax(S, axis=0)                 # (H,) how strongly j pushes its favourite label
largest_magnitude = np.nanmax(np.abs(S), axis=0)        # (H,) how strongly j pushes or holds back any label
specialized = np.argsort(-best_sensitivity)[:3]
unspecialized = np.argsort(largest_magnitude)[:3]


def describe(j):
    """The label neuron j pushes most, and its activation there vs elsewhere."""
    top = int(np.nanargmax(S[:, j]))
    on_label = states.pred == top
    mean_on, mean_off = h[on_label, j].mean(), h[~on_label, j].mean()
    print(f"  neuron {j:2d} (top label {labels[top]:6s}, S={S[top, j]:+.2f}): mean h on {labels[top]} "
          f"{mean_on:+.2f} vs {mean_off:+.2f} elsewhere, gap {mean_on - mean_off:+.2f}; "
          f"largest |W[:, {j}]| {np.abs(W[:, j]).max():.2f}")
    return mean_on - mean_off


print("\nspecialized neurons (highest sensitivity for some label):")
specialized_gaps = np.array([describe(j) for j in specialized])
print("unspecialized neurons (smallest largest |sensitivity|):")
unspecialized_gaps = np.array([describe(j) for j in unspecialized])
print(f"\n|activation gap| on the top label: specialized {np.abs(specialized_gaps).round(2)}, "
      f"unspecialized {np.abs(unspecialized_gaps).round(2)}")
print(f"largest output weight |W|: specialized {np.abs(W[:, specialized]).max(axis=0).round(2)}, "
      f"unspecialized {np.abs(W[:, unspecialized]).max(axis=0).round(2)}")
# Read the signs: a specialized neuron is often *lower* on its label than
# elsewhere (negative gap) with a negative weight, and the product is a
# positive push.  And the unspecialized neurons are not silent: their gaps
# can be sizeable, but their weights are small, so the output hardly hears them.

# ---------------------------------------------------------------------------
# 3. Tuning curves
# ---------------------------------------------------------------------------
figure = plots.plot_tuning_curves(h, states.pred, labels, list(specialized) + list(unspecialized),
                                  OUT / "08_tuning_curves.png", S=S)
print(f"wrote {figure}  (top row: specialized, bottom row: unspecialized; red box = the neuron's top label)")

# ---------------------------------------------------------------------------
# 4. What we just showed
# ---------------------------------------------------------------------------
most, least = specialized[0], unspecialized[0]
print(f"most specialized neuron {most}: |gap| {abs(specialized_gaps[0]):.2f}; "
      f"least specialized neuron {least}: |gap| {abs(unspecialized_gaps[0]):.2f}")
assert best_sensitivity[most] > largest_magnitude[least] >= 0
# The push a neuron gives its top label is weight x activation gap.  Which factor makes
# the difference between a specialized and an unspecialized neuron varies from model to
# model (compare the two printed lines above); their product always does:
push_most = abs(W[int(np.nanargmax(S[:, most])), most] * specialized_gaps[0])
push_least = abs(W[int(np.nanargmax(S[:, least])), least] * unspecialized_gaps[0])
print(f"|weight x gap| on the top label: most specialized {push_most:.3f}, least specialized {push_least:.3f}")
assert push_most > push_least, "the most specialized neuron pushes its label harder"
for j, gap in zip(specialized, specialized_gaps):
    top = int(np.nanargmax(S[:, j]))
    assert np.isclose(S[top, j], W[top, j] * gap), "S = W x activation gap"
assert figure.exists()

# ---------------------------------------------------------------------------
# 5. The biologist's microscope: every token, one neuron at a time
# ---------------------------------------------------------------------------
# The explorer shows what the run measured, so measure it as a run does: every
# ranking, and the output-mode sweep that ablates each label's top-k neurons.
b = params["out.b"].astype(np.float64)
measures = all_measures(states, W, b, labels, group_by="predicted")
sweep = run_sweep(Target(params, config, None, states), labels, S, {"output": ((1, 3, 5), 0)}, rng,
                  single_neuron=False)
about = explorer.about_page("lesson 08", {"data": "generated", "preset": "bilstm",
                                          "command": "python lessons/08_the_biologists_view.py"},
                            config, 0, "predicted", "lessons/out/generated/dev.txt")
page = explorer.write_explorer(OUT / "08_explorer.html", params, config, prepared.splits["dev"], labels, measures,
                               "xin", sweep, about, states, "predicted")
top = int(np.nanargmax(S[:, most]))
assert int(np.nanargmax(S[top])) == most, "the most specialized neuron leads its top label's list"
print(f"\nwrote {page} ({page.stat().st_size / 1e3:.0f} kB): open it in any browser (file://, no server). Look at:")
print(f"  1. 'Neurons by label', label {labels[top]}: neuron {most} leads the list; its tuning curve has the red box "
      f"({labels[top]}) apart from the grey ones. Click its row.")
print(f"  2. Colour by 'contribution W[i, j] h_j' with label i = {labels[top]}: the {labels[top]} words light up; "
      f"hover one for h, c and the gates (each with its rounding).")
print(f"  3. Pick neuron {least} (least specialized): its h still moves, but its contribution stays pale.")
print("  4. Tick 'only sentences with errors' and click a word marked red: the neurons that pushed the wrong label.")
print(f"  5. Ablate {labels[top]} with k = 3: the tokens whose prediction flips, and the accuracy drop.")

# The page stores h to 8 bits per neuron: decode it as the page does and compare.
meta, section = explorer.read_page(page)
shown = decode_activity(section, meta["quant"], states.n_tokens, H)
rounding = np.asarray(meta["quant"]["h"]["within"])
print(f"page's h vs the tagger's: largest error {np.abs(shown['h'] - states.hidden).max():.4f} "
      f"(stated rounding at most {rounding.max():.4f})")
assert (np.abs(shown["h"] - states.hidden) <= rounding + 1e-6).all()
# ... and its ablated tokens give the sweep's accuracy drop
entry = meta["ablation"]["output"]["entries"][labels[top]]["3"]
gaps = np.frombuffer(section("ablation_tokens"), dtype=np.uint32).astype(np.int64)
part = slice(entry["offset"], entry["offset"] + entry["count"])
to = np.frombuffer(section("ablation_to"), dtype=np.uint8)[part]
page_drop = accuracy_drop(states.gold, states.pred, np.cumsum(gaps[part]), to, top)
print(f"{labels[top]} top-3 output ablation: {entry['count']} tokens change, accuracy drop "
      f"{100 * page_drop:.2f} points from the page's tokens, {100 * entry['run_drop']:.2f} in the sweep")
assert np.isclose(page_drop, entry["run_drop"])
desktop = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform in ("darwin", "win32")
if not QUICK and desktop:        # a terminal-only machine would get a text browser that waits for you
    webbrowser.open(page.resolve().as_uri())
print("\nall checks passed")
