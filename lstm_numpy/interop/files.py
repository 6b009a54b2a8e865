"""The import-torch and export-torch commands' work on files: a PyTorch tagger's state file and
VOCAB.json to a checkpoint directory (best.npz + best.json, written whole or not at all), and a
checkpoint back to a .safetensors (or .npz) file with its VOCAB.json beside it."""
from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from ..atomic import atomic_write_text
from ..errors import InteropError, UsageError
from ..pipeline import load_tagger
from ..training.checkpoint import save_checkpoint
from .state_files import read_state, write_state
from .torch_tagger import export_tagger, import_tagger


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def import_torch(state_path, vocab_path, out_dir, force=False):
    """Convert ``state_path`` (+ ``vocab_path``) into ``out_dir``/best.npz + best.json; returns
    (out_dir, Imported).  The directory appears only when everything is written (a temporary
    sibling is renamed into place); an existing non-empty one is refused unless ``force``."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())) and not force:
        raise UsageError(f"{out_dir} already exists and is not empty; pass --force to replace it")
    try:
        spec = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InteropError(f"{vocab_path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InteropError(f"{vocab_path}: not valid JSON ({err})") from None
    state = read_state(state_path)
    imported = import_tagger(state, spec, str(state_path), str(vocab_path))
    source = {"kind": "pytorch", "file": str(Path(state_path).resolve()), "sha256": _sha256(state_path),
              "vocab_file": str(Path(vocab_path).resolve()),
              "mapping": [{"parameter": ours, "from": theirs, "how": how} for ours, theirs, how in imported.mapping]}
    meta = {"config": imported.config.to_dict(), "vocab": imported.vocab.to_dict(),
            "labels": imported.labels.to_dict(), "embeddings_coverage": None, "source": source}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        save_checkpoint(staging / "best", imported.params, meta)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir, imported


def checkpoint_of(source, seed=None):
    """The checkpoint stem a run directory (seed<N>/best, the first seed unless ``seed``), a
    checkpoint directory (best) or a checkpoint stem names."""
    source = Path(source)
    if source.is_dir() and (source / "best.json").is_file():
        return source / "best"
    if source.is_dir():
        seeds = sorted(int(p.name[4:]) for p in source.glob("seed*") if p.name[4:].isdigit())
        if not seeds:
            raise UsageError(f"{source}: neither a checkpoint directory (best.json) nor a run directory (seed<N>/)")
        chosen = seeds[0] if seed is None else seed
        if chosen not in seeds:
            raise UsageError(f"{source} has the seeds {seeds}, not {seed}")
        return source / f"seed{chosen}" / "best"
    if source.with_suffix(".json").is_file():
        return source.with_suffix("")
    raise UsageError(f"{source}: no such run, checkpoint directory or checkpoint")


def export_torch(source, out, seed=None):
    """Write the tagger of ``source`` (see checkpoint_of) to ``out`` (.safetensors or .npz) in
    PyTorch's names and layout, and its VOCAB.json to ``<out stem>.vocab.json``; returns both paths."""
    params, config, vocab, labels = load_tagger(checkpoint_of(source, seed))
    state, spec = export_tagger(params, config, vocab, labels)
    out = Path(out)
    vocab_path = out.with_name(out.stem + ".vocab.json")
    write_state(out, state)
    atomic_write_text(vocab_path, json.dumps(spec, ensure_ascii=False) + "\n")
    return out, vocab_path
