"""Every token's LSTM internals on a split: cell state and gates next to the hidden state.

Dimension legend: n real tokens of the split (padding removed), S sentences,
Hout neurons entering the linear layer (H, or 2H for a BiLSTM: the forward
direction's H first, then the backward one's, as ``tagger_forward``
concatenates them), N batch, T time.

Flat over real tokens in the split's order, exactly like
:func:`lstm_numpy.analysis.states.collect_states`, so row t of every array
here is row t of ``States.hidden``.  The LSTM caches keep the gates in the
order of :data:`lstm_numpy.model.lstm.GATES` (i, f, g, o) along their last
axis; a BiLSTM's backward cache runs in reversed time and is gathered back to
the sentence's own order with the cache's ``rev``.  The evaluation pass has
dropout off and no neuron ablated, so ``hidden == output_gate * tanh(cell)``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..data.batching import iterate_batches
from ..model.lstm import GATES
from ..model.tagger import tagger_forward

SHOWN_GATES = ("i", "f", "o")     # the candidate g is not a gate in [0, 1]; the explorer shows these three


class Activity(NamedTuple):
    hidden: np.ndarray        # (n, Hout) h_t, what enters the linear layer
    cell: np.ndarray          # (n, Hout) c_t
    input_gate: np.ndarray    # (n, Hout) i_t in (0, 1)
    forget_gate: np.ndarray   # (n, Hout) f_t in (0, 1)
    output_gate: np.ndarray   # (n, Hout) o_t in (0, 1)


def _directions(lstm_cache, bidirectional):
    """[(gates (N, T, 4H), c (N, T, H), h (N, T, H))] per direction, each in the sentence's time order."""
    if not bidirectional:
        return [(lstm_cache.gates, lstm_cache.c, lstm_cache.h)]
    rev = lstm_cache.rev                                                   # (N, T)
    gather = lambda a: np.take_along_axis(a, rev[:, :, None], axis=1)      # noqa: E731  reversed -> sentence order
    back = lstm_cache.backward
    return [(lstm_cache.forward.gates, lstm_cache.forward.c, lstm_cache.forward.h),
            (gather(back.gates), gather(back.c), gather(back.h))]


def collect_activity(params, config, split, batch_size=256):
    """Run the tagger (eval mode, nothing ablated) over ``split``; every token's h, c, i, f, o.

    params: dict from ``init_tagger``; config: TaggerConfig; split: EncodedSplit
    (with the features ``config`` uses: data.batching.features_for).
    Returns Activity of (n, Hout) arrays in the model's dtype.
    """
    lengths = np.array([len(w) for w in split.words], dtype=np.int64)     # (S,)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n, Hout, H = int(lengths.sum()), config.output_size, config.hidden
    dtype = np.dtype(config.dtype)
    out = {name: np.zeros((n, Hout), dtype=dtype) for name in Activity._fields}
    gate_column = {gate: GATES.index(gate) for gate in SHOWN_GATES}
    for index, batch in iterate_batches(split, batch_size):
        _, cache = tagger_forward(params, config, batch)
        row_lengths = lengths[index]
        offsets = np.repeat(starts[index] - np.concatenate([[0], np.cumsum(row_lengths)[:-1]]), row_lengths)
        where = offsets + np.arange(int(row_lengths.sum()))               # flat slot of each real token
        for d, (gates, c, h) in enumerate(_directions(cache.lstm, config.bidirectional)):
            columns = slice(d * H, (d + 1) * H)
            out["hidden"][where, columns] = h[batch.mask]
            out["cell"][where, columns] = c[batch.mask]
            for gate, name in zip(SHOWN_GATES, ("input_gate", "forget_gate", "output_gate")):
                k = gate_column[gate]
                out[name][where, columns] = gates[..., k * H:(k + 1) * H][batch.mask]
    return Activity(**out)


def direction_of(neuron, config):
    """"forward" or "backward" for a BiLSTM neuron id in [0, Hout), None for a one-way LSTM."""
    if not 0 <= neuron < config.output_size:
        raise ValueError(f"neuron must lie in [0, {config.output_size}), got {neuron}")
    if not config.bidirectional:
        return None
    return "forward" if neuron < config.hidden else "backward"
