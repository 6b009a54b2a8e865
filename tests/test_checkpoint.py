"""checkpoint.py: exact round trips, and a clear CheckpointError for every kind of bad file."""
import json
import os
import zipfile

import numpy as np
import pytest

from lstm_numpy.errors import CheckpointError
from lstm_numpy.training.checkpoint import (
    FORMAT_VERSION,
    checkpoint_paths,
    load_checkpoint,
    save_checkpoint,
    weights_checksum,
)

META = {
    "config": {"hidden_size": 3, "embedding_dim": 2, "lr": 0.1},
    "word_to_id": {"<pad>": 0, "<unk>": 1, "Paris": 2},
    "labels": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"],
    "summary": {"epochs": 2, "best_dev_f1": 81.25},
}


def make_params(rng):
    return {
        "embedding": rng.normal(size=(3, 2)).astype(np.float32),
        "Wx": rng.normal(size=(2, 12)),                       # float64
        "Wh": rng.normal(size=(3, 12)),
        "b": rng.normal(size=12).astype(np.float32),
        "step": np.array(7, dtype=np.int64),                   # 0-d
    }


@pytest.fixture
def saved(tmp_path):
    params = make_params(np.random.default_rng(0))
    npz_path, json_path = save_checkpoint(tmp_path / "model", params, META)
    return params, npz_path, json_path


def rewrite_json(json_path, change):
    document = json.loads(json_path.read_text())
    change(document)
    json_path.write_text(json.dumps(document))


def rewrite_npz(npz_path, arrays):
    with open(npz_path, "wb") as file:
        np.savez(file, **arrays)


# ----------------------------------------------------------------- round trip


def test_round_trip_is_exact_and_keeps_dtypes(saved):
    params, npz_path, json_path = saved
    assert (npz_path.name, json_path.name) == ("model.npz", "model.json")
    loaded, meta = load_checkpoint(npz_path.with_suffix(""))
    assert sorted(loaded) == sorted(params)
    for name, array in params.items():
        assert loaded[name].dtype == array.dtype, name
        assert loaded[name].shape == array.shape, name
        np.testing.assert_array_equal(loaded[name], array)
        assert loaded[name].tobytes() == array.tobytes()  # bit-exact, not just close
    assert meta == META


def test_json_records_format_names_shapes_dtypes_and_checksum(saved):
    params, _, json_path = saved
    document = json.loads(json_path.read_text())
    assert document["format_version"] == FORMAT_VERSION == 1
    assert document["weights_sha256"] == weights_checksum(params)
    assert document["params"][0] == {"name": "Wh", "shape": [3, 12], "dtype": "<f8"}
    assert [p["name"] for p in document["params"]] == sorted(params)
    assert {p["name"]: p["dtype"] for p in document["params"]}["b"] == "<f4"


@pytest.mark.parametrize("suffix", ["", ".npz", ".json"])
def test_any_of_stem_npz_json_names_the_checkpoint(saved, suffix):
    _, npz_path, _ = saved
    _, meta = load_checkpoint(str(npz_path.with_suffix("")) + suffix)
    assert meta == META


def test_directory_path_uses_checkpoint_stem(tmp_path):
    params = make_params(np.random.default_rng(1))
    npz_path, json_path = save_checkpoint(tmp_path, params, {})
    assert (npz_path, json_path) == (tmp_path / "checkpoint.npz", tmp_path / "checkpoint.json")
    loaded, meta = load_checkpoint(tmp_path)
    assert meta == {} and sorted(loaded) == sorted(params)


def test_stem_with_dots_is_kept(tmp_path):
    assert checkpoint_paths(tmp_path / "run.v2") == (tmp_path / "run.v2.npz", tmp_path / "run.v2.json")


def test_meta_numpy_values_and_nan_are_written_as_json(tmp_path):
    params = {"w": np.zeros(2)}
    save_checkpoint(tmp_path / "m", params, {"loss": float("nan"), "n": np.int64(3), "v": np.arange(2)})
    _, meta = load_checkpoint(tmp_path / "m")
    assert meta == {"loss": None, "n": 3, "v": [0, 1]}


def test_expected_shapes_that_match_are_accepted(saved):
    params, npz_path, _ = saved
    loaded, _ = load_checkpoint(npz_path, expected_shapes={n: a.shape for n, a in params.items()})
    assert sorted(loaded) == sorted(params)


def test_save_overwrites_previous_checkpoint(saved):
    _, npz_path, _ = saved
    save_checkpoint(npz_path, {"w": np.ones(3, dtype=np.float32)}, {"run": 2})
    loaded, meta = load_checkpoint(npz_path)
    assert meta == {"run": 2} and list(loaded) == ["w"]
    assert sorted(os.listdir(npz_path.parent)) == ["model.json", "model.npz"]


# ------------------------------------------------------------ save rejections


def test_save_rejects_object_arrays_and_bad_names_without_writing(tmp_path):
    with pytest.raises(ValueError, match="object arrays would need pickle"):
        save_checkpoint(tmp_path / "m", {"w": np.array([{"a": 1}], dtype=object)}, {})
    with pytest.raises(ValueError, match="names must be non-empty"):
        save_checkpoint(tmp_path / "m", {"": np.zeros(1)}, {})
    assert os.listdir(tmp_path) == []


def test_save_with_unwritable_meta_leaves_old_checkpoint_whole(saved):
    params, npz_path, _ = saved
    with pytest.raises(ValueError, match="infinity"):
        save_checkpoint(npz_path, {"w": np.zeros(1)}, {"loss": float("inf")})
    loaded, meta = load_checkpoint(npz_path)
    assert meta == META and sorted(loaded) == sorted(params)


# ------------------------------------------------------------ load rejections


def test_missing_json(saved):
    _, npz_path, json_path = saved
    json_path.unlink()
    with pytest.raises(CheckpointError, match=r"model\.json: checkpoint metadata file not found"):
        load_checkpoint(npz_path)


def test_missing_npz(saved):
    _, npz_path, json_path = saved
    npz_path.unlink()
    with pytest.raises(CheckpointError, match=r"model\.npz: checkpoint weights file not found"):
        load_checkpoint(json_path)


def test_missing_both(tmp_path):
    with pytest.raises(CheckpointError, match="nothing_here.json"):
        load_checkpoint(tmp_path / "nothing_here")


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.3, 0.6, 0.9, 0.999])
def test_truncated_npz(saved, fraction):
    _, npz_path, _ = saved
    data = npz_path.read_bytes()
    npz_path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(CheckpointError, match=r"model\.npz"):
        load_checkpoint(npz_path)


def test_corrupt_byte_inside_npz(saved):
    params, npz_path, _ = saved
    data = bytearray(npz_path.read_bytes())
    # Flip a byte in the middle of the Wh array (CRC or checksum catches it).
    position = bytes(data).find(params["Wh"].tobytes()) + 40
    data[position] ^= 0xFF
    npz_path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"model\.npz"):
        load_checkpoint(npz_path)


@pytest.mark.parametrize("content", [b"", b"hello, I am a text file\n", b"\x93NUMPY\x01\x00"])
def test_npz_from_another_program(saved, content):
    _, npz_path, _ = saved
    npz_path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"model\.npz: not a \.npz weights file"):
        load_checkpoint(npz_path)


def test_plain_npy_file_is_rejected(saved):
    _, npz_path, _ = saved
    with open(npz_path, "wb") as file:
        np.save(file, np.zeros(3))
    with pytest.raises(CheckpointError, match="not a .npz"):
        load_checkpoint(npz_path)


def test_zip_that_is_not_an_npz(saved):
    _, npz_path, _ = saved
    with zipfile.ZipFile(npz_path, "w") as archive:
        archive.writestr("readme.txt", "not numpy")
    with pytest.raises(CheckpointError, match=r"model\.npz"):
        load_checkpoint(npz_path)


@pytest.mark.parametrize("text, message", [
    ("not json at all {", r"not an lstm_numpy checkpoint \(not valid JSON"),
    ("\udcff", r"not an lstm_numpy checkpoint \(not valid JSON"),
    ("[1, 2, 3]", "not an lstm_numpy checkpoint"),
    ('{"format_version": 1, "params": []}', "not an lstm_numpy checkpoint"),
    ('{"format": "someone.else", "format_version": 1}', "not an lstm_numpy checkpoint"),
])
def test_json_from_another_program(saved, text, message):
    _, npz_path, json_path = saved
    json_path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(CheckpointError, match=rf"model\.json: {message}"):
        load_checkpoint(npz_path)


def test_json_from_a_newer_version(saved):
    _, npz_path, json_path = saved
    rewrite_json(json_path, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match=r"model\.json: written by a newer version.*format_version 2"):
        load_checkpoint(npz_path)


@pytest.mark.parametrize("version", ["1", 0, None, True, 1.0])
def test_json_with_invalid_format_version(saved, version):
    _, npz_path, json_path = saved
    rewrite_json(json_path, lambda d: d.update(format_version=version))
    with pytest.raises(CheckpointError, match="invalid format_version"):
        load_checkpoint(npz_path)


@pytest.mark.parametrize("change", [
    lambda d: d.pop("params"),
    lambda d: d.pop("weights_sha256"),
    lambda d: d.pop("meta"),
    lambda d: d.update(meta=[1]),
    lambda d: d["params"][0].pop("shape"),
    lambda d: d["params"][0].update(dtype="not-a-dtype"),
])
def test_malformed_metadata(saved, change):
    _, npz_path, json_path = saved
    rewrite_json(json_path, change)
    with pytest.raises(CheckpointError, match=r"model\.json: malformed checkpoint metadata"):
        load_checkpoint(npz_path)


def test_shape_mismatch_against_metadata(saved):
    params, npz_path, _ = saved
    rewrite_npz(npz_path, {**params, "Wh": np.zeros((4, 12))})
    with pytest.raises(CheckpointError, match=r"'Wh' has shape \(4, 12\), metadata says \(3, 12\)"):
        load_checkpoint(npz_path)


def test_dtype_mismatch_against_metadata(saved):
    params, npz_path, _ = saved
    rewrite_npz(npz_path, {**params, "b": params["b"].astype(np.float64)})
    with pytest.raises(CheckpointError, match=r"'b' has dtype float64, metadata says float32"):
        load_checkpoint(npz_path)


def test_missing_parameter_against_metadata(saved):
    params, npz_path, _ = saved
    rewrite_npz(npz_path, {n: a for n, a in params.items() if n != "Wx"})
    with pytest.raises(CheckpointError, match=r"missing parameter\(s\) 'Wx' listed in model\.json"):
        load_checkpoint(npz_path)


def test_extra_parameter_against_metadata(saved):
    params, npz_path, _ = saved
    rewrite_npz(npz_path, {**params, "sneaky": np.zeros(1)})
    with pytest.raises(CheckpointError, match=r"extra parameter\(s\) 'sneaky' not listed"):
        load_checkpoint(npz_path)


def test_checksum_mismatch(saved):
    params, npz_path, _ = saved
    rewrite_npz(npz_path, {**params, "Wx": params["Wx"] + 1e-12})
    with pytest.raises(CheckpointError, match=r"model\.npz: weights checksum does not match model\.json"):
        load_checkpoint(npz_path)


def test_new_npz_with_old_json_is_caught(saved, tmp_path):
    # A crash after the .npz write but before the .json write leaves this pair.
    _, npz_path, _ = saved
    other_npz, _ = save_checkpoint(tmp_path / "other", make_params(np.random.default_rng(9)), META)
    npz_path.write_bytes(other_npz.read_bytes())
    with pytest.raises(CheckpointError, match="checksum does not match"):
        load_checkpoint(npz_path)


def test_shape_mismatch_against_expected_shapes(saved):
    params, npz_path, _ = saved
    expected = {n: a.shape for n, a in params.items()} | {"Wx": (5, 12)}
    with pytest.raises(CheckpointError, match=r"'Wx' has shape \(2, 12\), expected \(5, 12\)"):
        load_checkpoint(npz_path, expected_shapes=expected)


def test_missing_and_extra_against_expected_shapes(saved):
    params, npz_path, _ = saved
    expected = {n: a.shape for n, a in params.items()}
    with pytest.raises(CheckpointError, match=r"missing parameter\(s\) 'W_out' the model expects"):
        load_checkpoint(npz_path, expected_shapes=expected | {"W_out": (3, 9)})
    del expected["step"]
    with pytest.raises(CheckpointError, match=r"extra parameter\(s\) 'step' the model does not expect"):
        load_checkpoint(npz_path, expected_shapes=expected)


class _Tripwire:
    """Unpickling this would call `_tripwire_fired`, proving pickle ran."""

    def __reduce__(self):
        return (_tripwire_fired, ())


_FIRED = []


def _tripwire_fired():
    _FIRED.append(True)
    return "unpickled!"


def test_pickled_object_array_is_refused_without_unpickling(saved):
    params, npz_path, json_path = saved
    rewrite_npz(npz_path, {**params, "Wx": np.array([_Tripwire()], dtype=object)})
    with pytest.raises(CheckpointError, match=r"model\.npz: holds a pickled object array; refusing to unpickle"):
        load_checkpoint(npz_path)
    # Even with metadata claiming an object dtype, nothing is unpickled.
    rewrite_json(json_path, lambda d: [p.update(dtype="|O", shape=[1]) for p in d["params"] if p["name"] == "Wx"])
    with pytest.raises(CheckpointError, match="pickled object array"):
        load_checkpoint(npz_path)
    assert _FIRED == []


def test_errors_are_value_errors_too(saved):
    # CheckpointError subclasses ValueError, so generic callers can still catch it.
    _, npz_path, _ = saved
    npz_path.write_bytes(b"junk")
    with pytest.raises(ValueError):
        load_checkpoint(npz_path)
