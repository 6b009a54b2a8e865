"""analysis.json: every number behind report.md, from the same context dict (report.markdown)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_numpy.atomic import atomic_write_json

__all__ = ["write_analysis_json"]


def write_analysis_json(path, context: dict) -> Path:
    """Write analysis.json at `path` (atomically; NaN -> null) with the numbers behind the report.

    Keys: "labels", "seeds", "command", "metrics", "sensitivity" {"labels", "matrix"},
    "ablation" {mode: {strategy: {label: {k: drop}}}}, "ablation_random_ci",
    "drop_matrix", "single_neuron_overall_acc_drops", "consistency" {"mantel_r"
    (mean over pairs), "mantel_p" (largest over pairs), "pairs", "label_correlations",
    "paper_findings"}; absent parts are null.  Anything under the context key
    "extra" (a dict) is added at the top level as it is.
    """
    labels = context.get("labels")
    sensitivity = context.get("sensitivity") or {}
    ablation = context.get("ablation") or {}
    consistency = context.get("consistency") or {}
    drops = context.get("single_neuron_drops")
    out = {
        "labels": labels,
        "seeds": context.get("seeds"),
        "command": context.get("command"),
        "metrics": context.get("metrics"),
        "sensitivity": {"labels": sensitivity.get("labels") or labels,
                        "matrix": None if sensitivity.get("matrix") is None
                        else np.asarray(sensitivity["matrix"], dtype=float)},
        "ablation": ablation.get("summary"),
        "ablation_random_ci": ablation.get("random_ci"),
        "drop_matrix": context.get("drop_matrix"),
        "single_neuron_overall_acc_drops": None if drops is None else np.asarray(drops, dtype=float),
        "consistency": {
            "mantel_r": consistency.get("mean_mantel_r"),
            "mantel_p": consistency.get("max_mantel_p"),
            "pairs": consistency.get("pairs"),
            "label_correlations": consistency.get("correlations"),
            "paper_findings": consistency.get("findings") or context.get("paper_findings"),
            "threshold": consistency.get("threshold"),
            "n_shuffles": consistency.get("n_shuffles"),
        },
    }
    out.update(context.get("extra") or {})
    atomic_write_json(path, out)
    return Path(path)
