"""Ablation sweeps: for every label and k, ablate its top-k neurons (by a ranking), its
bottom-k, random k and another label's top-k (control), and summarise.

Dimension legend: n tokens, H neurons (Hout), K labels, k ablated neurons, R random draws.

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

:func:`run_ablation_sweep` returns every record (one per ablation, for the CSV)
*and* the summaries the report needs ("summary", "random_ci", "top_k",
"random_k", "drop_matrix"), so nothing downstream reads the records back.
The k values, modes and strategies of the project's analysis are defined here.
"""
from __future__ import annotations

import warnings

import numpy as np
from tqdm.auto import tqdm

from ..backend import get_backend
from .ablation import Scorer, ablate_output, ablate_recurrent_many, output_cache, single_neuron_sweep
from .rankings import rank_neurons
from .sensitivity import sensitivity_from_states

MODES = ("output", "recurrent")
STRATEGIES = ("top", "bottom", "random", "control")
RANDOM_POOLS = ("all", "outside-top")
DEFAULT_KS = (1, 2, 3, 5, 10, 20)      # output-mode sweep
RECURRENT_KS = (1, 3, 5, 10)           # recurrent-mode sweep (each ablation reruns the LSTM)
CLAIM_KS = (1, 3, 5, 10)               # the rankings compared, and the claims checked
DROP_MATRIX_K = 5                      # the "which labels suffer" matrix
N_RANDOM, N_RANDOM_RECURRENT = 20, 5   # random draws per (label, k)


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


def _summaries(records, label_names):
    """The summaries of a sweep's records, per mode (see run_ablation_sweep)."""
    K = len(label_names)
    index = {name: i for i, name in enumerate(label_names)}
    summary, top_k, random_k, drop_matrix = {}, {}, {}, {}
    collected = {}
    for r in records:
        mode = r["mode"]
        strategies = collected.setdefault(mode, {s: {} for s in STRATEGIES})
        strategies[r["strategy"]].setdefault(r["label"], {}).setdefault(r["k"], []).append(r)
        if r["strategy"] == "top":
            top_k.setdefault(mode, {}).setdefault(r["label"], {})[r["k"]] = {
                "drop": r["target_acc_drop"], "selectivity": r["selectivity"]}
            matrix = drop_matrix.setdefault(mode, {}).setdefault(r["k"], np.full((K, K), np.nan))
            matrix[index[r["label"]]] = [r["per_label_acc_drop"][name] for name in label_names]
    for mode, strategies in collected.items():
        means = {strategy: {label: {k: float(np.mean([r["target_acc_drop"] for r in rs])) for k, rs in by_k.items()}
                            for label, by_k in strategies[strategy].items()} for strategy in STRATEGIES}
        means["random_ci"] = {label: {k: [float(np.percentile([r["target_acc_drop"] for r in rs], 2.5)),
                                          float(np.percentile([r["target_acc_drop"] for r in rs], 97.5))]
                                      for k, rs in by_k.items()}
                              for label, by_k in strategies["random"].items()}
        summary[mode] = means
        random_k[mode] = {label: {k: {"drop": float(np.nanmean([r["target_acc_drop"] for r in rs])),
                                      "selectivity": float(np.nanmean([r["selectivity"] for r in rs]))}
                                  for k, rs in by_k.items()}
                          for label, by_k in strategies["random"].items()}
    return {"summary": summary, "top_k": top_k, "random_k": random_k, "drop_matrix": drop_matrix}


def run_ablation_sweep(params, config, split, label_names, states, ranking=None, modes=("output",),
                       ks=DEFAULT_KS, n_random=N_RANDOM, rng=None, control=None, single_neuron=True,
                       progress=True, random_pool="all"):
    """Ablate top / bottom / random / control sets of k neurons for every label.

    params, config, split: the tagger and the EncodedSplit ``states`` came from
    (collect_states without a mask; split is only read in recurrent mode);
    label_names (K,); ranking (K, H) or None for Xin sensitivity grouped by
    predicted label; ks: k values (k > H skipped); n_random: R draws per
    (label, k); rng: np.random.Generator (required when n_random > 0);
    control: None (next label) or {label: label} by id or name; single_neuron:
    also run single_neuron_sweep per mode; random_pool: "all" or
    "outside-top" (see plan_ablations). Kernels: config.backend's.

    Returns {"label_names", "ks", "modes", "n_random" {mode: R}, "random_pool", "controls" {label: label},
    "base" {token_acc, entity_f1, per_label_acc {label: acc}},
    "records" [one nested dict per ablation, see Scorer.record, plus mode,
    strategy, k, draw, control, neurons], "summary" {mode: {strategy: {label:
    {k: mean target accuracy drop}}, "random_ci": {label: {k: [lo, hi]}}}},
    "top_k" {mode: {label: {k: {"drop", "selectivity"}}}}, "random_k" (the same,
    means over the draws), "drop_matrix" {mode: {k: (K, K) per-label accuracy
    drops, row = label whose top-k were ablated, column = label measured}},
    "single_neuron" {mode: {"token_acc_drop": (H,) list}}}.
    """
    backend = get_backend(config.backend)
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
    ranking = sensitivity_from_states(states, W, backend=backend) if ranking is None else \
        np.asarray(ranking, dtype=np.float64)
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
    scorer = Scorer(states, names, backend)
    cache = output_cache(states, W, b, backend) if "output" in modes else None
    records, single = [], {}
    for mode in modes:
        keys = [tuple(sorted(int(j) for j in neurons)) for *_, neurons in plan]
        if mode == "recurrent":     # every set at once: each LSTM step runs all of them (ablate_recurrent_many)
            unique = list(dict.fromkeys(keys))
            rerun = dict(zip(unique, ablate_recurrent_many(params, config, split, unique, progress=progress)))
        scored = {}   # neuron set -> scores (small): control sets repeat other labels' top sets
        for (strategy, label, k, draw, c, _), key in tqdm(list(zip(plan, keys)), desc=f"ablation ({mode})",
                                                          disable=not progress or mode == "recurrent"):
            if key not in scored:
                scored[key] = scorer.score(ablate_output(cache, key) if mode == "output" else rerun[key])
            record = {"mode": mode, "strategy": strategy, "k": k, "draw": draw,
                      "control": None if c is None else names[c], "neurons": list(key)}
            record.update(scorer.record(label, scored[key]))
            records.append(record)
        if single_neuron:
            sweep = single_neuron_sweep(states, W, b, mode, params, config, split, backend)
            single[mode] = {"token_acc_drop": sweep["token_acc_drop"].tolist()}
    base = scorer.base
    return {"label_names": names, "ks": ks, "modes": list(modes), "n_random": {mode: n_random for mode in modes},
            "random_pool": random_pool,
            "controls": {names[a]: names[c] for a, c in controls.items()},
            "base": {"token_acc": base["token_acc"], "entity_f1": base["entity_f1"],
                     "per_label_acc": {n: float(v) for n, v in zip(names, base["acc"])}},
            "records": records, **_summaries(records, names), "single_neuron": single}


def merge_sweeps(first, second):
    """One sweep result from two sweeps of different modes (an output-mode and a recurrent-mode one)."""
    merged = dict(first)
    merged["modes"] = list(first["modes"]) + list(second["modes"])
    merged["n_random"] = {**first["n_random"], **second["n_random"]}
    merged["records"] = first["records"] + second["records"]
    for key in ("summary", "top_k", "random_k", "drop_matrix", "single_neuron"):
        merged[key] = {**first.get(key, {}), **second.get(key, {})}
    return merged


def top_k_sweeps(params, config, label_names, states, rankings, ks=CLAIM_KS):
    """{ranking name: {label: {k: {"drop", "selectivity"}}}}: the output-mode top-k ablation of
    each ranking in ``rankings`` ({name: (K, H)}), scored on ``states``."""
    out = {}
    for name, ranking in rankings.items():
        sweep = run_ablation_sweep(params, config, None, label_names, states, ranking, modes=("output",), ks=ks,
                                   n_random=0, single_neuron=False, progress=False)
        top = sweep["top_k"].get("output", {})
        out[name] = {label: top.get(label, {}) for label in label_names}     # every label, {} if not ablated
    return out
