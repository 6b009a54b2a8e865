#!/usr/bin/env bash
# Reproduce docs/results/conll2003.md: 3 seeds of each preset on CoNLL-2003 (the two presets side by
# side, the seeds of each in parallel processes, --jobs 3: the same models and analysis, bit for bit,
# as one after the other), the recurrent
# ablation of every seed, both read-outs of every checkpoint, then the claims report with the time
# of each step.
# Usage: bash docs/results/conll2003.sh [PATH_TO_CONLL2003]   (default ../shared/data/conll2003)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/conll2003}
SECONDS=0
mkdir -p runs
# the two presets side by side (each of their processes on 1 Numba thread): the one's serial
# parts (reading data, the report, the page) run while the other trains; after each run, both
# read-outs (argmax, constrained decoding) of its checkpoints, for docs/results/training.md
(python run.py --data conll2003 --data-dir "$data" --preset paper --jobs 3 --probe-column 1 --out runs/conll2003-paper \
    --force --no-progress > runs/conll2003-paper.log 2>&1 && echo $SECONDS > runs/conll2003-paper.seconds &&
    python docs/results/decoding.py runs/conll2003-paper --data-dir "$data" >> runs/conll2003-paper.log 2>&1) &
paper=$!
python run.py --data conll2003 --data-dir "$data" --preset bilstm --average 0.999 --epochs 50 --lr 2e-3 --patience 8 \
    --probe-column 1 --jobs 3 --out runs/conll2003-bilstm --force --no-progress
t_bilstm=$SECONDS
python docs/results/decoding.py runs/conll2003-bilstm --data-dir "$data"
t_decoding=$((SECONDS - t_bilstm))
wait "$paper" || { cat runs/conll2003-paper.log; exit 1; }
cat runs/conll2003-paper.log
t_paper=$(cat runs/conll2003-paper.seconds)
python -m lstm_numpy.report.claims runs/conll2003-paper runs/conll2003-bilstm --out docs/results/conll2003.md \
    --command "bash docs/results/conll2003.sh   # all of the below" \
    --command "python run.py --data conll2003 --preset paper --jobs 3 --probe-column 1 --out runs/conll2003-paper" \
    --command "python run.py --data conll2003 --preset bilstm --average 0.999 --epochs 50 --lr 2e-3 --patience 8 --probe-column 1 --jobs 3 --out runs/conll2003-bilstm" \
    --command "python docs/results/decoding.py runs/conll2003-paper; python docs/results/decoding.py runs/conll2003-bilstm" \
    --command "python -m lstm_numpy.report.claims runs/conll2003-paper runs/conll2003-bilstm --out docs/results/conll2003.md" \
    --note "Time of each step of bash docs/results/conll2003.sh on $(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)): the paper and bilstm runs side by side, done after ${t_paper} s and ${t_bilstm} s; the bilstm read-outs ${t_decoding} s (the paper's ran alongside), then this document; $((SECONDS / 60)) min $((SECONDS % 60)) s before it (each run's own split into training and analysis is in its section)." \
    ${CONLL2003_NOTE:+--note "$CONLL2003_NOTE"}
echo "docs/results/conll2003.sh: ${SECONDS} s in all"
