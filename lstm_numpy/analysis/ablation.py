"""The ablation harness: silence chosen neurons, measure what each label loses.

Dimension legend: n tokens, H neurons (Hout), K labels, k ablated neurons.

Two modes of silencing a set A of neurons:

* ``output``: h_j is zeroed only where it enters the linear layer. The LSTM
  is not rerun; from the cached States,
  ``z = logits - h[:, A] @ W[:, A].T`` (or ``b + h[:, kept] @ W[:, kept].T``
  when most neurons are ablated), an O(n K |A|) Numba pass.
* ``recurrent``: h_j is clamped to zero inside the time loop at every step
  (``tagger_forward(keep=...)``), so later steps never see it either. The
  LSTM is rerun on ``config.backend``.

Strategies for choosing k neurons for target label i:

* ``top``: the k highest of row i of a (K, H) ranking (Xin sensitivity by default);
* ``bottom``: the k lowest of that row;
* ``random``: k neurons drawn uniformly without replacement, R times
  (seeded rng), from all H neurons (``random_pool="all"``: a draw may include
  the label's top-k) or from the others only (``"outside-top"``); summaries
  give the mean and the 2.5/97.5 percentiles of the R drops (the spread of
  single draws, not a confidence interval of the mean);
* ``control``: the top-k of another label, by default the next label in the
  label order (cyclic, skipping labels without tokens), or as given in ``control``.

Every ablation is scored against the unablated predictions (the base).
"""
from __future__ import annotations

import csv
import io
import warnings
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..labels import chunk_tables, is_chunking
from ..training.metrics import sentence_edges
from .kernels import ablated_argmax_numba, entity_totals_numba
from .rankings import rank_neurons
from .states import collect_states

MODES = ("output", "recurrent")
STRATEGIES = ("top", "bottom", "random", "control")
RANDOM_POOLS = ("all", "outside-top")
DEFAULT_KS = (1, 2, 3, 5, 10, 20)


def ablation_mask(n_hidden, neurons, dtype=np.float32):
    """keep (H,): ones, zeros at ``neurons``."""
    keep = np.ones(n_hidden, dtype=dtype)
    keep[np.asarray(neurons, dtype=np.int64)] = 0
    return keep


# ------------------------------------------------------------ predictions


class OutputCache(NamedTuple):
    """Transposed copies of the States for the output-mode kernel (build once
    with :func:`output_cache`): baseT (K, n), hT (H, n) contiguous, W (K, H),
    b (K,), all in the dtype of the logits."""

    baseT: np.ndarray
    hT: np.ndarray
    W: np.ndarray
    b: np.ndarray


def output_cache(states, W, b):
    dtype = states.logits.dtype
    return OutputCache(np.ascontiguousarray(states.logits.T), np.ascontiguousarray(states.hidden.T, dtype=dtype),
                       np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(b, dtype=dtype))


def ablate_output(cache, neurons):
    """Predictions (n,) int64 with ``neurons`` zeroed where they enter the linear layer."""
    neurons = np.unique(np.asarray(neurons, dtype=np.int64))
    H = cache.hT.shape[0]
    if neurons.size * 2 <= H:
        return ablated_argmax_numba(cache.baseT, cache.hT, cache.W, neurons, sign=-1.0)
    kept = np.setdiff1d(np.arange(H), neurons)
    return ablated_argmax_numba(cache.baseT, cache.hT, cache.W, kept, sign=1.0, bias=cache.b)


def ablate_recurrent(params, config, split, neurons, batch_size=256):
    """Predictions (n,) int64 with ``neurons`` clamped to zero inside the LSTM."""
    keep = ablation_mask(config.output_size, neurons, np.dtype(config.dtype))
    return collect_states(params, config, split, batch_size, keep=keep).pred


# ------------------------------------------------------------ scoring


class Scorer:
    """Scores predictions against gold and the base predictions (tables built once)."""

    def __init__(self, states, label_names):
        self.gold, self.base_pred = states.gold, states.pred
        self.names = list(label_names)
        self.K = len(self.names)
        self.entities = is_chunking(self.names)
        if self.entities:
            self.edges = sentence_edges(states.lengths, states.gold.size)
            self.tables = chunk_tables(self.names)
        self.was_correct = self.gold == self.base_pred
        self.base = self.score(self.base_pred)

    def score(self, pred):
        """Scores of predictions pred (n,): {"token_acc", "entity_f1" (percent, None if
        not IOB), "acc", "precision", "f1" (K,), "lost" (K, K) int64}.

        lost[i, c]: tokens of gold label i that the base got right and pred
        labels c != i (where the lost tokens went).
        """
        K, gold = self.K, self.gold
        confusion = np.bincount(gold * K + pred, minlength=K * K).reshape(K, K)
        correct = np.diag(confusion).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = correct / confusion.sum(axis=1)
            precision = correct / confusion.sum(axis=0)
            f1 = np.where(precision + acc > 0, 2 * precision * acc / (precision + acc), 0.0)
        f1[np.isnan(precision) | np.isnan(acc)] = np.nan
        entity_f1 = None
        if self.entities:
            n_gold, n_pred, n_correct = entity_totals_numba(gold, pred, self.edges, self.tables)
            p = 100.0 * n_correct / n_pred if n_pred else 0.0
            r = 100.0 * n_correct / n_gold if n_gold else 0.0
            entity_f1 = 2 * p * r / (p + r) if p + r else 0.0
        lost = self.was_correct & (pred != gold)
        lost = np.bincount(gold[lost] * K + pred[lost], minlength=K * K).reshape(K, K)
        token_acc = float(correct.sum() / max(gold.size, 1))
        return {"token_acc": token_acc, "entity_f1": entity_f1, "acc": acc, "precision": precision,
                "f1": f1, "lost": lost}

    def record(self, label, scores):
        """The nested, JSON-ready result of one ablation (its ``scores``) for target ``label``."""
        s, base, names = scores, self.base, self.names
        drop = base["acc"] - s["acc"]                                          # (K,)
        others = np.delete(drop, label)
        selectivity = drop[label] - np.nanmean(others) if np.isfinite(others).any() else np.nan
        as_dict = lambda values: {name: float(v) for name, v in zip(names, values)}  # noqa: E731
        entity_drop = None if s["entity_f1"] is None else base["entity_f1"] - s["entity_f1"]
        return {
            "label": names[label], "target_acc": float(s["acc"][label]),
            "target_acc_drop": float(drop[label]), "target_precision": float(s["precision"][label]),
            "target_f1": float(s["f1"][label]), "selectivity": float(selectivity),
            "token_acc": s["token_acc"], "token_acc_drop": base["token_acc"] - s["token_acc"],
            "entity_f1": s["entity_f1"], "entity_f1_drop": entity_drop,
            "per_label_acc": as_dict(s["acc"]), "per_label_acc_drop": as_dict(drop),
            "per_label_precision": as_dict(s["precision"]), "per_label_f1": as_dict(s["f1"]),
            "lost_to": {name: int(c) for name, c in zip(names, s["lost"][label]) if c},
        }


# ------------------------------------------------------------ single neurons


def single_neuron_sweep(states, W, b, mode="output", params=None, config=None, split=None):
    """Ablate each neuron alone.

    Returns {"token_acc_drop": (H,), "per_label_acc_drop": (K, H)} float64
    (NaN rows for labels absent from gold). Recurrent mode needs params,
    config and split.
    """
    W = np.asarray(W)
    K, H = W.shape
    scorer = Scorer(states, [f"L{i}" for i in range(K)])   # not IOB names: no entity scoring
    cache = output_cache(states, W, b) if mode == "output" else None
    token_drop, label_drop = np.zeros(H), np.zeros((K, H))
    for j in range(H):
        pred = ablate_output(cache, [j]) if mode == "output" else ablate_recurrent(params, config, split, [j])
        s = scorer.score(pred)
        token_drop[j] = scorer.base["token_acc"] - s["token_acc"]
        label_drop[:, j] = scorer.base["acc"] - s["acc"]
    return {"token_acc_drop": token_drop, "per_label_acc_drop": label_drop}


# ------------------------------------------------------------ the sweep


def default_controls(ranking, present):
    """{label: control label}: the next label in order (cyclic) with tokens and a ranking row."""
    usable = [i for i in range(ranking.shape[0]) if present[i] and not np.isnan(ranking[i]).all()]
    return {i: usable[(n + 1) % len(usable)] for n, i in enumerate(usable)} if len(usable) > 1 else {}


def plan_ablations(ranking, present, ks, n_random, rng, controls, random_pool="all"):
    """Every (strategy, label, k, draw, control, neurons) to run; the same plan serves every mode.

    random_pool: "all" draws random-k from all H neurons (a draw may include
    the label's own top-k); "outside-top" only from the H - k others (no
    random draws for a k > H - k).
    """
    if random_pool not in RANDOM_POOLS:
        raise ValueError(f"random_pool must be one of {RANDOM_POOLS}, got {random_pool!r}")
    order = rank_neurons(ranking)
    H = ranking.shape[1]
    plan = []
    for label in range(ranking.shape[0]):
        if not present[label] or np.isnan(ranking[label]).all():
            continue
        for k in ks:
            plan.append(("top", label, k, None, None, order[label, :k]))
            plan.append(("bottom", label, k, None, None, order[label, ::-1][:k]))
            outside = order[label, k:]
            for draw in range(n_random if random_pool == "all" or outside.size >= k else 0):
                neurons = rng.choice(H, size=k, replace=False) if random_pool == "all" else \
                    rng.choice(outside, size=k, replace=False)
                plan.append(("random", label, k, draw, None, neurons))
            if label in controls:
                c = controls[label]
                plan.append(("control", label, k, None, c, order[c, :k]))
    return plan


def _summarise(records):
    summary = {}
    for r in records:
        strategies = summary.setdefault(r["mode"], {s: {} for s in STRATEGIES})
        strategies[r["strategy"]].setdefault(r["label"], {}).setdefault(r["k"], []).append(r["target_acc_drop"])
    for strategies in summary.values():
        strategies["random_ci"] = {label: {k: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
                                           for k, v in by_k.items()}
                                   for label, by_k in strategies["random"].items()}
        for strategy in STRATEGIES:
            for by_k in strategies[strategy].values():
                for k, values in by_k.items():
                    by_k[k] = float(np.mean(values))
    return summary


def run_ablation_sweep(params, config, split, label_names, states, ranking=None, modes=("output",),
                       ks=DEFAULT_KS, n_random=20, rng=None, control=None, single_neuron=True,
                       progress=True, random_pool="all"):
    """Ablate top / bottom / random / control sets of k neurons for every label.

    params, config, split: the tagger and the EncodedSplit ``states`` came from
    (collect_states without a mask); label_names (K,); ranking (K, H) or None
    for Xin sensitivity grouped by predicted label; ks: k values (k > H
    skipped); n_random: R draws per (label, k); rng: np.random.Generator
    (required when n_random > 0); control: None (next label) or {label: label}
    by id or name; single_neuron: also run single_neuron_sweep per mode;
    random_pool: "all" or "outside-top" (see plan_ablations).

    Returns {"label_names", "ks", "modes", "n_random" {mode: R}, "random_pool", "controls" {label: label},
    "base" {token_acc, entity_f1, per_label_acc {label: acc}},
    "records" [one nested dict per ablation, see Scorer.record, plus mode,
    strategy, k, draw, control, neurons], "summary" {mode: {strategy: {label:
    {k: target accuracy drop}}, "random_ci": {label: {k: [lo, hi]}}}},
    "single_neuron" {mode: {"token_acc_drop": (H,) list}}}.
    """
    from .sensitivity import sensitivity_from_states  # only for the default ranking

    W, b = params["out.W"], params["out.b"]
    names = list(label_names)
    K, H = W.shape
    if len(names) != K:
        raise ValueError(f"{len(names)} label names for {K} labels")
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    if n_random > 0 and rng is None:
        raise ValueError("random ablations need an rng (np.random.Generator)")
    ranking = sensitivity_from_states(states, W) if ranking is None else np.asarray(ranking, dtype=np.float64)
    if ranking.shape != (K, H):
        raise ValueError(f"ranking must be ({K}, {H}), got {ranking.shape}")
    ks = [int(k) for k in ks if k <= H]
    present = np.bincount(states.gold, minlength=K) > 0
    unranked = present & np.isnan(ranking).all(axis=1)
    if unranked.any():
        warnings.warn(f"labels {[names[i] for i in np.flatnonzero(unranked)]} occur in gold but have no "
                      "ranking (e.g. never predicted, with the default ranking); they are not ablated")
    lookup = lambda x: names.index(x) if isinstance(x, str) else int(x)  # noqa: E731
    controls = default_controls(ranking, present) if control is None else {
        lookup(a): lookup(c) for a, c in control.items()}
    plan = plan_ablations(ranking, present, ks, n_random, rng, controls, random_pool)
    scorer = Scorer(states, names)
    cache = output_cache(states, W, b) if "output" in modes else None
    records, single = [], {}
    for mode in modes:
        scored = {}   # neuron set -> scores (small): control sets repeat other labels' top sets
        for strategy, label, k, draw, c, neurons in tqdm(plan, desc=f"ablation ({mode})", disable=not progress):
            key = tuple(sorted(int(j) for j in neurons))
            if key not in scored:
                pred = ablate_output(cache, key) if mode == "output" else ablate_recurrent(params, config, split, key)
                scored[key] = scorer.score(pred)
            record = {"mode": mode, "strategy": strategy, "k": k, "draw": draw,
                      "control": None if c is None else names[c], "neurons": list(key)}
            record.update(scorer.record(label, scored[key]))
            records.append(record)
        if single_neuron:
            sweep = single_neuron_sweep(states, W, b, mode, params, config, split)
            single[mode] = {"token_acc_drop": sweep["token_acc_drop"].tolist()}
    base = scorer.base
    return {"label_names": names, "ks": ks, "modes": list(modes), "n_random": {mode: n_random for mode in modes},
            "random_pool": random_pool,
            "controls": {names[a]: names[c] for a, c in controls.items()},
            "base": {"token_acc": base["token_acc"], "entity_f1": base["entity_f1"],
                     "per_label_acc": {n: float(v) for n, v in zip(names, base["acc"])}},
            "records": records, "summary": _summarise(records), "single_neuron": single}


# ------------------------------------------------------------ CSV


def flatten_record(record):
    """One nested record -> one flat row: nested dicts become "<key>[<label>]" columns."""
    row = {}
    for key, value in record.items():
        if isinstance(value, dict):
            for label, v in value.items():
                row[f"{key}[{label}]"] = v
        elif isinstance(value, (list, tuple)):
            row[key] = " ".join(str(v) for v in value)
        else:
            row[key] = value
    return row


def write_ablation_csv(rows, path):
    """Write records (nested or flat) as CSV, atomically; columns in first-seen order."""
    flat = [flatten_record(r) for r in rows]
    columns = list(dict.fromkeys(c for row in flat for c in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in flat:
        writer.writerow({c: ("" if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                         for c, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
