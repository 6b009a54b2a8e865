"""Checkpoints: weights in `<stem>.npz`, metadata in `<stem>.json`, never pickle.

`save_checkpoint` writes the .npz first and the .json last, each atomically.
The JSON records the name, shape and dtype of every parameter and a SHA-256
of the weights, so a crash between the two writes (new .npz, old .json) is
caught on load as a checksum mismatch instead of silently pairing the wrong
files. `load_checkpoint` refuses, with a `CheckpointError` naming the file,
anything that is missing, truncated, foreign, from a newer format, or does
not match its metadata or the shapes the caller expects.

JSON layout (format_version 1):

    {
      "format": "lstm_numpy.checkpoint",
      "format_version": 1,
      "weights_sha256": "<hex>",
      "params": [{"name": "Wx", "shape": [D, 4H], "dtype": "<f4"}, ...],   # sorted by name
      "meta": {...}          # the caller's dict: config, vocabularies, labels, training summary
    }
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lstm_numpy.atomic import atomic_open, atomic_write_json, to_json_safe
from lstm_numpy.errors import CheckpointError

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "checkpoint_paths", "weights_checksum", "save_checkpoint", "load_checkpoint"]

FORMAT_NAME = "lstm_numpy.checkpoint"
FORMAT_VERSION = 1
_ZIP_MAGIC = b"PK\x03\x04"


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(`<stem>.npz`, `<stem>.json`) for a stem, either of the two files, or a directory.

    "runs/best", "runs/best.npz" and "runs/best.json" all name the same pair;
    an existing directory "runs/" names "runs/checkpoint.npz" and "runs/checkpoint.json".
    """
    path = Path(path)
    if path.is_dir():
        stem = path / "checkpoint"
    elif path.suffix in (".npz", ".json"):
        stem = path.with_suffix("")
    else:
        stem = path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def weights_checksum(params: Mapping[str, np.ndarray]) -> str:
    """SHA-256 hex digest over name, dtype, shape and C-order bytes of each array, in sorted-name order.

    Each array contributes a JSON header line `["name", "<f4", [shape], nbytes]\\n`
    followed by its raw bytes; the byte count in the header keeps the framing unambiguous.
    """
    digest = hashlib.sha256()
    for name in sorted(params):
        array = np.ascontiguousarray(params[name])
        header = json.dumps([name, array.dtype.str, list(array.shape), array.nbytes])
        digest.update(header.encode("utf-8") + b"\n")
        digest.update(array.tobytes())
    return digest.hexdigest()


def _check_params_to_save(params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    arrays = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"parameter names must be non-empty strings without '/', got {name!r}")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise ValueError(f"parameter {name!r} has dtype {array.dtype}; object arrays would need pickle")
        arrays[name] = array
    return arrays


def save_checkpoint(
    path: str | os.PathLike, params: Mapping[str, np.ndarray], meta: Mapping[str, Any]
) -> tuple[Path, Path]:
    """Write `<stem>.npz` (weights) then `<stem>.json` (metadata), each atomically.

    path : a stem, either file name, or an existing directory (see `checkpoint_paths`).
    params : name -> array, any numeric or bool dtype; saved uncompressed with dtypes kept.
    meta : JSON-serialisable dict (config, vocabularies, labels, training summary);
        NaN becomes null and NumPy values become Python values (see `atomic.to_json_safe`).
    Returns the two paths written.
    """
    npz_path, json_path = checkpoint_paths(path)
    arrays = _check_params_to_save(params)
    names = sorted(arrays)
    document = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "weights_sha256": weights_checksum(arrays),
        "params": [{"name": n, "shape": list(arrays[n].shape), "dtype": arrays[n].dtype.str} for n in names],
        "meta": dict(meta),
    }
    # Convert the metadata before touching any file, so bad meta leaves the old checkpoint whole.
    document = to_json_safe(document)
    with atomic_open(npz_path, "wb") as file:
        np.savez(file, **{n: arrays[n] for n in names})
    atomic_write_json(json_path, document)
    return npz_path, json_path


def _read_metadata(json_path: Path) -> dict:
    if not json_path.is_file():
        raise CheckpointError(f"{json_path}: checkpoint metadata file not found")
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{json_path}: not an lstm_numpy checkpoint (not valid JSON: {error})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{json_path}: not an lstm_numpy checkpoint (no \"format\": \"{FORMAT_NAME}\")")
    version = document.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{json_path}: invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{json_path}: written by a newer version of lstm_numpy "
            f"(format_version {version}, this version reads up to {FORMAT_VERSION})"
        )
    entries = document.get("params")
    try:
        specs = {e["name"]: (tuple(int(d) for d in e["shape"]), np.dtype(e["dtype"])) for e in entries}
        checksum = str(document["weights_sha256"])
        meta = document["meta"]
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{json_path}: malformed checkpoint metadata ({type(error).__name__}: {error})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{json_path}: malformed checkpoint metadata (\"meta\" is not an object)")
    return {"specs": specs, "checksum": checksum, "meta": meta}


def _read_weights(npz_path: Path) -> dict[str, np.ndarray]:
    if not npz_path.is_file():
        raise CheckpointError(f"{npz_path}: checkpoint weights file not found")
    with open(npz_path, "rb") as file:
        magic = file.read(len(_ZIP_MAGIC))
    if magic != _ZIP_MAGIC:
        raise CheckpointError(f"{npz_path}: not a .npz weights file (not a zip archive)")
    try:
        with np.load(npz_path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as error:
        if "pickle" in str(error):
            raise CheckpointError(f"{npz_path}: holds a pickled object array; refusing to unpickle") from None
        raise CheckpointError(f"{npz_path}: unreadable .npz ({error})") from None
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
        raise CheckpointError(f"{npz_path}: truncated or corrupt .npz ({type(error).__name__}: {error})") from None


def _describe(names) -> str:
    return ", ".join(repr(n) for n in sorted(names))


def _check_names(npz_path, params, wanted, missing_why, extra_why):
    """CheckpointError when ``params`` lacks a name of ``wanted`` or has one more."""
    missing, extra = set(wanted) - set(params), set(params) - set(wanted)
    if missing:
        raise CheckpointError(f"{npz_path}: missing parameter(s) {_describe(missing)} {missing_why}")
    if extra:
        raise CheckpointError(f"{npz_path}: extra parameter(s) {_describe(extra)} {extra_why}")


def load_checkpoint(
    path: str | os.PathLike, expected_shapes: Mapping[str, tuple[int, ...]] | None = None
) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by `save_checkpoint`; return (params, meta).

    path : a stem, either file name, or a directory (see `checkpoint_paths`).
    expected_shapes : name -> shape the caller's model needs; if given, the
        checkpoint must hold exactly these parameters with exactly these shapes.
    Raises CheckpointError (naming the file and, where relevant, the parameter)
    for a missing, truncated, foreign, newer-format, mismatched or pickled checkpoint.
    """
    npz_path, json_path = checkpoint_paths(path)
    metadata = _read_metadata(json_path)
    params = _read_weights(npz_path)
    specs = metadata["specs"]

    _check_names(npz_path, params, specs, f"listed in {json_path.name}", f"not listed in {json_path.name}")
    for name in sorted(specs):
        shape, dtype = specs[name]
        array = params[name]
        if array.shape != shape:
            raise CheckpointError(
                f"{npz_path}: parameter {name!r} has shape {array.shape}, metadata says {shape}"
            )
        if array.dtype != dtype:
            raise CheckpointError(
                f"{npz_path}: parameter {name!r} has dtype {array.dtype}, metadata says {dtype}"
            )
    if weights_checksum(params) != metadata["checksum"]:
        raise CheckpointError(
            f"{npz_path}: weights checksum does not match {json_path.name} "
            "(corrupt file, or the .npz and .json are from different saves)"
        )

    if expected_shapes is not None:
        expected = {name: tuple(shape) for name, shape in expected_shapes.items()}
        _check_names(npz_path, params, expected, "the model expects", "the model does not expect")
        for name in sorted(expected):
            if params[name].shape != expected[name]:
                raise CheckpointError(
                    f"{npz_path}: parameter {name!r} has shape {params[name].shape}, expected {expected[name]}"
                )
    return params, metadata["meta"]
