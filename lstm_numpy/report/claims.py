"""The paper's claims, checked on finished runs: ``docs/results/<name>.md``.

    python -m lstm_numpy.report.claims runs/conll2003-paper runs/conll2003-bilstm \
        --out docs/results/conll2003.md

Each run directory is what ``run.py`` wrote (``metrics.json``, ``analysis.json``,
``figures/``).  For every claim the numbers are computed from those files and
the verdict follows from the numbers, stated before any reading of it:

C1  model quality: dev/test entity F1 and per-label dev accuracy per seed.
C2  one arbitrary neuron has little effect: mean overall token-accuracy drop
    over all single-neuron ablations (expected < 0.5 points).
C3  a label's top-k neurons matter for that label: for every label, ranking
    method and k, the drop of the target label's accuracy when its top-k are
    ablated, against the mean drop for k random neurons and against the
    selectivity (target drop minus mean drop of the other labels); mean and
    spread over seeds.  Holds for (label, k) when top > random and
    selectivity > 0 in every seed.
C4  consistency: the paper's label-correlation findings in each model, and
    the cross-seed agreement (Mantel r and p).
Recurrent ablation (beyond the paper) is reported for every seed that has it (by default all).
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..labels import NOT_CHUNKING
from .analysis_json import read_analysis_json
from .tables import chance_level, decoding_note, markdown_table


def _load(run_dir):
    """(metrics.json's dict, the RunAnalysis of analysis.json) of a run directory."""
    run_dir = Path(run_dir)
    return json.loads((run_dir / "metrics.json").read_text()), read_analysis_json(run_dir / "analysis.json")


def _pts(x):
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.2f}"


def _mean_sd(values):
    values = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if values.size == 0:
        return np.nan, np.nan
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def c1_quality(metrics):
    by_seed = metrics["by_seed"]
    chunking = all(m["test"].get("label_scheme", "iob2") != "none" for m in by_seed.values())
    f1 = lambda value: f"{value:.2f}" if value is not None else NOT_CHUNKING  # noqa: E731
    rows = [[seed, m["epochs"], f1(m["dev"]["entity_f1"]), f1(m["test"]["entity_f1"]),
             f"{100 * m['dev']['token_acc']:.2f}", f"{100 * m['test']['token_acc']:.2f}"] for seed, m in by_seed.items()]
    score = "entity_f1" if chunking else "token_acc"
    scale = 1.0 if chunking else 100.0
    test = [scale * m["test"][score] for m in by_seed.values()]
    labels = list(next(iter(by_seed.values()))["dev"]["per_label_acc"])
    per_label = [[label] + [_pts(m["dev"]["per_label_acc"][label]) for m in by_seed.values()] for label in labels]
    what = "Test entity F1" if chunking else "Test token accuracy (%)"
    lines = [markdown_table(["seed", "epochs", "dev entity F1", "test entity F1", "dev token acc (%)",
                             "test token acc (%)"], rows),
             "", f"{what} over seeds: mean {np.mean(test):.2f}, min {np.min(test):.2f}, max {np.max(test):.2f}.", ""]
    if chunking:
        lines += [decoding_note(metrics.get("config", {}).get("decode", "argmax"),
                                [(f"test seed {seed}", m["test"].get("argmax_entity_f1")) for seed, m in by_seed.items()],
                                "each claim below"), ""]
    else:
        lines += [f"Entity F1: {NOT_CHUNKING} (plain tags); the best epoch was chosen by dev token accuracy.", ""]
    lines += ["Per-label dev accuracy (%), the paper's per-label measure:", "",
              markdown_table(["label"] + [f"seed {s}" for s in by_seed], per_label)]
    return lines, {"chunking": chunking, "test_mean": float(np.mean(test)), "test_min": float(np.min(test)),
                   "what": what}


def c2_single_neuron(analysis):
    rows, means = [], []
    for model in analysis.models:
        for mode, swept in model.sweep.modes.items():
            drops = swept.single_neuron
            if drops is None:
                continue
            rows.append([model.seed, mode, _pts(drops.mean()), _pts(drops.max()), f"{np.mean(drops < 0.005):.2f}"])
            if mode == "output":
                means.append(drops.mean())
    holds = bool(np.all(np.array(means) < 0.005))
    lines = [markdown_table(["seed", "mode", "mean drop (points)", "max drop (points)",
                             "fraction of neurons < 0.5 points"], rows), "",
             f"**C2 {'holds' if holds else 'does not hold'}**: the mean overall token-accuracy drop of a "
             f"single-neuron (output) ablation is {', '.join(_pts(m) for m in means)} points per seed "
             f"(threshold 0.5)."]
    return lines, {"holds": holds, "mean_drops": [float(m) for m in means]}


def _value(x):
    return None if x is None or not np.isfinite(x) else float(x)


def c3_top_k(analysis, labels):
    """Per ranking, label and k: top-k drop vs random-k drop, and selectivity, over seeds."""
    comparisons = [model.rankings for model in analysis.models]
    first = comparisons[0]
    measures, ks = list(first.measures), list(first.ks)
    verdict = {}
    lines = []
    for measure in measures:
        rows = []
        for i, label in enumerate(labels):
            for j, k in enumerate(ks):
                q = [c.measures.index(measure) for c in comparisons]
                top_drop = [_value(c.drop[m, i, j]) for c, m in zip(comparisons, q)]
                top_sel = [_value(c.selectivity[m, i, j]) for c, m in zip(comparisons, q)]
                rnd_drop = [_value(c.random_drop[i, j]) for c in comparisons]
                if all(v is None for v in top_drop):
                    continue
                per_seed = [t is not None and r is not None and sel is not None and t > r and sel > 0
                            for t, r, sel in zip(top_drop, rnd_drop, top_sel)]
                holds = all(per_seed)
                verdict[(measure, label, k)] = holds
                others = [None if t is None or sel is None else t - sel for t, sel in zip(top_drop, top_sel)]
                (td, tsd), (rd, rsd), (sd, ssd) = _mean_sd(top_drop), _mean_sd(rnd_drop), _mean_sd(top_sel)
                od, osd = _mean_sd(others)
                rows.append([label, k, f"{_pts(td)} ± {_pts(tsd)}", f"{_pts(od)} ± {_pts(osd)}",
                             f"{_pts(rd)} ± {_pts(rsd)}", f"{_pts(sd)} ± {_pts(ssd)}", f"{sum(per_seed)}/{len(per_seed)}"])
        n_hold = sum(verdict.get((measure, lab, k), False) for lab in labels for k in ks)
        n_all = sum((measure, lab, k) in verdict for lab in labels for k in ks)
        lines += [f"#### ranking: {measure} ({n_hold} of {n_all} label-k cells hold in every seed)", "",
                  markdown_table(["label", "k", "top-k drop (points)", "other labels' mean drop", "random-k drop",
                                  "selectivity", "seeds where top > random and selectivity > 0"], rows), ""]
    summary = {m: sum(v for (mm, _, _), v in verdict.items() if mm == m) /
               max(1, sum(1 for (mm, _, _) in verdict if mm == m)) for m in measures}
    pairs = list(analysis.models[0].rank_correlations)
    rows = [[pair] + [f"{np.nanmean(m.rank_correlations[pair]):.2f}" if np.isfinite(m.rank_correlations[pair]).any()
                      else "n/a" for m in analysis.models] for pair in pairs]
    lines += ["Rank agreement of the rankings: the mean over labels of the Spearman correlation of two rankings' "
              "rows, per seed (all of dev; the probe's ranking is its weights from the even-numbered sentences):", "",
              markdown_table(["rankings"] + [f"seed {m.seed}" for m in analysis.models], rows), ""]
    return lines, summary


def recurrent_section(analysis, labels, ks):
    """Beyond the paper: C2 and C3 (Xin ranking) under recurrent ablation, over the seeds that have it."""
    seeds = [m for m in analysis.models if "recurrent" in m.sweep.modes]
    if not seeds:
        return []
    rows, n_hold, n_all = [], 0, 0
    for i, label in enumerate(labels):
        for k in ks:
            def get(model, mode, strategy):
                swept = model.sweep.modes[mode]
                return _value(getattr(swept, strategy)[i, swept.at(k)]) if k in swept.ks else None
            rec_top = [get(s, "recurrent", "top") for s in seeds]
            if all(v is None for v in rec_top):
                continue
            rec_rnd = [get(s, "recurrent", "random") for s in seeds]
            out_top = [get(s, "output", "top") for s in seeds]
            wins = [t is not None and r is not None and t > r for t, r in zip(rec_top, rec_rnd)]
            n_hold, n_all = n_hold + all(wins), n_all + 1
            (ot, osd), (rt, rsd), (rr, rrsd) = _mean_sd(out_top), _mean_sd(rec_top), _mean_sd(rec_rnd)
            rows.append([label, k, f"{_pts(ot)} ± {_pts(osd)}", f"{_pts(rt)} ± {_pts(rsd)}",
                         f"{_pts(rr)} ± {_pts(rrsd)}", f"{sum(wins)}/{len(wins)}"])
    draws = sorted({s.sweep.modes["recurrent"].n_random for s in seeds})
    return ["### Beyond the paper: recurrent ablation", "",
            f"The neuron is clamped to zero inside the recurrence, so later steps lose it too (seeds "
            f"{', '.join(str(s.seed) for s in seeds)}; Xin ranking, computed and scored on all of dev; "
            f"random-k: {'/'.join(map(str, draws)) or 'an unrecorded number of'} draws per seed). "
            f"Single-neuron recurrent ablations are in the C2 table.", "",
            markdown_table(["label", "k", "output top-k drop", "recurrent top-k drop", "recurrent random-k drop",
                            "seeds where recurrent top > random"], rows), "",
            f"Recurrent top-k beats random-k in every seed in {n_hold} of {n_all} label-k cells.", ""]


def probe_section(analysis, labels, c3_summary):
    """Beyond the paper: the linear probe of the labels (and of any other column), held out, with its
    control task; whether its ranking or the paper's finds the neurons the model uses."""
    if not analysis.models[0].probes:
        return []
    rows = [[model.seed, probe.target, len(probe.classes), f"{100 * probe.accuracy:.2f}", f"{100 * probe.majority:.2f}",
             f"{100 * probe.control_accuracy:.2f}", f"{100 * probe.selectivity:+.2f}", f"{probe.l1:g}"]
            for model in analysis.models for probe in model.probes]
    xin, probe_share = c3_summary.get("xin"), c3_summary.get("probe")
    lines = ["### Beyond the paper: the probe, held out", "",
             "A linear probe (multinomial logistic regression with an elastic net, as NeuroX's linguistic correlation "
             "analysis fits it) trained on the even-numbered dev sentences, its strength chosen on a quarter of them, "
             "and scored on the odd-numbered ones, beside the most frequent class and a control task (each word type "
             "given a random label, Hewitt and Liang 2019); selectivity = accuracy - control accuracy, on the held-out "
             "tokens:", "",
             markdown_table(["seed", "property", "classes", "accuracy (%)", "majority (%)", "control (%)",
                             "selectivity (points)", "strength"], rows), ""]
    if xin is not None and probe_share is not None:
        winner = ("the paper's metric finds more of the neurons the model uses" if xin > probe_share else
                  "the probe finds more of the neurons the model uses" if probe_share > xin else
                  "neither finds more of the neurons the model uses")
        lines += [f"**Probe or paper**: the probe's weights, ablated held out, beat random neurons with positive "
                  f"selectivity in every seed in {100 * probe_share:.0f}% of label-k cells, the paper's sensitivity in "
                  f"{100 * xin:.0f}% (table C3): {winner}. A probe's accuracy says a property can be read off the "
                  "states; only the ablation says the model reads it there.", ""]
    for model in analysis.models[:1]:
        for probe in model.probes:
            if probe.top_drop is None:
                continue
            table = [[name] + [f"{100 * v:.1f}" for v in probe.top_drop[c]] for c, name in enumerate(probe.classes)
                     if np.abs(probe.top_drop[c]).max() >= 0.005]
            lines += [f"What {probe.target} is worth to the model's labels (seed {model.seed}): the held-out accuracy "
                      f"drop (points) of each label when the top {probe.top_k} neurons of a class by the probe's "
                      "weights are ablated (classes whose ablation moves no label by half a point are left out):", "",
                      markdown_table(["class"] + list(labels), table) if table else "(no class's neurons move a label)",
                      ""]
    return lines


def c4_consistency(analysis, labels):
    lines = []
    consistency = analysis.consistency
    if not all(findings.applicable for findings in consistency.findings):
        reason = consistency.findings[0].reason or NOT_CHUNKING
        lines = [f"**C4 (within models) not applicable**: {reason}.", ""]
    rows = []
    for seed, findings in zip(analysis.seeds, consistency.findings):
        for name, finding in findings.findings.items():
            rows.append([seed, name, f"{finding.n_holding}/{finding.n_checked}",
                         "; ".join(f"{pair.a}/{pair.b} {pair.value:+.2f}" for pair in finding.pairs)])
    pair_rows = [[p.a, p.b, f"{p.mantel_r:.3f}", f"{p.mantel_p:.4f}", f"{p.n_matched_above} (chance {chance_level(p)})"]
                 for p in consistency.pairs]
    n_hold = sum(f.n_holding for findings in consistency.findings for f in findings.findings.values())
    n_all = sum(f.n_checked for findings in consistency.findings for f in findings.findings.values())
    if rows:
        lines = [markdown_table(["seed", "finding", "pairs holding", "correlations"], rows), "",
                 f"**C4 (within models) {'holds' if n_hold == n_all else 'holds in part'}**: {n_hold} of {n_all} "
                 "label pairs have the sign the paper reports, over all seeds.", ""]
    if pair_rows:
        lines += ["Cross-seed agreement of the label-label correlation matrices (Mantel test, 9,999 "
                  "label permutations) and neurons matched by sensitivity profile with correlation > 0.8 "
                  f"(chance: mean [2.5th, 97.5th percentile] over {consistency.n_shuffles} "
                  "shufflings of one model's label rows):", "",
                  markdown_table(["model a", "model b", "Mantel r", "p", "matched > 0.8"], pair_rows), ""]
        agree = all(p.mantel_p < 0.05 for p in consistency.pairs)
        lines.append(f"**C4 (across seeds) {'holds' if agree else 'does not hold for every pair'}**: the "
                     "label-label correlation matrices of every pair of seeds agree at Mantel p < 0.05"
                     + ("." if agree else " for some pairs only."))
    return lines


def write_claims(run_dirs, out, command, notes=()):
    out = Path(out)
    figures_out = out.parent / f"{out.stem}_figures"
    lines = [f"# The paper's claims on {out.stem}", "",
             "Produced by:", "", "```", *command, "```", "",
             "Every number below is read from the run directories those commands wrote; a claim that "
             "does not hold is reported as not holding.", "", *[f"> {n}" for n in notes], ""]
    for run_dir in run_dirs:
        metrics, analysis = _load(run_dir)
        labels = list(analysis.labels)
        name = f"{metrics['data']}-{metrics['preset']}"
        lines += [f"## {name}", "", f"Command: `{metrics['command']}`; seeds {metrics['seeds']}; "
                  f"{metrics['config']['hidden'] * (2 if metrics['config']['bidirectional'] else 1)} neurons; "
                  f"training {metrics['train_seconds']:.0f} s for seed {metrics['seeds'][0]} "
                  f"({metrics['seconds_per_epoch']:.1f} s/epoch), analysis {metrics.get('analysis_seconds', 0):.0f} s.",
                  "", "### C1 model quality", ""]
        c1_lines, c1 = c1_quality(metrics)
        lines += c1_lines
        if c1["chunking"] and metrics["data"] == "conll2003":
            lines += ["", f"Test entity F1: mean {c1['test_mean']:.2f} over seeds (the project's target for the "
                          "bilstm preset without pretrained vectors is >= 80)."]
        lines += ["", "### C2 one arbitrary neuron has little effect", ""] + c2_single_neuron(analysis)[0]
        split = analysis.models[0].rankings
        held_out = (f"Every ranking is computed on the {split.ranking_sentences} and scored on the "
                    f"{split.scoring_sentences}; random-k is the mean of {split.n_random} draws per seed "
                    f"from all neurons on the scoring half. `{split.oracle}` ranks by single-neuron drops on "
                    "the scoring half itself, an in-sample oracle: shown, never the best ranking.")
        lines += ["", "### C3 a label's top-k neurons matter for that label", "",
                  "Output-mode ablation on dev, held out. Drops in accuracy points of the target label; mean ± "
                  f"standard deviation over seeds. {held_out}", ""]
        c3_lines, c3_summary = c3_top_k(analysis, labels)
        xin = c3_summary.get("xin", np.nan)
        honest = {m: v for m, v in c3_summary.items() if m != split.oracle}
        best = max(honest, key=honest.get)
        lines += [markdown_table(["ranking", "fraction of label-k cells where top-k beats random-k with "
                                  "positive selectivity in every seed"],
                                 [[m, f"{v:.2f}"] for m, v in c3_summary.items()]), "",
                  f"**C3 with the paper's (Xin) sensitivity {'holds' if xin >= 0.9 else 'holds only in part'}**: "
                  f"in {100 * xin:.0f}% of label-k cells the top-k neurons hurt their label more than k random "
                  f"neurons and more than they hurt the other labels, in every seed (we call the claim holding "
                  f"at 90% or more). Best ranking here (held out, the oracle excluded): {best} "
                  f"({100 * honest[best]:.0f}%).", ""] + c3_lines
        lines += recurrent_section(analysis, labels, split.ks)
        lines += probe_section(analysis, labels, c3_summary)
        lines += ["### C4 consistency", ""] + c4_consistency(analysis, labels)
        figures_dir = Path(run_dir) / "figures"
        target = figures_out / name
        target.mkdir(parents=True, exist_ok=True)
        for figure in ("sensitivity_heatmap", "ablation_grid_output", "label_correlations", "output_vs_recurrent",
                       "single_neuron_histogram"):
            src = figures_dir / f"{figure}.png"
            if src.is_file():
                shutil.copyfile(src, target / src.name)
                lines += ["", f"![{figure}]({figures_out.name}/{name}/{src.name})"]
        lines.append("")
    atomic_write_text(out, "\n".join(lines) + "\n")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories written by run.py")
    parser.add_argument("--out", required=True, help="markdown file to write")
    parser.add_argument("--command", action="append", default=[],
                        help="the commands that produced the runs (repeatable), shown at the top")
    parser.add_argument("--note", action="append", default=[], help="a note shown at the top (repeatable)")
    args = parser.parse_args(argv)
    print(write_claims(args.runs, args.out, args.command or ["(commands not given)"], args.note))


if __name__ == "__main__":
    main()
