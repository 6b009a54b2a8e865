"""atomic.py: a file is either the old one or the complete new one, never half-written."""
import json
import os
import stat

import numpy as np
import pytest

from lstm_numpy.atomic import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text, to_json_safe


def test_write_bytes_and_text_round_trip(tmp_path):
    atomic_write_bytes(tmp_path / "a.bin", b"\x00\x01\xff")
    atomic_write_text(tmp_path / "a.txt", "héllo\nworld\n")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01\xff"
    assert (tmp_path / "a.txt").read_text(encoding="utf-8") == "héllo\nworld\n"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "a.txt"]


def test_overwrite_replaces_whole_file(tmp_path):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "a long old content " * 100)
    atomic_write_text(path, "short")
    assert path.read_text() == "short"


def test_exception_in_block_keeps_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_open(path, "wb") as file:
            file.write(b"new half-written contents")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"old contents"
    assert os.listdir(tmp_path) == ["weights.bin"]


def test_exception_without_existing_file_creates_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_open(tmp_path / "new.txt", "w") as file:
            file.write("partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_temp_file_lives_in_target_directory_until_replace(tmp_path):
    path = tmp_path / "f.bin"
    with atomic_open(path) as file:
        file.write(b"x")
        assert not path.exists()
        (temp_name,) = os.listdir(tmp_path)
        assert temp_name.startswith(".f.bin.") and temp_name.endswith(".tmp")
    assert os.listdir(tmp_path) == ["f.bin"]


def test_existing_permissions_are_kept(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    atomic_write_text(path, "new")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


def test_new_file_is_not_private_to_owner(tmp_path):
    # mkstemp makes 0o600 files; we want what open() would give (0o666 minus umask).
    atomic_write_text(tmp_path / "f.txt", "x")
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    assert stat.S_IMODE(os.stat(tmp_path / "f.txt").st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_bad_mode_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_open(tmp_path / "f", "a"):
            pass
    assert os.listdir(tmp_path) == []


def test_json_keeps_insertion_order_and_indent(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"zeta": 1, "alpha": [1, 2], "mid": {"b": None, "a": "x"}})
    text = path.read_text()
    assert list(json.loads(text)) == ["zeta", "alpha", "mid"]
    assert text.startswith('{\n  "zeta": 1,')
    assert text.endswith("}\n")


def test_json_nan_becomes_null_and_numpy_becomes_python(tmp_path):
    path = tmp_path / "m.json"
    obj = {
        "loss": float("nan"),
        "acc": np.float32(0.5),
        "nan32": np.float32("nan"),
        "count": np.int64(7),
        "flag": np.bool_(True),
        "vector": np.array([1.0, np.nan]),
        "pair": (1, 2),
        3: "int key",
    }
    atomic_write_json(path, obj)
    assert json.loads(path.read_text()) == {
        "loss": None,
        "acc": 0.5,
        "nan32": None,
        "count": 7,
        "flag": True,
        "vector": [1.0, None],
        "pair": [1, 2],
        "3": "int key",
    }


def test_json_infinity_raises_naming_where_and_keeps_old_file(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"ok": 1})
    with pytest.raises(ValueError, match=r"\$\['summary'\]\['loss'\].*infinity"):
        atomic_write_json(path, {"summary": {"loss": float("inf")}})
    assert json.loads(path.read_text()) == {"ok": 1}
    assert os.listdir(tmp_path) == ["m.json"]


def test_json_unserialisable_raises_type_error(tmp_path):
    with pytest.raises(TypeError, match=r"set to JSON at \$\['x'\]\[0\]"):
        atomic_write_json(tmp_path / "m.json", {"x": [{1, 2}]})
    assert os.listdir(tmp_path) == []


def test_to_json_safe_rejects_non_string_keys():
    with pytest.raises(TypeError, match="keys must be str"):
        to_json_safe({(1, 2): 3})
