"""Entity F1 of trained taggers under both read-outs: per-token argmax and constrained decoding.

Usage (from the repository root):
    python docs/results/decoding.py runs/conll2003-bilstm [runs/conll2003-paper ...] [--data-dir PATH]

Loads every ``seed*/best`` checkpoint of each run directory and scores its dev and
test predictions on CoNLL-2003 read both ways (lstm_numpy/evaluation/decoding.py); the
weights are not changed. Prints one markdown row per run and seed.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lstm_numpy.data.batching import encode_corpus  # noqa: E402
from lstm_numpy.data.vocab import AffixVocab, CharVocab  # noqa: E402
from lstm_numpy.evaluation.metrics import evaluate  # noqa: E402
from lstm_numpy.pipeline import load_splits, load_tagger  # noqa: E402
from lstm_numpy.prediction import predict_split  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories written by run.py (with seed*/best.npz)")
    parser.add_argument("--data-dir", help="CoNLL-2003 folder (default ../shared/data/conll2003)")
    args = parser.parse_args(argv)
    corpora = load_splits("conll2003", args.data_dir)
    print("| run | seed | dev argmax | dev constrained | test argmax | test constrained |")
    print("|---|---:|---:|---:|---:|---:|")
    for run in args.runs:
        for seed_dir in sorted(Path(run).glob("seed*")):
            params, config, vocab, labels = load_tagger(seed_dir / "best")
            affixes, chars = AffixVocab(vocab), CharVocab(vocab)     # rebuilt from the checkpoint's vocabulary
            row = []
            for split in ("dev", "test"):
                encoded = encode_corpus(corpora[split], vocab, labels, affixes, chars)
                for decode in ("argmax", "constrained"):
                    preds = predict_split(params, config, encoded, decode=decode, label_names=labels.labels)
                    row.append(evaluate(encoded.labels, preds, labels.labels)["entity_f1"])
            print(f"| {run} | {seed_dir.name[4:]} | " + " | ".join(f"{f:.2f}" for f in row) + " |")


if __name__ == "__main__":
    main()
