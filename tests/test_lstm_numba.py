"""The Numba LSTM equals the NumPy reference: outputs, cache and every gradient, on both
paths of the recurrent product (fused kernel, per-step BLAS) and on the one chosen by shape."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import lstm_problems

from lstm_numpy.model.activations_numba import tanh_approx
from lstm_numpy.model.lstm import LSTMCache, lstm_backward, lstm_forward
from lstm_numpy.model.lstm_numba import (RECURRENCES, backward_with_recurrence, choose_recurrence,
                                         forward_with_recurrence, lstm_backward_numba, lstm_forward_numba)

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}
PARAMS = ("x", "h0", "c0", "Wx", "Wh", "b")


def numba_pair(recurrence):
    """(forward, backward) of the numba backend: the public pair for None, else the forced path."""
    if recurrence is None:
        return lstm_forward_numba, lstm_backward_numba
    return (lambda *args: forward_with_recurrence(recurrence, *args),
            lambda *args: backward_with_recurrence(recurrence, *args))


def run_both(p, dtype, keep, recurrence=None):
    """Forward and backward of the reference and of numba (path ``recurrence``) on problem p cast to dtype."""
    q = {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v) for k, v in p.items()}
    results = []
    for forward, backward in ((lstm_forward, lstm_backward), numba_pair(recurrence)):
        out, (hT, cT), cache = forward(*(q[k] for k in ("x", "mask", "h0", "c0", "Wx", "Wh", "b")), keep)
        grads = backward(q["dout"], q["dhT"], q["dcT"], cache)
        results.append((out, hT, cT, cache, grads))
    return results


def assert_close(mine, ref, dtype, name):
    assert mine.dtype == ref.dtype == dtype, f"{name}: dtype {mine.dtype}, reference {ref.dtype}"
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))  # atol relative to the array's size
    tol = TOL[dtype]
    np.testing.assert_allclose(mine, ref, rtol=tol["rtol"], atol=tol["atol"] * scale,
                               err_msg=f"{name}: numba (actual) vs numpy (desired)")


@settings(deadline=None, max_examples=60)
@given(p=lstm_problems(), dtype=st.sampled_from([np.float64, np.float32]), ablate=st.booleans(),
       recurrence=st.sampled_from([None, *RECURRENCES]))
def test_numba_matches_reference(p, dtype, ablate, recurrence):
    H = p["h0"].shape[1]
    keep = (p["rng"].random(H) < 0.5).astype(dtype) if ablate else None
    (out0, hT0, cT0, cache0, g0), (out1, hT1, cT1, cache1, g1) = run_both(p, dtype, keep, recurrence)
    for name, mine, ref in (("out", out1, out0), ("hT", hT1, hT0), ("cT", cT1, cT0)):
        assert_close(mine, ref, dtype, name)
    for name in ("gates", "h", "c", "tanh_c", "keep"):
        assert_close(getattr(cache1, name), getattr(cache0, name), dtype, "cache." + name)
    assert np.all(out1[~p["mask"]] == 0), "outputs at padded steps are zero"
    for name in g0:
        assert_close(g1[name], g0[name], dtype, name)


@settings(deadline=None, max_examples=15)
@given(p=lstm_problems(), forward_path=st.sampled_from(RECURRENCES), backward_path=st.sampled_from(RECURRENCES))
def test_caches_are_interchangeable(p, forward_path, backward_path):
    """numba backward (either path) on a numpy cache equals numpy backward on it, and on a
    cache of either numba path equals numpy backward on that."""
    args = [p[k] for k in ("x", "mask", "h0", "c0", "Wx", "Wh", "b")]
    grads = (p["dout"], p["dhT"], p["dcT"])
    for _, _, cache in (lstm_forward(*args), forward_with_recurrence(forward_path, *args)):
        assert isinstance(cache, LSTMCache)
        ref = lstm_backward(*grads, cache)
        mine = backward_with_recurrence(backward_path, *grads, cache)
        for name in ref:
            assert_close(mine[name], ref[name], np.float64, name)


def test_none_final_grads_mean_zero():
    rng = np.random.default_rng(3)
    N, T, D, H = 3, 4, 2, 3
    x, h0, c0 = rng.normal(size=(N, T, D)), rng.normal(size=(N, H)), rng.normal(size=(N, H))
    Wx, Wh, b = rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), rng.normal(size=4 * H)
    mask = np.ones((N, T), bool)
    dout = rng.normal(size=(N, T, H))
    _, _, cache = lstm_forward_numba(x, mask, h0, c0, Wx, Wh, b)
    ref = lstm_backward(dout, np.zeros((N, H)), np.zeros((N, H)), cache)
    mine = lstm_backward_numba(dout, None, None, cache)
    for name in ref:
        assert_close(mine[name], ref[name], np.float64, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_in_is_dtype_out(dtype):
    rng = np.random.default_rng(0)
    N, T, D, H = 2, 3, 4, 5
    f = lambda *shape: rng.normal(size=shape).astype(dtype)
    out, (hT, cT), cache = lstm_forward_numba(f(N, T, D), np.ones((N, T), bool), f(N, H), f(N, H),
                                              f(D, 4 * H), f(H, 4 * H), f(4 * H))
    grads = lstm_backward_numba(f(N, T, H), f(N, H), f(N, H), cache)
    arrays = {"out": out, "hT": hT, "cT": cT, **cache._asdict(), **grads}
    for name, arr in arrays.items():
        if name != "mask":
            assert arr.dtype == dtype, f"{name} is {arr.dtype}, expected {dtype}"


def test_wrong_dtype_is_refused():
    x = np.zeros((1, 1, 1), np.int64)
    with pytest.raises(ValueError, match="dtype|float32"):
        lstm_forward_numba(x, np.ones((1, 1)), *(np.zeros(s, np.int64) for s in ((1, 1), (1, 1), (1, 4), (1, 4), (4,))))


def test_float32_tanh_and_sigmoid_approximation_error():
    x = np.linspace(-30, 30, 2_000_001, dtype=np.float32)
    x64 = x.astype(np.float64)
    tanh, sigmoid = tanh_approx(x)
    tanh_err = np.abs(tanh - np.tanh(x64)).max()
    sigmoid_err = np.abs(sigmoid - 1 / (1 + np.exp(-x64))).max()
    print(f"float32 tanh max abs error {tanh_err:.2e}, sigmoid {sigmoid_err:.2e}")
    assert tanh_err < 5e-7 and sigmoid_err < 5e-7
    assert np.all(np.abs(tanh) <= 1) and np.all((sigmoid >= 0) & (sigmoid <= 1))
    small = np.logspace(-30, -1, 500).astype(np.float32)  # relative accuracy near zero
    assert np.abs(tanh_approx(small)[0] / np.tanh(small.astype(np.float64)) - 1).max() < 1e-6


def test_float64_activations_are_accurate():
    """The kernels' vectorizable float64 tanh is within a few ulps of np.tanh, sigmoid within 1e-15."""
    x = np.concatenate([np.linspace(-40, 40, 200_001), [0.625, -0.625, np.nextafter(0.625, 0), 20, -20, 1e300]])
    tanh, sigmoid = tanh_approx(x)
    tanh_rel = np.abs(tanh - np.tanh(x)) / np.maximum(np.abs(np.tanh(x)), 1e-300)
    sigmoid_err = np.abs(sigmoid - 1 / (1 + np.exp(-x)))
    print(f"float64 tanh max rel error {tanh_rel.max():.1e}, sigmoid max abs error {sigmoid_err.max():.1e}")
    assert tanh_rel.max() < 1e-15 and sigmoid_err.max() < 1e-15
    small = np.logspace(-300, -1, 500)  # relative accuracy near zero, both signs
    assert np.abs(tanh_approx(np.concatenate([small, -small]))[0] / np.tanh(np.concatenate([small, -small])) - 1).max() < 1e-15
    assert np.all(np.abs(tanh) <= 1) and np.all((sigmoid >= 0) & (sigmoid <= 1))


@pytest.mark.parametrize("recurrence", [None, *RECURRENCES])
@pytest.mark.parametrize("dtype, H", [(np.float32, 50), (np.float32, 130), (np.float64, 130), (np.float64, 260),
                                     (np.float32, 256), (np.float64, 128)])  # the last two: padded_rows
def test_larger_case(dtype, H, recurrence):
    """N=8, T=20, D=16 with padding (the last steps of every sentence padded), ablation and
    non-zero states; for N=8, H=50 is below the fused/BLAS crossover, 130 past it, and 260
    past the point where the BLAS backward multiplies transposed."""
    rng = np.random.default_rng(7)
    N, T, D = 8, 20, 16
    lengths = rng.integers(1, T - 2, size=N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    scale = 1 / np.sqrt(H)
    p = {"x": rng.normal(size=(N, T, D)), "mask": mask, "h0": rng.normal(size=(N, H)) * 0.5,
         "c0": rng.normal(size=(N, H)) * 0.5, "Wx": rng.uniform(-scale, scale, (D, 4 * H)),
         "Wh": rng.uniform(-scale, scale, (H, 4 * H)), "b": rng.normal(size=4 * H) * 0.5,
         "dout": rng.normal(size=(N, T, H)), "dhT": rng.normal(size=(N, H)), "dcT": rng.normal(size=(N, H))}
    keep = (rng.random(H) < 0.8).astype(dtype)
    (out0, hT0, cT0, cache0, g0), (out1, hT1, cT1, cache1, g1) = run_both(p, dtype, keep, recurrence)
    for name, mine, ref in (("out", out1, out0), ("hT", hT1, hT0), ("cT", cT1, cT0)):
        assert_close(mine, ref, dtype, name)
    for name in ("gates", "h", "c", "tanh_c"):
        assert_close(getattr(cache1, name), getattr(cache0, name), dtype, "cache." + name)
    for name in g0:
        assert_close(g1[name], g0[name], dtype, name)


def test_the_public_functions_take_the_chosen_path():
    """lstm_forward_numba / lstm_backward_numba give exactly what the path choose_recurrence
    names gives, and both paths are chosen somewhere in the benchmark's range of shapes."""
    rng = np.random.default_rng(11)
    chosen = {}
    for H in (8, 512):
        N, T, D = 4, 3, 5
        f = lambda *shape: rng.normal(size=shape).astype(np.float32)
        args = (f(N, T, D), np.ones((N, T), bool), f(N, H), f(N, H), f(D, 4 * H), f(H, 4 * H), f(4 * H))
        path = chosen[H] = choose_recurrence(N, H, np.float32)
        out, _, cache = lstm_forward_numba(*args)
        out_path, _, cache_path = forward_with_recurrence(path, *args)
        np.testing.assert_array_equal(out, out_path)
        dout = f(N, T, H)
        grads, grads_path = lstm_backward_numba(dout, None, None, cache), backward_with_recurrence(path, dout, None, None, cache)
        for name in grads:
            np.testing.assert_array_equal(grads[name], grads_path[name], err_msg=name)
    assert set(chosen.values()) == set(RECURRENCES), chosen
    assert choose_recurrence(32, 24, np.float32) == "fused" and choose_recurrence(32, 32, np.float32) == "blas"


def test_unknown_recurrence_is_refused():
    x = np.zeros((1, 1, 1))
    with pytest.raises(ValueError, match="recurrence"):
        forward_with_recurrence("gemm", x, np.ones((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)),
                                np.zeros((1, 4)), np.zeros((1, 4)), np.zeros(4))


def test_wrong_shapes_are_refused():
    """The kernels do not bounds-check, so the wrappers must."""
    rng = np.random.default_rng(1)
    N, T, D, H = 2, 3, 2, 4
    args = (rng.normal(size=(N, T, D)), np.ones((N, T)), np.zeros((N, H)), np.zeros((N, H)),
            rng.normal(size=(D, 4 * H)), rng.normal(size=(H, 4 * H)), np.zeros(4 * H))
    with pytest.raises(ValueError, match="keep"):
        lstm_forward_numba(*args, keep=np.ones(H - 1))
    _, _, cache = lstm_forward_numba(*args)
    with pytest.raises(ValueError, match="dout"):
        lstm_backward_numba(np.zeros((N, T - 1, H)), None, None, cache)
    with pytest.raises(ValueError, match="dhT"):
        lstm_backward_numba(np.zeros((N, T, H)), np.zeros((N + 1, H)), None, cache)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_bilstms_directions_on_two_threads_give_the_same_bytes(dtype):
    """bilstm_forward/backward with the two directions on two threads (the numba backend's choice from
    H = 256 at a batch of 32, given two Numba threads) equal the same calls one direction after the
    other, bit for bit, with and without a neuron mask; and the backend says when it may do so."""
    import numba

    from lstm_numpy.model.backend import get_backend
    from lstm_numpy.model.bilstm import bilstm_backward, bilstm_forward

    rng = np.random.default_rng(5)
    N, T, D, H = 32, 9, 20, 256
    x = rng.normal(size=(N, T, D)).astype(dtype)
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, size=N)[:, None]
    params = [{"Wx": (rng.normal(size=(D, 4 * H)) * 0.2).astype(dtype),
               "Wh": (rng.normal(size=(H, 4 * H)) * 0.1).astype(dtype),
               "b": rng.normal(size=4 * H).astype(dtype)} for _ in range(2)]
    dout = rng.normal(size=(N, T, 2 * H)).astype(dtype)
    numba_backend = get_backend("numba")
    if numba.get_num_threads() >= 2:
        assert numba_backend.concurrent_directions(N, H, dtype), "this shape runs its directions at once"
    assert not numba_backend.concurrent_directions(N, 16, dtype), "not the fused kernels' shapes (a thread pool)"
    assert not get_backend("numpy").concurrent_directions(N, H, dtype)
    for keep in (None, (rng.random(2 * H) > 0.3).astype(dtype)):
        results = []
        for concurrent in (False, True):
            backend = numba_backend._replace(concurrent_directions=lambda *shape, on=concurrent: on)
            out, cache = bilstm_forward(x, mask, *params, backend, keep)
            dx, grads_f, grads_b = bilstm_backward(dout, cache)
            results.append([out, dx] + [g[k] for g in (grads_f, grads_b) for k in ("dWx", "dWh", "db")])
        for one, two in zip(*results):
            assert one.tobytes() == two.tobytes()


def test_backward_with_dwh_on_a_second_thread_gives_the_same_bytes(monkeypatch):
    """lstm_backward_numba computes dWh on a second thread where the product is large and Numba has
    two threads (lstm_numba._beside); every gradient is the one of the same call on one thread, bit
    for bit.  Inside one_core() (a BiLSTM direction beside the other) it never does."""
    import numba

    from lstm_numpy.model import lstm_numba

    rng = np.random.default_rng(2)
    N, T, D, H = 16, 7, 12, 64
    x = rng.normal(size=(N, T, D)).astype(np.float32)
    mask = np.arange(T)[None, :] < rng.integers(1, T + 1, size=N)[:, None]
    zeros = np.zeros((N, H), np.float32)
    Wx, Wh = (rng.normal(size=(D, 4 * H)) * 0.2).astype(np.float32), (rng.normal(size=(H, 4 * H)) * 0.1).astype(np.float32)
    b, dout = rng.normal(size=4 * H).astype(np.float32), rng.normal(size=(N, T, H)).astype(np.float32)
    _, _, cache = lstm_numba.lstm_forward_numba(x, mask, zeros, zeros, Wx, Wh, b)
    runs = []
    for threshold in (2 ** 62, 0):
        monkeypatch.setattr(lstm_numba, "BESIDE_MIN_WORK", threshold)
        runs.append(lstm_numba.lstm_backward_numba(dout, None, None, cache))
    if numba.get_num_threads() >= 2:
        assert lstm_numba._beside(1) is not None, "threshold 0: the second thread is used"
        with lstm_numba.one_core():
            assert lstm_numba._beside(1) is None
    for name in runs[0]:
        assert runs[0][name].tobytes() == runs[1][name].tobytes(), name


def test_padded_rows_are_the_same_values_rows_apart_by_more_than_4k():
    from lstm_numpy.model.lstm_blas_numba import padded_rows
    W = np.arange(8 * 1024, dtype=np.float32).reshape(8, 1024)          # rows of 4,096 bytes
    padded = padded_rows(W)
    assert np.array_equal(padded, W) and padded.strides[0] == 4096 + 64
    odd = np.ones((4, 100), np.float32)
    assert padded_rows(odd) is odd, "rows that are not a multiple of 4 KB stay as they are"
