"""The whole tagger: embedding -> (Bi)LSTM -> linear -> masked cross-entropy.

Dimension legend: N batch, T padded length, V vocabulary, C casing classes,
A affix kinds, P affix vocabulary, L characters per token, F character filters,
E = word_dim + case_dim + A * affix_dim + F (LSTM input), H hidden per direction,
Hout = H or 2H (bidirectional), K labels.

Parameters live in a flat dict of arrays with dotted names, which is also how
checkpoints store them and how gradients are keyed::

    embed.word (V, word_dim)      embed.case (C, case_dim)   [if case_dim > 0]
    embed.affix (P, affix_dim)                               [if affix_dim > 0]
    char.table (chars, char_dim) char.W (width*char_dim, F) char.b (F,)  [if char_filters > 0]
    lstm.Wx (E, 4H) lstm.Wh (H, 4H) lstm.b (4H,)             [unidirectional]
    lstm_f.* and lstm_b.* with the same shapes                [bidirectional]
    out.W (K, Hout)  out.b (K,)

The logit of label i at a token is ``z_i = sum_j W[i, j] h_j + b_i``: the
quantity whose per-neuron terms the analysis dissects.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np

from .backend import BACKENDS, get_backend
from ..data.batching import Batch
from ..evaluation.decoding import DECODERS
from . import layers
from .bilstm import bilstm_backward, bilstm_forward, bilstm_project, bilstm_recur_many
from .chars import char_cnn_backward, char_cnn_forward, init_char_cnn
from .lstm import init_lstm_params


@dataclass
class TaggerConfig:
    vocab_size: int
    n_labels: int
    word_dim: int = 100
    case_vocab_size: int = 0
    case_dim: int = 0
    n_affixes: int = 0               # A: affix kinds per token (data.vocab.AFFIXES)
    affix_vocab_size: int = 0
    affix_dim: int = 0               # each kind's embedding; A * affix_dim enter the LSTM
    char_vocab_size: int = 0
    char_dim: int = 0
    char_filters: int = 0            # F: the character CNN's output per token (model.chars)
    char_width: int = 3
    hidden: int = 50
    bidirectional: bool = False
    dropout: float = 0.5
    variational: bool = False        # one dropout mask per sentence, shared by its tokens
    backend: str = "numba"
    dtype: str = "float32"
    decode: str = "argmax"           # how entity scores read labels off the logits (evaluation.decoding)

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.decode not in DECODERS:
            raise ValueError(f"unknown decode {self.decode!r}; choose one of {', '.join(DECODERS)}")
        if self.case_dim > 0 and self.case_vocab_size <= 0:
            raise ValueError("case_dim > 0 needs case_vocab_size > 0")
        if self.affix_dim > 0 and (self.affix_vocab_size <= 0 or self.n_affixes <= 0):
            raise ValueError("affix_dim > 0 needs affix_vocab_size > 0 and n_affixes > 0")
        if self.char_filters > 0 and (self.char_vocab_size <= 0 or self.char_dim <= 0):
            raise ValueError("char_filters > 0 needs char_vocab_size > 0 and char_dim > 0")

    @property
    def input_size(self):
        """E: what enters the LSTM at each token."""
        affixes = self.n_affixes * self.affix_dim if self.affix_dim > 0 else 0
        return self.word_dim + self.case_dim + affixes + max(self.char_filters, 0)

    @property
    def output_size(self):
        return self.hidden * (2 if self.bidirectional else 1)

    def to_dict(self):
        return asdict(self)


class TaggerCache(NamedTuple):
    batch: Batch
    backend: Any             # the model.backend.Backend of config.backend
    chars: Any               # the character CNN's cache, or None
    drop_in: Any
    lstm: Any
    hidden: np.ndarray       # (N, T, Hout) LSTM outputs before dropout
    drop_out: Any
    h_out: np.ndarray        # (N, T, Hout) what entered the linear layer


def lstm_prefixes(config):
    return ("lstm_f", "lstm_b") if config.bidirectional else ("lstm",)


def init_tagger(config, rng):
    """Fresh parameters: N(0, 0.1) embeddings, LSTM as in init_lstm_params
    (forget-gate bias 1), Uniform(+-1/sqrt(Hout)) output weights, zero output bias."""
    dtype = np.dtype(config.dtype)
    params = {"embed.word": rng.normal(0, 0.1, (config.vocab_size, config.word_dim)).astype(dtype)}
    if config.case_dim > 0:
        params["embed.case"] = rng.normal(0, 0.1, (config.case_vocab_size, config.case_dim)).astype(dtype)
    if config.affix_dim > 0:
        params["embed.affix"] = rng.normal(0, 0.1, (config.affix_vocab_size, config.affix_dim)).astype(dtype)
    if config.char_filters > 0:
        cnn = init_char_cnn(config.char_vocab_size, config.char_dim, config.char_filters, config.char_width, rng, dtype)
        params.update({f"char.{name}": value for name, value in cnn.items()})
    E = config.input_size
    for prefix in lstm_prefixes(config):
        for name, value in init_lstm_params(E, config.hidden, rng, dtype).items():
            params[f"{prefix}.{name}"] = value
    scale = 1.0 / np.sqrt(config.output_size)
    params["out.W"] = rng.uniform(-scale, scale, (config.n_labels, config.output_size)).astype(dtype)
    params["out.b"] = np.zeros(config.n_labels, dtype=dtype)
    return params


def _lstm_params(params, prefix):
    return {k: params[f"{prefix}.{k}"] for k in ("Wx", "Wh", "b")}


def embed_tokens(params, config, batch, backend):
    """What enters the LSTM, before dropout: x (N, T, E) = [word | case | affixes | character CNN]
    of every token, and the character CNN's cache (None without one)."""
    parts = [params["embed.word"][batch.word_ids]]                    # (N, T, word_dim)
    if config.case_dim > 0:
        parts.append(params["embed.case"][batch.case_ids])
    if config.affix_dim > 0:
        N, T, A = batch.affix_ids.shape                                # one vector per kind, side by side
        parts.append(params["embed.affix"][batch.affix_ids].reshape(N, T, A * config.affix_dim))
    chars_cache = None
    if config.char_filters > 0:
        from_chars, chars_cache = char_cnn_forward(batch.char_ids, params["char.table"], params["char.W"],
                                                   params["char.b"], backend.window_max)
        parts.append(from_chars)
    return (np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]), chars_cache   # one copy


def run_lstm(params, config, x, mask, backend, keep_mask=None):
    """The (Bi)LSTM of the tagger over x (N, T, E) from zero states, on ``backend``'s kernels.

    keep_mask (Hout,) or None: 1 keeps a neuron, 0 clamps it to zero inside the
    recurrence. Returns (hidden (N, T, Hout), the LSTM's cache).
    """
    if config.bidirectional:
        return bilstm_forward(x, mask, _lstm_params(params, "lstm_f"), _lstm_params(params, "lstm_b"), backend,
                              keep_mask)
    N, H = x.shape[0], config.hidden
    zeros = np.zeros((N, H), dtype=x.dtype)
    p = _lstm_params(params, "lstm")
    hidden, _, lstm_cache = backend.lstm_forward(x, mask, zeros, zeros, p["Wx"], p["Wh"], p["b"], keep_mask)
    return hidden, lstm_cache


def project_lstm(params, config, x, mask, backend):
    """The input products of run_lstm over x (N, T, E): a tuple of (N, T, ...) arrays
    (and, for a BiLSTM, the time reversal), for :func:`recur_lstm_many`."""
    if config.bidirectional:
        return bilstm_project(x, mask, _lstm_params(params, "lstm_f"), _lstm_params(params, "lstm_b"), backend)
    return (backend.lstm_project(x, params["lstm.Wx"]),)


def recur_lstm_many(params, config, projected, mask, backend, keeps):
    """run_lstm's hidden at the n real tokens (``hidden[mask]``) once per neuron mask, (M, n, Hout), from :func:`project_lstm`'s
    arrays (read, not overwritten); keeps (M, Hout): 1 keeps a neuron, 0 clamps it to zero
    inside the recurrence (the recurrent ablation of M neuron sets on one batch)."""
    if config.bidirectional:
        return bilstm_recur_many(projected, mask, _lstm_params(params, "lstm_f"), _lstm_params(params, "lstm_b"),
                                 backend, keeps)
    return backend.lstm_recur_many(projected[0], mask, params["lstm.Wh"], params["lstm.b"], keeps)


def tagger_forward(params, config, batch, rng=None, train=False, keep_mask=None, output_keep_mask=None):
    """Logits of a batch, with the kernels of ``config.backend`` (lstm_numpy.model.backend).

    rng: np.random.Generator, needed when train and dropout > 0.
    keep_mask (Hout,) or None: 1 keeps a neuron, 0 clamps it to zero inside the
    LSTM at every step (recurrent ablation).
    output_keep_mask (Hout,) or None: 1 keeps a neuron, 0 zeroes it only where it
    enters the linear layer (output ablation).
    Returns (z (N, T, K), cache).
    """
    backend = get_backend(config.backend)
    if train and config.dropout > 0 and rng is None:
        raise ValueError("training with dropout needs an rng")
    x, chars_cache = embed_tokens(params, config, batch, backend)
    shared = 1 if config.variational else None                          # the time axis
    x, drop_in = layers.dropout_forward(x, config.dropout, rng, train, shared)
    hidden, lstm_cache = run_lstm(params, config, x, batch.mask, backend, keep_mask)
    h_out, drop_out = layers.dropout_forward(hidden, config.dropout, rng, train, shared)
    if output_keep_mask is not None:
        h_out = h_out * output_keep_mask
    z, _ = layers.linear_forward(h_out, params["out.W"], params["out.b"])
    return z, TaggerCache(batch, backend, chars_cache, drop_in, lstm_cache, hidden, drop_out, h_out)


def tagger_backward(dz, params, config, cache, sparse_embeddings=False):
    """dz (N, T, K) -> grads keyed like params.

    With sparse_embeddings the embedding gradients are layers.SparseRows (only
    the rows used in the batch), for the lazy optimizer update.
    """
    grads = {}
    lin = layers.linear_backward(dz, cache.h_out, params["out.W"])
    grads["out.W"], grads["out.b"] = lin["dW"], lin["db"]
    dhidden = layers.dropout_backward(lin["dh"], cache.drop_out)
    if config.bidirectional:
        dx, grads_f, grads_b = bilstm_backward(dhidden, cache.lstm)
        per_prefix = {"lstm_f": grads_f, "lstm_b": grads_b}
    else:
        lstm_grads = cache.backend.lstm_backward(dhidden, None, None, cache.lstm)
        dx, per_prefix = lstm_grads["dx"], {"lstm": lstm_grads}
    for prefix, g in per_prefix.items():
        for k in ("Wx", "Wh", "b"):
            grads[f"{prefix}.{k}"] = g["d" + k]
    dx = layers.dropout_backward(dx, cache.drop_in)
    batch = cache.batch
    grads["embed.word"] = cache.backend.embedding_backward(
        dx[..., :config.word_dim], batch.word_ids, config.vocab_size, sparse_embeddings)
    if config.case_dim > 0:
        grads["embed.case"] = cache.backend.embedding_backward(
            dx[..., config.word_dim:config.word_dim + config.case_dim], batch.case_ids,
            config.case_vocab_size, sparse_embeddings)
    if config.affix_dim > 0:
        N, T, A = batch.affix_ids.shape
        start = config.word_dim + config.case_dim
        dx_affix = dx[..., start:start + A * config.affix_dim].reshape(N, T, A, config.affix_dim)
        grads["embed.affix"] = cache.backend.embedding_backward(
            dx_affix, batch.affix_ids, config.affix_vocab_size, sparse_embeddings)
    if config.char_filters > 0:
        cnn = char_cnn_backward(dx[..., config.input_size - config.char_filters:], params["char.table"],
                                params["char.W"], cache.chars)
        grads["char.table"], grads["char.W"], grads["char.b"] = cnn["dtable"], cnn["dW"], cnn["db"]
    return grads


def tagger_loss_and_grads(params, config, batch, rng=None, train=True, sparse_embeddings=False):
    """Forward, masked cross-entropy and backward in one call.

    Returns (loss: float, grads keyed like params, z (N, T, K)).
    """
    z, cache = tagger_forward(params, config, batch, rng, train)
    loss, dz = layers.masked_cross_entropy(z, batch.labels, batch.mask)
    grads = tagger_backward(dz, params, config, cache, sparse_embeddings)
    return loss, grads, z


def tagger_loss(params, config, batch, rng=None, train=False):
    """The loss alone (evaluation; and the function gradient checks perturb)."""
    z, _ = tagger_forward(params, config, batch, rng, train)
    return layers.masked_cross_entropy(z, batch.labels, batch.mask)[0]


def predict(params, config, batch):
    """Label ids (N, T) of the highest logit (garbage at padding; mask it)."""
    z, _ = tagger_forward(params, config, batch)
    return z.argmax(axis=-1)
