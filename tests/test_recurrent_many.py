"""Many recurrent ablations in one pass equal one rerun of the tagger per neuron set, on every
backend and kernel path; the kernels' neuron mask per sentence equals running each sentence
with its own mask; the inference kernel of those ablations equals the NumPy reference."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.analysis.ablation import ablate_recurrent, ablate_recurrent_many, keep_all_but
from lstm_numpy.analysis.states import collect_states
from lstm_numpy.data.batching import EncodedSplit
from lstm_numpy.model.lstm import lstm_backward, lstm_forward, lstm_recur_many
from lstm_numpy.model.lstm_infer_numba import lstm_recur_many_numba
from lstm_numpy.model.lstm_numba import RECURRENCES, backward_with_recurrence, forward_with_recurrence
from lstm_numpy.model.tagger import TaggerConfig, init_tagger


def random_tagger(seed, bidirectional, backend, hidden=6, n_sentences=40):
    rng = np.random.default_rng(seed)
    config = TaggerConfig(vocab_size=30, n_labels=5, word_dim=8, case_vocab_size=6, case_dim=3, hidden=hidden,
                          bidirectional=bidirectional, backend=backend, dtype="float64")
    params = init_tagger(config, rng)
    lengths = rng.integers(1, 12, n_sentences)
    split = EncodedSplit([rng.integers(2, 30, n) for n in lengths], [rng.integers(1, 6, n) for n in lengths],
                         [rng.integers(0, 5, n) for n in lengths], [["w"] * n for n in lengths])
    return params, config, split


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_many_ablations_in_one_pass_equal_one_rerun_each(backend, bidirectional):
    params, config, split = random_tagger(3, bidirectional, backend)
    rng = np.random.default_rng(0)
    sets = [rng.choice(config.output_size, size=k, replace=False) for k in (1, 2, 3, 5, 1, 4)]
    for batch_size, max_rows in ((256, 4096), (7, 20)):          # one stack of every set; stacks of a few
        many = ablate_recurrent_many(params, config, split, sets, batch_size=batch_size, max_rows=max_rows)
        for neurons, predicted in zip(sets, many):
            np.testing.assert_array_equal(predicted, ablate_recurrent(params, config, split, neurons, batch_size))
            keep = keep_all_but(config.output_size, neurons, np.float64)
            np.testing.assert_array_equal(predicted, collect_states(params, config, split, batch_size,
                                                                    keep_mask=keep).pred)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 5), T=st.integers(1, 6), H=st.integers(1, 7),
       path=st.sampled_from(("reference",) + RECURRENCES))
def test_a_mask_per_sentence_equals_each_sentence_with_its_own_mask(seed, N, T, H, path):
    rng = np.random.default_rng(seed)
    D = 3
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, N)[:, None]
    keep = (rng.random((N, H)) < 0.6).astype(np.float64)
    dout = rng.normal(size=(N, T, H))
    forward = lstm_forward if path == "reference" else (lambda *a: forward_with_recurrence(path, *a))
    backward = lstm_backward if path == "reference" else (lambda *a: backward_with_recurrence(path, *a))
    out, (hT, cT), cache = forward(x, mask, h0, c0, Wx, Wh, b, keep)
    grads = backward(dout, None, None, cache)
    for n in range(N):
        one = slice(n, n + 1)
        out_n, (hT_n, cT_n), cache_n = forward(x[one], mask[one], h0[one], c0[one], Wx, Wh, b, keep[n])
        np.testing.assert_allclose(out[one], out_n, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(hT[one], hT_n, rtol=1e-12, atol=1e-12)
        grads_n = backward(dout[one], None, None, cache_n)
        np.testing.assert_allclose(grads["dx"][one], grads_n["dx"], rtol=1e-10, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(1, 40), T=st.integers(1, 9), H=st.integers(1, 30),
       M=st.integers(1, 5), dtype=st.sampled_from(("float32", "float64")))
def test_the_inference_kernel_equals_the_reference(seed, N, T, H, M, dtype):
    """lstm_recur_many_numba (unit-major, rows sorted by length) against lstm.lstm_recur_many,
    and each mask's rows against the same mask run alone (to the last bits: OpenBLAS rounds a
    product by its shape)."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    xw = rng.normal(size=(N, T, 4 * H)).astype(dtype)
    Wh, b = (0.5 * rng.normal(size=(H, 4 * H))).astype(dtype), rng.normal(size=4 * H).astype(dtype)
    mask = np.arange(T)[None, :] < rng.integers(0, T + 1, N)[:, None]       # some rows may be empty
    keeps = (rng.random((M, H)) < 0.7).astype(dtype)
    before = xw.copy()
    got = lstm_recur_many_numba(xw, mask, Wh, b, keeps)
    want = lstm_recur_many(xw, mask, Wh, b, keeps)
    assert got.shape == (M, int(mask.sum()), H) and got.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(xw, before)                      # read, not overwritten
    for m in range(M):
        np.testing.assert_allclose(got[m], lstm_recur_many_numba(xw, mask, Wh, b, keeps[m:m + 1])[0],
                                   rtol=tol, atol=tol)


def test_the_inference_kernel_refuses_masks_that_are_not_prefixes():
    xw, Wh, b = np.zeros((1, 3, 8)), np.zeros((2, 8)), np.zeros(8)
    with pytest.raises(ValueError, match="prefix masks"):
        lstm_recur_many_numba(xw, np.array([[False, True, True]]), Wh, b, np.ones((1, 2)))


def test_which_reverse_and_out_as_the_bilstm_uses_them():
    """which (a mask per output row), reverse (rows read backwards) and out (a column view)
    give the reference's numbers, in both implementations."""
    rng = np.random.default_rng(5)
    N, T, H = 6, 5, 3
    xw, Wh, b = rng.normal(size=(N, T, 4 * H)), 0.5 * rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    lengths = rng.integers(1, T + 1, N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    keeps, which = (rng.random((2, H)) < 0.6).astype(np.float64), np.array([1, 0, 1])
    plain = lstm_recur_many(xw, mask, Wh, b, keeps)                                # (2, n, H)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    backwards = np.concatenate([np.arange(f + L - 1, f - 1, -1) for f, L in zip(first, lengths)])
    for fn in (lstm_recur_many, lstm_recur_many_numba):
        out = np.full((3, int(mask.sum()), 2 * H), np.nan)
        fn(xw, mask, Wh, b, keeps, which, reverse=True, out=out[:, :, H:])
        np.testing.assert_allclose(out[:, :, H:], plain[which][:, backwards], rtol=1e-12, atol=1e-12)
        assert np.isnan(out[:, :, :H]).all(), "only the given columns are written"
