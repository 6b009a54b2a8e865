"""Interventions in the LSTM's time loop (model.lstm.Patches): the NumPy reference and the Numba
inference kernel set h, c or a gate at chosen (copy, step, neuron, row) positions, with the same
results; writing the value already there changes nothing; patching every neuron at every step
from run A into run B gives A's outputs; a patch changes no state before its step (and, read
backwards, none after its token)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.model.lstm import SITES, Patches, lstm_recur, lstm_recur_many
from lstm_numpy.model.lstm_infer_numba import lstm_recur_many_numba


@st.composite
def problems(draw):
    N, T, H, U = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    lengths = np.sort(rng.integers(1, T + 1, N))[::-1] if draw(st.booleans()) else rng.integers(1, T + 1, N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    xw, Wh, b = rng.normal(size=(N, T, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    keeps = (rng.random((U, H)) > 0.2).astype(np.float64)
    cells = [(u, t, j) for u in range(U) for t in range(T) for j in range(H)]
    chosen = rng.choice(len(cells), size=draw(st.integers(0, min(8, len(cells)))), replace=False)
    value = rng.normal(size=(len(chosen), N))
    value[rng.random(value.shape) < 0.3] = np.nan
    patches = Patches(np.array([cells[c][0] for c in chosen], dtype=np.int64),
                      np.array([cells[c][1] for c in chosen], dtype=np.int64),
                      np.array([cells[c][2] for c in chosen], dtype=np.int64),
                      rng.integers(0, len(SITES), len(chosen)), value)
    return xw, mask, Wh, b, keeps, patches, bool(draw(st.booleans()))


@settings(deadline=None, max_examples=60)
@given(problems())
def test_the_numba_kernel_equals_the_reference(problem):
    xw, mask, Wh, b, keeps, patches, reverse = problem
    ours = lstm_recur_many_numba(xw, mask, Wh, b, keeps, reverse=reverse, patches=patches)
    reference = lstm_recur_many(xw, mask, Wh, b, keeps, reverse=reverse, patches=patches)
    np.testing.assert_allclose(ours, reference, atol=1e-10, rtol=1e-10)


def _one_copy(rng, N=3, T=6, H=4):
    mask = np.arange(T)[None, :] < np.array([6, 4, 2])[:, None]
    return rng.normal(size=(N, T, 4 * H)), mask, rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)


def test_writing_the_value_already_there_changes_nothing():
    rng = np.random.default_rng(0)
    xw, mask, Wh, b = _one_copy(rng)
    N, T, H = xw.shape[0], xw.shape[1], Wh.shape[0]
    zeros = np.zeros((N, H))
    out, _, (gates, hs, cs, _, _) = lstm_recur(xw + 0.0, mask, zeros, zeros, Wh, b)
    sources = {"h": hs, "c": cs, **{g: gates[:, :, k * H:(k + 1) * H] for k, g in enumerate("ifgo")}}
    for site, values in sources.items():
        patches = Patches(np.zeros(T * H, np.int64), np.repeat(np.arange(T), H), np.tile(np.arange(H), T),
                          np.full(T * H, SITES.index(site)), values.transpose(1, 2, 0).reshape(T * H, N))
        again = lstm_recur(xw, mask, zeros, zeros, Wh, b, patches=patches)[0]
        np.testing.assert_array_equal(again, out, err_msg=site)
    # the kernel too: its own h written back at every step and neuron
    keeps = np.ones((1, H))
    plain = lstm_recur_many_numba(xw, mask, Wh, b, keeps)                 # (1, n, H) at the real steps
    full = np.full((N, T, H), np.nan)
    full[mask] = plain[0]
    patches = Patches(np.zeros(T * H, np.int64), np.repeat(np.arange(T), H), np.tile(np.arange(H), T),
                      np.zeros(T * H, np.int64), full.transpose(1, 2, 0).reshape(T * H, N))
    np.testing.assert_array_equal(lstm_recur_many_numba(xw, mask, Wh, b, keeps, patches=patches), plain)


@pytest.mark.parametrize("kernel", [lstm_recur_many, lstm_recur_many_numba])
def test_patching_every_neuron_at_every_step_from_run_a_gives_run_a(kernel):
    rng = np.random.default_rng(1)
    xw_a, mask, Wh, b = _one_copy(rng)
    xw_b = rng.normal(size=xw_a.shape)                                      # another sentence, the same lengths
    N, T, H = xw_a.shape[0], xw_a.shape[1], Wh.shape[0]
    keeps = np.ones((1, H))
    run_a = kernel(xw_a, mask, Wh, b, keeps)
    full = np.full((N, T, H), np.nan)
    full[mask] = run_a[0]
    patches = Patches(np.zeros(T * H, np.int64), np.repeat(np.arange(T), H), np.tile(np.arange(H), T),
                      np.full(T * H, SITES.index("h")), full.transpose(1, 2, 0).reshape(T * H, N))
    np.testing.assert_array_equal(kernel(xw_b, mask, Wh, b, keeps, patches=patches), run_a)
    assert not np.array_equal(kernel(xw_b, mask, Wh, b, keeps), run_a)


@pytest.mark.parametrize("kernel", [lstm_recur_many, lstm_recur_many_numba])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_patch_changes_nothing_before_its_step(kernel, reverse):
    """Forward: the outputs of steps before t are untouched; read backwards (a BiLSTM's backward
    direction, whose step t is token L-1-t), the tokens after L-1-t are."""
    rng = np.random.default_rng(2)
    xw, mask, Wh, b = _one_copy(rng)
    N, H = xw.shape[0], Wh.shape[0]
    lengths = mask.sum(axis=1)
    keeps = np.ones((len(SITES), H))
    base = kernel(xw, mask, Wh, b, keeps[:1], reverse=reverse)[0]
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    for t in range(1, 4):
        patches = Patches(np.arange(len(SITES)), np.full(len(SITES), t), np.full(len(SITES), 1),
                          np.arange(len(SITES)), np.full((len(SITES), N), 3.0))
        patched = kernel(xw, mask, Wh, b, keeps, reverse=reverse, patches=patches)
        for site in range(len(SITES)):
            for n in range(N):
                L = lengths[n]
                if t >= L:
                    continue
                tokens = first[n] + np.arange(L)
                position = L - 1 - t if reverse else t
                untouched = tokens[position + 1:] if reverse else tokens[:position]
                np.testing.assert_array_equal(patched[site][untouched], base[untouched], err_msg=SITES[site])
                assert not np.array_equal(patched[site][tokens[position]], base[tokens[position]]), SITES[site]


def test_patches_are_checked():
    rng = np.random.default_rng(3)
    xw, mask, Wh, b = _one_copy(rng)
    bad = Patches(np.array([0, 0]), np.array([1, 1]), np.array([2, 2]), np.array([0, 1]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one patch per"):
        lstm_recur_many(xw, mask, Wh, b, np.ones((1, 4)), patches=bad)
    with pytest.raises(ValueError, match="step must lie"):
        lstm_recur_many_numba(xw, mask, Wh, b, np.ones((1, 4)),
                              patches=Patches(np.array([0]), np.array([9]), np.array([0]), np.array([0]),
                                              np.zeros((1, 3))))


# ------------------------------------------------------------ patching and clamps on a tagger


def _tagger(bidirectional, seed=0):
    from lstm_numpy.data.batching import EncodedSplit
    from lstm_numpy.model.tagger import TaggerConfig, init_tagger
    rng = np.random.default_rng(seed)
    config = TaggerConfig(vocab_size=20, n_labels=4, word_dim=5, hidden=3, bidirectional=bidirectional, dropout=0.0,
                          backend="numpy", dtype="float64")
    params = init_tagger(config, rng)
    params["out.W"] *= 8

    def split(sentences):
        zeros = [np.zeros(len(s), dtype=np.int64) for s in sentences]
        return EncodedSplit([np.array(s) for s in sentences], zeros, zeros, [["w"] * len(s) for s in sentences])
    return params, config, split


def _logits_with_one_patch(params, config, sentence, direction, site, position, neuron, value):
    """The tagger's logits over one sentence with one value patched, from the plain reference loop."""
    from lstm_numpy.model.bilstm import reverse_index
    x = params["embed.word"][np.array(sentence)][None]                      # (1, T, E)
    mask = np.ones((1, len(sentence)), dtype=bool)
    outs = []
    for d, prefix in enumerate(("lstm_f", "lstm_b") if config.bidirectional else ("lstm",)):
        xd = x[:, reverse_index(mask)[0]] if d == 1 else x
        patches = None
        if d == direction:
            step = len(sentence) - 1 - position if d == 1 else position
            patches = Patches(np.array([0]), np.array([step]), np.array([neuron]), np.array([SITES.index(site)]),
                              np.array([[value]]))
        H = config.hidden
        zeros = np.zeros((1, H))
        out = lstm_recur(xd @ params[f"{prefix}.Wx"], mask, zeros, zeros, params[f"{prefix}.Wh"], params[f"{prefix}.b"],
                         patches=patches)[0][0]
        outs.append(out[::-1] if d == 1 else out)
    return np.concatenate(outs, axis=-1) @ params["out.W"].T + params["out.b"]


@pytest.mark.parametrize("bidirectional", [False, True])
def test_the_patching_sweep_restores_what_a_patched_reference_run_restores(bidirectional):
    from lstm_numpy.analysis.activity import collect_activity
    from lstm_numpy.analysis.patching import patching_sweep
    params, config, split = _tagger(bidirectional)
    rng = np.random.default_rng(5)
    clean_sentences = [rng.integers(2, 20, L).tolist() for L in (5, 3, 6, 4)]
    corrupted_sentences = [s[:1] + [(s[1] + 7) % 18 + 2] + s[2:] for s in clean_sentences]
    positions = np.array([2, 2, 3, 1])                                  # at or after the changed token
    clean, corrupted = split(clean_sentences), split(corrupted_sentences)
    activity = collect_activity(params, config, clean)
    z_clean = [_logits_with_one_patch(params, config, s, -1, "h", 0, 0, 0.0) for s in clean_sentences]
    z_corrupt = [_logits_with_one_patch(params, config, s, -1, "h", 0, 0, 0.0) for s in corrupted_sentences]
    clean_ids = np.array([z[p].argmax() for z, p in zip(z_clean, positions)])
    corrupted_ids = np.array([np.argsort(z[p])[-2] if z[p].argmax() == c else z[p].argmax()
                              for z, p, c in zip(z_corrupt, positions, clean_ids)])
    result = patching_sweep(params, config, clean, corrupted, positions, clean_ids, corrupted_ids)
    H = config.hidden
    starts = np.concatenate([[0], np.cumsum([len(s) for s in clean_sentences])[:-1]])
    checked = 0
    for pair, sentence in enumerate(corrupted_sentences):
        p, yc, yx = positions[pair], clean_ids[pair], corrupted_ids[pair]
        m = lambda z: z[p, yc] - z[p, yx]  # noqa: E731
        assert m(z_clean[pair]) != m(z_corrupt[pair])
        for site in ("h", "c"):
            source = activity.hidden if site == "h" else activity.cell
            for position in range(len(sentence)):
                for neuron in range(config.output_size):
                    d, j = divmod(neuron, H)
                    value = source[starts[pair] + position, neuron]
                    z = _logits_with_one_patch(params, config, sentence, d, site, position, j, value)
                    expected = (m(z) - m(z_corrupt[pair])) / (m(z_clean[pair]) - m(z_corrupt[pair]))
                    got = result.per_pair[pair, ("h", "c").index(site), position, neuron]
                    assert got == pytest.approx(expected, abs=1e-8), (pair, site, position, neuron)
                    checked += 1
    assert checked > 100
    assert result.effect.shape == (2, len(result.offsets), config.output_size)


def test_gate_clamps_equal_clamped_reference_runs():
    from lstm_numpy.analysis.patching import CLAMPED_GATES, gate_clamps
    from lstm_numpy.analysis.states import collect_states
    params, config, split = _tagger(True, seed=3)
    rng = np.random.default_rng(4)
    sentences = [rng.integers(2, 20, L).tolist() for L in (5, 3, 6, 4, 7)]
    data = split(sentences)
    data = type(data)(data.words, data.cases, [rng.integers(0, 4, len(s)) for s in sentences], data.tokens)
    states = collect_states(params, config, data)
    result = gate_clamps(params, config, data, states, [0, 3])
    gold = states.gold
    base = np.array([np.mean(states.pred[gold == k] == k) for k in range(4)])
    for n, neuron in enumerate((0, 3)):                                  # one of each direction
        d, j = divmod(neuron, config.hidden)
        for g, gate in enumerate(CLAMPED_GATES):
            preds = []
            for s in sentences:
                z = _clamped_logits(params, config, s, d, j, gate)
                preds.append(z.argmax(axis=1))
            pred = np.concatenate(preds)
            expected = base - np.array([np.mean(pred[gold == k] == k) for k in range(4)])
            np.testing.assert_allclose(result.drop[n, g], expected, equal_nan=True)
        assert np.abs(result.drop[n]).sum() > 0                          # the clamps change predictions
        # with the cell starting at 0, an input gate held at 0 keeps c = 0 and h = 0: the output gate at 0, and
        # the neuron's recurrent ablation (its h clamped to 0 inside the LSTM)
        keep = np.ones(config.output_size)
        keep[neuron] = 0
        ablated = collect_states(params, config, data, keep_mask=keep).pred
        silenced = base - np.array([np.mean(ablated[gold == k] == k) for k in range(4)])
        np.testing.assert_allclose(result.drop[n, CLAMPED_GATES.index("i")], silenced)
        np.testing.assert_allclose(result.drop[n, CLAMPED_GATES.index("o")], silenced)


def _clamped_logits(params, config, sentence, direction, neuron, gate):
    """Logits with one neuron's gate forced to 0 at every step, from the plain reference loop."""
    from lstm_numpy.model.bilstm import reverse_index
    x = params["embed.word"][np.array(sentence)][None]
    mask = np.ones((1, len(sentence)), dtype=bool)
    T = len(sentence)
    outs = []
    for d, prefix in enumerate(("lstm_f", "lstm_b")):
        xd = x[:, reverse_index(mask)[0]] if d == 1 else x
        patches = None
        if d == direction:
            patches = Patches(np.zeros(T, np.int64), np.arange(T), np.full(T, neuron), np.full(T, SITES.index(gate)),
                              np.zeros((T, 1)))
        zeros = np.zeros((1, config.hidden))
        out = lstm_recur(xd @ params[f"{prefix}.Wx"], mask, zeros, zeros, params[f"{prefix}.Wh"], params[f"{prefix}.b"],
                         patches=patches)[0][0]
        outs.append(out[::-1] if d == 1 else out)
    return np.concatenate(outs, axis=-1) @ params["out.W"].T + params["out.b"]
