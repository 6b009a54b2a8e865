"""Training: encode the corpus, length-bucketed minibatches, Adam or SGD with
clipping and dropout, evaluation on dev after each epoch, the best checkpoint
kept, early stopping, a progress bar and a JSON-lines log.

The trainer knows the tagger only through ``tagger_loss_and_grads`` and
``tagger_forward``; the optimizer alone changes the weights.
"""
from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..data.batching import make_batches, pad_batch
from ..data.vocab import case_ids, replace_singletons
from ..errors import CheckpointError, TrainingError
from ..model.decoding import decode as decode_logits
from ..model.tagger import Batch, tagger_forward, tagger_loss_and_grads
from .checkpoint import load_checkpoint, save_checkpoint
from ..labels import is_chunking
from .metrics import evaluate, format_entity_f1
from .averaging import WeightAverage
from .optim import clip_by_global_norm, make_optimizer


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float | None = None          # None: the optimizer's default
    clip: float = 5.0                # global-norm clipping; 0 disables
    patience: int = 3                # epochs without dev improvement before stopping
    unk_replace: float = 0.5         # probability a training singleton becomes <unk>
    word_unk: float = 0.0            # probability any other training word becomes <unk>
    lr_decay: float = 1.0            # the learning rate is multiplied by this after an epoch without dev gain
    restore_best: bool = False       # ... and training goes on from the best weights so far
    average: float = 0.0             # > 0: evaluate and keep a moving average of the weights with this decay
    select: str = "auto"             # dev metric that picks the best epoch: entity_f1, token_acc, or
                                     # auto (entity_f1 for chunk labels, token_acc for plain tags)
    seed: int = 0


class EncodedSplit(NamedTuple):
    """A split as id arrays, one (T_s,) int64 array per sentence."""

    words: list
    cases: list
    labels: list
    tokens: list           # the original token strings, for reports
    affixes: Optional[list] = None  # one (T_s, A) int64 array per sentence, or None
    chars: Optional[list] = None    # one (T_s, L_s) int64 array per sentence, or None

    def __len__(self):
        return len(self.words)

    @property
    def n_tokens(self):
        return int(sum(len(w) for w in self.words))


def encode_corpus(corpus, vocab, label_vocab, affix_vocab=None, char_vocab=None):
    """Corpus (sentences, labels) -> EncodedSplit with the given vocabularies
    (affix and character ids only when their vocabularies are given)."""
    return EncodedSplit(
        [vocab.encode(s) for s in corpus.sentences],
        [case_ids(s) for s in corpus.sentences],
        label_vocab.encode_all(corpus.labels),
        [list(s) for s in corpus.sentences],
        None if affix_vocab is None else [affix_vocab.encode(s) for s in corpus.sentences],
        None if char_vocab is None else [char_vocab.encode(s) for s in corpus.sentences],
    )


def features_for(split, config):
    """``split`` without the affix / character ids that ``config`` does not use
    (so that batches do not pad them for nothing)."""
    affixes = split.affixes if config.affix_dim > 0 else None
    chars = split.chars if config.char_filters > 0 else None
    if affixes is split.affixes and chars is split.chars:
        return split
    return EncodedSplit(split.words, split.cases, split.labels, split.tokens, affixes, chars)


def _pad_tables(tables, shape):
    """(T_s, W_s) int64 arrays -> (N, T, max W_s), each left-aligned, 0 elsewhere."""
    out = np.zeros(shape + (max(t.shape[1] for t in tables),), dtype=np.int64)
    for row, table in enumerate(tables):
        out[row, :table.shape[0], :table.shape[1]] = table
    return out


def make_batch(split, index, word_ids=None):
    """Pad the sentences ``index`` of ``split`` into a Batch (left-aligned)."""
    words = [split.words[i] for i in index] if word_ids is None else word_ids
    ids, mask = pad_batch(words)
    cases, _ = pad_batch([split.cases[i] for i in index])
    labels, _ = pad_batch([split.labels[i] for i in index])
    affixes = None if split.affixes is None else _pad_tables([split.affixes[i] for i in index], ids.shape)
    chars = None if split.chars is None else _pad_tables([split.chars[i] for i in index], ids.shape)
    return Batch(ids, mask, labels, cases, affixes, chars)


def iterate_batches(split, batch_size):
    """Evaluation order: length-bucketed, not shuffled. Yields (index, Batch)."""
    lengths = np.array([len(w) for w in split.words])
    for index in make_batches(lengths, batch_size, rng=None, shuffle=False):
        yield index, make_batch(split, index)


def predict_split(params, config, split, batch_size=256, output_keep=None, keep=None,
                  decode="argmax", label_names=None):
    """Predicted label ids, one (T_s,) array per sentence, in the split's order.

    decode: "argmax" (per token; what the analysis reads) or "constrained"
    (the best well-formed sequence; needs label_names; model.decoding).
    """
    preds = [None] * len(split)
    for index, batch in iterate_batches(features_for(split, config), batch_size):
        z, _ = tagger_forward(params, config, batch, keep=keep, output_keep=output_keep)
        best = decode_logits(z, batch.mask, label_names, decode)
        for row, i in enumerate(index):
            preds[i] = best[row, :len(split.words[i])]
    return preds


def evaluate_split(params, config, split, label_names, batch_size=256):
    """metrics.evaluate of the model's predictions on ``split``, decoded as ``config.decode`` says."""
    preds = predict_split(params, config, split, batch_size, decode=config.decode, label_names=label_names)
    return evaluate(split.labels, preds, label_names)


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


def _check_finite(loss, norm, epoch, batch_number):
    if not np.isfinite(loss):
        raise TrainingError(f"loss became {loss} at epoch {epoch}, batch {batch_number}; "
                            "training stopped and the best checkpoint on disk is untouched "
                            "(try a lower --lr or clipping)")
    if not np.isfinite(norm):
        raise TrainingError(f"gradient norm became {norm} at epoch {epoch}, batch {batch_number}; "
                            "training stopped and the best checkpoint on disk is untouched")


RESUME_STEM = "resume"


class _DeferredInterrupt:
    """Ctrl-C during a batch is held until the batch's optimizer step is complete,
    so the saved state is never half-updated; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        tqdm.write("interrupt: saving a resumable state after this batch (Ctrl-C again to stop at once)")

    def raise_if_requested(self):
        if self.requested:
            raise KeyboardInterrupt

    def restore(self):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def _save_resume_state(out_dir, params, optimizer, progress_state, train_cfg, average=None):
    """Everything needed to continue bit for bit: weights, optimizer moments, rng states, counters."""
    opt_meta, opt_arrays = optimizer.state_dict()
    arrays = dict(params)
    arrays.update({f"optimizer:{k}": v for k, v in opt_arrays.items()})
    meta = {"kind": "resume", "train_config": asdict(train_cfg), "optimizer": opt_meta, **progress_state}
    if average is not None:
        avg_meta, avg_arrays = average.state_dict()
        arrays.update({f"average:{k}": v for k, v in avg_arrays.items()})
        meta["average"] = avg_meta
    save_checkpoint(out_dir / RESUME_STEM, arrays, meta)


def load_resume_state(out_dir):
    """(params, optimizer arrays, weight-average arrays, meta) of ``out_dir/resume.npz/.json``."""
    arrays, meta = load_checkpoint(Path(out_dir) / RESUME_STEM)
    if meta.get("kind") != "resume":
        raise CheckpointError(f"{Path(out_dir) / RESUME_STEM}.json is not a resumable training state")
    params = {k: v for k, v in arrays.items() if not k.startswith(("optimizer:", "average:"))}
    opt_arrays = {k.split(":", 1)[1]: v for k, v in arrays.items() if k.startswith("optimizer:")}
    avg_arrays = {k.split(":", 1)[1]: v for k, v in arrays.items() if k.startswith("average:")}
    return params, opt_arrays, avg_arrays, meta


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
    seeds = np.random.SeedSequence(train_cfg.seed).spawn(3)
    batch_rng, dropout_rng, unk_rng = (np.random.default_rng(s) for s in seeds)
    optimizer = make_optimizer(train_cfg.optimizer, train_cfg.lr)
    average = WeightAverage(params, train_cfg.average) if train_cfg.average > 0 else None
    train_split, dev_split = features_for(train_split, config), features_for(dev_split, config)
    lengths = np.array([len(w) for w in train_split.words])
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    state = {"epoch": 1, "batches_done": 0, "epoch_loss": 0.0, "epoch_tokens": 0, "epoch_seconds": 0.0,
             "best_score": None, "best_epoch": 0, "epochs_since_best": 0, "history": [],
             "train_seconds": 0.0, "epoch_start_batch_rng": None, "lr": optimizer.lr}
    best_params = None
    if resume:
        if out_dir is None:
            raise ValueError("resume needs the run directory")
        saved, opt_arrays, avg_arrays, meta = load_resume_state(out_dir)
        for k in params:
            params[k][...] = saved[k]
        optimizer.load_state(opt_arrays, meta["optimizer"]["t"])
        if average is not None:
            average.load_state(meta["average"], avg_arrays)
        state = {k: meta.get(k, state[k]) for k in state}
        optimizer.lr = state["lr"]
        for rng, key in ((dropout_rng, "dropout_rng"), (unk_rng, "unk_rng")):
            rng.bit_generator.state = meta[key]
        batch_rng.bit_generator.state = state["epoch_start_batch_rng"]
        if state["best_epoch"] > 0:
            best_params, _ = load_checkpoint(out_dir / "best")
    run_start = epoch_start = time.perf_counter() - state["train_seconds"]
    stop = _DeferredInterrupt()
    try:
        while state["epoch"] <= train_cfg.epochs:
            epoch = state["epoch"]
            state["epoch_start_batch_rng"] = batch_rng.bit_generator.state
            batches = make_batches(lengths, train_cfg.batch_size, batch_rng, shuffle=True)
            epoch_start = time.perf_counter() - state["epoch_seconds"]
            bar = tqdm(batches, desc=f"epoch {epoch}/{train_cfg.epochs}", unit="batch",
                       disable=not progress, leave=False, initial=state["batches_done"])
            for batch_number, index in enumerate(bar, start=1):
                if batch_number <= state["batches_done"]:
                    continue          # resuming: these batches were trained before the interrupt
                words = [train_split.words[i] for i in index]
                if singletons is not None and (train_cfg.unk_replace > 0 or train_cfg.word_unk > 0):
                    words = [replace_singletons(w, singletons, train_cfg.unk_replace, unk_rng, train_cfg.word_unk)
                             for w in words]
                batch = make_batch(train_split, index, words)
                loss, grads, _ = tagger_loss_and_grads(params, config, batch, dropout_rng, train=True,
                                                       sparse_embeddings=True)
                grads, norm = clip_by_global_norm(grads, train_cfg.clip)
                _check_finite(loss, norm, epoch, batch_number)
                if average is not None:
                    average.before_step(params, grads)
                optimizer.step(params, grads)
                if average is not None:
                    average.after_step(params, grads)
                n = int(batch.mask.sum())
                state["epoch_loss"] += loss * n
                state["epoch_tokens"] += n
                state["batches_done"] = batch_number
                elapsed = time.perf_counter() - epoch_start
                bar.set_postfix(loss=f"{state['epoch_loss'] / state['epoch_tokens']:.4f}",
                                tok_s=f"{state['epoch_tokens'] / elapsed:,.0f}")
                if on_batch_end is not None:
                    on_batch_end(epoch, batch_number)
                stop.raise_if_requested()
            bar.close()
            epoch_seconds = time.perf_counter() - epoch_start
            weights = params if average is None else average.averaged(params)   # what is evaluated and kept
            dev = evaluate_split(weights, config, dev_split, label_names)
            score = dev[select]
            record = {"epoch": epoch, "train_loss": state["epoch_loss"] / max(state["epoch_tokens"], 1),
                      "train_seconds": epoch_seconds, "train_tok_s": state["epoch_tokens"] / epoch_seconds,
                      "dev_token_acc": dev["token_acc"], "dev_entity_f1": dev["entity_f1"], "lr": optimizer.lr}
            improved = state["best_score"] is None or score > state["best_score"]
            if improved:
                state.update(best_score=score, best_epoch=epoch, epochs_since_best=0)
                best_params = {k: v.copy() for k, v in weights.items()}
                if out_dir is not None:
                    meta = dict(checkpoint_meta or {})
                    meta["training"] = {"epoch": epoch, "dev": dev, "train_config": asdict(train_cfg)}
                    save_checkpoint(out_dir / "best", best_params, meta)
            else:
                state["epochs_since_best"] += 1
                state["lr"] = optimizer.lr = optimizer.lr * train_cfg.lr_decay
                if train_cfg.restore_best:
                    for k in params:
                        params[k][...] = best_params[k]
            record["best"] = improved
            state["history"].append(record)
            if out_dir is not None:
                atomic_write_text(out_dir / "train_log.jsonl",
                                  "".join(json.dumps(r) + "\n" for r in state["history"]))
            if progress is not None:
                tqdm.write(f"epoch {epoch}: loss {record['train_loss']:.4f}  dev token acc "
                           f"{dev['token_acc']:.4f}  dev entity F1 {format_entity_f1(dev['entity_f1'])}  "
                           f"{record['train_tok_s']:,.0f} tok/s{'  *best' if improved else ''}")
            state.update(epoch=epoch + 1, batches_done=0, epoch_loss=0.0, epoch_tokens=0, epoch_seconds=0.0)
            if state["epochs_since_best"] >= train_cfg.patience:
                break
    except KeyboardInterrupt:
        if out_dir is not None:
            state["epoch_seconds"] = time.perf_counter() - epoch_start
            state["train_seconds"] = time.perf_counter() - run_start
            state["dropout_rng"] = dropout_rng.bit_generator.state
            state["unk_rng"] = unk_rng.bit_generator.state
            _save_resume_state(out_dir, params, optimizer, state, train_cfg, average)
        raise
    finally:
        stop.restore()
    if out_dir is not None and (out_dir / f"{RESUME_STEM}.json").exists():
        for suffix in (".npz", ".json"):
            (out_dir / f"{RESUME_STEM}{suffix}").unlink(missing_ok=True)
    for k in params:
        params[k][...] = best_params[k]
    history = state["history"]
    return {"epochs": len(history), "best_epoch": state["best_epoch"], "best_dev_score": state["best_score"],
            "train_seconds": time.perf_counter() - run_start,
            "seconds_per_epoch": float(np.mean([r["train_seconds"] for r in history])),
            "history": history}
