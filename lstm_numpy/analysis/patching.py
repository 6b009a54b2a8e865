"""Interventions inside the cell: activation patching over time on minimal pairs, and gate clamps.

Dimension legend: P pairs, T steps (padded), H neurons per direction, Hout = H or 2H (the
forward direction's first), K labels, R relative steps (offsets from the read position).

**Patching.**  A minimal pair (data.pairs) is a clean and a corrupted sentence of the same
length that disagree on the label of one token (the read position).  For each pair the
metric is the logit difference at that position, clean label minus corrupted label::

    m(run) = z[read, clean label] - z[read, corrupted label]

Patching neuron j's ``h`` (or ``c``) at step t of one direction means running the corrupted
sentence with that one value replaced by the clean run's (model.lstm.Patches).  The fraction
of the difference it restores is ``(m(patched) - m(corrupted)) / (m(clean) - m(corrupted))``:
1 when that one value carries the whole decision, 0 when it carries none.  Every (step,
neuron) of a direction is one copy of the batch of pairs in one pass of the inference kernel
(lstm_recur_many with patches), a direction at a time: a patch in one direction leaves the
other's states as the corrupted run has them.  Only pairs the model reads as intended (the
clean label on the clean sentence, the corrupted label on the corrupted one) are used.

**Gate clamps.**  Forcing a neuron's forget gate to 0 at every step removes its memory (c
restarts from i g at each token), its input gate to 0 stops it writing, its output gate to 0
silences it while its cell state still runs; each label's accuracy on the split is measured
after each clamp, one copy of the split per (neuron, gate) in the same kernel.
"""
from __future__ import annotations

import numpy as np

from ..data.batching import iterate_batches
from ..evaluation.scores import per_label_accuracy
from ..model.backend import get_backend
from ..model.lstm import SITES, Patches
from ..model.tagger import embed_tokens, project_lstm
from .activity import collect_activity
from .results import ClampResult, PatchingResult

PATCHED_SITES = ("h", "c")
CLAMPED_GATES = ("f", "i", "o")
OFFSETS = tuple(range(-6, 7))       # steps before and after the read position shown in the heatmap
STACK = 256                         # copies of a batch per pass


def _directions(params, config):
    """[(prefix, reverse)] of the tagger's LSTM directions, forward first."""
    return [("lstm_f", False), ("lstm_b", True)] if config.bidirectional else [("lstm", False)]


def _direction_outputs(params, config, split, patch_fn, n_copies, only=None):
    """For every batch of ``split``: (index, mask, [per direction: (U, n_real, H) outputs of the
    patched copies, or None for a direction other than ``only``]) where patch_fn(direction, batch
    rows, lengths, T, copies) gives the Patches of a chunk of copies (or None), the copies run
    STACK at a time.  A backend without an inference kernel (cuda) runs NumPy's reference."""
    backend = get_backend(config.backend)
    if backend.lstm_project is None:
        backend = get_backend("numpy")
    H = config.hidden
    for index, batch in iterate_batches(split, 256):
        x, _ = embed_tokens(params, config, batch, backend)
        projected = project_lstm(params, config, x, batch.mask, backend)
        lengths = batch.mask.sum(axis=1)
        outputs = []
        for d, (prefix, reverse) in enumerate(_directions(params, config)):
            if only is not None and d != only:
                outputs.append(None)
                continue
            chunks = []
            for start in range(0, n_copies, STACK):
                copies = np.arange(start, min(start + STACK, n_copies))
                patches = patch_fn(d, index, lengths, batch.mask.shape[1], copies)
                keeps = np.ones((len(copies), H), dtype=projected[d].dtype)
                chunks.append(backend.lstm_recur_many(projected[d], batch.mask, params[f"{prefix}.Wh"],
                                                      params[f"{prefix}.b"], keeps, reverse=reverse, patches=patches))
            outputs.append(np.concatenate(chunks))
        yield index, batch.mask, outputs


def _positions(lengths, reverse, tau, n):
    """The sentence position (n,) of loop step tau in each row (NaN-free: -1 where tau >= length)."""
    pos = lengths - 1 - tau if reverse else np.full(n, tau)
    return np.where(tau < lengths, pos, -1)


def patching_sweep(params, config, clean, corrupted, positions, clean_ids, corrupted_ids, source=""):
    """PatchingResult of a set of minimal pairs.

    clean, corrupted: EncodedSplits of the P clean and corrupted sentences (row p of each a
    pair, the same lengths); positions (P,) the read positions; clean_ids, corrupted_ids (P,)
    the label ids each sentence should give there, -1 where the model's own reading decides
    (a pair file's pairs: such a pair is used when the model reads its two sentences apart);
    source: where the pairs came from, recorded."""
    W, b_out = params["out.W"].astype(np.float64), params["out.b"].astype(np.float64)
    H, Hout = config.hidden, config.output_size
    positions = np.asarray(positions, dtype=np.int64)
    P = len(positions)
    act_clean, act_corrupt = collect_activity(params, config, clean), collect_activity(params, config, corrupted)
    lengths = np.array([len(w) for w in clean.words], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    read = starts + positions                                  # flat token of each pair's read position
    z_clean = act_clean.hidden[read].astype(np.float64) @ W.T + b_out
    z_corrupt = act_corrupt.hidden[read].astype(np.float64) @ W.T + b_out
    clean_ids = np.where(np.asarray(clean_ids) < 0, z_clean.argmax(1), clean_ids).astype(np.int64)
    corrupted_ids = np.where(np.asarray(corrupted_ids) < 0, z_corrupt.argmax(1), corrupted_ids).astype(np.int64)
    rows = np.arange(P)
    metric = lambda z: z[rows, clean_ids] - z[rows, corrupted_ids]   # noqa: E731
    m_clean, m_corrupt = metric(z_clean), metric(z_corrupt)
    used = (z_clean.argmax(1) == clean_ids) & (z_corrupt.argmax(1) == corrupted_ids) & (m_clean - m_corrupt > 0)
    T = int(lengths.max())
    directions = _directions(params, config)
    effect = np.full((len(PATCHED_SITES), len(OFFSETS), Hout), np.nan)    # mean restored fraction
    per_pair = np.full((P, len(PATCHED_SITES), T, Hout), np.nan)          # [pair, site, sentence position, neuron]
    sources = {"h": act_clean.hidden, "c": act_clean.cell}
    for s, site in enumerate(PATCHED_SITES):
        def patch_fn(d, index, row_lengths, T_batch, copies, site=site):
            taus, neurons = copies // H, copies % H
            value = np.full((len(copies), len(index)), np.nan)
            reverse = directions[d][1]
            for c, (tau, j) in enumerate(zip(taus, neurons)):
                pos = _positions(row_lengths, reverse, tau, len(index))
                ok = (pos >= 0) & (tau < T_batch)
                value[c, ok] = sources[site][starts[index[ok]] + pos[ok], d * H + j]
            keep = taus < T_batch
            return Patches(np.flatnonzero(keep), taus[keep], neurons[keep], np.full(keep.sum(), SITES.index(site)),
                           value[keep])
        for index, mask, outputs in _direction_outputs(params, config, corrupted, patch_fn, T * H):
            row_lengths = mask.sum(axis=1)
            token_of = np.concatenate([[0], np.cumsum(row_lengths)[:-1]])     # each row's first real token in outputs
            flat_read = token_of + positions[index]
            for d, out in enumerate(outputs):                                  # out (T*H, n_real, H)
                other = act_corrupt.hidden[read[index]].astype(np.float64).copy()    # (N, Hout), the other direction
                h_patched = out[:, flat_read].astype(np.float64)               # (T*H copies, N, H)
                full = np.broadcast_to(other, (len(out),) + other.shape).copy()
                full[:, :, d * H:(d + 1) * H] = h_patched
                z = full @ W.T + b_out                                         # (copies, N, K)
                m = z[:, np.arange(len(index)), clean_ids[index]] - z[:, np.arange(len(index)), corrupted_ids[index]]
                gap = m_clean[index] - m_corrupt[index]                         # 0 where the pair changes nothing
                restored = np.divide(m - m_corrupt[index], gap, out=np.full(m.shape, np.nan), where=gap != 0)
                reverse = directions[d][1]
                for copy in range(len(out)):
                    tau, j = divmod(copy, H)
                    pos = _positions(row_lengths, reverse, tau, len(index))
                    ok = pos >= 0
                    per_pair[index[ok], s, pos[ok], d * H + j] = restored[copy, ok]
    offsets = np.array(OFFSETS)
    for s in range(len(PATCHED_SITES)):
        for r, offset in enumerate(offsets):
            at = positions + offset
            inside = used & (at >= 0) & (at < lengths)
            if inside.any():
                effect[s, r] = np.nanmean(per_pair[np.flatnonzero(inside), s, at[inside]], axis=0)
    total = np.nansum(per_pair[:, PATCHED_SITES.index("h")], axis=1)     # (P, Hout) summed over steps
    K = W.shape[0]
    ranking = np.full((K, Hout), np.nan)
    for label in range(K):
        chosen = used & (clean_ids == label)
        if chosen.any():
            ranking[label] = total[chosen].mean(axis=0)
    return PatchingResult(sites=PATCHED_SITES, offsets=tuple(int(o) for o in offsets), effect=effect,
                          ranking=ranking, n_pairs=int(P), n_used=int(used.sum()), source=source,
                          clean_labels=clean_ids, corrupted_labels=corrupted_ids, positions=positions, used=used,
                          restored_total=total, per_pair=per_pair)


def gate_clamps(params, config, split, states, neurons):
    """ClampResult: each label's accuracy drop on ``split`` when each of ``neurons`` (ids in
    [0, Hout)) has its forget, input or output gate forced to 0 at every step."""
    H = config.hidden
    neurons = np.asarray(neurons, dtype=np.int64)
    jobs = [(int(j), gate) for j in neurons for gate in CLAMPED_GATES]
    lengths = np.array([len(w) for w in split.words], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    W, b_out = params["out.W"], params["out.b"]
    K = W.shape[0]
    preds = np.tile(states.pred, (len(jobs), 1))
    for d, (prefix, reverse) in enumerate(_directions(params, config)):
        mine = [c for c, (j, _) in enumerate(jobs) if j // H == d]
        if not mine:
            continue

        def patch_fn(direction, index, row_lengths, T_batch, copies, mine=mine):
            entries = [(c, tau, jobs[mine[c]][0] - d * H, SITES.index(jobs[mine[c]][1]))
                       for c in copies for tau in range(T_batch)]
            copy, step, neuron, site = (np.array(v, dtype=np.int64) for v in zip(*entries))
            return Patches(copy - copies[0], step, neuron, site, np.zeros((len(entries), len(index))))
        for index, mask, outputs in _direction_outputs(params, config, split, patch_fn, len(mine), only=d):
            out = outputs[d]                                               # (copies, n_real, H)
            row_lengths = mask.sum(axis=1)
            flat = np.concatenate([np.arange(starts[i], starts[i] + L) for i, L in zip(index, row_lengths)])
            hidden = np.broadcast_to(states.hidden[flat], (len(mine),) + states.hidden[flat].shape).copy()
            hidden[:, :, d * H:(d + 1) * H] = out
            z = hidden @ W.T + b_out
            preds[np.array(mine)[:, None], flat[None, :]] = z.argmax(-1)
    base = per_label_accuracy(states.gold, states.pred, K)
    drop = np.full((len(neurons), len(CLAMPED_GATES), K), np.nan)
    for c, (j, gate) in enumerate(jobs):
        drop[c // len(CLAMPED_GATES), CLAMPED_GATES.index(gate)] = base - per_label_accuracy(states.gold, preds[c], K)
    return ClampResult(gates=CLAMPED_GATES, neurons=neurons, drop=drop, top=np.zeros((0, 0), np.int64))
