#!/usr/bin/env bash
# Reproduce docs/results/ud_french_sequoia.md: part of speech (UPOS) on a real UD treebank,
# 3 seeds of the default preset, then the claims report.
# Usage: bash docs/results/ud_french_sequoia.sh [PATH_TO_UD_FRENCH_SEQUOIA]   (default ../shared/data/ud_french_sequoia)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/ud_french_sequoia}
SECONDS=0
python run.py --data conllu --train "$data/train.conllu" --dev "$data/dev.conllu" --test "$data/test.conllu" \
    --out runs/ud_french_sequoia-bilstm --force --no-progress
t_run=$SECONDS
python -m lstm_numpy.report.claims runs/ud_french_sequoia-bilstm --out docs/results/ud_french_sequoia.md \
    --command "bash docs/results/ud_french_sequoia.sh" \
    --command "python run.py --data conllu --train ../shared/data/ud_french_sequoia/train.conllu --dev ../shared/data/ud_french_sequoia/dev.conllu --test ../shared/data/ud_french_sequoia/test.conllu --out runs/ud_french_sequoia-bilstm" \
    --note "Made on $(date -u +%Y-%m-%d) with bash docs/results/ud_french_sequoia.sh on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)): the run took ${t_run} s; the treebank is $data (UD_French-Sequoia, unchanged)."
