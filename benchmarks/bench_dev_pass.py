"""Where one evaluation pass over CoNLL-2003 dev spends its time (the unit a recurrent ablation repeats).

    python benchmarks/bench_dev_pass.py                        # bilstm preset, random weights
    python benchmarks/bench_dev_pass.py --checkpoint runs/conll2003-bilstm/seed0/best

Times, over the same length-bucketed batches of 256 sentences: the whole pass
(``collect_states``: features, character CNN, both LSTM directions, linear
layer), the character CNN alone, and building the batches alone. Timing does
not depend on how good the weights are. Like ``run.py`` it sets
OPENBLAS_NUM_THREADS=1 and Numba's workqueue layer unless they are set.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads, as in run.py
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from _install import INSTALL  # noqa: E402  # benchmarks/_install.py, beside this script


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INSTALL)
    parser.add_argument("--checkpoint", help="a trained tagger (stem of best.npz/.json); default random bilstm weights")
    parser.add_argument("--data-dir", help="CoNLL-2003 folder (default ../shared/data/conll2003)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from lstm_numpy.analysis.states import collect_states
    from lstm_numpy.model.backend import get_backend
    from lstm_numpy.data.batching import encode_corpus, features_for, iterate_batches
    from lstm_numpy.data.readers import default_conll2003_dir
    from lstm_numpy.data.vocab import AffixVocab, CharVocab
    from lstm_numpy.model.chars import char_cnn_forward
    from lstm_numpy.model.tagger import init_tagger
    from lstm_numpy.pipeline import load_splits, load_tagger, make_config, prepare

    data_dir = args.data_dir or default_conll2003_dir()
    if not os.path.isdir(data_dir):
        sys.exit(f"CoNLL-2003 not found at {data_dir}; pass --data-dir (this benchmark needs it)")
    corpora = load_splits("conll2003", data_dir)
    if args.checkpoint:
        params, config, vocab, labels = load_tagger(args.checkpoint)
        dev = encode_corpus(corpora["dev"], vocab, labels, AffixVocab(vocab), CharVocab(vocab))
    else:
        prepared = prepare(corpora)
        config = make_config("bilstm", prepared)
        params = init_tagger(config, np.random.default_rng(0))
        dev = prepared.splits["dev"]
    dev = features_for(dev, config)
    collect_states(params, config, dev)                          # compile / load the JIT cache first

    for _ in range(args.repeats):
        start = time.perf_counter()
        collect_states(params, config, dev)
        whole = time.perf_counter() - start
        start = time.perf_counter()
        batches = [batch for _, batch in iterate_batches(dev, 256)]
        batching = time.perf_counter() - start
        chars = 0.0
        if config.char_filters > 0:
            start = time.perf_counter()
            for batch in batches:
                char_cnn_forward(batch.char_ids, params["char.table"], params["char.W"], params["char.b"],
                                 get_backend(config.backend).window_max)
            chars = time.perf_counter() - start
        print(f"dev pass {whole:.3f} s: character CNN {1000 * chars:.0f} ms, batching {1000 * batching:.0f} ms, "
              f"the rest (embeddings, LSTM directions, linear) {whole - chars - batching:.3f} s")
    print(f"({config.output_size} neurons, {'Bi' if config.bidirectional else ''}LSTM, input {config.input_size}, "
          f"{config.backend} {config.dtype}, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"NUMBA_THREADING_LAYER={os.environ['NUMBA_THREADING_LAYER']})")


if __name__ == "__main__":
    main()
