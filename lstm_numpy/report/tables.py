"""Formatting for people: table cells, markdown tables, links that work from a report's
folder, and the sentences that explain how a score was read.

Units: accuracies and drops are fractions and shown as percentages / accuracy
points (x 100); entity F1 is already a percentage.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["format_value", "markdown_table", "link", "decoding_note", "chance_level", "points", "number",
           "token_acc"]


def format_value(value, float_format: str = "{:.3f}") -> str:
    """One table cell: floats with `float_format`, NaN/None as "n/a", bools as yes/no."""
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else float_format.format(float(value))
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence], float_format: str = "{:.3f}") -> str:
    """A GitHub-flavoured markdown table; numbers right-aligned, cells via `format_value`."""
    numeric = [all(isinstance(row[c], (int, float, np.integer, np.floating)) and not isinstance(row[c], bool)
                   for row in rows if c < len(row)) and len(rows) > 0 for c in range(len(headers))]
    lines = ["| " + " | ".join(format_value(h) for h in headers) + " |",
             "|" + "|".join("---:" if is_number else "---" for is_number in numeric) + "|"]
    for row in rows:
        cells = [format_value(cell, float_format) for cell in row] + [""] * (len(headers) - len(row))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def points(value) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def number(value) -> float:
    return float("nan") if value is None else float(value)


def token_acc(metrics: Mapping):
    return metrics.get("token_acc", metrics.get("token_accuracy"))


def link(path, report_dir: Path) -> str:
    """A file's path (absolute, or relative to the current directory) as a link from ``report_dir``."""
    return Path(os.path.relpath(Path(path).resolve(), report_dir)).as_posix()


def decoding_note(decode, argmax_f1, reader) -> str:
    """One paragraph on how a table's scores read labels off the logits (evaluation.decoding).

    argmax_f1: [(name, entity F1 or None)] of the per-token argmax read-out,
    listed when decode is "constrained"; reader: who reads the argmax ("the analysis below").
    """
    if decode != "constrained":
        return f"These scores read each token's argmax, as {reader} does."
    note = ("These scores read the best label sequence the chunk scheme allows (constrained decoding, "
            f"`lstm_numpy/evaluation/decoding.py`); {reader} reads each token's argmax.")
    shown = [(name, value) for name, value in argmax_f1 if value is not None]
    if shown:
        note += " Read by the argmax, entity F1 is " + ", ".join(f"{name} {v:.2f}" for name, v in shown) + "."
    return note


def chance_level(pair) -> str:
    """The shuffled-labels count of one model pair (analysis.results.PairAgreement): "mean [low, high]"."""
    mean, interval = pair.n_matched_above_shuffled, pair.n_matched_above_shuffled_interval
    if mean is None or math.isnan(mean):
        return "n/a"
    if interval is None or not np.isfinite(interval).all():
        return format_value(mean, "{:.1f}")
    return f"{mean:.1f} [{interval[0]:.1f}, {interval[1]:.1f}]"
