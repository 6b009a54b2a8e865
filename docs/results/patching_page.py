"""Collect the activation-patching sections of finished runs into one page.

Usage (from the repository root):
    python docs/results/patching_page.py RUN_DIR [RUN_DIR ...] --out PAGE.md [--pairs-log FILE]
        [--command CMD] [--note TEXT]

For each run directory: its command (run.json), the step times of patching and clamps
(metrics.json's report table), and its report.md's "Activation patching over time" section
with the heatmap copied beside the page (PAGE_figures/<run>/patching_heatmap.png).
--pairs-log: the pair builder's printout, quoted at the top.
"""
import argparse
import json
import shutil
from pathlib import Path

SECTION = "## Activation patching over time"
CLAMPS = "\n### Gate clamps"


def section(report):
    """The patching section of a report.md, up to the next top-level section."""
    text = report.read_text()
    if SECTION not in text:
        raise SystemExit(f"error: {report}: no '{SECTION}' section (a run with pairs has one)")
    body = text.split(SECTION, 1)[1]
    return SECTION + body.split("\n## ", 1)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--pairs-log")
    parser.add_argument("--command", default=None)
    parser.add_argument("--note", default=None)
    args = parser.parse_args(argv)
    out = Path(args.out)
    figures = out.with_name(out.stem + "_figures")
    lines = ["# Activation patching and gate clamps", ""]
    if args.command:
        lines += ["Produced by:", "", "```", args.command, "```", ""]
    if args.note:
        lines += [f"> {args.note}", ""]
    if args.pairs_log:
        lines += ["The pairs (`docs/results/conll2003_pairs.py`):", "", "```",
                  Path(args.pairs_log).read_text().rstrip(), "```", ""]
    clamps_of = {}         # the gate clamps' text -> the first run that has it
    for run in map(Path, args.runs):
        record = json.loads((run / "run.json").read_text())
        timings = [line for line in (run / "report.md").read_text().splitlines()
                   if line.startswith(("| activation patching", "| gate clamps"))]
        lines += [f"## {run.name}", "", f"Command: `{record['command']}`", "",
                  "| step | seconds |", "|---|---:|", *timings, ""]
        text = section(run / "report.md").replace(SECTION, "### Activation patching over time")
        if CLAMPS in text:      # the clamps depend on the model and dev, not on the pairs: shown once
            text, clamps = text.split(CLAMPS, 1)
            same = clamps_of.setdefault(clamps, run.name)
            text += "\n#" + CLAMPS.lstrip("\n") + ("\n\n" + clamps.lstrip("\n") if same == run.name else
                                                  f"\n\nThe same as {same}'s, word for word (the same model on the same "
                                                  "dev: the clamps do not depend on the pairs).\n")
        heatmap = run / "figures" / "patching_heatmap.png"
        if heatmap.is_file():
            target = figures / run.name / heatmap.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(heatmap, target)
            text = text.replace("(figures/patching_heatmap.png)", f"({figures.name}/{run.name}/{heatmap.name})")
        lines += [text.rstrip(), ""]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
