"""The character CNN's Numba kernel against its NumPy twin (model.chars)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.model.chars import char_cnn_forward, init_char_cnn, window_max, window_max_numba


@settings(deadline=None, max_examples=30)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 3, 5]), st.sampled_from(["float32", "float64"]))
def test_window_max_numba_matches_numpy(seed, width, dtype):
    rng = np.random.default_rng(seed)
    N, T, L, C, F = (int(v) for v in rng.integers(1, 7, 5))
    C += 1
    lengths = rng.integers(0, L + 1, size=(N, T))                   # some tokens empty
    ids = np.where(np.arange(L) < lengths[..., None], rng.integers(1, C + 1, size=(N, T, L)), 0)
    r = width // 2
    padded = np.pad(ids, ((0, 0), (0, 0), (r, r)))
    P = rng.normal(size=(width, C + 1, F)).astype(dtype)
    b = rng.normal(size=F).astype(dtype)
    out_np, pos_np = window_max(padded, P, b)
    out_nb, pos_nb = window_max_numba(padded, P, b)
    assert out_nb.dtype == out_np.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(pos_nb, pos_np)                    # same sums in the same order
    np.testing.assert_array_equal(out_nb, out_np)


def test_char_cnn_forward_kernels_agree_on_a_tagger_batch():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 40, size=(8, 12, 9))
    ids[:, :, 6:] = 0                                                # words of up to 6 characters
    ids[3, 5:] = 0                                                   # a shorter sentence
    p = init_char_cnn(40, 25, 30, 3, rng, np.float32)
    a, cache_a = char_cnn_forward(ids, p["table"], p["W"], p["b"], window_max)
    b, cache_b = char_cnn_forward(ids, p["table"], p["W"], p["b"], window_max_numba)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(cache_a[1], cache_b[1])
    assert not a[3, 5:].any()                                        # padding tokens give zeros
