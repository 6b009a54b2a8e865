"""Shared by the lessons: quick mode, the output folder, and one trained tagger.

``LSTM_NUMPY_QUICK=1`` makes every lesson run a smaller version of itself
(the test suite sets it): the options of ``python run.py --quick``, resolved
where the command line resolves them (:data:`OPTIONS`, lstm_numpy.options), so
the generated corpus is the same size.  Figures go to ``lessons/out/`` (git-ignored).

Lessons 07-10 study a trained tagger; :func:`trained_tagger` trains the
BiLSTM of lesson 06 once per seed and mode and keeps it in ``lessons/out/``,
so the next lesson loads it in a fraction of a second.
"""
import os
from pathlib import Path

from lstm_numpy.options import resolve_options

QUICK = os.environ.get("LSTM_NUMPY_QUICK") == "1"
OPTIONS = resolve_options(quick=QUICK)       # a run's options, as `python run.py [--quick]` resolves them
GENERATED_SIZES = OPTIONS.data.generated_sizes
OUT = Path(__file__).resolve().parent / "out"
OUT.mkdir(exist_ok=True)


def pin_threads():
    """One BLAS thread and one Numba thread.  On a small shared machine two thread
    pools fighting over the cores can make training several times slower
    (lesson 05 measures it).  Uses threadpoolctl when it is installed."""
    import numba
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=1, user_api="blas")
    except ImportError:
        pass
    numba.set_num_threads(1)


def trained_tagger(seed=0, hidden=None, epochs=None):
    """(params, config, prepared) of a BiLSTM trained on the generated corpus.

    The corpus is always the one of seed 0 (so models of different seeds see
    the same data); ``seed`` only seeds the initialisation and the batches.
    Defaults: 25 neurons per direction, 10 epochs at Adam's default rate, as
    in lesson 06 (quick: 8 neurons, up to 20 epochs at a rate of 0.03 on the
    small corpus, a weaker tagger that still finds some entities).  The
    weights are cached in ``lessons/out/tagger_<mode>_h<hidden>_e<epochs>_seed<seed>``
    and reused when their configuration matches; delete the files to retrain.
    """
    from lstm_numpy.errors import CheckpointError
    from lstm_numpy.pipeline import expected_shapes, load_splits, make_config, prepare, train_tagger
    from lstm_numpy.training.checkpoint import load_checkpoint, save_checkpoint
    from lstm_numpy.training.loop import TrainConfig

    hidden = hidden if hidden is not None else (8 if QUICK else 25)
    epochs = epochs if epochs is not None else (20 if QUICK else 10)
    corpora = load_splits("generated", OUT / "generated", seed=0, sizes=GENERATED_SIZES)
    prepared = prepare(corpora)
    # quick: no character CNN or affixes.  On 400 sentences they let a tagger of
    # 8 neurons memorise its training words instead of learning from context
    # (dev token accuracy 0.86 with them, 0.96 without); on the full corpus they help.
    subwords = dict(char_filters=0, affix_dim=0) if QUICK else {}
    config = make_config("bilstm", prepared, hidden=hidden, **subwords)
    train_cfg = TrainConfig(epochs=epochs, batch_size=32, lr=0.03 if QUICK else None, seed=seed)
    stem = OUT / f"tagger_{'quick' if QUICK else 'full'}_h{hidden}_e{epochs}_seed{seed}"
    try:
        params, meta = load_checkpoint(stem, expected_shapes(config))
        if meta.get("config") == config.to_dict() and meta.get("train") == vars(train_cfg):
            return params, config, prepared
    except CheckpointError:
        pass
    print(f"training the seed-{seed} tagger ({hidden} neurons per direction, up to {epochs} epochs); "
          f"cached in {stem.relative_to(OUT.parent)}")
    params, _ = train_tagger(prepared, config, train_cfg, progress=False)
    save_checkpoint(stem, params, {"config": config.to_dict(), "train": vars(train_cfg)})
    return params, config, prepared
