"""The ablation engine, in three steps: plan -> run -> summarise.

    plan        a :class:`Plan`: the neuron sets to silence (:class:`PlanItem`: mode,
                neurons, effect, and the question each answers: strategy, label, k,
                draw, control, ranking) and which sentences of the target score them
    run_plan    predictions of every distinct (mode, effect, neurons) of a plan, in
                batches through the kernels (analysis.ablation)
    summarise   those predictions scored against gold and the unablated predictions:
                every item's drops and selectivity (:class:`Outcomes`)

Every ablation of the package goes through here: the sweeps and the held-out
comparison of rankings (analysis.sweep plans them), the single-neuron sweep, and
the explorer's token-level ablations (analysis.token_ablation, which keeps the
changed tokens instead of scoring them).

An item's ``effect`` says what is done to its neurons.  Today every item zeroes
them (``"zero"``: output mode zeroes h_j where it enters the linear layer,
recurrent mode clamps it to zero inside the LSTM at every step).  An intervention
that sets a value instead (a gate, a cell state, an activation copied from
another run) is another effect of the same item, and another branch of
:func:`run_plan`, not a second engine.

Dimension legend: n scoring tokens, K labels, H neurons (Hout), I plan items.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from tqdm.auto import tqdm

from ..data.batching import EncodedSplit
from .ablation import Scorer, ablate_output, ablate_recurrent_many, output_cache
from .results import MODES
from .states import subset_states

EFFECTS = ("zero",)


class PlanItem(NamedTuple):
    """One ablation: silence ``neurons`` in ``mode``; the other fields say what it is for."""

    mode: str                    # "output" or "recurrent"
    neurons: tuple               # sorted neuron ids (ints)
    strategy: str = ""           # "top", "bottom", "random", "control", "single", ...
    label: int = -1              # the target label id; -1: none (scored for no label in particular)
    k: int = 0
    draw: int = -1               # the random draw; -1: not a random set
    control: int = -1            # the label whose top-k these are (strategy "control"); -1: none
    ranking: str = ""            # the ranking the neurons were taken from
    effect: str = "zero"

    @property
    def key(self):
        """What the predictions depend on: items with equal keys share one run."""
        return (self.mode, self.effect, self.neurons)


def item(mode, neurons, **fields):
    """A PlanItem with its neurons sorted and as Python ints (every item is built here)."""
    return PlanItem(mode, tuple(sorted(int(j) for j in neurons)), **fields)


class Plan(NamedTuple):
    items: tuple                 # (I,) PlanItem
    sentences: Any = None        # (m,) int64 ids of the target's sentences that score the plan; None: all


class Target(NamedTuple):
    """The model and split a plan runs on."""

    params: dict
    config: Any                  # TaggerConfig
    split: Any                   # EncodedSplit the states came from (read in recurrent mode only; may be None
                                 # for a plan of output items)
    states: Any                  # analysis.states.States of split (collect_states without a mask)


def subset_split(split, sentences):
    """The EncodedSplit of some sentences only, in the order given."""
    return EncodedSplit(*(None if part is None else [part[i] for i in sentences] for part in split))


def scoring_target(target, sentences):
    """The target restricted to the sentences that score a plan (all when None)."""
    if sentences is None:
        return target
    sentences = np.asarray(sentences, dtype=np.int64)
    split = None if target.split is None else subset_split(target.split, sentences)
    return Target(target.params, target.config, split, subset_states(target.states, sentences))


def _check(items):
    for entry in items:
        if entry.mode not in MODES:
            raise ValueError(f"unknown ablation mode {entry.mode!r}; choose from {MODES}")
        if entry.effect not in EFFECTS:
            raise ValueError(f"unknown effect {entry.effect!r}; choose from {EFFECTS}")


def run_plan(plan, target, progress=False):
    """Predictions of every distinct key of ``plan`` (PlanItem.key), scored on
    ``plan.sentences`` of ``target``: yields (key, pred (n,) int64) in first-seen order.

    Output-mode sets run one by one on the transposed hidden states (a few
    microseconds each); recurrent-mode sets all in one pass over the split
    (ablation.ablate_recurrent_many: every LSTM step runs all of them).  A
    generator, so a sweep of thousands of sets holds one set's predictions at a time
    (a recurrent sweep holds its own stack).
    """
    _check(plan.items)
    target = scoring_target(target, plan.sentences)
    keys = list(dict.fromkeys(entry.key for entry in plan.items))
    output = [key for key in keys if key[0] == "output"]
    if output:
        cache = output_cache(target.states, target.params["out.W"], target.params["out.b"])
        for key in tqdm(output, desc="ablation (output)", disable=not progress):
            yield key, ablate_output(cache, key[2])
    recurrent = [key for key in keys if key[0] == "recurrent"]
    if recurrent:
        preds = ablate_recurrent_many(target.params, target.config, target.split, [key[2] for key in recurrent],
                                      progress=progress)
        yield from zip(recurrent, preds)


@dataclass(frozen=True, eq=False)
class Outcomes:
    """What every item of a plan did to the labels (I items, K labels); drops are the
    unablated score minus the ablated one, so a positive drop is a loss."""

    items: tuple                                  # (I,) PlanItem
    labels: tuple                                 # (K,) label names
    base_token_acc: float
    base_entity_f1: float | None
    base_label_acc: np.ndarray                    # (K,)
    token_acc: np.ndarray = field(default=None)   # (I,)
    entity_f1: np.ndarray = field(default=None)   # (I,) percent, NaN without entity scores
    label_acc: np.ndarray = field(default=None)   # (I, K) per-label accuracy (recall)
    label_precision: np.ndarray = field(default=None)   # (I, K)
    label_f1: np.ndarray = field(default=None)    # (I, K)
    lost_to: np.ndarray = field(default=None)     # (I, K) int64: the target label's lost tokens, by new label

    @property
    def label_drop(self):
        """(I, K) per-label accuracy drops."""
        return self.base_label_acc[None, :] - self.label_acc

    @property
    def target_drop(self):
        """(I,) the drop of each item's own label (NaN for items without one)."""
        rows = np.arange(len(self.items))
        labels = np.array([entry.label for entry in self.items], dtype=np.int64)
        drop = self.label_drop[rows, np.maximum(labels, 0)]
        return np.where(labels >= 0, drop, np.nan)

    @property
    def selectivity(self):
        """(I,) the target label's drop minus the mean drop of the other labels (NaN when
        no other label has a defined drop, or the item has no label)."""
        out = np.full(len(self.items), np.nan)
        drops = self.label_drop
        for i, entry in enumerate(self.items):
            if entry.label < 0:
                continue
            others = np.delete(drops[i], entry.label)
            if np.isfinite(others).any():
                out[i] = drops[i, entry.label] - np.nanmean(others)
        return out

    def select(self, **where):
        """Indices (m,) of the items whose fields equal ``where`` (e.g. mode="output", strategy="top")."""
        return np.array([i for i, entry in enumerate(self.items)
                         if all(getattr(entry, name) == value for name, value in where.items())], dtype=np.int64)


def summarise(plan, predictions, target, label_names, entities=True):
    """Score ``predictions`` (run_plan's pairs) for every item of ``plan``: Outcomes.

    Each distinct key is scored once (control sets repeat other labels' top sets);
    entities=False skips the entity F1 (the single-neuron sweeps do not report it).
    """
    target = scoring_target(target, plan.sentences)
    scorer = Scorer(target.states, label_names, entities)
    scored = {key: scorer.score(pred) for key, pred in predictions}
    items, K = tuple(plan.items), len(label_names)
    I = len(items)
    token_acc, entity_f1 = np.zeros(I), np.full(I, np.nan)
    acc, precision, f1 = np.zeros((I, K)), np.zeros((I, K)), np.zeros((I, K))
    lost_to = np.zeros((I, K), dtype=np.int64)
    for i, entry in enumerate(items):
        s = scored[entry.key]
        token_acc[i] = s.token_acc
        if s.entity_f1 is not None:
            entity_f1[i] = s.entity_f1
        acc[i], precision[i], f1[i] = s.acc, s.precision, s.f1
        if entry.label >= 0:
            lost_to[i] = s.lost[entry.label]
    base = scorer.base
    return Outcomes(items, tuple(label_names), base.token_acc, base.entity_f1, np.asarray(base.acc, dtype=np.float64),
                    token_acc, entity_f1, acc, precision, f1, lost_to)


def ablate(plan, target, label_names, entities=True, progress=False):
    """summarise(plan, run_plan(plan, target), ...): the three steps in one call."""
    return summarise(plan, run_plan(plan, target, progress), target, label_names, entities)
