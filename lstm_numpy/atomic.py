"""Atomic file writes: a file at `path` is either the old one or the complete new one.

Every writer goes through `atomic_open`: the data goes to a temporary file in
the same directory (so `os.replace` is a rename on one file system), the
temporary file is flushed and fsynced, then renamed onto `path`. If anything
fails before the rename, the temporary file is deleted and `path` is untouched.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import IO, Any

import numpy as np

__all__ = ["atomic_open", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "to_json_safe"]

_ALLOWED_MODES = ("w", "wb", "wt")


def _default_file_mode() -> int:
    """Permissions a plain `open(path, "w")` would give a new file (0o666 minus umask).

    mkstemp creates files 0o600; we widen them so a checkpoint is readable like
    any other file. The umask is read from /proc when possible because
    `os.umask` can only be read by setting it, which races with other threads.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o644


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; not possible on every platform, so best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", encoding: str = "utf-8") -> Iterator[IO]:
    """Open a temporary file next to `path`; on success, fsync it and rename it onto `path`.

    Parameters
    ----------
    path : the final file name. Missing parent directories are created.
    mode : "wb" (bytes) or "w"/"wt" (text, `encoding`, newline "\\n").

    If the `with` block raises, the temporary file is removed, the exception
    propagates, and an existing file at `path` is left exactly as it was.
    An existing file's permission bits are kept.
    """
    if mode not in _ALLOWED_MODES:
        raise ValueError(f"atomic_open: mode must be one of {_ALLOWED_MODES}, got {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        try:
            file_mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            file_mode = _default_file_mode()
        os.chmod(tmp_path, file_mode)
        if "b" in mode:
            file = os.fdopen(fd, "wb")
        else:
            file = os.fdopen(fd, "w", encoding=encoding, newline="\n")
        fd = -1  # now owned by `file`
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as file:
        file.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` atomically (newlines written as "\\n")."""
    with atomic_open(path, "w", encoding=encoding) as file:
        file.write(text)


def to_json_safe(obj: Any, where: str = "$") -> Any:
    """Return a copy of `obj` made of plain JSON types.

    - NaN (Python or NumPy float) becomes None (JSON null): metrics use NaN for
      "undefined", and null is the honest JSON spelling of that.
    - +/-inf raises ValueError naming where it was (JSON has no infinity and
      silently writing null would hide a real bug such as a diverged loss).
    - NumPy scalars become Python scalars, arrays become nested lists,
      tuples become lists. Mapping keys must be str (int keys are turned into
      str, as `json` would).
    - Anything else that `json` cannot write raises TypeError naming where it was.

    `where` is the path used in error messages, e.g. "$['summary']['loss']".
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if math.isnan(value):
            return None
        if math.isinf(value):
            raise ValueError(f"cannot write {value} to JSON at {where}: JSON has no infinity")
        return value
    if isinstance(obj, np.ndarray):
        return to_json_safe(obj.tolist(), where)
    if isinstance(obj, Mapping):
        out = {}
        for key, value in obj.items():
            if isinstance(key, (bool, np.bool_)) or not isinstance(key, (str, int, np.integer)):
                raise TypeError(f"cannot write JSON object key {key!r} at {where}: keys must be str or int")
            out[str(key)] = to_json_safe(value, f"{where}[{key!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_json_safe(value, f"{where}[{i}]") for i, value in enumerate(obj)]
    raise TypeError(f"cannot write {type(obj).__name__} to JSON at {where}")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as JSON (insertion order, indent=2, trailing newline) atomically.

    `obj` goes through `to_json_safe` first (NaN -> null, inf -> ValueError,
    NumPy values -> Python values). Serialisation happens before the file is
    opened, so an unserialisable object never touches `path`.
    """
    text = json.dumps(to_json_safe(obj), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    atomic_write_text(path, text)
