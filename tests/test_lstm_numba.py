"""The Numba LSTM equals the NumPy reference: outputs, cache and every gradient."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import lstm_problems

from lstm_numpy.model.lstm import LSTMCache, lstm_backward, lstm_forward
from lstm_numpy.model.lstm_numba import lstm_backward_numba, lstm_forward_numba, tanh_approx

TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=1e-4, atol=1e-5)}
PARAMS = ("x", "h0", "c0", "Wx", "Wh", "b")


def run_both(p, dtype, keep):
    """Forward and backward of both backends on problem p cast to dtype."""
    q = {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v) for k, v in p.items()}
    results = []
    for forward, backward in ((lstm_forward, lstm_backward), (lstm_forward_numba, lstm_backward_numba)):
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


@settings(deadline=None, max_examples=40)
@given(p=lstm_problems(), dtype=st.sampled_from([np.float64, np.float32]), ablate=st.booleans())
def test_numba_matches_reference(p, dtype, ablate):
    H = p["h0"].shape[1]
    keep = (p["rng"].random(H) < 0.5).astype(dtype) if ablate else None
    (out0, hT0, cT0, cache0, g0), (out1, hT1, cT1, cache1, g1) = run_both(p, dtype, keep)
    for name, mine, ref in (("out", out1, out0), ("hT", hT1, hT0), ("cT", cT1, cT0)):
        assert_close(mine, ref, dtype, name)
    for name in ("gates", "h", "c", "tanh_c", "keep"):
        assert_close(getattr(cache1, name), getattr(cache0, name), dtype, "cache." + name)
    assert np.all(out1[~p["mask"]] == 0), "outputs at padded steps are zero"
    for name in g0:
        assert_close(g1[name], g0[name], dtype, name)


@settings(deadline=None, max_examples=15)
@given(p=lstm_problems())
def test_caches_are_interchangeable(p):
    """numba backward on a numpy cache equals numpy backward on it."""
    args = [p[k] for k in ("x", "mask", "h0", "c0", "Wx", "Wh", "b")]
    _, _, cache = lstm_forward(*args)
    assert isinstance(cache, LSTMCache)
    ref = lstm_backward(p["dout"], p["dhT"], p["dcT"], cache)
    mine = lstm_backward_numba(p["dout"], p["dhT"], p["dcT"], cache)
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


def test_float64_activations_are_exact():
    x = np.linspace(-40, 40, 10_001)
    tanh, sigmoid = tanh_approx(x)
    np.testing.assert_allclose(tanh, np.tanh(x), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-x)), rtol=1e-14, atol=1e-15)


def test_larger_float32_case():
    """N=8, T=20, D=16, H=50 with padding, ablation and non-zero states, in float32."""
    rng = np.random.default_rng(7)
    N, T, D, H = 8, 20, 16, 50
    lengths = rng.integers(1, T + 1, size=N)
    mask = np.arange(T)[None, :] < lengths[:, None]
    scale = 1 / np.sqrt(H)
    p = {"x": rng.normal(size=(N, T, D)), "mask": mask, "h0": rng.normal(size=(N, H)) * 0.5,
         "c0": rng.normal(size=(N, H)) * 0.5, "Wx": rng.uniform(-scale, scale, (D, 4 * H)),
         "Wh": rng.uniform(-scale, scale, (H, 4 * H)), "b": rng.normal(size=4 * H) * 0.5,
         "dout": rng.normal(size=(N, T, H)), "dhT": rng.normal(size=(N, H)), "dcT": rng.normal(size=(N, H))}
    keep = (rng.random(H) < 0.8).astype(np.float32)
    (out0, hT0, cT0, _, g0), (out1, hT1, cT1, _, g1) = run_both(p, np.float32, keep)
    for name, mine, ref in (("out", out1, out0), ("hT", hT1, hT0), ("cT", cT1, cT0)):
        assert_close(mine, ref, np.float32, name)
    for name in g0:
        assert_close(g1[name], g0[name], np.float32, name)


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
