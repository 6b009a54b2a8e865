"""analysis.json: the one writer and the one reader of a run's typed results
(analysis.results.RunAnalysis), with a schema version.

    {"format": "lstm_numpy.analysis", "schema_version": 2,
     "labels": [...], "seeds": [...], "models": [one ModelDissection per seed],
     "consistency": {...}}

A record is written field by field: a dataclass as an object, a NamedTuple as a
list, an array as nested lists (NaN as null), a dict as an object with string
keys.  The reader rebuilds the same records from the field types, so what it
returns equals what was written (arrays to the last bit: JSON keeps a float64's
shortest round-trip form).  Fields marked transient (hidden states, per-ablation
outcomes) are not written and read back as None.  A file of an older schema version
reads with the fields added since (ADDED_IN) as their defaults: not measured.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path

import numpy as np

from ..analysis import results
from ..atomic import atomic_write_json, to_json_safe
from ..errors import RunFormatError

FORMAT = "lstm_numpy.analysis"
SCHEMA_VERSION = 2
# the fields each version added, read as their defaults ("not measured") from an older file
ADDED_IN = {2: {("ModelDissection", "patching"), ("ModelDissection", "clamps")}}

__all__ = ["write_analysis_json", "read_analysis_json", "SCHEMA_VERSION"]


def _encode(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not f.metadata.get("transient")}
    if isinstance(value, tuple) and hasattr(value, "_fields"):         # a NamedTuple
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def write_analysis_json(path, analysis) -> Path:
    """Write a RunAnalysis to ``path`` (atomically; NaN as null)."""
    if not isinstance(analysis, results.RunAnalysis):
        raise TypeError(f"write_analysis_json takes a RunAnalysis, got {type(analysis).__name__}")
    atomic_write_json(path, to_json_safe({"format": FORMAT, "schema_version": SCHEMA_VERSION, **_encode(analysis)}))
    return Path(path)


def _hints(cls):
    return typing.get_type_hints(cls, vars(results))


def _decode(kind, value, where, dtype=None, absent=frozenset()):
    """``value`` (parsed JSON) as type ``kind``; ``dtype``: an array field's dtype; ``absent``:
    the (class, field) pairs the file's schema version predates."""
    if dtype is not None:
        if value is None:
            return None
        data = np.array(value, dtype=object)
        if dtype.startswith("float"):
            data = np.where(data == None, np.nan, data)           # noqa: E711  JSON null is NaN
        return data.astype(dtype)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        kind = next(arg for arg in args if arg is not type(None))
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if kind is typing.Any:
        return value
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise RunFormatError(f"{where}: expected an object for {kind.__name__}")
        hints, out = _hints(kind), {}
        for f in dataclasses.fields(kind):
            if f.metadata.get("transient"):
                continue
            if f.name not in value:
                if (kind.__name__, f.name) in absent:
                    continue
                raise RunFormatError(f"{where}: {kind.__name__} has no {f.name!r}")
            out[f.name] = _decode(hints[f.name], value[f.name], f"{where}.{f.name}", f.metadata.get("dtype"), absent)
        return kind(**out)
    if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
        hints = _hints(kind)
        return kind(*(_decode(hints[name], v, f"{where}[{i}]", absent=absent)
                      for i, (name, v) in enumerate(zip(kind._fields, value))))
    if origin is dict:
        return {k: _decode(args[1], v, f"{where}[{k!r}]", "float64" if args[1] is np.ndarray else None, absent)
                for k, v in value.items()}
    if origin in (tuple, list):
        element = args[0]
        decoded = [_decode(element, v, f"{where}[{i}]", absent=absent) for i, v in enumerate(value)]
        return tuple(decoded) if origin is tuple else decoded
    if kind is float:
        return float("nan") if value is None else float(value)
    if kind is int:
        return int(value)
    return value


def read_analysis_json(path):
    """The RunAnalysis in ``path``.  A file of another format, another schema version or a
    broken layout raises RunFormatError naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFormatError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFormatError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise RunFormatError(f"{path}: not an analysis.json of this package (written before analysis.json had a "
                             "schema version, or by another program); run the analysis again")
    version = data.get("schema_version")
    if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
        raise RunFormatError(f"{path}: analysis.json schema version {version}, but this lstm_numpy reads "
                             f"versions 1 to {SCHEMA_VERSION}" + (" (written by a newer version)"
                                                            if isinstance(version, int) and version > SCHEMA_VERSION
                                                            else ""))
    try:
        absent = set().union(*(fields for added, fields in ADDED_IN.items() if added > version))
        return _decode(results.RunAnalysis, data, path.name, absent=frozenset(absent))
    except RunFormatError as err:
        raise RunFormatError(f"{path}: {err}") from None
    except (TypeError, ValueError, KeyError, StopIteration, AttributeError) as err:
        raise RunFormatError(f"{path}: not an analysis this package wrote ({type(err).__name__}: {err})") from None
