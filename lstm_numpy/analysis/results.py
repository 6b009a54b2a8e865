"""What a dissection measures, as typed records: analysis/ fills them, report/ formats them,
and report.analysis_json writes them to analysis.json and reads them back.

Dimension legend: K labels, H neurons entering the linear layer (Hout), J k values,
Q rankings compared, F mass fractions, M models (seeds) of a run, I ablations of a plan.

Every record is a frozen dataclass.  An array field states its shape and dtype in its
comment (float64 unless said otherwise); NaN means "not measured": a label with no
tokens, or not ablated.  A label axis follows the run's label order, a k axis the
record's own ``ks``.  Fields marked ``transient`` (:func:`transient`) hold what the
analysis keeps in memory for the next step (hidden states, per-ablation outcomes)
and are not written to analysis.json.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

MODES = ("output", "recurrent")          # where a neuron is silenced (analysis.ablation)
STRATEGIES = ("top", "bottom", "random", "control")


def array(dtype="float64"):
    """A field holding an ndarray of ``dtype`` (analysis.json stores nested lists, NaN as null)."""
    return field(metadata={"dtype": dtype})


def transient(default=None):
    """A field kept in memory only, never written to analysis.json (read back as ``default``)."""
    return field(default=default, metadata={"transient": True})


# ------------------------------------------------------------ ablation


@dataclass(frozen=True, eq=False)
class ModeSweep:
    """One mode's sweep: for every label and k, the target label's accuracy drop after
    silencing its top-k, bottom-k, k random and another label's top-k neurons."""

    mode: str                          # "output" or "recurrent"
    ks: tuple[int, ...]                # (J,)
    n_random: int                      # random draws per (label, k)
    top: np.ndarray = array()          # (K, J) target-label accuracy drop (fraction), NaN: label not ablated
    bottom: np.ndarray = array()       # (K, J)
    control: np.ndarray = array()      # (K, J), the top-k of the label's control label
    random: np.ndarray = array()       # (K, J) mean over the draws
    random_interval: np.ndarray = array()   # (K, J, 2) the 2.5th and 97.5th percentile of the draws
    top_selectivity: np.ndarray = array()   # (K, J) target drop minus the mean drop of the other labels
    random_selectivity: np.ndarray = array()  # (K, J) mean over the draws
    drop_matrix: np.ndarray = array()  # (J, K, K) per-label accuracy drops after a top-k ablation:
                                       # [j, ablated label, measured label]
    single_neuron: np.ndarray | None = array()   # (H,) overall token-accuracy drop, each neuron alone; or None

    def at(self, k):
        """Column of ``k`` on the k axis (ValueError if this sweep did not run it)."""
        return self.ks.index(int(k))


class BaseScores(NamedTuple):
    token_acc: float
    entity_f1: float | None            # percent; None for plain tags
    per_label_acc: np.ndarray          # (K,) recall of each gold label, NaN without gold tokens


@dataclass(frozen=True, eq=False)
class Sweep:
    """Top / bottom / random / control ablations of every label and k, in one or both modes."""

    labels: tuple[str, ...]            # (K,)
    random_pool: str                   # "all" or "outside-top" (analysis.plan.plan_sweep)
    controls: dict[str, str]           # label -> its control label
    base_token_acc: float              # the unablated scores of the tokens the sweep was scored on
    base_entity_f1: float | None
    base_label_acc: np.ndarray = array()   # (K,)
    modes: dict[str, ModeSweep] = field(default_factory=dict)
    outcomes: Any = transient()        # analysis.engine.Outcomes of every ablation (ablation.csv)


@dataclass(frozen=True, eq=False)
class RankingComparison:
    """Every ranking's top-k ablation, ranked on one half of the sentences and scored on the
    other (output mode), beside random-k draws on the scoring half."""

    measures: tuple[str, ...]          # (Q,) the rankings, the oracle last
    oracle: str                        # ranked on the scoring half itself: never the best
    ks: tuple[int, ...]                # (J,)
    drop: np.ndarray = array()         # (Q, K, J) target-label accuracy drop, NaN: not ablated
    selectivity: np.ndarray = array()  # (Q, K, J)
    random_drop: np.ndarray = array()  # (K, J) mean over the draws
    random_selectivity: np.ndarray = array()   # (K, J)
    n_random: int = 0
    random_pool: str = "all"
    ranking_sentences: str = ""
    scoring_sentences: str = ""
    n_ranking_tokens: int = 0
    n_scoring_tokens: int = 0

    def at(self, k):
        """Column of ``k`` on the k axis (ValueError if it was not compared)."""
        return self.ks.index(int(k))

    def of(self, measure):
        """(K, J) drops of one ranking."""
        return self.drop[self.measures.index(measure)]

    def best(self, k):
        """(K,) the ranking whose held-out top-k drop is largest for each label (the oracle
        excluded), None where no ranking has a finite drop."""
        j = self.ks.index(int(k))
        honest = [q for q, name in enumerate(self.measures) if name != self.oracle]
        out = []
        for label in range(self.drop.shape[1]):
            values = {q: self.drop[q, label, j] for q in honest if np.isfinite(self.drop[q, label, j])}
            out.append(self.measures[max(values, key=values.get)] if values else None)
        return out


@dataclass(frozen=True, eq=False)
class ProbeResult:
    """A linear probe (analysis.probe) trained on the ranking half of the sentences and scored on
    the other half, beside its majority baseline and its control task."""

    target: str                        # "labels" (the model's own) or "column N" of the data
    classes: tuple[str, ...]           # (C,)
    accuracy: float                    # held out
    majority: float                    # the most frequent training class, on the same tokens
    control_accuracy: float            # the probe trained on the control task, on the same tokens
    l1: float                          # the elastic net's strengths, chosen on held-out training tokens
    l2: float
    n_train: int
    n_heldout: int
    weights: np.ndarray = array()      # (H, C) on standardised hidden states
    ordering: np.ndarray = array("int64")   # (H,) NeuroX's overall order, by cumulative weight mass
    top_drop: np.ndarray | None = array()   # (C, K): for a probe of another column, the accuracy drop of each of
                                       # the model's labels (held out) when a class's top_k neurons are ablated
    top_k: int = 5

    @property
    def selectivity(self):
        """Accuracy on the task minus accuracy on the control task (Hewitt and Liang)."""
        return self.accuracy - self.control_accuracy


@dataclass(frozen=True, eq=False)
class PatchingResult:
    """Activation patching on minimal pairs (analysis.patching): how much of the logit difference
    each neuron's h or c at each step restores when copied from the clean run into the corrupted."""

    sites: tuple[str, ...]             # (S,) "h", "c"
    offsets: tuple[int, ...]           # (R,) steps relative to the read position
    effect: np.ndarray = array()       # (S, R, Hout) the mean restored fraction over the pairs used
    ranking: np.ndarray = array()      # (K, Hout) per clean label: h's restored fraction summed over steps
    clean_labels: np.ndarray = array("int64")       # (P,) the label the clean sentence gives at its read position
    corrupted_labels: np.ndarray = array("int64")   # (P,) the label the corrupted sentence gives there
    positions: np.ndarray = array("int64")          # (P,) the read positions
    used: np.ndarray = array("bool")   # (P,) read as intended (each sentence its label), so averaged
    restored_total: np.ndarray = array()   # (P, Hout) h's restored fraction summed over steps, per pair
    n_pairs: int = 0
    n_used: int = 0
    source: str = ""                   # where the pairs came from
    per_pair: Any = transient()        # (P, S, T, Hout) restored fraction at every sentence position

    def top(self, label, k):
        """(k,) the neurons whose h restores the most of ``label``'s pairs (largest total first)."""
        return np.argsort(-np.nan_to_num(self.ranking[label], nan=-np.inf), kind="stable")[:k]


@dataclass(frozen=True, eq=False)
class ClampResult:
    """Gate clamps (analysis.patching.gate_clamps): each label's accuracy drop when a neuron's gate
    is forced to 0 at every step."""

    gates: tuple[str, ...]             # (G,) "f", "i", "o"
    neurons: np.ndarray = array("int64")   # (N,) the clamped neurons
    drop: np.ndarray = array()         # (N, G, K) accuracy drop of every label
    top: np.ndarray = array("int64")   # (K, k) each label's top neurons by its ``chosen_by`` ranking (-1: none)
    chosen_by: tuple[str, ...] = ()    # (K,) each label's best held-out ranking ("": none)

    def row(self, neuron):
        """The row of ``neuron`` in ``drop``."""
        return int(np.flatnonzero(self.neurons == neuron)[0])


# ------------------------------------------------------------ one model


@dataclass(frozen=True, eq=False)
class ModelDissection:
    """Everything measured on one model (one seed) on the dev split."""

    seed: int
    group_by: str                      # the grouping of the sensitivity that ranks neurons
    sensitivity: np.ndarray = array()  # (K, H) Xin sensitivity, tokens grouped by ``group_by``
    sensitivity_other: np.ndarray = array()   # (K, H) the same with the other grouping
    group_spearman: np.ndarray = array()      # (K,) per-label Spearman of the two groupings
    mass_fractions: np.ndarray = array()      # (F,)
    neurons_for_mass: np.ndarray = array()    # (K, F) neurons holding each fraction of a label's positive sensitivity
    measures: dict[str, np.ndarray] = field(default_factory=dict)   # name -> (K, H), larger = more important
    rank_correlations: dict[str, np.ndarray] = field(default_factory=dict)   # "a vs b" -> (K,) Spearman
    unranked: tuple[str, ...] = ()     # labels with tokens but no sensitivity row (e.g. never predicted): not ablated
    absent: tuple[str, ...] = ()       # labels with no gold token in the split
    sweep: Sweep | None = None
    rankings: RankingComparison | None = None
    probes: tuple[ProbeResult, ...] = ()   # the probe of the model's labels, then any of another column
    patching: PatchingResult | None = None   # activation patching on minimal pairs, where the run has pairs
    clamps: ClampResult | None = None        # gate clamps of each label's top neurons
    timings: dict[str, float] = field(default_factory=dict)
    states: Any = transient()          # analysis.states.States of the split


# ------------------------------------------------------------ across models


class PairCheck(NamedTuple):
    a: str
    b: str
    value: float                       # the label-label correlation
    holds: bool                        # it has the sign the paper reports


class SkippedPair(NamedTuple):
    a: str
    b: str
    reason: str


@dataclass(frozen=True, eq=False)
class Finding:
    description: str
    sign: int                          # +1 or -1: the sign the paper reports
    pairs: tuple[PairCheck, ...]
    skipped: tuple[SkippedPair, ...]
    n_holding: int
    n_checked: int
    fraction: float                    # NaN when no pair could be checked


@dataclass(frozen=True, eq=False)
class Findings:
    """The paper's findings on one model's label correlations (analysis.findings)."""

    applicable: bool                   # False for plain tags (no B-/I- labels)
    reason: str | None
    findings: dict[str, Finding]
    n_holding: int
    n_checked: int
    fraction: float


@dataclass(frozen=True, eq=False)
class PairAgreement:
    """Two models of a run compared (analysis.consistency.pairwise_consistency)."""

    a: int                             # model indices
    b: int
    mantel_r: float
    mantel_p: float
    n_matched: int
    n_matched_above: int               # matched neurons with profile r > the threshold
    n_matched_above_shuffled: float    # the same after shuffling b's label rows: the mean ...
    n_matched_above_shuffled_interval: np.ndarray = array()   # (2,) ... and its 2.5th, 97.5th percentile
    mean_profile_correlation: float = float("nan")


@dataclass(frozen=True, eq=False)
class Consistency:
    """Label-label correlations of every model, the paper's findings on each, and (for two
    models or more) how the models agree."""

    correlations: np.ndarray = array()  # (M, K, K)
    findings: tuple[Findings, ...] = ()  # (M,)
    pairs: tuple[PairAgreement, ...] = ()   # every a < b; empty for one model
    mean_mantel_r: float = float("nan")
    max_mantel_p: float = float("nan")
    threshold: float = 0.8
    n_shuffles: int = 0


@dataclass(frozen=True, eq=False)
class RunAnalysis:
    """analysis.json: the dissection of every model of a run, and their comparison."""

    labels: tuple[str, ...]            # (K,)
    seeds: tuple[int, ...]             # (M,)
    models: tuple[ModelDissection, ...]
    consistency: Consistency

    def model(self, seed):
        """The ModelDissection of ``seed`` (KeyError naming the seeds there are)."""
        for dissection in self.models:
            if dissection.seed == seed:
                return dissection
        raise KeyError(f"no model of seed {seed}; the seeds are {list(self.seeds)}")
