#!/usr/bin/env bash
# Reproduce docs/results/conll2003_patching.md: activation patching and gate clamps of the first
# bilstm model of docs/results/conll2003.sh (runs/conll2003-bilstm/seed0, trained there) on
# minimal pairs built from CoNLL-2003 dev by swapping the context word before an entity
# (docs/results/conll2003_pairs.py), once with the entities as they are and once with each
# replaced by a name the training split never has; each a --checkpoint run of the model.
# Usage: bash docs/results/conll2003_patching.sh [PATH_TO_CONLL2003]   (default ../shared/data/conll2003)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-../shared/data/conll2003}
model=runs/conll2003-bilstm/seed0/best.npz
[ -f "$model" ] || { echo "error: $model: no such file (run bash docs/results/conll2003.sh first)" >&2; exit 2; }
SECONDS=0
python docs/results/conll2003_pairs.py runs/conll2003_pairs.txt --data-dir "$data" | tee runs/conll2003_pairs.log
echo "with every entity renamed (--unseen-name Varnok):" | tee -a runs/conll2003_pairs.log
python docs/results/conll2003_pairs.py runs/conll2003_pairs_unseen.txt --data-dir "$data" --unseen-name Varnok \
    | tail -n 2 | tee -a runs/conll2003_pairs.log
for kind in known unseen; do
    pairs=runs/conll2003_pairs.txt; [ $kind = unseen ] && pairs=runs/conll2003_pairs_unseen.txt
    python run.py --checkpoint "$model" --data conll2003 --data-dir "$data" --pairs "$pairs" --no-recurrent \
        --out runs/conll2003-patching-$kind --force --no-progress | tail -n 3
done
python docs/results/patching_page.py runs/conll2003-patching-known runs/conll2003-patching-unseen \
    --pairs-log runs/conll2003_pairs.log --out docs/results/conll2003_patching.md \
    --command "bash docs/results/conll2003_patching.sh" \
    --note "Made on $(date -u +%Y-%m-%d) on $(nproc --all) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)) in ${SECONDS} s."
