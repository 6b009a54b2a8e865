"""The trainer, the pipeline and run.py on small generated corpora."""
import json

import numpy as np
import pytest

from lstm_numpy.data.baseline import most_frequent_label_baseline
from lstm_numpy.data.generated import load_generated
from lstm_numpy.errors import TrainingError
from lstm_numpy.evaluation.entities import entity_prf
from lstm_numpy.model.tagger import init_tagger
from lstm_numpy.pipeline import make_config, prepare, train_tagger
from lstm_numpy.prediction import evaluate_split
from lstm_numpy.training.checkpoint import load_checkpoint
from lstm_numpy.training.loop import (MAX_EPOCHS, MAX_PATIENCE, MIN_EPOCHS, MIN_PATIENCE, TrainConfig, progress_made,
                                      schedule, train)
from lstm_numpy.training.verdict import degenerate_reasons


@pytest.fixture(scope="module")
def tiny():
    return prepare(load_generated(None, seed=3, n_train=120, n_dev=40, n_test=40))


def run_tiny(tiny, tmp_path, backend="numpy", seed=1, **train_options):
    config = make_config("bilstm", tiny, backend=backend, hidden=6)
    options = dict(epochs=2, batch_size=16, seed=seed, patience=5)
    options.update(train_options)
    return train_tagger(tiny, config, TrainConfig(**options), tmp_path, progress=None)


def test_same_seed_same_losses_and_weights(tiny, tmp_path):
    params_a, summary_a = run_tiny(tiny, tmp_path / "a")
    params_b, summary_b = run_tiny(tiny, tmp_path / "b")
    assert [r["train_loss"] for r in summary_a["history"]] == [r["train_loss"] for r in summary_b["history"]]
    for name in params_a:
        np.testing.assert_array_equal(params_a[name], params_b[name], err_msg=name)
    params_c, summary_c = run_tiny(tiny, tmp_path / "c", seed=2)
    assert summary_c["history"][0]["train_loss"] != summary_a["history"][0]["train_loss"]


def test_best_checkpoint_and_log_are_written(tiny, tmp_path):
    params, summary = run_tiny(tiny, tmp_path, epochs=3)
    saved, meta = load_checkpoint(tmp_path / "best")
    # the trainer hands back the best epoch's weights, the ones on disk
    for name in params:
        np.testing.assert_array_equal(saved[name], params[name])
    assert meta["training"]["epoch"] == summary["best_epoch"]
    assert meta["labels"]["labels"] == tiny.labels.labels
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(1, summary["epochs"] + 1))
    assert {"train_loss", "dev_entity_f1", "dev_token_acc", "train_tok_s"} <= set(log[0])


def test_loss_falls(tiny, tmp_path):
    _, summary = run_tiny(tiny, tmp_path, epochs=4, lr=0.01)
    losses = [r["train_loss"] for r in summary["history"]]
    assert losses[-1] < 0.7 * losses[0], losses


def test_nan_loss_stops_with_epoch_and_batch_and_keeps_best_checkpoint(tiny, tmp_path):
    params, _ = run_tiny(tiny, tmp_path, epochs=1)
    before = (tmp_path / "best.npz").read_bytes()
    config = make_config("bilstm", tiny, backend="numpy", hidden=6)
    params["out.b"][0] = np.nan
    with pytest.raises(TrainingError, match=r"epoch 1, batch 1"):
        train(params, config, TrainConfig(epochs=1, seed=0), tiny.splits["train"], tiny.splits["dev"],
              tiny.labels.labels, tmp_path, progress=None)
    assert (tmp_path / "best.npz").read_bytes() == before


def test_early_stopping_respects_patience_and_anneals_the_rate_first(tiny, tmp_path):
    _, summary = run_tiny(tiny, tmp_path, epochs=30, patience=1, lr=1e-5, anneals=0)
    # with a tiny learning rate dev stalls soon, so training stops long before 30 epochs,
    # at the first epoch without progress (patience 1, no anneal)
    history = summary["history"]
    assert summary["epochs"] < 30 and history[-1]["progress"] is False
    assert all(r["progress"] for r in history[:-1])
    assert summary["stopped"].startswith("stopped: no dev progress for 1 epochs") and history[-1]["event"]
    # one anneal: patience runs out, the rate halves from the best weights, then it runs out again
    _, annealed = run_tiny(tiny, tmp_path / "a", epochs=30, patience=1, lr=1e-5, anneals=1)
    events = [(r["epoch"], r["event"]) for r in annealed["history"] if r["event"]]
    assert len(events) == 2 and "rate x0.5 to 5e-06, from the best weights" in events[0][1], events
    assert events[1][1].startswith("stopped: no dev progress for 1 epochs after 1 anneal(s)")
    assert annealed["history"][events[0][0]]["lr"] == 5e-6, "the epoch after the anneal runs at half the rate"
    assert annealed["epochs"] > summary["epochs"]


def test_learning_rate_decays_after_epochs_without_dev_gain(tiny, tmp_path):
    config = make_config("bilstm", tiny, backend="numpy", hidden=6)
    params = init_tagger(config, np.random.default_rng(0))
    cfg = TrainConfig(epochs=4, seed=0, lr=1e-6, patience=10, lr_decay=0.5)
    summary = train(params, config, cfg, tiny.splits["train"], tiny.splits["dev"], tiny.labels.labels,
                    tmp_path, progress=None)
    lrs, best = [r["lr"] for r in summary["history"]], [r["best"] for r in summary["history"]]
    assert best[1:] == [False] * 3                   # at 1e-6 dev never improves after the first epoch
    assert lrs == [1e-6, 1e-6, 5e-7, 2.5e-7]          # halved after each of those epochs
    assert summary["history"][1]["event"] == "no better dev score: rate x0.5 to 5e-07", "the log says why"


def test_restore_best_goes_on_from_the_best_weights(tiny):
    """With restore_best, the epoch after one without dev gain starts from the best weights."""
    config = make_config("bilstm", tiny, backend="numpy", hidden=6)
    params = init_tagger(config, np.random.default_rng(0))
    cfg = TrainConfig(epochs=3, seed=0, lr=1e-6, batch_size=8, patience=10, lr_decay=0.5, restore_best=True)
    n_batches = -(-tiny.splits["train"].n_sentences // cfg.batch_size)
    seen = {}

    def snapshot(epoch, batch):
        if batch in (1, n_batches):
            seen[epoch, batch] = params["out.W"].copy()

    summary = train(params, config, cfg, tiny.splits["train"], tiny.splits["dev"], tiny.labels.labels,
                    progress=None, on_batch_end=snapshot)
    assert [r["best"] for r in summary["history"]] == [True, False, False]
    best = seen[1, n_batches]                          # the weights after epoch 1, the best epoch
    drifted = np.abs(seen[2, n_batches] - best).max()  # epoch 2 moved away from them...
    restarted = np.abs(seen[3, 1] - best).max()        # ...epoch 3 is one small step from them again
    # one Adam step moves a weight by at most lr (1-beta1)/sqrt(1-beta2) = 3.2 lr; lr is 2.5e-7 by then
    assert drifted > 5e-6 and restarted < 3.2 * 2.5e-7


def test_bilstm_beats_most_frequent_label_baseline_by_15_points():
    """The generated corpus needs context: a trained BiLSTM is >= 15 entity-F1 above the baseline."""
    corpora = load_generated(None, seed=0, n_train=1500, n_dev=300, n_test=500)
    prepared = prepare(corpora)
    config = make_config("bilstm", prepared, backend="numba")
    params, summary = train_tagger(prepared, config, TrainConfig(epochs=8, seed=0, lr=3e-3), progress=None)
    model_f1 = summary["test"]["entity_f1"]
    baseline = most_frequent_label_baseline(corpora["train"].sentences, corpora["train"].labels,
                                            corpora["test"].sentences)
    baseline_f1 = entity_prf(corpora["test"].labels, baseline)[2]
    print(f"test entity F1: BiLSTM {model_f1:.2f}, most-frequent-label baseline {baseline_f1:.2f}")
    assert model_f1 >= baseline_f1 + 15


def test_numba_and_numpy_backends_evaluate_alike(tiny):
    config_np = make_config("bilstm", tiny, backend="numpy", dtype="float64", hidden=5)
    config_nb = make_config("bilstm", tiny, backend="numba", dtype="float64", hidden=5)
    params = init_tagger(config_np, np.random.default_rng(0))
    a = evaluate_split(params, config_np, tiny.splits["dev"], tiny.labels.labels)
    b = evaluate_split(params, config_nb, tiny.splits["dev"], tiny.labels.labels)
    assert a == b


@pytest.mark.parametrize("stop_at,backend,lr_decay",
                         [((1, 3), "numpy", 1.0), ((2, 1), "numpy", 1.0), ((1, 5), "numba", 1.0),
                          ((3, 2), "numpy", 0.1), ((2, 3), "numpy", "average")])
def test_interrupt_then_resume_equals_uninterrupted_run_bit_for_bit(tiny, tmp_path, stop_at, backend, lr_decay):
    """Ctrl-C saves a resumable state; --resume ends with the very same weights
    (and the same decayed learning rate)."""
    config = make_config("bilstm", tiny, backend=backend, hidden=6)
    if lr_decay == "average":                                # a moving average of the weights is resumed too
        cfg = TrainConfig(epochs=3, batch_size=16, seed=4, patience=5, average=0.9)
    else:
        cfg = TrainConfig(epochs=3, batch_size=16, seed=4, patience=5, lr_decay=lr_decay,
                          restore_best=lr_decay != 1.0, lr=1e-6 if lr_decay != 1.0 else None)  # stalls: rate decays

    def fresh():
        return init_tagger(config, np.random.default_rng(0))

    args = (config, cfg, tiny.splits["train"], tiny.splits["dev"], tiny.labels.labels)
    straight = fresh()
    summary_straight = train(straight, *args, tmp_path / "straight", progress=None)

    def interrupt(epoch, batch):
        if (epoch, batch) == stop_at:
            raise KeyboardInterrupt

    run_dir = tmp_path / "interrupted"
    interrupted = fresh()
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, *args, run_dir, progress=None, on_batch_end=interrupt)
    assert (run_dir / "resume.npz").is_file()
    best_before = (run_dir / "best.npz").read_bytes() if (run_dir / "best.npz").exists() else None
    resumed = fresh()                      # weights come from the saved state, not from here
    summary_resumed = train(resumed, *args, run_dir, progress=None, resume=True)
    for name in straight:
        np.testing.assert_array_equal(resumed[name], straight[name], err_msg=name)
    assert [r["train_loss"] for r in summary_resumed["history"]] == \
        [r["train_loss"] for r in summary_straight["history"]]
    assert [r["lr"] for r in summary_resumed["history"]] == [r["lr"] for r in summary_straight["history"]]
    assert not (run_dir / "resume.npz").exists(), "a finished run removes its resume state"
    if best_before is not None:
        assert (run_dir / "best.npz").exists()


def test_summary_of_a_constrained_tagger_also_scores_its_argmax(tiny, tmp_path):
    from lstm_numpy.evaluation.metrics import evaluate
    from lstm_numpy.prediction import predict_split
    params, summary = run_tiny(tiny, tmp_path)
    for split in ("dev", "test"):
        argmax = predict_split(params, make_config("bilstm", tiny, backend="numpy", hidden=6), tiny.splits[split])
        expected = evaluate(tiny.splits[split].labels, argmax, tiny.labels.labels)["entity_f1"]
        assert summary[split]["argmax_entity_f1"] == expected


def test_load_tagger_restores_a_working_model(tiny, tmp_path):
    from lstm_numpy.pipeline import load_tagger
    params, summary = run_tiny(tiny, tmp_path)
    loaded, config, vocab, labels = load_tagger(tmp_path / "best")
    assert labels.labels == tiny.labels.labels and len(vocab) == len(tiny.vocab)
    assert evaluate_split(loaded, config, tiny.splits["dev"], labels.labels) == \
        evaluate_split(params, config, tiny.splits["dev"], labels.labels)


def test_a_checkpoint_from_before_the_subword_and_decoding_fields_still_loads(tiny, tmp_path):
    """Configs saved before later fields existed load with those fields off (argmax read-out)."""
    from lstm_numpy.pipeline import load_tagger
    from lstm_numpy.training.checkpoint import save_checkpoint
    config = make_config("paper", tiny, backend="numpy", hidden=4)
    params = init_tagger(config, np.random.default_rng(0))
    old = {k: v for k, v in config.to_dict().items()
           if k not in ("decode", "variational", "n_affixes", "affix_vocab_size", "affix_dim",
                        "char_vocab_size", "char_dim", "char_filters", "char_width")}
    save_checkpoint(tmp_path / "old", params, {"config": old, "vocab": tiny.vocab.to_dict(),
                                               "labels": tiny.labels.to_dict()})
    _, loaded, _, _ = load_tagger(tmp_path / "old")
    assert loaded == config and loaded.decode == "argmax"


# ------------------------------------------------------------ the schedule fits the corpus


def test_the_default_schedule_counts_updates_not_epochs():
    cfg = TrainConfig()
    small, full = schedule(cfg, 16), schedule(cfg, 440)        # 500 and 14,000 sentences in batches of 32
    assert (small.epochs, small.patience) == (MAX_EPOCHS, MAX_PATIENCE)
    assert full.epochs == max(MIN_EPOCHS, -(-cfg.max_updates // 440)) and full.patience == MIN_PATIENCE
    middle = schedule(cfg, 94)
    assert middle.epochs * 94 >= cfg.max_updates and middle.patience * 94 >= cfg.patience_updates
    assert schedule(TrainConfig(epochs=7, patience=2), 16)[:2] == (7, 2), "given values win"
    assert "up to 15 epochs" in full.describe(cfg) and full.describe(cfg).endswith("; then stop")
    assert "rate x0.5 from the best weights, 2 time(s)" in full.describe(TrainConfig(anneals=2))


def test_progress_before_the_first_entity_is_a_falling_dev_loss():
    state = {"first_score": None, "score_moved": False, "progress_loss": None, "best_score": None}
    seen = []
    for score, loss in [(0.0, 1.0), (0.0, 0.8), (0.0, 0.795), (0.0, 0.7), (5.0, 0.72), (5.0, 0.5), (4.0, 0.4)]:
        seen.append(progress_made(state, score, loss))
        state["best_score"] = score if state["best_score"] is None else max(state["best_score"], score)
    # F1 stuck at 0: a loss 1% lower is progress, a smaller fall is not; once F1 moved, only F1 counts
    assert seen == [True, True, False, True, True, False, False]


def test_a_model_that_learned_nothing_is_named():
    names = ["O", "B-PER", "I-PER"]
    only_o = {"confusion": [[90, 0, 0], [5, 0, 0], [5, 0, 0]], "token_acc": 0.9, "entity_f1": 0.0,
              "entity_per_type": {"PER": {"n_gold": 5, "n_pred": 0}}}
    reasons = degenerate_reasons(only_o, {"token_acc": 0.92, "entity_f1": 40.0}, names)
    assert reasons == ["it predicts O for every dev token",
                       "its dev entity F1 0.00 is below the most-frequent-label baseline's 40.00"]
    no_entity = {**only_o, "confusion": [[88, 0, 2], [5, 0, 0], [5, 0, 0]]}
    assert degenerate_reasons(no_entity, {"token_acc": 0.5, "entity_f1": 0.0}, names) == [
        "it predicts no entity on dev, which has 5"]
    fine = {"confusion": [[90, 0, 0], [0, 5, 0], [0, 1, 4]], "token_acc": 0.99, "entity_f1": 90.0,
            "entity_per_type": {"PER": {"n_gold": 5, "n_pred": 5}}}
    assert degenerate_reasons(fine, {"token_acc": 0.9, "entity_f1": 40.0}, names) == []
    pos = {"confusion": [[50, 10], [10, 30]], "token_acc": 0.8, "entity_f1": None}
    assert degenerate_reasons(pos, {"token_acc": 0.85, "entity_f1": None}, ["NOUN", "VERB"]) == [
        "its dev token accuracy 80.00% is below the most-frequent-label baseline's 85.00%"]
