"""The paper's findings about which labels share neurons, checked on one model's
label-label correlation matrix C (analysis.consistency.label_correlation).

    B-x/I-x positive              B-x and I-x of one entity type share neurons
    I-LOC/I-ORG/I-MISC positive   the inside labels of LOC, ORG and MISC share neurons
    B-x/I-y negative              B-x and I-y of different types oppose each other
    O/I-x negative                O opposes every inside label

The pairs are built over the entity types of the label set (labels.entity_types);
for plain tags (part of speech) the findings are not applicable and say so.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..labels import NOT_CHUNKING, entity_types, is_chunking
from .results import Finding, Findings, PairCheck, SkippedPair

__all__ = ["paper_findings"]

MUTUAL_I_TYPES = ("LOC", "ORG", "MISC")  # the paper's "I-LOC, I-ORG, I-MISC mutually positive"


def _finding_pairs(labels: Sequence[str]) -> dict:
    """The paper's findings as label pairs over the entity types of ``labels`` (labels.entity_types)."""
    types = entity_types(labels)
    return {
        "B-x/I-x positive": ("B-x and I-x of one entity type share neurons", +1,
                             [(f"B-{x}", f"I-{x}") for x in types]),
        "I-LOC/I-ORG/I-MISC positive": ("inside labels of LOC, ORG and MISC share neurons", +1,
                                        [(f"I-{x}", f"I-{y}") for x, y in itertools.combinations(MUTUAL_I_TYPES, 2)]),
        "B-x/I-y negative": ("B-x and I-y of different types oppose each other", -1,
                             [(f"B-{x}", f"I-{y}") for x in types for y in types if x != y]),
        "O/I-x negative": ("O opposes every inside label", -1, [("O", f"I-{x}") for x in types]),
    }


NOT_APPLICABLE = f"{NOT_CHUNKING}: the paper's findings are about B-/I-/O label pairs, which these labels do not have"


def paper_findings(C, labels: Sequence[str]) -> dict:
    """Check the paper's observations on one label correlation matrix.

    C : (K, K) float, `label_correlation` of one model. labels : K names.
    Returns Findings (analysis.results): per finding its checked pairs (a, b, value,
    holds) and skipped pairs (a, b, reason); for plain tags (POS, no chunk scheme)
    Findings(applicable=False, reason, no findings, 0 of 0, fraction NaN).
    A pair whose label is not in `labels`, or whose value is NaN (label absent
    from the split), is skipped and listed with the reason; "fraction" is over
    the checked pairs only (NaN when none could be checked).
    """
    C = np.asarray(C, dtype=np.float64)
    if C.shape != (len(labels), len(labels)):
        raise ValueError(f"C has shape {C.shape} but {len(labels)} label names were given")
    if not is_chunking(labels):
        return Findings(False, NOT_APPLICABLE, {}, 0, 0, float("nan"))
    index = {name: i for i, name in enumerate(labels)}
    findings, total_holding, total_checked = {}, 0, 0
    for name, (description, sign, pairs) in _finding_pairs(labels).items():
        checked, skipped = [], []
        for a, b in pairs:
            missing = [x for x in (a, b) if x not in index]
            if missing:
                skipped.append(SkippedPair(a, b, f"label {' and '.join(missing)} not in the label set"))
                continue
            value = float(C[index[a], index[b]])
            if np.isnan(value):
                skipped.append(SkippedPair(a, b, "correlation is NaN (label absent from the split)"))
                continue
            checked.append(PairCheck(a, b, value, bool(sign * value > 0)))
        n_holding = sum(holds for *_, holds in checked)
        findings[name] = Finding(description, sign, tuple(checked), tuple(skipped), n_holding, len(checked),
                                 n_holding / len(checked) if checked else float("nan"))
        total_holding += n_holding
        total_checked += len(checked)
    return Findings(True, None, findings, total_holding, total_checked,
                    total_holding / total_checked if total_checked else float("nan"))
