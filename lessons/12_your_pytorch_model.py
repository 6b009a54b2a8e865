"""Lesson 12: a tagger trained in PyTorch, opened and dissected here; and the field's probe,
held out, against the paper's metric.

Goal
    Researchers train their taggers in PyTorch, whose fused ``nn.LSTM`` returns neither the
    cell states nor the gates of its steps.  This project runs every gate in its own code, so
    it can open such a model: import its weights (``import_torch``: PyTorch's names, its gate
    order i, f, g, o, its two bias vectors summed), check that it computes what PyTorch
    computed, and dissect it.  Then the question the field usually answers with a probe
    (NeuroX's linguistic correlation analysis): which neurons carry a label?  A probe reads a
    property off the hidden states; it never checks that the model *uses* those neurons.  We
    train one held out, with its control task, and compare its ranking with the paper's by
    ablating each ranking's top neurons on sentences neither was ranked on.

What you will see
    the import's mapping ("lstm_f.Wx <- lstm.weight_ih_l0 (transposed)"); the largest
    difference between our logits and the ones PyTorch stored (~1e-7); one token's gates,
    which PyTorch does not show; the probe's held-out accuracy against its majority
    baseline and control task; per label, the held-out accuracy drop when the top 5 neurons of
    the paper's ranking, of the probe's and of 5 random ones are ablated.

Run it (from the repository root, after ``pip install .``; no PyTorch needed: the fixture in
lessons/fixtures/ is a .npz in PyTorch's names, made by lessons/fixtures/make_torch_tagger.py)::

    python lessons/12_your_pytorch_model.py

Runtime: about 10 seconds (the same in quick mode).

Dimension legend: n tokens of the dev split, H neurons (2 x 16), K labels, C probe classes.
"""
import json
import warnings
from pathlib import Path

import numpy as np
from _quick import OUT, pin_threads

from lstm_numpy.analysis.activity import collect_activity
from lstm_numpy.analysis.dissect import compare_rankings
from lstm_numpy.analysis.engine import Target
from lstm_numpy.analysis.sensitivity import xin_sensitivity
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.data.batching import EncodedSplit, iterate_batches
from lstm_numpy.data.generated import load_generated
from lstm_numpy.errors import UndefinedLabelWarning
from lstm_numpy.interop.files import import_torch
from lstm_numpy.model.tagger import tagger_forward
from lstm_numpy.pipeline import encode_with, load_tagger

FIXTURE = Path(__file__).resolve().parent / "fixtures"
rng = np.random.default_rng(0)
pin_threads()                                  # one BLAS thread, one Numba thread (see lesson 05)
warnings.filterwarnings("ignore", category=UndefinedLabelWarning)

# ---------------------------------------------------------------------------
# 1. Import the PyTorch tagger
# ---------------------------------------------------------------------------
checkpoint, imported = import_torch(FIXTURE / "torch_tagger.npz", FIXTURE / "torch_tagger.vocab.json",
                                    OUT / "12_imported", force=True)
for ours, theirs, how in imported.mapping:
    print(f"{ours:12s} <- {theirs}  ({how})")
params, config, vocab, labels = load_tagger(checkpoint / "best")
H, K = config.output_size, len(labels)
print(f"a BiLSTM of {config.hidden} neurons per direction over {config.word_dim}-d embeddings of "
      f"{len(vocab) - 2} words, {K} labels")

# ---------------------------------------------------------------------------
# 2. Does it compute what PyTorch computed?
# ---------------------------------------------------------------------------
check = json.loads((FIXTURE / "torch_tagger_check.json").read_text())["sentences"]
stored = np.load(FIXTURE / "torch_tagger_check.npz")
ids = [vocab.encode(s) for s in check]
zeros = [np.zeros(len(s), dtype=np.int64) for s in check]
split = EncodedSplit(ids, zeros, zeros, check)
ours = [None] * len(check)
for index, batch in iterate_batches(split, 8):
    z, _ = tagger_forward(params, config, batch)
    for row, i in enumerate(index):
        ours[i] = z[row, :len(check[i])]
difference = np.abs(np.concatenate(ours) - stored["logits"]).max()
print(f"\nlargest difference from PyTorch's logits on {len(check)} sentences: {difference:.1e}")
activity = collect_activity(params, config, split)
word = check[0][0]
print(f"'{word}', neuron 0: h {activity.hidden[0, 0]:+.3f}, c {activity.cell[0, 0]:+.3f}, input gate "
      f"{activity.input_gate[0, 0]:.3f}, forget gate {activity.forget_gate[0, 0]:.3f}, output gate "
      f"{activity.output_gate[0, 0]:.3f}  (what PyTorch's fused LSTM keeps to itself)")

# ---------------------------------------------------------------------------
# 3. Dissect it on the corpus it was trained on
# ---------------------------------------------------------------------------
corpus = load_generated(None, seed=0, n_train=1000, n_dev=200, n_test=10)        # the fixture's corpus
dev = encode_with({"dev": corpus["dev"]}, vocab, labels).splits["dev"]
states = collect_states(params, config, dev)
accuracy = float((states.pred == states.gold).mean())
S = xin_sensitivity(states.hidden, states.pred, params["out.W"])                 # (K, H)
print(f"\ndev token accuracy {accuracy:.3f} over {states.n_tokens:,} tokens; the top 3 neurons of B-PER by the "
      f"paper's sensitivity: {np.argsort(-np.nan_to_num(S[labels.labels.index('B-PER')], nan=-np.inf))[:3].tolist()}")

# ---------------------------------------------------------------------------
# 4. The probe, held out: trained on the even sentences, scored on the odd ones
# ---------------------------------------------------------------------------
comparison, probe, _ = compare_rankings(Target(params, config, dev, states), labels.labels, rng, "predicted",
                                     n_random=10, ks=(5,))
print(f"\nthe probe of the labels: held-out accuracy {probe.accuracy:.3f}, majority {probe.majority:.3f}, "
      f"control task {probe.control_accuracy:.3f}, selectivity {probe.selectivity:+.3f} "
      f"({probe.n_train:,} training tokens, {probe.n_heldout:,} held out, strength {probe.l1:g})")

# ---------------------------------------------------------------------------
# 5. Which ranking finds the neurons the model uses?  Ablate each one's top 5, held out
# ---------------------------------------------------------------------------
xin, by_probe = comparison.of("xin")[:, 0], comparison.of("probe")[:, 0]
random = comparison.random_drop[:, 0]
print(f"\nheld-out accuracy drop (points) after ablating 5 neurons ({comparison.n_scoring_tokens:,} tokens):")
print(f"  {'label':7s} {'paper':>7s} {'probe':>7s} {'random':>7s}")
for i, name in enumerate(labels.labels):
    if np.isfinite(xin[i]) or np.isfinite(by_probe[i]):
        print(f"  {name:7s} {100 * xin[i]:7.1f} {100 * by_probe[i]:7.1f} {100 * random[i]:7.1f}")
ranked = np.isfinite(xin) & np.isfinite(by_probe) & np.isfinite(random)
print(f"mean over {ranked.sum()} labels: paper {100 * xin[ranked].mean():.1f}, probe "
      f"{100 * by_probe[ranked].mean():.1f}, random {100 * random[ranked].mean():.1f}")

# ---------------------------------------------------------------------------
# 6. What we just showed
# ---------------------------------------------------------------------------
assert difference < 1e-5, "the imported model computes PyTorch's logits"
assert np.allclose(activity.hidden, activity.output_gate * np.tanh(activity.cell), atol=1e-6), "h = o tanh(c)"
assert accuracy > 0.9, "the PyTorch tagger learned its corpus"
assert probe.accuracy > probe.majority, "the probe reads the labels off the hidden states"
assert probe.accuracy > probe.control_accuracy, "... better than it memorises word types"
assert xin[ranked].mean() > random[ranked].mean() and by_probe[ranked].mean() > random[ranked].mean(), \
    "both rankings find neurons that matter more than random ones"
print("\nall checks passed")
