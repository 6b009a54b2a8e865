"""Measuring and dissecting trained taggers, end to end: everything the report shows,
measured as typed records (analysis.results; report.outputs writes them).

For each model (one per seed), :func:`dissect_model`: hidden states of a split
-> Xin sensitivity (grouped by predicted and by gold label) and the other
importance measures -> ablation sweeps (output mode; recurrent mode, which
reruns the LSTM, with fewer draws) with single-neuron sweeps -> the rankings
compared held out (:func:`compare_rankings`: ranked on half the sentences,
scored on the other half).  Across models, :func:`compare_models`: label-label
correlations, the paper's findings, and their agreement (Mantel test, neuron
matching).

Every ablation is planned here or in analysis.sweep and run by the engine
(analysis.engine).  :class:`DissectOptions` holds every choice of the analysis
and its defaults; a run resolves them once (lstm_numpy.options).

Dimension legend: K labels, H neurons (Hout), M models.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ..defaults import DissectOptions
from ..errors import UndefinedLabelWarning
from .consistency import pairwise_consistency
from .engine import Plan, Target, ablate, item, subset_split
from .measures import all_measures
from .patching import gate_clamps, patching_sweep
from .probe import class_ranking, neuron_ordering, train_probe
from .rankings import neurons_for_mass, rank_correlations, rank_neurons
from .results import ClampResult, ModelDissection, ProbeResult, RankingComparison
from .sensitivity import sensitivity_pred_and_gold
from .states import collect_states, split_halves, subset_states
from .sweep import measured_importance, plan_sweep, present_labels, run_sweep

ORACLE = "measured_oracle"   # ranked and scored on the same tokens: never the "best" ranking
PROBE = "probe"              # the linear probe's weights (analysis.probe), trained on the ranking half
PATCHING = "patching"        # h's restored fraction on minimal pairs (analysis.patching), other sentences
CLAMP_K = 5                  # each label's top neurons (by its best held-out ranking) whose gates are clamped
MASS_FRACTIONS = (0.5, 0.8)


def dissect_model(params, config, split, label_names, rng, options=DissectOptions(), recurrent=True,
                  progress=True, seed=0, probe_column=None, pairs=None):
    """Everything measured on one model: ModelDissection (analysis.results).

    split: the EncodedSplit to measure on (dev); rng: np.random.Generator of the
    random draws; recurrent: also run the recurrent-mode sweep; seed: the model's
    seed, recorded; probe_column: (name, class names (C,), (n,) class ids of every
    token) of another property of the tokens to probe for (e.g. part of speech); pairs:
    pipeline.EncodedPairs of minimal pairs to patch (analysis.patching), whose ranking then
    joins the held-out comparison, and each label's top neurons by its best held-out ranking
    have their gates clamped.  Both groupings of the sensitivity are computed and compared
    whichever ranks the neurons (options.group_by).  Labels that a measure cannot be
    defined for (no tokens, never predicted) are recorded in ``unranked`` and
    ``absent``, not warned about measure by measure.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedLabelWarning)
        return _dissect(params, config, split, label_names, rng, options, recurrent, progress, seed, probe_column,
                        pairs)


def _dissect(params, config, split, label_names, rng, options, recurrent, progress, seed, probe_column, pairs):
    group_by = options.group_by
    other = "gold" if group_by == "predicted" else "predicted"
    timings = {}
    start = time.perf_counter()
    states = collect_states(params, config, split)
    target = Target(params, config, split, states)
    timings["hidden states"] = time.perf_counter() - start
    W, b = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)

    start = time.perf_counter()
    both = sensitivity_pred_and_gold(states, W)
    timings["sensitivity (both groupings)"] = time.perf_counter() - start
    start = time.perf_counter()
    measures = all_measures(states, W, b, label_names, group_by=group_by, measured=True)
    timings["other importance measures"] = time.perf_counter() - start

    start = time.perf_counter()
    modes = {"output": (options.ks, options.n_random)}
    if recurrent:
        modes["recurrent"] = (options.recurrent_ks, options.n_random_recurrent)
    sweep = run_sweep(target, label_names, both[group_by], modes, rng, progress=progress,
                      random_pool=options.random_pool)
    timings["ablation sweeps (output" + (" and recurrent mode)" if recurrent else " mode)")] = \
        time.perf_counter() - start

    patching = extra = None
    if pairs is not None:
        start = time.perf_counter()
        patching = patching_sweep(params, config, pairs.clean, pairs.corrupted, pairs.positions, pairs.clean_ids,
                                  pairs.corrupted_ids, pairs.source)
        extra = {PATCHING: patching.ranking}
        timings[f"activation patching ({patching.n_pairs} pairs)"] = time.perf_counter() - start

    start = time.perf_counter()
    rankings, probe, ranked = compare_rankings(target, label_names, rng, group_by, options.n_random,
                                               options.claim_ks, extra)
    measures[PROBE] = class_ranking(probe.weights)
    probes = [probe]
    if probe_column is not None:
        probes.append(probe_other_column(target, label_names, rng, *probe_column))
    timings["top-k ablation per ranking, probes (held out)"] = time.perf_counter() - start
    clamps = None
    if pairs is not None:
        start = time.perf_counter()
        clamps = clamp_top_neurons(target, rankings, ranked)
        timings["gate clamps (held out)"] = time.perf_counter() - start
    present = present_labels(states, len(label_names))
    undefined = np.isnan(both[group_by]).all(axis=1)
    return ModelDissection(seed=seed, group_by=group_by, sensitivity=both[group_by], sensitivity_other=both[other],
                           group_spearman=both["spearman"], mass_fractions=np.array(MASS_FRACTIONS),
                           neurons_for_mass=neurons_for_mass(both[group_by], MASS_FRACTIONS), measures=measures,
                           rank_correlations=rank_correlations(measures),
                           unranked=tuple(label_names[i] for i in np.flatnonzero(present & undefined)),
                           absent=tuple(label_names[i] for i in np.flatnonzero(~present)),
                           sweep=sweep, rankings=rankings, probes=tuple(probes), patching=patching, clamps=clamps,
                           timings=timings, states=states)


def compare_rankings(target, label_names, rng, group_by, n_random, ks, extra=None):
    """Which ranking's top-k ablation hurts each label most, held out (output mode):
    (RankingComparison, ProbeResult of the probe of the model's labels, {name: (K, H) the
    rankings compared}).

    Every ranking (analysis.measures.all_measures) is computed on the ranking half of
    the sentences (states.split_halves: even indices) and scored on the other half,
    next to ``n_random`` random-k draws per (label, k) from all neurons.
    "measured_oracle" ranks by single-neuron drops on the scoring half itself, an
    in-sample upper bound kept out of any "best"; "probe" ranks by the weights of a
    linear probe of the gold labels trained on the ranking half (analysis.probe).  One
    plan holds every ranking's top-k and the random draws; the engine runs it once on
    the scoring half.  extra: {name: (K, H)} more rankings made from other sentences (the
    patching effect on minimal pairs), NaN rows for labels they do not rank.
    """
    states = target.states
    ranking_half, scoring_half = split_halves(len(states.lengths))
    ranking_states, scoring_states = subset_states(states, ranking_half), subset_states(states, scoring_half)
    W, b = target.params["out.W"].astype(np.float64), target.params["out.b"].astype(np.float64)
    rankings = all_measures(ranking_states, W, b, label_names, group_by=group_by, measured=True)
    probe = fit_held_out_probe(target, ranking_half, scoring_half, "labels", label_names, states.gold, rng)
    rankings[PROBE] = class_ranking(probe.weights)
    rankings.update(extra or {})
    scoring = Target(target.params, target.config, None, scoring_states)
    rankings[ORACLE] = measured_importance(scoring, label_names)
    K, H = W.shape
    ks = [int(k) for k in ks if k <= H]
    present = present_labels(scoring_states, K)
    items = []
    for name, ranking in rankings.items():
        items += plan_sweep(ranking, present, ks, 0, None, {}, strategies=("top",), ranking_name=name)
    items += plan_sweep(rankings["xin"], present, ks, n_random, rng, {}, strategies=("random",), ranking_name="xin")
    outcomes = ablate(Plan(tuple(items), scoring_half), target, label_names)
    drop, selectivity = outcomes.target_drop, outcomes.selectivity
    names = list(rankings)
    column = {k: j for j, k in enumerate(ks)}
    top_drop, top_sel = np.full((len(names), K, len(ks)), np.nan), np.full((len(names), K, len(ks)), np.nan)
    random_drop, random_sel = np.full((K, len(ks)), np.nan), np.full((K, len(ks)), np.nan)
    draws = {}
    for i, entry in enumerate(outcomes.items):
        if entry.strategy == "top":
            q = names.index(entry.ranking)
            top_drop[q, entry.label, column[entry.k]] = drop[i]
            top_sel[q, entry.label, column[entry.k]] = selectivity[i]
        else:
            draws.setdefault((entry.label, column[entry.k]), []).append(i)
    for (label, j), rows in draws.items():
        random_drop[label, j] = np.nanmean(drop[rows])
        random_sel[label, j] = np.nanmean(selectivity[rows])
    return RankingComparison(
        measures=tuple(names), oracle=ORACLE, ks=tuple(ks), drop=top_drop, selectivity=top_sel,
        random_drop=random_drop, random_selectivity=random_sel, n_random=int(n_random), random_pool="all",
        ranking_sentences="even-numbered dev sentences (0, 2, 4, ...)",
        scoring_sentences="odd-numbered dev sentences (1, 3, 5, ...)",
        n_ranking_tokens=ranking_states.n_tokens, n_scoring_tokens=scoring_states.n_tokens), probe, rankings


def clamp_top_neurons(target, comparison, rankings, k=CLAMP_K):
    """ClampResult: each label's top-k neurons by its best held-out ranking (the comparison's,
    at the largest k compared up to ``k``), their forget, input and output gates clamped to 0
    in turn (analysis.patching.gate_clamps), scored on the scoring half of the sentences."""
    ks = [c for c in comparison.ks if c <= k] or [min(comparison.ks)]
    k = ks[-1]
    best = comparison.best(k)
    K = len(best)
    top = np.full((K, k), -1, dtype=np.int64)
    for label, name in enumerate(best):
        if name is not None:
            top[label] = rank_neurons(rankings[name])[label, :k]
    neurons = np.unique(top[top >= 0])
    _, scoring_half = split_halves(len(target.states.lengths))
    result = gate_clamps(target.params, target.config, subset_split(target.split, scoring_half),
                         subset_states(target.states, scoring_half), neurons)
    return ClampResult(gates=result.gates, neurons=neurons, drop=result.drop, top=top,
                       chosen_by=tuple(name or "" for name in best))


def _tokens_of(states, sentences):
    """(m,) flat token ids of some sentences of ``states``."""
    starts = np.concatenate([[0], np.cumsum(states.lengths)[:-1]]).astype(np.int64)
    return np.concatenate([np.arange(starts[s], starts[s] + states.lengths[s]) for s in sentences]
                          or [np.zeros(0, dtype=np.int64)])


def fit_held_out_probe(target, ranking_half, scoring_half, name, classes, y, rng, top_k=5):
    """ProbeResult of a probe of ``y`` (n,) class ids over the target's tokens: trained (strengths
    chosen inside) on the ranking half's sentences, scored on the scoring half's, with the
    majority baseline and the control task on the same held-out tokens."""
    states = target.states
    words = np.concatenate([np.asarray(w, dtype=np.int64) for w in target.split.words])
    train, test = _tokens_of(states, ranking_half), _tokens_of(states, scoring_half)
    x = states.hidden.astype(np.float64)
    fit = train_probe(x[train], y[train], words[train], x[test], y[test], words[test], len(classes), rng)
    return ProbeResult(target=name, classes=tuple(classes), accuracy=fit.accuracy, majority=fit.majority,
                       control_accuracy=fit.control_accuracy, l1=fit.l1, l2=fit.l2, n_train=fit.n_train,
                       n_heldout=fit.n_heldout, weights=fit.W, ordering=neuron_ordering(fit.W), top_k=top_k,
                       top_drop=None)


def probe_other_column(target, label_names, rng, name, classes, y, top_k=5):
    """ProbeResult of a probe of another property of the tokens, and what its top_k neurons per
    class are worth to the model's own labels: their output-mode ablation on the scoring half,
    the accuracy drop of every label (C, K)."""
    ranking_half, scoring_half = split_halves(len(target.states.lengths))
    probe = fit_held_out_probe(target, ranking_half, scoring_half, name, classes, np.asarray(y, dtype=np.int64), rng,
                               top_k)
    order = np.argsort(-class_ranking(probe.weights), axis=1, kind="stable")
    items = tuple(item("output", order[c, :top_k], strategy="probe class", label=-1, k=top_k)
                  for c in range(len(classes)))
    outcomes = ablate(Plan(items, scoring_half), target, label_names)
    return ProbeResult(**{**{f: getattr(probe, f) for f in ProbeResult.__dataclass_fields__}, "top_drop":
                          outcomes.label_drop})


def compare_models(models, label_names, rng):
    """Across the models of one run (seeds): each one's label-label correlations and the
    paper's findings, and, for two or more, their pairwise agreement: Consistency
    (analysis.consistency.pairwise_consistency)."""
    return pairwise_consistency([m.sensitivity for m in models], label_names, rng)
