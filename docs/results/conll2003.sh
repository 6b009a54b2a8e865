#!/usr/bin/env bash
# Reproduce docs/results/conll2003.md: 3 seeds of each preset on CoNLL-2003, then the claims report.
# Usage: bash docs/results/conll2003.sh [PATH_TO_CONLL2003]   (default ../shared/data/conll2003)
# About 35 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/conll2003}
python run.py --data conll2003 --data-dir "$data" --preset paper --recurrent-seeds all --out runs/conll2003-paper --force --no-progress
python run.py --data conll2003 --data-dir "$data" --preset bilstm --average 0.999 --epochs 50 --lr 2e-3 --patience 8 --recurrent-seeds all \
    --out runs/conll2003-bilstm --force --no-progress
python -m lstm_numpy.report.claims runs/conll2003-paper runs/conll2003-bilstm --out docs/results/conll2003.md \
    --command "bash docs/results/conll2003.sh" \
    --command "python run.py --data conll2003 --preset paper --recurrent-seeds all --out runs/conll2003-paper" \
    --command "python run.py --data conll2003 --preset bilstm --average 0.999 --epochs 50 --lr 2e-3 --patience 8 --recurrent-seeds all --out runs/conll2003-bilstm"
# both read-outs (argmax, constrained decoding) of every checkpoint, for docs/results/training.md
python docs/results/decoding.py runs/conll2003-paper runs/conll2003-bilstm --data-dir "$data"
