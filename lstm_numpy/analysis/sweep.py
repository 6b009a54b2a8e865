"""Ablation sweeps, planned for the engine (analysis.engine) and summarised as typed records
(analysis.results): for every label and k, silence its top-k neurons (by a ranking), its
bottom-k, k random ones and another label's top-k (control); each neuron alone; and each
ranking's top-k, for the held-out comparison of rankings.

Dimension legend: n tokens, H neurons (Hout), K labels, J k values, R random draws.

Strategies for choosing k neurons for target label i:

* ``top``: the k highest of row i of a (K, H) ranking (Xin sensitivity by default);
* ``bottom``: the k lowest of that row;
* ``random``: k neurons drawn uniformly without replacement, R times
  (seeded rng), from all H neurons (``random_pool="all"``: a draw may include
  the label's top-k) or from the others only (``"outside-top"``); summaries
  give the mean and the 2.5/97.5 percentiles of the R drops (the spread of
  single draws, not a confidence interval of the mean);
* ``control``: the top-k of another label, by default the next label in the
  label order (cyclic, skipping labels without tokens), or as given.

A label is ablated when it has gold tokens and a ranking row that is not all
NaN; the others are NaN in every summary.  Which k values and how many draws a
run uses is the run's choice (analysis.dissect.DissectOptions).
"""
from __future__ import annotations

import warnings

import numpy as np

from ..defaults import RANDOM_POOLS
from ..errors import UndefinedLabelWarning
from .engine import Plan, ablate, item
from .rankings import rank_neurons
from .results import STRATEGIES, ModeSweep, Sweep



def present_labels(states, K):
    """(K,) bool: the labels with gold tokens in ``states``."""
    return np.bincount(states.gold, minlength=K) > 0


def ablatable(ranking, present):
    """(K,) bool: the labels a sweep ablates (gold tokens and a ranking row)."""
    return present & ~np.isnan(np.asarray(ranking, dtype=np.float64)).all(axis=1)


def default_controls(ranking, present):
    """{label: control label}: the next label in order (cyclic) with tokens and a ranking row."""
    usable = np.flatnonzero(ablatable(ranking, present)).tolist()
    return {i: usable[(n + 1) % len(usable)] for n, i in enumerate(usable)} if len(usable) > 1 else {}


def plan_sweep(ranking, present, ks, n_random, rng, controls, random_pool="all", mode="output",
               strategies=STRATEGIES, ranking_name=""):
    """PlanItems of a sweep in one mode: for every ablatable label, every k, the ``strategies``
    (in the order top, bottom, random draws, control).

    ranking (K, H); present (K,) bool; ks: k values (each <= H); n_random: R; rng:
    np.random.Generator (read only for random draws: planning only some strategies
    draws the same random sets); controls: {label: control label};
    random_pool: "all" (a draw may include the label's own top-k) or "outside-top"
    (only the H - k others; no draws for a k > H - k).
    """
    if random_pool not in RANDOM_POOLS:
        raise ValueError(f"random_pool must be one of {RANDOM_POOLS}, got {random_pool!r}")
    if "random" in strategies and n_random > 0 and rng is None:
        raise ValueError("random ablations need an rng (np.random.Generator)")
    order = rank_neurons(ranking)
    H = order.shape[1]
    items = []
    for label in np.flatnonzero(ablatable(ranking, present)).tolist():
        for k in ks:
            question = dict(label=label, k=int(k), ranking=ranking_name)
            if "top" in strategies:
                items.append(item(mode, order[label, :k], strategy="top", **question))
            if "bottom" in strategies:
                items.append(item(mode, order[label, ::-1][:k], strategy="bottom", **question))
            outside = order[label, k:]
            if "random" in strategies:
                for draw in range(n_random if random_pool == "all" or outside.size >= k else 0):
                    neurons = rng.choice(H, size=k, replace=False) if random_pool == "all" else \
                        rng.choice(outside, size=k, replace=False)
                    items.append(item(mode, neurons, strategy="random", draw=draw, **question))
            if "control" in strategies and label in controls:
                c = controls[label]
                items.append(item(mode, order[c, :k], strategy="control", control=c, **question))
    return items


def plan_single_neurons(H, mode="output"):
    """PlanItems silencing each neuron alone: (H,) items of strategy "single"."""
    return [item(mode, [j], strategy="single", k=1) for j in range(H)]


# ------------------------------------------------------------ summaries


def _grid(values, labels, ks, K, J):
    """(K, J) of values at (label, k index), NaN elsewhere."""
    out = np.full((K, J), np.nan)
    for value, label, j in zip(values, labels, ks):
        out[label, j] = value
    return out


def mode_sweep(outcomes, mode, ks, n_random, single=None):
    """ModeSweep of one mode's sweep items in ``outcomes`` (engine.Outcomes).

    single: the (H,) single-neuron token-accuracy drops of this mode, or None."""
    K, J = len(outcomes.labels), len(ks)
    column = {int(k): j for j, k in enumerate(ks)}
    drop, selectivity, label_drop = outcomes.target_drop, outcomes.selectivity, outcomes.label_drop
    grids = {}
    for strategy in ("top", "bottom", "control"):
        rows = outcomes.select(mode=mode, strategy=strategy)
        at = (np.array([outcomes.items[i].label for i in rows], dtype=np.int64),
              np.array([column[outcomes.items[i].k] for i in rows], dtype=np.int64))
        grids[strategy] = (rows, at)
    top_rows, (top_labels, top_ks) = grids["top"]
    random_mean, random_sel = np.full((K, J), np.nan), np.full((K, J), np.nan)
    interval = np.full((K, J, 2), np.nan)
    draws = {}
    for i in outcomes.select(mode=mode, strategy="random"):
        entry = outcomes.items[i]
        draws.setdefault((entry.label, column[entry.k]), []).append(i)
    for (label, j), rows in draws.items():
        random_mean[label, j] = np.mean(drop[rows])
        random_sel[label, j] = np.nanmean(selectivity[rows])
        interval[label, j] = np.percentile(drop[rows], 2.5), np.percentile(drop[rows], 97.5)
    drop_matrix = np.full((J, K, K), np.nan)
    drop_matrix[top_ks, top_labels] = label_drop[top_rows]
    return ModeSweep(
        mode=mode, ks=tuple(int(k) for k in ks), n_random=int(n_random),
        top=_grid(drop[top_rows], top_labels, top_ks, K, J),
        bottom=_grid(drop[grids["bottom"][0]], *grids["bottom"][1], K, J),
        control=_grid(drop[grids["control"][0]], *grids["control"][1], K, J),
        random=random_mean, random_interval=interval,
        top_selectivity=_grid(selectivity[top_rows], top_labels, top_ks, K, J),
        random_selectivity=random_sel, drop_matrix=drop_matrix,
        single_neuron=None if single is None else np.asarray(single, dtype=np.float64))


def single_neuron_drops(target, label_names, mode="output", progress=False):
    """Each neuron ablated alone in ``mode``: ((H,) overall token-accuracy drop, (K, H)
    per-label accuracy drop, NaN rows for labels without gold tokens)."""
    H = target.params["out.W"].shape[1]
    outcomes = ablate(Plan(tuple(plan_single_neurons(H, mode))), target, label_names, entities=False,
                      progress=progress and mode == "recurrent")
    return outcomes.base_token_acc - outcomes.token_acc, outcomes.label_drop.T


def measured_importance(target, label_names):
    """Accuracy drop (K, H) of label i when neuron j alone is output-ablated: the "measured"
    ranking, from the target's states (no LSTM rerun)."""
    return single_neuron_drops(target, label_names, "output")[1]


def run_sweep(target, label_names, ranking, modes, rng, progress=False, control=None, single_neuron=True,
              random_pool="all"):
    """Plan, run and summarise a sweep: Sweep.

    target: engine.Target (states from collect_states without a mask; the split is read
    in recurrent mode only); ranking (K, H); modes: {mode: (ks, n_random)} in the order
    to run, e.g. {"output": ((1, 2, 3, 5, 10, 20), 20), "recurrent": ((1, 3, 5, 10), 5)}
    (k > H skipped); rng: np.random.Generator (needed for random draws; the modes draw in
    the order given); control: None (the next label) or {label: label} by id or name;
    single_neuron: also ablate each neuron alone, per mode.
    """
    names = list(label_names)
    K, H = target.params["out.W"].shape
    if len(names) != K:
        raise ValueError(f"{len(names)} label names for {K} labels")
    ranking = np.asarray(ranking, dtype=np.float64)
    if ranking.shape != (K, H):
        raise ValueError(f"ranking must be ({K}, {H}), got {ranking.shape}")
    present = present_labels(target.states, K)
    unranked = present & np.isnan(ranking).all(axis=1)
    if unranked.any():
        warnings.warn(f"labels {[names[i] for i in np.flatnonzero(unranked)]} occur in gold but have no "
                      "ranking (e.g. never predicted, with the default ranking); they are not ablated",
                      UndefinedLabelWarning)
    lookup = lambda x: names.index(x) if isinstance(x, str) else int(x)  # noqa: E731
    controls = default_controls(ranking, present) if control is None else {
        lookup(a): lookup(c) for a, c in control.items()}
    plans = {mode: [int(k) for k in ks if k <= H] for mode, (ks, _) in modes.items()}
    items = []
    for mode, (_, n_random) in modes.items():
        items += plan_sweep(ranking, present, plans[mode], n_random, rng, controls, random_pool, mode)
    outcomes = ablate(Plan(tuple(items)), target, names, progress=progress)
    summaries = {}
    for mode, (_, n_random) in modes.items():
        single = single_neuron_drops(target, names, mode, progress)[0] if single_neuron else None
        summaries[mode] = mode_sweep(outcomes, mode, plans[mode], n_random, single)
    return Sweep(labels=tuple(names), random_pool=random_pool,
                 controls={names[a]: names[c] for a, c in controls.items()},
                 base_token_acc=outcomes.base_token_acc, base_entity_f1=outcomes.base_entity_f1,
                 base_label_acc=outcomes.base_label_acc, modes=summaries, outcomes=outcomes)
