"""Training: encode the corpus, length-bucketed minibatches, Adam or SGD with
clipping and dropout, evaluation on dev after each epoch, the best checkpoint
kept, early stopping, a progress bar and a JSON-lines log.

The trainer knows the tagger only through ``tagger_loss_and_grads`` and
``tagger_forward``; the optimizer alone changes the weights.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm.auto import tqdm

from ..atomic import atomic_write_text
from ..data.batching import make_batches, pad_batch
from ..data.vocab import case_ids, replace_singletons
from ..errors import TrainingError
from ..model.tagger import Batch, tagger_forward, tagger_loss_and_grads
from .checkpoint import save_checkpoint
from .metrics import evaluate
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
    select: str = "entity_f1"        # dev metric that picks the best epoch (token_acc for POS)
    seed: int = 0


class EncodedSplit(NamedTuple):
    """A split as id arrays, one (T_s,) int64 array per sentence."""

    words: list
    cases: list
    labels: list
    tokens: list           # the original token strings, for reports

    def __len__(self):
        return len(self.words)

    @property
    def n_tokens(self):
        return int(sum(len(w) for w in self.words))


def encode_corpus(corpus, vocab, label_vocab):
    """Corpus (sentences, labels) -> EncodedSplit with the given vocabularies."""
    return EncodedSplit(
        [vocab.encode(s) for s in corpus.sentences],
        [case_ids(s) for s in corpus.sentences],
        label_vocab.encode_all(corpus.labels),
        [list(s) for s in corpus.sentences],
    )


def make_batch(split, index, word_ids=None):
    """Pad the sentences ``index`` of ``split`` into a Batch (left-aligned)."""
    words = [split.words[i] for i in index] if word_ids is None else word_ids
    ids, mask = pad_batch(words)
    cases, _ = pad_batch([split.cases[i] for i in index])
    labels, _ = pad_batch([split.labels[i] for i in index])
    return Batch(ids, mask, labels, cases)


def iterate_batches(split, batch_size):
    """Evaluation order: length-bucketed, not shuffled. Yields (index, Batch)."""
    lengths = np.array([len(w) for w in split.words])
    for index in make_batches(lengths, batch_size, rng=None, shuffle=False):
        yield index, make_batch(split, index)


def predict_split(params, config, split, batch_size=256, output_keep=None, keep=None):
    """Predicted label ids, one (T_s,) array per sentence, in the split's order."""
    preds = [None] * len(split)
    for index, batch in iterate_batches(split, batch_size):
        z, _ = tagger_forward(params, config, batch, keep=keep, output_keep=output_keep)
        best = z.argmax(axis=-1)
        for row, i in enumerate(index):
            preds[i] = best[row, :len(split.words[i])]
    return preds


def evaluate_split(params, config, split, label_names, batch_size=256):
    """metrics.evaluate of the model's predictions on ``split``."""
    return evaluate(split.labels, predict_split(params, config, split, batch_size), label_names)


def _check_finite(loss, norm, epoch, batch_number):
    if not np.isfinite(loss):
        raise TrainingError(f"loss became {loss} at epoch {epoch}, batch {batch_number}; "
                            "training stopped and the best checkpoint on disk is untouched "
                            "(try a lower --lr or clipping)")
    if not np.isfinite(norm):
        raise TrainingError(f"gradient norm became {norm} at epoch {epoch}, batch {batch_number}; "
                            "training stopped and the best checkpoint on disk is untouched")


def train(params, config, train_cfg, train_split, dev_split, label_names, out_dir=None,
          checkpoint_meta=None, singletons=None, progress=True):
    """Train ``params`` in place; return a summary dict.

    params: dict from init_tagger; config: TaggerConfig; train_cfg: TrainConfig;
    *_split: EncodedSplit; label_names: list of K labels; out_dir: where
    ``best.npz/.json`` and ``train_log.jsonl`` go (None: nothing written);
    checkpoint_meta: extra JSON metadata for the checkpoint (vocabularies...);
    singletons: (V,) bool mask of training singletons for <unk> replacement;
    progress: True for bars and a line per epoch, False for the lines only,
    None for silence.
    The best parameters (by dev ``train_cfg.select``) are copied back into
    ``params`` at the end.
    """
    seeds = np.random.SeedSequence(train_cfg.seed).spawn(3)
    batch_rng, dropout_rng, unk_rng = (np.random.default_rng(s) for s in seeds)
    optimizer = make_optimizer(train_cfg.optimizer, train_cfg.lr)
    lengths = np.array([len(w) for w in train_split.words])
    out_dir = Path(out_dir) if out_dir is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    log_lines, history = [], []
    best_score, best_epoch, best_params, epochs_since_best = -np.inf, 0, None, 0
    train_start = time.perf_counter()
    for epoch in range(1, train_cfg.epochs + 1):
        epoch_start = time.perf_counter()
        batches = make_batches(lengths, train_cfg.batch_size, batch_rng, shuffle=True)
        total_loss, total_tokens = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}/{train_cfg.epochs}", unit="batch",
                   disable=not progress, leave=False)
        for batch_number, index in enumerate(bar, start=1):
            words = [train_split.words[i] for i in index]
            if singletons is not None and train_cfg.unk_replace > 0:
                words = [replace_singletons(w, singletons, train_cfg.unk_replace, unk_rng) for w in words]
            batch = make_batch(train_split, index, words)
            loss, grads, _ = tagger_loss_and_grads(params, config, batch, dropout_rng, train=True,
                                                   sparse_embeddings=True)
            grads, norm = clip_by_global_norm(grads, train_cfg.clip)
            _check_finite(loss, norm, epoch, batch_number)
            optimizer.step(params, grads)
            n = int(batch.mask.sum())
            total_loss += loss * n
            total_tokens += n
            elapsed = time.perf_counter() - epoch_start
            bar.set_postfix(loss=f"{total_loss / total_tokens:.4f}", tok_s=f"{total_tokens / elapsed:,.0f}")
        epoch_seconds = time.perf_counter() - epoch_start
        dev = evaluate_split(params, config, dev_split, label_names)
        score = dev[train_cfg.select]
        record = {"epoch": epoch, "train_loss": total_loss / max(total_tokens, 1),
                  "train_seconds": epoch_seconds, "train_tok_s": total_tokens / epoch_seconds,
                  "dev_token_acc": dev["token_acc"], "dev_entity_f1": dev["entity_f1"]}
        improved = score > best_score
        if improved:
            best_score, best_epoch, epochs_since_best = score, epoch, 0
            best_params = {k: v.copy() for k, v in params.items()}
            if out_dir is not None:
                meta = dict(checkpoint_meta or {})
                meta["training"] = {"epoch": epoch, "dev": dev, "train_config": asdict(train_cfg)}
                save_checkpoint(out_dir / "best", best_params, meta)
        else:
            epochs_since_best += 1
        record["best"] = improved
        history.append(record)
        log_lines.append(json.dumps(record))
        if out_dir is not None:
            atomic_write_text(out_dir / "train_log.jsonl", "\n".join(log_lines) + "\n")
        if progress is not None:
            tqdm.write(f"epoch {epoch}: loss {record['train_loss']:.4f}  dev token acc "
                       f"{dev['token_acc']:.4f}  dev entity F1 {dev['entity_f1']:.2f}  "
                       f"{record['train_tok_s']:,.0f} tok/s{'  *best' if improved else ''}")
        if epochs_since_best >= train_cfg.patience:
            break
    for k in params:
        params[k][...] = best_params[k]
    return {"epochs": len(history), "best_epoch": best_epoch, "best_dev_score": best_score,
            "train_seconds": time.perf_counter() - train_start,
            "seconds_per_epoch": float(np.mean([r["train_seconds"] for r in history])),
            "history": history}
