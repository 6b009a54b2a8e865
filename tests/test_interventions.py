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
    N, T, H = xw.shape[0], xw.shape[1], Wh.shape[0]
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
