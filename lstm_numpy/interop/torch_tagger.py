"""A PyTorch tagger (``nn.Embedding -> nn.LSTM -> nn.Linear``) as this project's checkpoint, and back.

PyTorch's names and layout (one layer; the module attribute names are free, tensors are found
by the suffixes below and by their shapes):

    <emb>.weight              (V, E)      rows in the vocabulary's index order
    <lstm>.weight_ih_l0       (4H, E)     gates stacked in the order i, f, g, o (model.lstm.GATES)
    <lstm>.weight_hh_l0       (4H, H)
    <lstm>.bias_ih_l0         (4H,)       absent with bias=False
    <lstm>.bias_hh_l0         (4H,)
    <lstm>.*_l0_reverse       the backward direction of a bidirectional LSTM (its outputs second)
    <linear>.weight           (K, Hout)   Hout = H, or 2H for a bidirectional LSTM
    <linear>.bias             (K,)        absent with bias=False

This project's parameters (model.tagger): ``embed.word`` (V', E) with ``<pad>`` in row 0 and
``<unk>`` in row 1, then the other words in the file's order; ``lstm.Wx`` (E, 4H) =
weight_ih_l0 transposed, ``lstm.Wh`` (H, 4H) = weight_hh_l0 transposed, ``lstm.b`` = bias_ih_l0 +
bias_hh_l0 (``lstm_f.*`` and ``lstm_b.*`` for the two directions); ``out.W`` = linear.weight,
``out.b`` = linear.bias.  The gate order is the same, so no block is moved.

VOCAB.json: ``{"words": [...], "labels": [...], "unk": "<unk>", "pad": "<pad>", "lowercase": false}``,
words and labels in index order (``pad`` may be null).

A model this project cannot represent is refused, naming what: more than one layer, a
projection (proj_size), a GRU or plain RNN, a CRF layer, a character encoder or any other
tensor left over, inputs wider than the word embedding (extra features).
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from ..data.vocab import PAD, UNK, LabelVocab, Vocab
from ..errors import InteropError
from ..model.lstm import GATES
from ..model.tagger import TaggerConfig
from ..pipeline import expected_shapes

RECURRENT = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)"
                       r"(?P<reverse>_reverse)?$")
CRF_HINTS = ("crf", "transition")


class Imported(NamedTuple):
    params: dict
    config: TaggerConfig
    vocab: Vocab
    labels: LabelVocab
    mapping: list            # [(this project's name, the file's tensor(s), what was done)]


def _fail(where, message):
    raise InteropError(f"{where}: {message}")


def read_vocab_spec(spec, where="VOCAB.json"):
    """The checked VOCAB.json dict: words and labels unique lists of strings, unk among the words,
    pad among them or None, lowercase a bool (and then no word with capitals)."""
    if not isinstance(spec, dict):
        _fail(where, "not a JSON object with words, labels, unk, pad and lowercase")
    for key in ("words", "labels", "unk"):
        if key not in spec:
            _fail(where, f"no {key!r} (give words, labels, unk, pad and lowercase)")
    words, labels = spec["words"], spec["labels"]
    for key, values in (("words", words), ("labels", labels)):
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            _fail(where, f"{key!r} must be a non-empty list of strings, in index order")
        seen = {}
        for i, value in enumerate(values):
            if value in seen:
                _fail(where, f"duplicate {key[:-1]} {value!r} at index {seen[value]} and {i}")
            seen[value] = i
    unk, pad, lowercase = spec["unk"], spec.get("pad"), spec.get("lowercase", False)
    if unk not in words:
        _fail(where, f"the unk token {unk!r} is not among the words")
    if pad is not None and pad not in words:
        _fail(where, f"the pad token {pad!r} is not among the words (give null if the model has none)")
    if not isinstance(lowercase, bool):
        _fail(where, f"lowercase must be true or false, got {lowercase!r}")
    if lowercase:
        cased = [w for w in words if w != w.lower() and w not in (unk, pad)]
        if cased:
            _fail(where, f"lowercase is true but {len(cased)} words have capitals, e.g. {cased[0]!r}")
    clash = [w for w in words if w in (PAD, UNK) and w not in (unk, pad)]
    if clash:
        _fail(where, f"the word {clash[0]!r} is this project's name for its {'pad' if clash[0] == PAD else 'unk'} "
                     "token but is an ordinary word here")
    return {"words": words, "labels": labels, "unk": unk, "pad": pad, "lowercase": lowercase}


def _recurrent(state, where):
    """(prefix, H, E, bidirectional, {(kind, reverse): name}) of the one LSTM in ``state``."""
    found = {}
    for name in state:
        match = RECURRENT.match(name)
        if match:
            found.setdefault(match["prefix"], {})[(match["kind"], int(match["layer"]), bool(match["reverse"]))] = name
    if not found:
        _fail(where, "no LSTM weights (tensors named ...weight_ih_l0 and ...weight_hh_l0)")
    if len(found) > 1:
        _fail(where, f"more than one recurrent layer ({', '.join(repr(p + '*') for p in found)}): a character "
                     "encoder or a stacked model is not supported, only Embedding -> LSTM -> Linear")
    prefix, tensors = next(iter(found.items()))
    deeper = sorted({layer for _, layer, _ in tensors if layer > 0})
    if deeper:
        _fail(where, f"an LSTM of {max(deeper) + 1} layers ({prefix}weight_ih_l{deeper[0]}); only num_layers=1 "
                     "is supported")
    if any(kind == "weight_hr" for kind, _, _ in tensors):
        _fail(where, f"an LSTM with a projection ({prefix}weight_hr_l0, proj_size > 0) is not supported")
    for reverse in {r for _, _, r in tensors}:
        for kind in ("weight_ih", "weight_hh"):
            if (kind, 0, reverse) not in tensors:
                _fail(where, f"{prefix}{kind}_l0{'_reverse' if reverse else ''} is missing")
        if ((("bias_ih", 0, reverse) in tensors) != (("bias_hh", 0, reverse) in tensors)):
            _fail(where, f"{prefix}: one of bias_ih_l0 and bias_hh_l0 is missing; PyTorch has both or neither")
    w_hh = state[tensors[("weight_hh", 0, False)]]
    if w_hh.ndim != 2 or w_hh.shape[0] % w_hh.shape[1]:
        _fail(where, f"{tensors[('weight_hh', 0, False)]} has shape {w_hh.shape}, not (gates x H, H)")
    H, gates = w_hh.shape[1], w_hh.shape[0] // w_hh.shape[1]
    if gates != len(GATES):
        kind = {3: "a GRU", 1: "a plain RNN"}.get(gates, f"a recurrent layer of {gates} gates")
        _fail(where, f"{prefix}weight_hh_l0 has shape {w_hh.shape}: {kind}, not an LSTM (4 gates)")
    E = state[tensors[("weight_ih", 0, False)]].shape[1]
    bidirectional = any(reverse for _, _, reverse in tensors)
    return prefix, H, E, bidirectional, {(kind, reverse): name for (kind, _, reverse), name in tensors.items()}


def _one(candidates, what, where, all_names):
    if not candidates:
        _fail(where, f"no {what} (the tensors are: {', '.join(f'{n} {tuple(s)}' for n, s in all_names)})")
    if len(candidates) > 1:
        _fail(where, f"ambiguous {what}: {', '.join(candidates)}")
    return candidates[0]


def import_tagger(state, spec, where="the model file", vocab_where="VOCAB.json"):
    """Imported (params, TaggerConfig, Vocab, LabelVocab, mapping) of a PyTorch tagger's tensors
    ``state`` ({name: ndarray}) and its vocabulary ``spec`` (VOCAB.json's dict; ``vocab_where``
    names its file). Raises InteropError naming what is missing, ambiguous, left over,
    mis-shaped, NaN or unsupported."""
    spec = read_vocab_spec(spec, vocab_where)
    words, labels = spec["words"], spec["labels"]
    crf = [n for n in state if any(hint in n.lower() for hint in CRF_HINTS)]
    if crf:
        _fail(where, f"a CRF layer ({', '.join(crf)}) is not supported: this project reads labels off the "
                     "linear layer's logits")
    prefix, H, E_lstm, bidirectional, lstm = _recurrent(state, where)
    Hout = H * (2 if bidirectional else 1)
    rest = [(n, state[n].shape) for n in state if n not in lstm.values()]
    embedding = _one([n for n, s in rest if len(s) == 2 and s[0] == len(words)],
                     f"embedding of {len(words):,} rows (one per word of the vocabulary)", where, rest)
    E = state[embedding].shape[1]
    if E != E_lstm:
        _fail(where, f"the LSTM reads {E_lstm} inputs per token but the embedding {embedding} gives {E}: extra "
                     "input features (casing, characters, ...) are not supported")
    linear = _one([n for n, s in rest if n != embedding and len(s) == 2 and s[1] == Hout and n.endswith("weight")],
                  f"linear layer of {Hout} inputs (a weight of shape (labels, {Hout}))", where, rest)
    K = state[linear].shape[0]
    if K != len(labels):
        _fail(where, f"VOCAB.json lists {len(labels)} labels but the linear layer {linear} has {K} outputs")
    bias_name = linear[:-len("weight")] + "bias"
    bias = bias_name if bias_name in state else None
    if bias is not None and state[bias].shape != (K,):
        _fail(where, f"{bias} has shape {state[bias].shape}, not ({K},)")
    left = [n for n, _ in rest if n not in (embedding, linear, bias)]
    if left:
        _fail(where, f"tensors this importer cannot place: {', '.join(left)} (a character encoder, extra "
                     "features or other layers are not supported, only Embedding -> LSTM -> Linear)")
    used = [embedding, linear, *([bias] if bias else []), *lstm.values()]
    dtypes = {state[n].dtype for n in used}
    dtype = np.float64 if dtypes == {np.dtype(np.float64)} else np.float32
    for name in used:
        if not np.issubdtype(state[name].dtype, np.floating):
            _fail(where, f"tensor {name} has dtype {state[name].dtype}, not floating point")
        if not np.isfinite(state[name]).all():
            _fail(where, f"tensor {name} holds NaN or infinite values")
    cast = lambda name: np.asarray(state[name], dtype=dtype)  # noqa: E731

    mapping, params = [], {}
    pad, unk = spec["pad"], spec["unk"]
    others = [w for w in words if w not in (pad, unk)]
    row_of = {w: i for i, w in enumerate(words)}      # the words are unique (read_vocab_spec)
    rows = [row_of[pad] if pad is not None else -1, row_of[unk]] + [row_of[w] for w in others]
    table = np.zeros((len(rows), E), dtype=dtype)
    table[[i for i, r in enumerate(rows) if r >= 0]] = cast(embedding)[[r for r in rows if r >= 0]]
    params["embed.word"] = table
    moved = ("rows kept in order" if rows == list(range(len(words))) else
             f"rows reordered so that the pad token ({pad!r}) is row 0 and the unk token ({unk!r}) row 1"
             if pad is not None else f"a zero pad row added as row 0, the unk token ({unk!r}) as row 1")
    mapping.append(("embed.word", embedding, moved))
    for reverse, ours in ((False, "lstm_f" if bidirectional else "lstm"), (True, "lstm_b")):
        if reverse and not bidirectional:
            continue
        ih, hh = lstm[("weight_ih", reverse)], lstm[("weight_hh", reverse)]
        if state[ih].shape != (4 * H, E) or state[hh].shape != (4 * H, H):
            _fail(where, f"{ih} {state[ih].shape} and {hh} {state[hh].shape} do not fit an LSTM of {H} neurons "
                         f"reading {E} inputs ((4H, E) and (4H, H))")
        params[f"{ours}.Wx"] = np.ascontiguousarray(cast(ih).T)
        params[f"{ours}.Wh"] = np.ascontiguousarray(cast(hh).T)
        mapping += [(f"{ours}.Wx", ih, "transposed"), (f"{ours}.Wh", hh, "transposed")]
        if ("bias_ih", reverse) in lstm:
            b_ih, b_hh = lstm[("bias_ih", reverse)], lstm[("bias_hh", reverse)]
            for name in (b_ih, b_hh):
                if state[name].shape != (4 * H,):
                    _fail(where, f"{name} has shape {state[name].shape}, not ({4 * H},)")
            params[f"{ours}.b"] = cast(b_ih) + cast(b_hh)
            mapping.append((f"{ours}.b", f"{b_ih} + {b_hh}", "summed (PyTorch adds both at every step)"))
        else:
            params[f"{ours}.b"] = np.zeros(4 * H, dtype=dtype)
            mapping.append((f"{ours}.b", "-", "zeros (the LSTM has bias=False)"))
    params["out.W"] = np.ascontiguousarray(cast(linear))
    params["out.b"] = cast(bias) if bias else np.zeros(K, dtype=dtype)
    mapping += [("out.W", linear, "as it is"), ("out.b", bias or "-", "as it is" if bias else "zeros (bias=False)")]
    config = TaggerConfig(vocab_size=len(rows), n_labels=K, word_dim=E, hidden=H, bidirectional=bidirectional,
                          dropout=0.0, dtype=np.dtype(dtype).name, decode="argmax")
    shapes = expected_shapes(config)
    assert {n: p.shape for n, p in params.items()} == shapes, "the mapping must fill exactly the tagger's parameters"
    vocab = Vocab([PAD, UNK] + others, [0] * len(rows), lowercase=spec["lowercase"])
    return Imported(params, config, vocab, LabelVocab(labels), mapping)


# ------------------------------------------------------------ and back


def export_tagger(params, config, vocab, labels):
    """({PyTorch name: ndarray}, VOCAB.json dict) of one of this project's taggers; InteropError for
    a model PyTorch's Embedding -> LSTM -> Linear cannot hold (casing, affixes, a character CNN).

    bias_hh_l0 is written as negative zeros: PyTorch adds it to bias_ih_l0, and x + (-0.0) is x
    for every x, -0.0 included, so importing the file back gives every bias bit for bit."""
    extras = [what for what, present in (("casing embeddings", config.case_dim > 0),
                                         ("affix embeddings", config.affix_dim > 0),
                                         ("a character CNN", config.char_filters > 0)) if present]
    if extras:
        raise InteropError(f"this model has {' and '.join(extras)}, which PyTorch's Embedding -> LSTM -> Linear "
                           "does not: train one with --char-filters 0 --affix-dim 0 (and no casing: the paper and "
                           "bilstm presets use it) to export it")
    state = {"embedding.weight": params["embed.word"]}
    directions = (("lstm_f", ""), ("lstm_b", "_reverse")) if config.bidirectional else (("lstm", ""),)
    for ours, suffix in directions:
        state[f"lstm.weight_ih_l0{suffix}"] = np.ascontiguousarray(params[f"{ours}.Wx"].T)
        state[f"lstm.weight_hh_l0{suffix}"] = np.ascontiguousarray(params[f"{ours}.Wh"].T)
        state[f"lstm.bias_ih_l0{suffix}"] = params[f"{ours}.b"].copy()
        state[f"lstm.bias_hh_l0{suffix}"] = np.full_like(params[f"{ours}.b"], -0.0)
    state["linear.weight"], state["linear.bias"] = params["out.W"], params["out.b"]
    spec = {"words": list(vocab.words), "labels": list(labels.labels), "unk": UNK, "pad": PAD,
            "lowercase": vocab.lowercase}
    return state, spec
