"""Reading and writing a model's tensors by name: {name: ndarray}, whatever the file kind.

    .safetensors   the safetensors package's NumPy API (optional: pip install "lstm_numpy[interop]")
    .npz           NumPy, allow_pickle=False
    .pt / .pth     a PyTorch state_dict, read with torch.load(weights_only=True) where PyTorch
                   happens to be installed (it is never a dependency of this package)

Nothing here unpickles anything: a .npz holding Python objects and a .pt holding anything but
tensors are refused, naming the file.
"""
from __future__ import annotations

import importlib
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_open, atomic_write_bytes
from ..errors import InteropError

try:                                        # an optional extra: only .safetensors files need it
    import safetensors.numpy as safetensors_numpy
except ImportError:                         # pragma: no cover - depends on the environment
    safetensors_numpy = None

KINDS = (".safetensors", ".npz", ".pt", ".pth")
INSTALL_SAFETENSORS = 'pip install "lstm_numpy[interop]"  (or pip install safetensors)'
EXPORT_IN_TORCH = ("in PyTorch: from safetensors.torch import save_file; "
                   "save_file(model.state_dict(), 'tagger.safetensors')")


def _kind(path):
    suffix = Path(path).suffix.lower()
    if suffix not in KINDS:
        raise InteropError(f"{path}: not a model file this project reads (give {', '.join(KINDS)})")
    return suffix


def _need_safetensors(path):
    if safetensors_numpy is None:
        raise InteropError(f"{path}: reading and writing .safetensors needs the safetensors package: "
                           f"{INSTALL_SAFETENSORS}")


def _torch_tensors(path):
    """A .pt/.pth state_dict as NumPy arrays, loaded by PyTorch with weights_only=True."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise InteropError(f"{path}: a PyTorch file, and PyTorch is not installed here; export the model as a "
                           f".safetensors file instead ({EXPORT_IN_TORCH}) and give that") from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:            # torch raises many kinds (UnpicklingError for anything but tensors)
        raise InteropError(f"{path}: PyTorch could not read it as a state_dict of tensors "
                           f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None
    if hasattr(state, "state_dict") and not isinstance(state, dict):
        state = state.state_dict()
    if not isinstance(state, dict) or not all(hasattr(v, "detach") for v in state.values()):
        raise InteropError(f"{path}: not a state_dict (a mapping of names to tensors)")
    return {str(name): tensor.detach().cpu().numpy() for name, tensor in state.items()}


def read_state(path):
    """{name: ndarray} of a model file (KINDS). Raises InteropError naming the file when it is
    missing, of another kind, unreadable, or holds anything but numeric arrays."""
    path = Path(path)
    kind = _kind(path)
    if not path.is_file():
        raise InteropError(f"{path}: no such file")
    if kind == ".safetensors":
        _need_safetensors(path)
        try:
            state = safetensors_numpy.load_file(str(path))
        except Exception as err:        # the package raises its own SafetensorError and others
            raise InteropError(f"{path}: not a readable .safetensors file ({type(err).__name__}: "
                               f"{str(err)[:200]})") from None
    elif kind == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                state = {name: archive[name] for name in archive.files}
        except ValueError as err:
            raise InteropError(f"{path}: holds Python objects, which this project never unpickles ({err})") from None
        except (OSError, zipfile.BadZipFile) as err:
            raise InteropError(f"{path}: not a readable .npz file ({err})") from None
    else:
        state = _torch_tensors(path)
    for name, array in state.items():
        if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
            raise InteropError(f"{path}: tensor {name!r} has dtype {array.dtype}, not numbers")
    if not state:
        raise InteropError(f"{path}: holds no tensors")
    return state


def write_state(path, arrays):
    """Write {name: ndarray} to a .safetensors or .npz file, contiguous copies, atomically (atomic.py:
    the file is the old one or the whole new one)."""
    path = Path(path)
    kind = _kind(path)
    arrays = {name: np.ascontiguousarray(value) for name, value in arrays.items()}
    if kind == ".safetensors":
        _need_safetensors(path)
        atomic_write_bytes(path, safetensors_numpy.save(arrays))
    elif kind == ".npz":
        with atomic_open(path, "wb") as handle:
            np.savez(handle, **arrays)
    else:
        raise InteropError(f"{path}: this project writes .safetensors or .npz (PyTorch reads both: "
                           "safetensors.torch.load_file, or numpy.load then torch.from_numpy)")
    return path
