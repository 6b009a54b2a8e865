"""PyTorch taggers in and out: an imported nn.Embedding -> nn.LSTM -> nn.Linear gives PyTorch's
logits and its per-step states, a round trip gives the same parameters bit for bit, a model this
project cannot represent is refused with nothing written, and a tagger trained in PyTorch on a
real treebank is dissected end to end.

The PyTorch tests skip, saying why, without torch; LSTM_NUMPY_REQUIRE_TORCH=1 (CI sets it) makes
that a failure.  The hand-written .npz test needs no torch.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_numpy.analysis.activity import collect_activity
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.errors import InteropError, UsageError
from lstm_numpy.interop import state_files
from lstm_numpy.interop.files import export_torch, import_torch
from lstm_numpy.interop.state_files import read_state, write_state
from lstm_numpy.pipeline import load_tagger
from lstm_numpy.report.analysis_json import read_analysis_json

ROOT = Path(__file__).resolve().parents[1]
SEQUOIA = ROOT.parent / "shared" / "data" / "ud_french_sequoia"
LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def need_torch():
    try:
        import torch
    except ImportError:
        if os.environ.get("LSTM_NUMPY_REQUIRE_TORCH") == "1":
            pytest.fail("LSTM_NUMPY_REQUIRE_TORCH=1 but PyTorch is not installed")
        pytest.skip("PyTorch is not installed (pip install torch): the comparison with PyTorch is optional")
    return torch


def vocab_spec(V, pad=0, unk=1, lowercase=False):
    words = [f"w{i}" for i in range(V)]
    words[unk], words[pad] = "<UNK>", "[PAD]"
    return {"words": words, "labels": LABELS, "unk": "<UNK>", "pad": "[PAD]", "lowercase": lowercase}


def torch_tagger(torch, V=40, E=7, H=5, bidirectional=True, batch_first=True, bias=True, seed=0, scale=3.0, K=None):
    """A PyTorch tagger as its users write one; its weights scaled by ``scale`` for a wide spread of values."""
    torch.manual_seed(seed)

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.words = torch.nn.Embedding(V, E)
            self.encoder = torch.nn.LSTM(E, H, batch_first=batch_first, bidirectional=bidirectional, bias=bias)
            self.scores = torch.nn.Linear(H * (2 if bidirectional else 1), K or len(LABELS), bias=bias)

        def forward(self, ids, lengths):
            x = self.words(ids)
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=batch_first,
                                                             enforce_sorted=False)
            out, _ = self.encoder(packed)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=batch_first)
            return self.scores(out)
    model = Tagger().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model


def sentences(rng, V, n=9, pad=None):
    """Word ids of n sentences of 1 to 11 words (never the pad token, which pads and is no word)."""
    lengths = rng.integers(1, 12, n)
    ids = [rng.integers(0, V, L) for L in lengths]
    return [np.where(s == pad, (s + 1) % V, s) for s in ids] if pad is not None else ids


def our_split(ids, spec, vocab):
    """The sentences of torch ids as this project's EncodedSplit (words re-encoded through the vocab)."""
    words = [[spec["words"][i] for i in sentence] for sentence in ids]
    encoded = [vocab.encode(w) for w in words]
    zeros = [np.zeros(len(w), dtype=np.int64) for w in words]
    return EncodedSplit(encoded, zeros, zeros, words)


def torch_logits(torch, model, ids, batch_first):
    lengths = torch.tensor([len(s) for s in ids])
    padded = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in ids], batch_first=batch_first)
    with torch.no_grad():
        z = model(padded, lengths)
    z = z if batch_first else z.transpose(0, 1)
    return [z[i, :len(s)].numpy() for i, s in enumerate(ids)]


def our_logits(params, config, split):
    from lstm_numpy.data.batching import iterate_batches
    from lstm_numpy.model.tagger import tagger_forward
    out = [None] * split.n_sentences
    for index, batch in iterate_batches(split, 64):
        z, _ = tagger_forward(params, config, batch)
        for row, i in enumerate(index):
            out[i] = z[row, :len(split.words[i])]
    return out


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [True, False])
def test_an_imported_tagger_gives_pytorchs_logits_and_states(tmp_path, bidirectional, batch_first):
    torch = need_torch()
    model = torch_tagger(torch, bidirectional=bidirectional, batch_first=batch_first, bias=not batch_first)
    spec = vocab_spec(40, pad=3, unk=7)
    (tmp_path / "vocab.json").write_text(json.dumps(spec))
    state = {name: t.detach().numpy() for name, t in model.state_dict().items()}
    write_state(tmp_path / "m.safetensors", state)
    write_state(tmp_path / "m.npz", state)
    torch.save(model.state_dict(), tmp_path / "m.pt")
    ids = sentences(np.random.default_rng(1), 40, pad=3)
    expected = torch_logits(torch, model, ids, batch_first)
    for kind in ("safetensors", "npz", "pt"):
        out, imported = import_torch(tmp_path / f"m.{kind}", tmp_path / "vocab.json", tmp_path / kind)
        params, config, vocab, labels = load_tagger(out / "best")
        split = our_split(ids, spec, vocab)
        ours = our_logits(params, config, split)
        for a, b in zip(ours, expected):
            np.testing.assert_allclose(a, b, atol=1e-5, rtol=0, err_msg=kind)
            assert (a.argmax(-1) == b.argmax(-1)).all(), kind
        assert labels.labels == LABELS and config.bidirectional == bidirectional
    # every step's h, c and gates against nn.LSTMCell unrolled by hand, one sentence and direction at a time
    activity = collect_activity(params, config, split)
    embed = model.words.weight.detach()
    H = config.hidden
    row = 0
    for sentence in ids:
        x = embed[torch.tensor(sentence)]
        for direction, suffix in enumerate(["", "_reverse"][:2 if bidirectional else 1]):
            cell = torch.nn.LSTMCell(x.shape[1], H, bias=not batch_first)
            with torch.no_grad():
                for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if not batch_first else ()):
                    getattr(cell, name).copy_(getattr(model.encoder, f"{name}_l0{suffix}"))
            h, c = torch.zeros(1, H), torch.zeros(1, H)
            steps = range(len(sentence)) if direction == 0 else range(len(sentence) - 1, -1, -1)
            for t in steps:
                with torch.no_grad():
                    gates = x[t:t + 1] @ cell.weight_ih.T + h @ cell.weight_hh.T
                    if not batch_first:
                        gates = gates + cell.bias_ih + cell.bias_hh
                    i, f, _, o = torch.sigmoid(gates).chunk(4, 1)
                    h, c = cell(x[t:t + 1], (h, c))
                columns = slice(direction * H, (direction + 1) * H)
                for ours, theirs in ((activity.hidden, h), (activity.cell, c), (activity.input_gate, i),
                                     (activity.forget_gate, f), (activity.output_gate, o)):
                    np.testing.assert_allclose(ours[row + t, columns], theirs[0].numpy(), atol=1e-5, rtol=0)
        row += len(sentence)


def test_export_then_import_gives_the_parameters_back_bit_for_bit(tmp_path):
    torch = need_torch()
    model = torch_tagger(torch, bidirectional=True)
    spec = vocab_spec(40)
    (tmp_path / "vocab.json").write_text(json.dumps(spec))
    torch.save(model.state_dict(), tmp_path / "m.pt")
    first, _ = import_torch(tmp_path / "m.pt", tmp_path / "vocab.json", tmp_path / "first")
    exported, vocab_path = export_torch(first, tmp_path / "back.safetensors")
    assert vocab_path == tmp_path / "back.vocab.json"
    second, _ = import_torch(exported, vocab_path, tmp_path / "second")
    a, b = load_tagger(first / "best"), load_tagger(second / "best")
    for name in a[0]:
        assert a[0][name].tobytes() == b[0][name].tobytes(), name
    assert a[2].words == b[2].words and a[3].labels == b[3].labels
    # and PyTorch loads the exported file into the same module, giving the same logits
    from safetensors.torch import load_file
    again = torch_tagger(torch, bidirectional=True, seed=5)
    again.load_state_dict({{"embedding.weight": "words.weight", "linear.weight": "scores.weight",
                            "linear.bias": "scores.bias"}.get(k, k.replace("lstm.", "encoder.")): v
                           for k, v in load_file(exported).items()})
    ids = sentences(np.random.default_rng(2), 40, pad=0)
    for x, y in zip(torch_logits(torch, model, ids, True), torch_logits(torch, again, ids, True)):
        np.testing.assert_allclose(x, y, atol=1e-6)


def _lstm_numpy(x, Wih, Whh, b):
    """A plain LSTM over x (T, E) in PyTorch's layout (gates i, f, g, o): (T, H) outputs."""
    H = Whh.shape[1]
    h, c, out = np.zeros(H), np.zeros(H), []
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    for t in range(len(x)):
        a = Wih @ x[t] + Whh @ h + b
        i, f, g, o = sigmoid(a[:H]), sigmoid(a[H:2 * H]), np.tanh(a[2 * H:3 * H]), sigmoid(a[3 * H:])
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.array(out)


def test_a_hand_written_npz_in_pytorchs_names_needs_no_torch(tmp_path):
    rng = np.random.default_rng(3)
    V, E, H, K = 12, 4, 3, len(LABELS)
    state = {"emb.weight": rng.normal(size=(V, E)), "rnn.weight_ih_l0": rng.normal(size=(4 * H, E)),
             "rnn.weight_hh_l0": rng.normal(size=(4 * H, H)), "rnn.bias_ih_l0": rng.normal(size=4 * H),
             "rnn.bias_hh_l0": rng.normal(size=4 * H), "out.weight": rng.normal(size=(K, H)),
             "out.bias": rng.normal(size=K)}
    np.savez(tmp_path / "m.npz", **state)
    spec = vocab_spec(V, pad=0, unk=1) | {"pad": None, "words": ["<UNK>"] + [f"w{i}" for i in range(1, V)]}
    (tmp_path / "vocab.json").write_text(json.dumps(spec))
    out, imported = import_torch(tmp_path / "m.npz", tmp_path / "vocab.json", tmp_path / "ck")
    assert [row[2] for row in imported.mapping][:2] == ["a zero pad row added as row 0, the unk token ('<UNK>') as row 1",
                                                        "transposed"]
    params, config, vocab, labels = load_tagger(out / "best")
    assert config.dtype == "float64" and vocab.words[2:] == spec["words"][1:]
    ids = [[3, 1, 0, 5], [7]]
    split = our_split(ids, spec, vocab)
    for sentence, z in zip(ids, our_logits(params, config, split)):
        h = _lstm_numpy(state["emb.weight"][sentence], state["rnn.weight_ih_l0"], state["rnn.weight_hh_l0"],
                        state["rnn.bias_ih_l0"] + state["rnn.bias_hh_l0"])
        np.testing.assert_allclose(z, h @ state["out.weight"].T + state["out.bias"], atol=1e-10)


def _state(rng, V=12, E=4, H=3, K=len(LABELS), **extra):
    state = {"emb.weight": rng.normal(size=(V, E)).astype(np.float32),
             "rnn.weight_ih_l0": rng.normal(size=(4 * H, E)).astype(np.float32),
             "rnn.weight_hh_l0": rng.normal(size=(4 * H, H)).astype(np.float32),
             "out.weight": rng.normal(size=(K, H)).astype(np.float32)}
    state.update(extra)
    return state


@pytest.mark.parametrize("change, words", [
    (lambda s, r: s.update({"rnn.weight_ih_l1": s["rnn.weight_ih_l0"]}), "an LSTM of 2 layers"),
    (lambda s, r: s.update({"rnn.weight_hr_l0": r.normal(size=(2, 3))}), "projection"),
    (lambda s, r: s.update({"rnn.weight_hh_l0": r.normal(size=(9, 3)), "rnn.weight_ih_l0": r.normal(size=(9, 4))}),
     "a GRU"),
    (lambda s, r: s.update({"crf.transitions": r.normal(size=(5, 5))}), "a CRF layer"),
    (lambda s, r: s.update({"chars.weight": r.normal(size=(30, 2)), "char_rnn.weight_ih_l0": r.normal(size=(8, 2)),
                            "char_rnn.weight_hh_l0": r.normal(size=(8, 2))}), "more than one recurrent layer"),
    (lambda s, r: s.update({"rnn.weight_ih_l0": r.normal(size=(12, 6))}), "extra input features"),
    (lambda s, r: s.update({"out.weight": r.normal(size=(4, 3))}), "lists 5 labels but the linear layer"),
    (lambda s, r: s.update({"emb.weight": np.full((12, 4), np.nan)}), "NaN"),
    (lambda s, r: s.update({"extra.scale": r.normal(size=3)}), "cannot place: extra.scale"),
    (lambda s, r: s.pop("out.weight"), "no linear layer"),
])
def test_a_model_this_project_cannot_represent_is_refused_and_nothing_is_written(tmp_path, change, words):
    rng = np.random.default_rng(4)
    state = _state(rng)
    change(state, rng)
    np.savez(tmp_path / "m.npz", **state)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab_spec(12)))
    with pytest.raises(InteropError, match=words) as raised:
        import_torch(tmp_path / "m.npz", tmp_path / "vocab.json", tmp_path / "ck")
    assert "m.npz" in str(raised.value)
    assert not (tmp_path / "ck").exists() and [p.name for p in tmp_path.iterdir()] == ["m.npz", "vocab.json"]


@pytest.mark.parametrize("spec_change, words", [
    (lambda s: s["words"].__setitem__(5, "w4"), "duplicate word 'w4' at index 4 and 5"),
    (lambda s: s.update(labels=LABELS + ["O"]), "duplicate label 'O'"),
    (lambda s: s.update(unk="<missing>"), "the unk token '<missing>' is not among the words"),
    (lambda s: s.update(lowercase=True), "lowercase is true but"),
])
def test_a_bad_vocabulary_is_named(tmp_path, spec_change, words):
    np.savez(tmp_path / "m.npz", **_state(np.random.default_rng(5)))
    spec = vocab_spec(12)
    spec["words"][4] = "W4" if "lowercase" in words else spec["words"][4]
    spec_change(spec)
    (tmp_path / "v.json").write_text(json.dumps(spec))
    with pytest.raises(InteropError, match=words) as raised:
        import_torch(tmp_path / "m.npz", tmp_path / "v.json", tmp_path / "ck")
    assert "v.json" in str(raised.value) and not (tmp_path / "ck").exists()


def test_the_commands_speak_in_one_line(tmp_path, monkeypatch, capsys):
    from lstm_numpy import cli
    np.savez(tmp_path / "m.npz", **_state(np.random.default_rng(6)))
    (tmp_path / "v.json").write_text(json.dumps(vocab_spec(12)))
    (tmp_path / "m.bin").write_bytes(b"x")
    (tmp_path / "m.pt").write_bytes(b"not a zip")
    (tmp_path / "objects.npz").write_bytes(b"")
    np.savez(tmp_path / "objects.npz", a=np.array([{"x": 1}], dtype=object))
    real = state_files.importlib.import_module
    monkeypatch.setattr(state_files.importlib, "import_module",
                        lambda name: (_ for _ in ()).throw(ImportError(name)) if name == "torch" else real(name))
    cases = [(["import-torch", tmp_path / "m.bin", "--vocab", tmp_path / "v.json", "--out", tmp_path / "a"],
              "not a model file this project reads"),
             (["import-torch", tmp_path / "m.pt", "--vocab", tmp_path / "v.json", "--out", tmp_path / "a"],
              "export the model as a .safetensors file"),
             (["import-torch", tmp_path / "objects.npz", "--vocab", tmp_path / "v.json", "--out", tmp_path / "a"],
              "never unpickles"),
             (["import-torch", tmp_path / "m.npz", "--vocab", tmp_path / "none.json", "--out", tmp_path / "a"],
              "none.json: no such file"),
             (["export-torch", tmp_path / "nowhere", "--out", tmp_path / "x.safetensors"], "no such run")]
    for argv, words in cases:
        assert cli.main([str(a) for a in argv]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert cli.main(["import-torch", str(tmp_path / "m.npz"), "--vocab", str(tmp_path / "v.json"), "--out",
                     str(tmp_path / "ok")]) == 0
    assert "out.W        <- out.weight" in capsys.readouterr().out
    with pytest.raises(UsageError, match="not empty"):
        import_torch(tmp_path / "m.npz", tmp_path / "v.json", tmp_path / "ok")


def test_own_models_with_casing_are_refused_for_export(tmp_path, capsys):
    from lstm_numpy import cli
    out = tmp_path / "run"
    assert cli.main(["--quick", "--seeds", "1", "--epochs", "1", "--no-analysis", "--no-progress", "--out",
                     str(out)]) == 0
    assert cli.main(["export-torch", str(out), "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "casing embeddings and affix embeddings and a character CNN" in capsys.readouterr().err
    plain = tmp_path / "plain"
    assert cli.main(["--quick", "--seeds", "1", "--epochs", "1", "--no-analysis", "--no-progress", "--case-dim", "0",
                     "--char-filters", "0", "--affix-dim", "0", "--out", str(plain)]) == 0
    assert cli.main(["export-torch", str(plain), "--out", str(tmp_path / "plain.npz")]) == 0
    state = read_state(tmp_path / "plain.npz")
    assert {"embedding.weight", "lstm.weight_ih_l0_reverse", "linear.bias"} <= set(state)
    assert np.signbit(state["lstm.bias_hh_l0"]).all(), "negative zeros: adding them changes no bias bit"


@pytest.mark.skipif(not (SEQUOIA / "train.conllu").is_file(), reason=f"UD French-Sequoia not found at {SEQUOIA}")
def test_a_tagger_trained_in_pytorch_is_dissected_end_to_end(tmp_path):
    torch = need_torch()
    from lstm_numpy.data.readers import read_conllu
    train, dev = read_conllu(SEQUOIA / "train.conllu"), read_conllu(SEQUOIA / "dev.conllu")
    counts = {}
    for sentence in train.sentences:
        for w in sentence:
            counts[w.lower()] = counts.get(w.lower(), 0) + 1
    words = ["<pad>", "<unk>"] + sorted(counts)
    labels = sorted({label for seq in train.labels for label in seq})
    index, label_index = {w: i for i, w in enumerate(words)}, {x: i for i, x in enumerate(labels)}
    encode = lambda sentence: [index.get(w.lower(), 1) for w in sentence]  # noqa: E731
    rare = torch.tensor([counts.get(w, 0) == 1 for w in words])     # singletons, replaced by <unk> half the time
    model = torch_tagger(torch, V=len(words), E=64, H=25, bidirectional=True, batch_first=True, seed=0, scale=1.0,
                         K=len(labels))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    data = [(encode(s), [label_index[x] for x in y]) for s, y in zip(train.sentences, train.labels)]
    for epoch in range(10):
        model.train()
        for start in range(0, len(data), 32):
            batch = data[start:start + 32]
            ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(x) for x, _ in batch], batch_first=True)
            ids = torch.where(rare[ids] & (torch.rand(ids.shape) < 0.5), 1, ids)
            gold = torch.nn.utils.rnn.pad_sequence([torch.tensor(y) for _, y in batch], batch_first=True,
                                                   padding_value=-100)
            loss = torch.nn.functional.cross_entropy(model(ids, torch.tensor([len(x) for x, _ in batch])).transpose(1, 2),
                                                     gold, ignore_index=-100)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    from safetensors.torch import save_file
    save_file(model.state_dict(), tmp_path / "tagger.safetensors")
    (tmp_path / "vocab.json").write_text(json.dumps({"words": words, "labels": labels, "unk": "<unk>",
                                                     "pad": "<pad>", "lowercase": True}))
    run = lambda *args: subprocess.run([sys.executable, str(ROOT / "run.py"), *map(str, args)],  # noqa: E731
                                       capture_output=True, text=True, cwd=tmp_path, timeout=900)
    imported = run("import-torch", tmp_path / "tagger.safetensors", "--vocab", tmp_path / "vocab.json",
                   "--out", tmp_path / "ck")
    assert imported.returncode == 0, imported.stderr
    out = tmp_path / "dissected"
    result = run("--checkpoint", tmp_path / "ck", "--data", "conllu", "--train", SEQUOIA / "train.conllu",
                 "--dev", SEQUOIA / "dev.conllu", "--test", SEQUOIA / "test.conllu", "--random-draws", "2",
                 "--no-progress", "--out", out)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    # our evaluation of the imported model is PyTorch's accuracy on dev
    dev_ids = [encode(s) for s in dev.sentences]
    predicted = [z.argmax(-1) for z in torch_logits(torch, model, dev_ids, True)]
    gold = [np.array([label_index[x] for x in y]) for y in dev.labels]
    accuracy = np.mean(np.concatenate([p == g for p, g in zip(predicted, gold)]))
    assert metrics["dev"]["token_acc"] == pytest.approx(accuracy, abs=1e-12)
    assert metrics["dev"]["token_acc"] > metrics["dev_baseline_token_acc"], "the PyTorch tagger learned something"
    assert metrics["models"][0]["imported from"]["kind"] == "pytorch"
    analysis = read_analysis_json(out / "analysis.json")
    assert analysis.models[0].sensitivity.shape == (len(labels), 50)
    report = (out / "report.md").read_text()
    assert "tagger.safetensors" in report and (out / "explorer.html").is_file()
    record = json.loads((out / "run.json").read_text())
    assert record["options"]["checkpoints"] == [str(tmp_path / "ck")] and record["checkpoints"]
    explorer = subprocess.run([sys.executable, "-m", "lstm_numpy.report.explorer", str(out), "--out",
                               str(tmp_path / "page.html")], capture_output=True, text=True, timeout=600)
    assert explorer.returncode == 0, explorer.stderr
