"""Training: epochs of length-bucketed minibatches (Adam or SGD, clipping, dropout,
word dropout to <unk>), evaluation on dev after each epoch, the best weights kept
and checkpointed, early stopping, a progress bar and a JSON-lines log.

    schedule()     the run's length from the corpus: epochs and patience in optimizer updates
    train()        the whole run: set up (or resume), then epochs until patience runs out
    train_epoch()  one pass over the training split, one optimizer step per batch
    end_epoch()    score dev, keep the best weights, anneal, decay or restore, log

The schedule fits the corpus: by default a run may take ``max_updates`` optimizer
steps and waits ``patience_updates`` steps for progress, whatever the number of
sentences (a small corpus gets more epochs, not fewer updates).  Progress is a
better dev score (entity F1, or token accuracy for plain tags); while that score
has not yet moved from its first value, a dev loss lower by 1% counts too, so a
model that has not yet predicted its first entity is not stopped while it learns.
When patience runs out the rate is annealed (x ``anneal``) from the best weights,
``anneals`` times, and then training stops.  The best epoch is the one with the best
dev score (the first of equals).

The trainer knows the tagger only through ``tagger_loss_and_grads`` and
prediction.evaluate_split; the optimizer alone changes the weights.  Ctrl-C
saves a resumable state (training.resume).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..data.batching import features_for, make_batch, make_batches
from ..data.vocab import replace_singletons
from ..defaults import MAX_EPOCHS, MAX_PATIENCE, MIN_EPOCHS, MIN_PATIENCE, TrainConfig
from ..errors import TrainingError
from ..evaluation.metrics import format_entity_f1
from ..labels import is_chunking
from ..model.tagger import tagger_loss_and_grads
from ..prediction import evaluate_split
from .averaging import WeightAverage
from .checkpoint import load_checkpoint, save_checkpoint
from .optim import clip_by_global_norm, make_optimizer
from .resume import RESUME_STEM, DeferredInterrupt, load_resume_state, remove_resume_state, save_resume_state


LOSS_PROGRESS = 0.01                   # until the dev score moves, a dev loss 1% lower counts as progress


class Schedule(NamedTuple):
    """How long a run may train, resolved from its TrainConfig and its corpus."""

    epochs: int                  # the most epochs
    patience: int                # epochs without dev progress before annealing or stopping
    batches_per_epoch: int

    def describe(self, cfg):
        updates = f"{self.epochs * self.batches_per_epoch:,} updates of {self.batches_per_epoch} batches an epoch"
        anneal = (f"; then the rate x{cfg.anneal:g} from the best weights, {cfg.anneals} time(s), before stopping"
                  if cfg.anneals > 0 else "; then stop")
        return (f"up to {self.epochs} epochs ({updates}), patience {self.patience} epochs without dev progress"
                f"{anneal}")


def schedule(train_cfg, n_batches):
    """Schedule of a run whose training split makes ``n_batches`` batches an epoch: the epochs and
    patience train_cfg gives, or those that max_updates and patience_updates optimizer steps take
    (within MIN_EPOCHS..MAX_EPOCHS and MIN_PATIENCE..MAX_PATIENCE)."""
    n_batches = max(1, int(n_batches))
    clamp = lambda value, low, high: int(min(max(value, low), high))  # noqa: E731
    epochs = train_cfg.epochs if train_cfg.epochs is not None else \
        clamp(math.ceil(train_cfg.max_updates / n_batches), MIN_EPOCHS, MAX_EPOCHS)
    patience = train_cfg.patience if train_cfg.patience is not None else \
        clamp(math.ceil(train_cfg.patience_updates / n_batches), MIN_PATIENCE, MAX_PATIENCE)
    return Schedule(epochs, patience, n_batches)


def selection_metric(select, label_names):
    """The dev metric that picks the best epoch: ``select``, with "auto" resolved by the labels."""
    chunking = is_chunking(label_names)
    if select == "auto":
        return "entity_f1" if chunking else "token_acc"
    if select not in ("entity_f1", "token_acc"):
        raise ValueError(f"select must be auto, entity_f1 or token_acc, got {select!r}")
    if select == "entity_f1" and not chunking:
        raise ValueError("select='entity_f1' needs chunk labels (B-/I-/E-/S-); these are plain tags")
    return select


class Run(NamedTuple):
    """What stays fixed while a model trains (the counters that change are the ``state`` dict)."""

    params: dict                 # trained in place
    config: Any                  # TaggerConfig
    train_cfg: TrainConfig
    train_split: Any             # EncodedSplit, only the features config uses
    dev_split: Any
    label_names: list
    select: str                  # "entity_f1" or "token_acc"
    schedule: Schedule
    lengths: np.ndarray          # (S,) training sentence lengths
    optimizer: Any
    average: Optional[WeightAverage]
    rngs: tuple                  # (batch_rng, dropout_rng, unk_rng)
    singletons: Optional[np.ndarray]
    out_dir: Optional[Path]
    checkpoint_meta: Optional[dict]
    progress: Optional[bool]
    on_batch_end: Optional[Callable]


def new_state(optimizer):
    """The loop's counters before the first epoch (saved and restored on interrupt)."""
    return {"epoch": 1, "batches_done": 0, "epoch_loss": 0.0, "epoch_tokens": 0, "epoch_seconds": 0.0,
            "best_score": None, "best_epoch": 0, "epochs_since_best": 0, "history": [],
            "first_score": None, "score_moved": False, "progress_loss": None, "anneals_done": 0,
            "stopped": None, "train_seconds": 0.0, "epoch_start_batch_rng": None, "lr": optimizer.lr}


def _check_finite(loss, norm, epoch, batch_number):
    if not np.isfinite(loss):
        raise TrainingError(f"loss became {loss} at epoch {epoch}, batch {batch_number}; "
                            "training stopped and the best checkpoint on disk is untouched "
                            "(try a lower --lr or clipping)")
    if not np.isfinite(norm):
        raise TrainingError(f"gradient norm became {norm} at epoch {epoch}, batch {batch_number}; "
                            "training stopped and the best checkpoint on disk is untouched")


def train_epoch(run, state, clock, stop):
    """One epoch: shuffled length-bucketed batches, each <unk>-replaced, forward and
    backward, clipped, one optimizer step; counters in ``state`` (batches already
    done before an interrupt are skipped). ``clock["epoch_start"]`` is set here."""
    batch_rng, dropout_rng, unk_rng = run.rngs
    cfg, epoch = run.train_cfg, state["epoch"]
    state["epoch_start_batch_rng"] = batch_rng.bit_generator.state
    batches = make_batches(run.lengths, cfg.batch_size, batch_rng, shuffle=True)
    clock["epoch_start"] = time.perf_counter() - state["epoch_seconds"]
    bar = tqdm(batches, desc=f"epoch {epoch}/{run.schedule.epochs}", unit="batch",
               disable=not run.progress, leave=False, initial=state["batches_done"])
    for batch_number, index in enumerate(bar, start=1):
        if batch_number <= state["batches_done"]:
            continue          # resuming: these batches were trained before the interrupt
        words = [run.train_split.words[i] for i in index]
        if run.singletons is not None and (cfg.unk_replace > 0 or cfg.word_unk > 0):
            words = [replace_singletons(w, run.singletons, cfg.unk_replace, unk_rng, cfg.word_unk) for w in words]
        batch = make_batch(run.train_split, index, words)
        loss, grads, _ = tagger_loss_and_grads(run.params, run.config, batch, dropout_rng, train=True,
                                               sparse_embeddings=True)
        grads, norm = clip_by_global_norm(grads, cfg.clip)
        _check_finite(loss, norm, epoch, batch_number)
        if run.average is not None:
            run.average.before_step(run.params, grads)
        run.optimizer.step(run.params, grads)
        if run.average is not None:
            run.average.after_step(run.params, grads)
        n = int(batch.mask.sum())
        state["epoch_loss"] += loss * n
        state["epoch_tokens"] += n
        state["batches_done"] = batch_number
        elapsed = time.perf_counter() - clock["epoch_start"]
        bar.set_postfix(loss=f"{state['epoch_loss'] / state['epoch_tokens']:.4f}",
                        tok_s=f"{state['epoch_tokens'] / elapsed:,.0f}")
        if run.on_batch_end is not None:
            run.on_batch_end(epoch, batch_number)
        stop.raise_if_requested()
    bar.close()
    return time.perf_counter() - clock["epoch_start"]


def progress_made(state, score, loss):
    """Whether an epoch with dev ``score`` and ``loss`` is progress: a better score than the best
    so far or, while the score has not yet moved from its first value, a dev loss at least
    LOSS_PROGRESS lower than the lowest so far.  Updates the state's first score and lowest loss."""
    if state["first_score"] is None:
        state["first_score"] = score
    elif score != state["first_score"]:
        state["score_moved"] = True
    lower_loss = state["progress_loss"] is None or loss < state["progress_loss"] * (1 - LOSS_PROGRESS)
    state["progress_loss"] = loss if state["progress_loss"] is None else min(loss, state["progress_loss"])
    return state["best_score"] is None or score > state["best_score"] or (not state["score_moved"] and lower_loss)


def end_epoch(run, state, best_params, epoch_seconds):
    """Score dev with the weights that are kept (the average, if any), keep and checkpoint
    the best, or decay the rate / restore the best; anneal or stop when patience runs out;
    log. Returns the best weights so far."""
    epoch, cfg = state["epoch"], run.train_cfg
    weights = run.params if run.average is None else run.average.averaged(run.params)
    dev = evaluate_split(weights, run.config, run.dev_split, run.label_names)
    score, loss = dev[run.select], dev["loss"]
    record = {"epoch": epoch, "train_loss": state["epoch_loss"] / max(state["epoch_tokens"], 1),
              "train_seconds": epoch_seconds, "train_tok_s": state["epoch_tokens"] / epoch_seconds,
              "dev_loss": loss, "dev_token_acc": dev["token_acc"], "dev_entity_f1": dev["entity_f1"],
              "lr": run.optimizer.lr}
    progress = progress_made(state, score, loss)
    improved = state["best_score"] is None or score > state["best_score"]
    if improved:
        state.update(best_score=score, best_epoch=epoch)
        best_params = {k: v.copy() for k, v in weights.items()}
        if run.out_dir is not None:
            meta = dict(run.checkpoint_meta or {})
            meta["training"] = {"epoch": epoch, "dev": dev, "train_config": asdict(cfg)}
            save_checkpoint(run.out_dir / "best", best_params, meta)
    state["epochs_since_best"] = 0 if progress else state["epochs_since_best"] + 1
    events = []
    if not improved and (cfg.lr_decay != 1.0 or cfg.restore_best):
        state["lr"] = run.optimizer.lr = run.optimizer.lr * cfg.lr_decay
        if cfg.restore_best:
            for k in run.params:
                run.params[k][...] = best_params[k]
        events.append("no better dev score: " + (f"rate x{cfg.lr_decay:g} to {run.optimizer.lr:.2g}"
                                                 if cfg.lr_decay != 1.0 else "")
                      + (", " if cfg.lr_decay != 1.0 and cfg.restore_best else "")
                      + (f"from the best weights (epoch {state['best_epoch']})" if cfg.restore_best else ""))
    if state["epochs_since_best"] >= run.schedule.patience:
        waited = f"no dev progress for {state['epochs_since_best']} epochs"
        if state["anneals_done"] < cfg.anneals:
            state["anneals_done"] += 1
            state["lr"] = run.optimizer.lr = run.optimizer.lr * cfg.anneal
            state["epochs_since_best"] = 0
            for k in run.params:
                run.params[k][...] = best_params[k]
            events.append(f"{waited}: rate x{cfg.anneal:g} to {run.optimizer.lr:.2g}, from the best weights "
                          f"(epoch {state['best_epoch']})")
        else:
            state["stopped"] = (f"stopped: {waited}" + (f" after {cfg.anneals} anneal(s) of the rate"
                                                        if cfg.anneals else "")
                                + f"; the best epoch was {state['best_epoch']}")
    elif epoch >= run.schedule.epochs:
        state["stopped"] = f"stopped: the last of {run.schedule.epochs} epochs; the best epoch was {state['best_epoch']}"
    if state["stopped"] is not None:
        events.append(state["stopped"])
    event = "; ".join(events) or None
    record.update(best=improved, progress=progress, event=event)
    state["history"].append(record)
    if run.out_dir is not None:
        atomic_write_text(run.out_dir / "train_log.jsonl", "".join(json.dumps(r) + "\n" for r in state["history"]))
    if run.progress is not None:
        entity = f"  dev entity F1 {format_entity_f1(dev['entity_f1'])}" if dev["entity_f1"] is not None else ""
        tqdm.write(f"epoch {epoch}: loss {record['train_loss']:.4f}  dev loss {loss:.4f}  dev token acc "
                   f"{dev['token_acc']:.4f}{entity}  lr {record['lr']:.2g}  {record['train_tok_s']:,.0f} tok/s"
                   f"{'  *best' if improved else ''}" + (f"\n  -> {event}" if event else ""))
    state.update(epoch=epoch + 1, batches_done=0, epoch_loss=0.0, epoch_tokens=0, epoch_seconds=0.0)
    return best_params


def _resume(run, state):
    """Load the interrupted run of ``run.out_dir`` into params, optimizer, average, rngs; returns
    (state, best weights so far or None)."""
    saved, opt_arrays, avg_arrays, meta = load_resume_state(run.out_dir)
    for k in run.params:
        run.params[k][...] = saved[k]
    run.optimizer.load_state(opt_arrays, meta["optimizer"]["t"])
    if run.average is not None:
        run.average.load_state(meta["average"], avg_arrays)
    state = {k: meta.get(k, state[k]) for k in state}
    run.optimizer.lr = state["lr"]
    batch_rng, dropout_rng, unk_rng = run.rngs
    for rng, key in ((dropout_rng, "dropout_rng"), (unk_rng, "unk_rng")):
        rng.bit_generator.state = meta[key]
    batch_rng.bit_generator.state = state["epoch_start_batch_rng"]
    best_params = load_checkpoint(run.out_dir / "best")[0] if state["best_epoch"] > 0 else None
    return state, best_params


def train(params, config, train_cfg, train_split, dev_split, label_names, out_dir=None,
          checkpoint_meta=None, singletons=None, progress=True, resume=False, on_batch_end=None):
    """Train ``params`` in place; return a summary dict.

    params: dict from init_tagger; config: TaggerConfig; train_cfg: TrainConfig;
    *_split: EncodedSplit; label_names: list of K labels; out_dir: where
    ``best.npz/.json`` and ``train_log.jsonl`` go (None: nothing written);
    checkpoint_meta: extra JSON metadata for the checkpoint (vocabularies...);
    singletons: (V,) bool mask of training singletons for <unk> replacement;
    progress: True for bars and a line per epoch, False for the lines only,
    None for silence.

    On Ctrl-C (KeyboardInterrupt) the state after the last finished batch is
    saved to ``out_dir/resume.npz/.json`` and the interrupt re-raised; the
    best checkpoint is left as it was.  ``resume=True`` continues from that
    state and ends with the same weights as an uninterrupted run (bit for bit
    on the numpy backend).  ``on_batch_end(epoch, batch_number)`` is called
    after each optimizer step (tests use it to interrupt).
    The best parameters (by dev ``train_cfg.select``) are copied back into
    ``params`` at the end.
    """
    select = selection_metric(train_cfg.select, label_names)
    lengths = np.array([len(w) for w in train_split.words])
    plan = schedule(train_cfg, len(make_batches(lengths, train_cfg.batch_size, rng=None, shuffle=False)))
    rngs = tuple(np.random.default_rng(s) for s in np.random.SeedSequence(train_cfg.seed).spawn(3))
    optimizer = make_optimizer(train_cfg.optimizer, train_cfg.lr)
    average = WeightAverage(params, train_cfg.average) if train_cfg.average > 0 else None
    train_split, dev_split = features_for(train_split, config), features_for(dev_split, config)
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    run = Run(params, config, train_cfg, train_split, dev_split, label_names, select, plan, lengths, optimizer,
              average, rngs, singletons, out_dir, checkpoint_meta, progress, on_batch_end)
    state, best_params = new_state(optimizer), None
    if progress is not None:
        tqdm.write(f"schedule: {plan.describe(train_cfg)}")
    if resume:
        if out_dir is None:
            raise ValueError("resume needs the run directory")
        state, best_params = _resume(run, state)
    clock = {"run_start": time.perf_counter() - state["train_seconds"]}
    clock["epoch_start"] = clock["run_start"]
    stop = DeferredInterrupt()
    try:
        while state["stopped"] is None and state["epoch"] <= plan.epochs:
            epoch_seconds = train_epoch(run, state, clock, stop)
            best_params = end_epoch(run, state, best_params, epoch_seconds)
    except KeyboardInterrupt:
        if out_dir is not None:
            state["epoch_seconds"] = time.perf_counter() - clock["epoch_start"]
            state["train_seconds"] = time.perf_counter() - clock["run_start"]
            state["dropout_rng"] = rngs[1].bit_generator.state
            state["unk_rng"] = rngs[2].bit_generator.state
            save_resume_state(out_dir, params, optimizer, state, train_cfg, average)
        raise
    finally:
        stop.restore()
    if out_dir is not None and (out_dir / f"{RESUME_STEM}.json").exists():
        remove_resume_state(out_dir)
    for k in params:
        params[k][...] = best_params[k]
    history = state["history"]
    return {"epochs": len(history), "best_epoch": state["best_epoch"], "best_dev_score": state["best_score"],
            "stopped": state["stopped"], "schedule": plan._asdict(), "schedule_text": plan.describe(train_cfg),
            "train_seconds": time.perf_counter() - clock["run_start"],
            "seconds_per_epoch": float(np.mean([r["train_seconds"] for r in history])),
            "history": history}
