"""Lesson 06: training a tagger, and reading its metrics.

Goal
    Put the pieces together: words -> embeddings -> BiLSTM -> linear layer ->
    softmax, trained with masked cross-entropy and Adam on the generated NER
    corpus (no download), using the same four calls as ``run.py``:
    ``load_splits``, ``prepare``, ``make_config``, ``train_tagger``.  Then read
    the numbers the way the paper does: token accuracy against entity F1, the
    accuracy of each label, what a label gets confused with, and the bar every
    tagger must clear, a per-word most-frequent-label baseline.  If a copy of
    CoNLL-2003 is found, train the paper's tagger (one LSTM of 50 neurons) on
    it too, briefly.

What you will see
    One line per epoch (loss, dev token accuracy, dev entity F1, tokens/s);
    the test metrics next to the baseline's, e.g. "test entity F1: tagger 97.9,
    most-frequent-label baseline 59.7"; per-label accuracy and per-type F1;
    the confusion row of two labels; how many ill-formed label sequences the
    per-token argmax writes, and the F1 of reading the best well-formed one; the figure
    ``lessons/out/06_training_curves.png``; then the same summary on
    CoNLL-2003 when it is available.

Run it (from the repository root, after ``pip install .``)::

    python lessons/06_training_a_tagger.py                      # CoNLL-2003 from default_conll2003_dir(), if present
    python lessons/06_training_a_tagger.py path/to/conll2003    # a folder with train.txt, valid.txt, test.txt

Runtime: about 30 seconds, of which about 10 on the generated corpus and
about 15 on CoNLL-2003 (quick mode: about 4 seconds: a small corpus, a smaller
model, 2 epochs, and 300 CoNLL sentences for 1 epoch).

Dimension legend: N batch, T padded length, K labels.
"""
import sys
import time
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _quick import GENERATED_SIZES, OUT, QUICK, pin_threads  # noqa: E402

from lstm_numpy.data.baseline import entity_f1, most_frequent_label_baseline  # noqa: E402
from lstm_numpy.data.readers import Corpus, default_conll2003_dir  # noqa: E402
from lstm_numpy.evaluation.metrics import evaluate  # noqa: E402
from lstm_numpy.labels import transitions  # noqa: E402
from lstm_numpy.pipeline import load_splits, make_config, prepare, train_tagger  # noqa: E402
from lstm_numpy.prediction import predict_split  # noqa: E402
from lstm_numpy.training.loop import TrainConfig  # noqa: E402

rng = np.random.default_rng(0)       # the corpus and the training are seeded through their own seed=0 arguments
# One core for NumPy's BLAS and one for Numba: on a small shared machine two
# thread pools fight over the cores and training can run several times slower
# (lesson 05, section 4).
pin_threads()

# ---------------------------------------------------------------------------
# 1. Data: a generated corpus where context decides the entity type
# ---------------------------------------------------------------------------
# The same invented name can be a person, a place, an organisation or a
# language; the words around it decide ("met with X", "held in X", "X shares
# rose").  See lstm_numpy/data/generated.py.
start = time.perf_counter()
corpora = load_splits("generated", OUT / "06_generated", seed=0, sizes=GENERATED_SIZES)
for split, corpus in corpora.items():
    print(f"{split:5s}: {len(corpus):5,d} sentences {corpus.n_tokens:7,d} tokens")
print("a training sentence:", " ".join(f"{w}/{t}" for w, t in zip(corpora["train"].sentences[0],
                                                                   corpora["train"].labels[0])))
prepared = prepare(corpora)           # vocabularies from the training split; every split as id arrays
labels = prepared.labels.labels       # label names, "O" first
label_counts = Counter(label for seq in corpora["train"].labels for label in seq)
print(f"vocabulary {len(prepared.vocab):,} words; {len(labels)} labels: {' '.join(labels)}")
print(f"share of O among training tokens: {label_counts['O'] / sum(label_counts.values()):.3f}")

# A word the training split never had is <unk> to the word embedding, so two
# unseen names look alike there.  The bilstm preset also reads each word's
# letters: affix embeddings (first 2-3 and last 2-4 letters, data/vocab.py)
# and a character CNN (model/chars.py), which still tell such words apart.
unseen = ["Kowalczyk", "Nowakowski"]
unseen_ids = prepared.vocab.encode(unseen)
unseen_chars = prepared.chars.encode(unseen)          # (2, L) character ids, 0 pads the shorter word
print(f"unseen words {unseen}: word ids {unseen_ids.tolist()} (<unk> = 1), "
      f"affix ids {prepared.affixes.encode(unseen).tolist()}, character ids {unseen_chars[:, :5].tolist()} ...")
assert (unseen_ids == 1).all() and not np.array_equal(unseen_chars[0], unseen_chars[1])

# ---------------------------------------------------------------------------
# 2. Model and training
# ---------------------------------------------------------------------------
# Preset "bilstm": 25 neurons per direction (50 in all), 100-d word and 10-d
# casing embeddings, a character CNN (30 filters) and affix embeddings (5 x 20),
# dropout 0.5 with one mask per sentence, and entity scores read off the best
# well-formed label sequence (section 3e).  Quick mode: 8 per direction, 2 epochs.
config = make_config("bilstm", prepared, hidden=8 if QUICK else None)
train_cfg = TrainConfig(epochs=2 if QUICK else 10, batch_size=32, seed=0)
print(f"\nmodel: BiLSTM, {config.hidden} neurons per direction, backend {config.backend}, {config.dtype}; "
      f"{train_cfg.epochs} epochs at most, Adam, batch {train_cfg.batch_size}")
params, summary = train_tagger(prepared, config, train_cfg, progress=False)
history = summary["history"]
losses = [record["train_loss"] for record in history]
print(f"trained in {summary['train_seconds']:.1f} s; best epoch (by dev entity F1): {summary['best_epoch']}")
print(f"training loss: first epoch {losses[0]:.4f} -> last epoch {losses[-1]:.4f}")

# ---------------------------------------------------------------------------
# 3. Reading the metrics
# ---------------------------------------------------------------------------
test = summary["test"]
# (a) Token accuracy flatters: most tokens are O.  Tagging every token O is
# already "accurate" and finds no entity at all.
o_share = sum(seq.count("O") for seq in corpora["test"].labels) / corpora["test"].n_tokens
all_o = [["O"] * len(seq) for seq in corpora["test"].labels]
print(f"\n(a) tag everything O: token accuracy {o_share:.3f}, entity F1 {entity_f1(corpora['test'].labels, all_o)[2]:.1f}")

# (b) The bar to clear: each word's most frequent training label, no context.
baseline = most_frequent_label_baseline(corpora["train"].sentences, corpora["train"].labels,
                                        corpora["test"].sentences)
baseline_f1 = entity_f1(corpora["test"].labels, baseline)[2]
baseline_acc = np.mean([b == g for bs, gs in zip(baseline, corpora["test"].labels) for b, g in zip(bs, gs)])
print(f"(b) most-frequent-label baseline: token accuracy {baseline_acc:.3f}, entity F1 {baseline_f1:.1f}")
print(f"    the tagger:                   token accuracy {test['token_acc']:.3f}, entity F1 {test['entity_f1']:.1f}")
print(f"test entity F1: tagger {test['entity_f1']:.1f}, most-frequent-label baseline {baseline_f1:.1f}")
# Entity F1 (conlleval) counts an entity as found only if its type, first and
# last word are all right: one wrong I- tag loses the whole entity, so it
# moves much more than token accuracy does.

# (c) Per-label accuracy: of the tokens whose gold label is L, the share tagged L.
# This is the paper's measure; the later lessons ablate neurons and watch it fall.
print("(c) per-label accuracy on test:")
print("    " + "  ".join(f"{label} {acc:.3f}" if acc is not None else f"{label} n/a"
                         for label, acc in test["per_label_acc"].items()))
print("    per-type entity F1: " + "  ".join(f"{kind} {scores['f1']:.1f}" if scores["f1"] is not None else f"{kind} n/a"
                                       for kind, scores in sorted(test["entity_per_type"].items())))

# (d) Confusion: for the two entity labels with the lowest accuracy, what were
# their tokens tagged as instead?  Row = gold label, columns = predicted.
confusion = np.array(test["confusion"])                  # (K, K) counts
accuracy = {label: acc for label, acc in test["per_label_acc"].items() if label != "O" and acc is not None}
worst_labels = sorted(accuracy, key=accuracy.get)[:2]
print("(d) confusion rows (gold -> predicted counts):")
for label in worst_labels:
    row = confusion[labels.index(label)]
    parts = [f"{labels[j]} {row[j]}" for j in np.argsort(-row) if row[j] > 0][:4]
    print(f"    {label:6s} ({row.sum()} tokens): " + ", ".join(parts))

# (e) Reading labels off the logits.  The tagger scores every token on its own
# (no CRF), so the per-token argmax can write "O I-PER" (an entity opened by an
# I- tag) or "B-ORG I-PER".  The bilstm preset reads instead the best sequence
# the IOB2 scheme allows: Viterbi over the logits with the forbidden
# transitions at -inf and nothing learned (evaluation/decoding.py).  The scores
# above use it; the analysis lessons read the argmax, the paper's per-token view.
rules = transitions(labels)      # rules.start (K,), rules.allowed (K, K) bool
test_split = prepared.splits["test"]
argmax_preds = predict_split(params, config, test_split)
constrained_preds = predict_split(params, config, test_split, decode="constrained", label_names=labels)


def n_invalid(preds):
    """Forbidden transitions (and sentences opened by I-) in a list of (T_s,) label-id arrays."""
    return sum(int(not rules.start[p[0]]) + int((~rules.allowed[p[:-1], p[1:]]).sum()) for p in preds)


argmax_f1 = evaluate(test_split.labels, argmax_preds, labels)["entity_f1"]
print(f"(e) forbidden transitions on test: argmax {n_invalid(argmax_preds)}, constrained "
      f"{n_invalid(constrained_preds)}; entity F1: argmax {argmax_f1:.1f}, constrained {test['entity_f1']:.1f}")
assert n_invalid(constrained_preds) == 0, "constrained decoding only writes well-formed sequences"
assert evaluate(test_split.labels, constrained_preds, labels)["entity_f1"] == test["entity_f1"]
assert argmax_f1 == test["argmax_entity_f1"], "train_tagger's summary keeps the argmax score too"

fig, (ax_loss, ax_f1) = plt.subplots(1, 2, figsize=(8, 3))
epochs = [record["epoch"] for record in history]
ax_loss.plot(epochs, losses, marker="o")
ax_loss.set_xlabel("epoch")
ax_loss.set_ylabel("training loss")
ax_f1.plot(epochs, [record["dev_entity_f1"] for record in history], marker="o", label="tagger (dev)")
dev_baseline = most_frequent_label_baseline(corpora["train"].sentences, corpora["train"].labels,
                                            corpora["dev"].sentences)
ax_f1.axhline(entity_f1(corpora["dev"].labels, dev_baseline)[2], color="gray", linestyle="--", label="baseline (dev)")
ax_f1.set_xlabel("epoch")
ax_f1.set_ylabel("entity F1")
ax_f1.legend()
fig.suptitle("Generated corpus, BiLSTM")
fig.tight_layout()
figure = OUT / "06_training_curves.png"
fig.savefig(figure, dpi=120)
plt.close(fig)
print(f"wrote {figure}")
generated_seconds = time.perf_counter() - start

# ---------------------------------------------------------------------------
# 4. CoNLL-2003, if we have it
# ---------------------------------------------------------------------------
# The paper's data and tagger: English newswire, PER/LOC/ORG/MISC, one
# unidirectional LSTM of 50 neurons (preset "paper").  Three epochs at a
# learning rate five times Adam's default, without pretrained embeddings, get
# well past the baseline but short of the paper's ~88 F1;
# `python run.py --data conll2003 --preset paper` trains it fully.
conll_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default_conll2003_dir()
conll_losses = None
if len(sys.argv) == 1 and not conll_dir.exists():     # a folder given explicitly must exist: load_splits says so
    print(f"\nCoNLL-2003: not found at {conll_dir}; skipped (pass its folder as an argument)")
else:
    start = time.perf_counter()
    conll = load_splits("conll2003", conll_dir)
    if QUICK:      # a few hundred sentences: enough to exercise the code, not to learn
        conll = {split: Corpus(c.sentences[:n], c.labels[:n], c.path)
                 for (split, c), n in zip(conll.items(), (300, 100, 100))}
    print()
    for split, corpus in conll.items():
        print(f"CoNLL-2003 {split:5s}: {len(corpus):6,d} sentences {corpus.n_tokens:8,d} tokens")
    conll_prepared = prepare(conll, unknown_labels="O")   # a label absent from a small training subset -> O
    conll_config = make_config("paper", conll_prepared)
    conll_cfg = TrainConfig(epochs=1 if QUICK else 3, batch_size=32, lr=5e-3, seed=0)
    _, conll_summary = train_tagger(conll_prepared, conll_config, conll_cfg, progress=False)
    conll_losses = [record["train_loss"] for record in conll_summary["history"]]
    conll_baseline = most_frequent_label_baseline(conll["train"].sentences, conll["train"].labels,
                                                  conll["test"].sentences)
    conll_test = conll_summary["test"]
    conll_baseline_f1 = entity_f1(conll["test"].labels, conll_baseline)[2]
    print(f"CoNLL-2003 test: token accuracy {conll_test['token_acc']:.3f}, entity F1 {conll_test['entity_f1']:.1f} "
          f"after {len(conll_losses)} epoch(s); most-frequent-label baseline entity F1 {conll_baseline_f1:.1f}")
    print("CoNLL-2003 per-label accuracy: " + "  ".join(
        f"{label} {acc:.2f}" if acc is not None else f"{label} n/a" for label, acc in conll_test["per_label_acc"].items()))
    print(f"CoNLL-2003 took {time.perf_counter() - start:.1f} s")

# ---------------------------------------------------------------------------
# 5. What we just showed
# ---------------------------------------------------------------------------
assert losses[-1] < losses[0], "the training loss fell"
if not QUICK:
    assert test["token_acc"] > o_share, "the tagger is more accurate than tagging everything O"
    assert test["entity_f1"] > baseline_f1, "context beats the per-word baseline on the generated corpus"
    assert test["entity_f1"] > 80, "the BiLSTM learns the generated corpus"
if conll_losses is not None and not QUICK:
    assert conll_losses[-1] < conll_losses[0], "the CoNLL-2003 training loss fell"
    assert conll_test["entity_f1"] > conll_baseline_f1, "three epochs beat the baseline on CoNLL-2003"
assert figure.exists()
print(f"\ngenerated corpus part took {generated_seconds:.1f} s")
print("all checks passed")
