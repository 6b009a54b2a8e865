"""Compare two run directories number by number: a run written before analysis.json had a schema
(the old layout, read by key) against one written since (read with report.analysis_json), or two
new ones.  Used to show that a restructuring changed no result:

    python tests/compare_runs.py OLD_RUN NEW_RUN

Compares metrics.json (timings and the command aside), every checkpoint (weights and metadata),
ablation.csv, every number of analysis.json, and the explorer page's embedded data (its meta
less the command, and every data section).  Prints each difference and exits 1 if there is any.
Not collected by pytest (its name does not start with test_).
"""
import csv
import json
import sys
from pathlib import Path

import numpy as np

from lstm_numpy.report.analysis_json import read_analysis_json
from lstm_numpy.report.explorer import read_page
from lstm_numpy.training.checkpoint import load_checkpoint

TIMING_KEYS = {"train_seconds", "seconds_per_epoch", "total_seconds", "analysis_seconds", "explorer_seconds",
               "command", "seconds", "tokens_per_second", "train_tok_s"}
problems = []
renamed = {}        # old run directory name -> new one: paths inside the runs differ by it only


def same(what, a, b):
    """Exact equality of nested JSON-like values and arrays (NaN equals NaN, None equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            problems.append(f"{what}: keys differ: {sorted(set(a) ^ set(b))}")
        for key in set(a) & set(b):
            if key not in TIMING_KEYS:
                same(f"{what}.{key}", a[key], b[key])
        return
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and not (
            np.asarray(a, dtype=object).ndim and all(isinstance(x, (int, float, type(None))) for x in np.ravel(
                np.asarray(a, dtype=object)))):
        if len(a) != len(b):
            problems.append(f"{what}: lengths {len(a)} and {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            same(f"{what}[{i}]", x, y)
        return
    if a is None and b is None:
        return
    try:
        x = np.array(np.nan if a is None else a, dtype=np.float64) if not isinstance(a, str) else a
        y = np.array(np.nan if b is None else b, dtype=np.float64) if not isinstance(b, str) else b
    except (TypeError, ValueError):
        x, y = a, b
    if isinstance(x, np.ndarray) and isinstance(y, np.ndarray):
        x = np.where(np.equal(x, None), np.nan, x).astype(float) if x.dtype == object else x
        y = np.where(np.equal(y, None), np.nan, y).astype(float) if y.dtype == object else y
        if x.shape != y.shape or not np.array_equal(x, y, equal_nan=True):
            problems.append(f"{what}: {a!r:.120} != {b!r:.120}")
    elif isinstance(x, str) and isinstance(y, str):
        for old, new in renamed.items():
            x = x.replace(old, new)
        if x != y:
            problems.append(f"{what}: {a!r:.120} != {b!r:.120}")
    elif x != y:
        problems.append(f"{what}: {a!r:.120} != {b!r:.120}")


def nan_none(x):
    return np.where(np.equal(np.asarray(x, dtype=object), None), np.nan, np.asarray(x, dtype=object)).astype(float)


def old_analysis_as_new(old, new):
    """Pairs (what, old value, new value) of every number the old layout holds."""
    labels = old["labels"]
    pairs = [("labels", old["labels"], list(new.labels)), ("seeds", old["seeds"], list(new.seeds))]
    for entry, model in zip(old["per_seed"], new.models):
        seed = f"seed {entry['seed']}"
        pairs.append((f"{seed} sensitivity", nan_none(entry["sensitivity"]), model.sensitivity))
        for mode, strategies in entry["ablation"].items():
            swept = model.sweep.modes[mode]
            pairs.append((f"{seed} {mode} n_random", entry["n_random"][mode], swept.n_random))
            for strategy in ("top", "bottom", "random", "control"):
                grid = np.full(swept.top.shape, np.nan)
                for label, by_k in strategies[strategy].items():
                    for k, value in by_k.items():
                        grid[labels.index(label), swept.at(int(k))] = np.nan if value is None else value
                pairs.append((f"{seed} {mode} {strategy}", grid, getattr(swept, strategy)))
            interval = np.full(swept.random_interval.shape, np.nan)
            for label, by_k in strategies["random_ci"].items():
                for k, value in by_k.items():
                    interval[labels.index(label), swept.at(int(k))] = value
            pairs.append((f"{seed} {mode} random interval", interval, swept.random_interval))
            pairs.append((f"{seed} {mode} single neuron", entry["single_neuron"][mode]["token_acc_drop"],
                          swept.single_neuron))
        pairs.append((f"{seed} random_pool", entry["random_pool"], model.sweep.random_pool))
        rankings = model.rankings
        for measure, by_label in entry["top_k_by_measure"].items():
            for what in ("drop", "selectivity"):
                grid = np.full(rankings.drop.shape[1:], np.nan)
                for label, by_k in by_label.items():
                    for k, cell in by_k.items():
                        grid[labels.index(label), rankings.at(int(k))] = np.nan if cell[what] is None else cell[what]
                pairs.append((f"{seed} ranking {measure} {what}", grid,
                              getattr(rankings, what)[rankings.measures.index(measure)]))
        for what, field in (("drop", "random_drop"), ("selectivity", "random_selectivity")):
            grid = np.full(rankings.random_drop.shape, np.nan)
            for label, by_k in entry["random_k"].items():
                for k, cell in by_k.items():
                    grid[labels.index(label), rankings.at(int(k))] = np.nan if cell[what] is None else cell[what]
            pairs.append((f"{seed} ranking random {what}", grid, getattr(rankings, field)))
        split = entry["ranking_comparison"]
        for key in ("ranking_sentences", "scoring_sentences", "n_ranking_tokens", "n_scoring_tokens", "n_random",
                    "random_pool", "oracle"):
            pairs.append((f"{seed} ranking {key}", split[key], getattr(rankings, key)))
    index = 0
    pairs.append(("correlations", nan_none(old["consistency"]["label_correlations"]
                                           if old["consistency"]["label_correlations"] is not None
                                           else [e["label_correlation"] for e in old["per_seed"]]),
                  new.consistency.correlations))
    for entry, findings in zip(old["per_seed"], new.consistency.findings):
        pairs.append((f"seed {entry['seed']} label correlation", nan_none(entry["label_correlation"]),
                      new.consistency.correlations[index]))
        found = entry["paper_findings"]
        pairs.append((f"seed {entry['seed']} findings totals", [found["n_holding"], found["n_checked"]],
                      [findings.n_holding, findings.n_checked]))
        for name, finding in found["findings"].items():
            mine = findings.findings[name]
            pairs.append((f"seed {entry['seed']} finding {name}", [list(p) for p in finding["pairs"]],
                          [list(p) for p in mine.pairs]))
            pairs.append((f"seed {entry['seed']} finding {name} skipped", [list(p) for p in finding["skipped"]],
                          [list(p) for p in mine.skipped]))
        index += 1
    consistency = old["consistency"]
    if consistency["pairs"]:
        for old_pair, pair in zip(consistency["pairs"], new.consistency.pairs):
            for key, value in old_pair.items():
                pairs.append((f"pair {pair.a}-{pair.b} {key}", value, getattr(pair, key)))
        pairs += [("mantel r", consistency["mantel_r"], new.consistency.mean_mantel_r),
                  ("mantel p", consistency["mantel_p"], new.consistency.max_mantel_p),
                  ("threshold", consistency["threshold"], new.consistency.threshold),
                  ("n_shuffles", consistency["n_shuffles"], new.consistency.n_shuffles)]
    first = new.models[0]
    other = "gold" if old["sensitivity_group_by"] == "predicted" else "predicted"
    pairs += [("group_by", old["sensitivity_group_by"], first.group_by),
              (f"sensitivity grouped by {other}", nan_none(old[f"sensitivity_grouped_by_{other}"]),
               first.sensitivity_other),
              ("group spearman", nan_none(old["sensitivity_group_spearman"]), first.group_spearman),
              ("neurons for mass", nan_none(old["neurons_for_mass"]["counts"]), first.neurons_for_mass),
              ("mass fractions", old["neurons_for_mass"]["fractions"], first.mass_fractions)]
    for name, values in old["rank_correlations"].items():
        pairs.append((f"rank correlation {name}", nan_none(values), first.rank_correlations[name]))
    best = first.rankings.best(5)
    for i, label in enumerate(labels):
        row = old["top5_drop_by_measure"][label]
        pairs.append((f"best ranking {label}", row["best"], best[i]))
        for measure, value in row.items():
            if measure != "best":
                pairs.append((f"top-5 {measure} {label}", value,
                              first.rankings.of(measure)[i, first.rankings.at(5)]))
    output = first.sweep.modes["output"]
    pairs.append(("drop matrix k=5", nan_none(old["drop_matrix"]["matrix"]), output.drop_matrix[output.at(5)]))
    pairs.append(("single neuron output", old["single_neuron_overall_acc_drops"], output.single_neuron))
    recurrent = first.sweep.modes.get("recurrent")
    pairs.append(("single neuron recurrent", old["single_neuron_recurrent_acc_drops"],
                  None if recurrent is None else recurrent.single_neuron))
    return pairs


def compare(old_dir, new_dir):
    old_dir, new_dir = Path(old_dir), Path(new_dir)
    renamed[str(old_dir.resolve())] = str(new_dir.resolve())
    renamed[old_dir.resolve().name] = new_dir.resolve().name
    same("metrics.json", json.loads((old_dir / "metrics.json").read_text()),
         json.loads((new_dir / "metrics.json").read_text()))
    for seed_dir in sorted(old_dir.glob("seed*")):
        old_params, old_meta = load_checkpoint(seed_dir / "best")
        new_params, new_meta = load_checkpoint(new_dir / seed_dir.name / "best")
        same(f"{seed_dir.name}/best.json meta", old_meta, new_meta)
        for name in old_params:
            if not np.array_equal(old_params[name], new_params[name]):
                problems.append(f"{seed_dir.name}/best.npz {name} differs")
    with open(old_dir / "ablation.csv", newline="") as a, open(new_dir / "ablation.csv", newline="") as b:
        if list(csv.reader(a)) != list(csv.reader(b)):
            problems.append("ablation.csv differs")
    new = read_analysis_json(new_dir / "analysis.json")
    old = json.loads((old_dir / "analysis.json").read_text())
    if "schema_version" in old:
        old_new = read_analysis_json(old_dir / "analysis.json")
        same("analysis.json", json.loads((old_dir / "analysis.json").read_text()),
             json.loads((new_dir / "analysis.json").read_text()))
        del old_new
    else:
        for what, a, b in old_analysis_as_new(old, new):
            same(f"analysis.json {what}", a, b)
    (old_meta, old_section), (new_meta, new_section) = read_page(old_dir / "explorer.html"), \
        read_page(new_dir / "explorer.html")
    for meta in (old_meta, new_meta):
        meta["about"].pop("command")
    same("explorer meta", old_meta, new_meta)
    for name in old_meta["sections"]:
        if old_section(name) != new_section(name):
            problems.append(f"explorer section {name} differs")
    for problem in problems:
        print(problem)
    print(f"{old_dir} vs {new_dir}: " + (f"{len(problems)} differences" if problems else
                                          "identical (timings and the command aside)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(compare(*sys.argv[1:3]))
