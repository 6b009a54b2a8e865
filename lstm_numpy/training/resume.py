"""Interrupting and resuming training: Ctrl-C saves a state that continues bit for bit.

The state is ``<run>/resume.npz`` + ``resume.json`` (training.checkpoint): the
weights, the optimizer's moments, the weight average, the three rng states and
the loop's counters.  :class:`DeferredInterrupt` holds a Ctrl-C until the
batch in flight has finished its optimizer step, so the saved weights are
never half-updated.
"""
from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import CheckpointError
from .checkpoint import load_checkpoint, save_checkpoint

RESUME_STEM = "resume"


class DeferredInterrupt:
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


def save_resume_state(out_dir, params, optimizer, progress_state, train_cfg, average=None):
    """Everything needed to continue bit for bit: weights, optimizer moments, rng states, counters."""
    opt_meta, opt_arrays = optimizer.state_dict()
    arrays = dict(params)
    arrays.update({f"optimizer:{k}": v for k, v in opt_arrays.items()})
    meta = {"kind": "resume", "train_config": asdict(train_cfg), "optimizer": opt_meta, **progress_state}
    if average is not None:
        avg_meta, avg_arrays = average.state_dict()
        arrays.update({f"average:{k}": v for k, v in avg_arrays.items()})
        meta["average"] = avg_meta
    save_checkpoint(Path(out_dir) / RESUME_STEM, arrays, meta)


def load_resume_state(out_dir):
    """(params, optimizer arrays, weight-average arrays, meta) of ``out_dir/resume.npz/.json``."""
    arrays, meta = load_checkpoint(Path(out_dir) / RESUME_STEM)
    if meta.get("kind") != "resume":
        raise CheckpointError(f"{Path(out_dir) / RESUME_STEM}.json is not a resumable training state")
    params = {k: v for k, v in arrays.items() if not k.startswith(("optimizer:", "average:"))}
    opt_arrays = {k.split(":", 1)[1]: v for k, v in arrays.items() if k.startswith("optimizer:")}
    avg_arrays = {k.split(":", 1)[1]: v for k, v in arrays.items() if k.startswith("average:")}
    return params, opt_arrays, avg_arrays, meta


def remove_resume_state(out_dir):
    """Delete the resumable state once training has finished."""
    for suffix in (".npz", ".json"):
        (Path(out_dir) / f"{RESUME_STEM}{suffix}").unlink(missing_ok=True)
