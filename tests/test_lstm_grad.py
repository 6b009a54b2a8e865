"""The NumPy reference LSTM: gradients against finite differences, and padding."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import lstm_problems

from lstm_numpy.gradcheck import check_gradient
from lstm_numpy.model.lstm import GATES, init_lstm_params, lstm_backward, lstm_forward

TOL = 1e-6
ARGS = ("x", "h0", "c0", "Wx", "Wh", "b")


def scalar_loss(p, keep=None):
    """A random linear function of every output: its gradient is (dout, dhT, dcT)."""
    out, (hT, cT), _ = lstm_forward(p["x"], p["mask"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"], keep)
    return (out * p["dout"]).sum() + (hT * p["dhT"]).sum() + (cT * p["dcT"]).sum()


@settings(deadline=None, max_examples=60)
@given(lstm_problems())
def test_lstm_gradients_match_finite_differences(p):
    _, _, cache = lstm_forward(p["x"], p["mask"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    grads = lstm_backward(p["dout"], p["dhT"], p["dcT"], cache)
    for name in ARGS:
        result = check_gradient(lambda: scalar_loss(p), p[name], grads["d" + name])
        assert result.max_rel_error < TOL, f"d{name}: {result}"


@settings(deadline=None, max_examples=20)
@given(lstm_problems(), st.booleans())
def test_lstm_gradients_with_ablated_neurons(p, per_sentence):
    N, H = p["h0"].shape
    keep = (p["rng"].random((N, H) if per_sentence else H) < 0.5).astype(np.float64)   # (H,) or one per sentence
    _, _, cache = lstm_forward(p["x"], p["mask"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"], keep)
    grads = lstm_backward(p["dout"], p["dhT"], p["dcT"], cache)
    for name in ARGS:
        result = check_gradient(lambda: scalar_loss(p, keep), p[name], grads["d" + name])
        assert result.max_rel_error < TOL, f"d{name}: {result}"


@settings(deadline=None, max_examples=40)
@given(lstm_problems())
def test_padding_changes_no_real_output_and_no_gradient(p):
    """Garbage at padded inputs and upstream grads at padded outputs change nothing."""
    pad = ~p["mask"]
    noisy = dict(p)
    noisy["x"] = p["x"] + 100.0 * pad[..., None] * p["rng"].normal(size=p["x"].shape)
    noisy["dout"] = p["dout"] + 100.0 * pad[..., None] * p["rng"].normal(size=p["dout"].shape)
    results = []
    for q in (p, noisy):
        out, final, cache = lstm_forward(q["x"], q["mask"], q["h0"], q["c0"], q["Wx"], q["Wh"], q["b"])
        results.append((out, final, lstm_backward(q["dout"], q["dhT"], q["dcT"], cache)))
    (out_a, fin_a, g_a), (out_b, fin_b, g_b) = results
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(fin_a[0], fin_b[0])
    np.testing.assert_array_equal(fin_a[1], fin_b[1])
    assert np.all(out_a[pad] == 0), "outputs at padded steps are zero"
    for name in g_a:
        np.testing.assert_allclose(g_a[name], g_b[name], rtol=1e-12, atol=1e-12, err_msg=name)
    assert np.all(g_a["dx"][pad] == 0), "padded inputs receive no gradient"


def test_state_passes_through_padding():
    """A sentence padded at the end has the final state of its last real step."""
    rng = np.random.default_rng(0)
    D, H = 3, 4
    p = init_lstm_params(D, H, rng)
    x = rng.normal(size=(1, 5, D))
    h0, c0 = rng.normal(size=(1, H)), rng.normal(size=(1, H))
    short = lstm_forward(x[:, :3], np.ones((1, 3), bool), h0, c0, p["Wx"], p["Wh"], p["b"])
    padded = lstm_forward(x, np.array([[1, 1, 1, 0, 0]], bool), h0, c0, p["Wx"], p["Wh"], p["b"])
    np.testing.assert_allclose(short[1][0], padded[1][0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(short[1][1], padded[1][1], rtol=0, atol=1e-15)
    np.testing.assert_allclose(short[0], padded[0][:, :3], rtol=0, atol=1e-15)


def test_forget_gate_bias_starts_at_one():
    p = init_lstm_params(3, 4, np.random.default_rng(0))
    f = GATES.index("f")
    assert np.all(p["b"][f * 4:(f + 1) * 4] == 1.0)
    assert np.count_nonzero(p["b"]) == 4


def test_shape_errors_name_the_argument():
    rng = np.random.default_rng(0)
    p = init_lstm_params(3, 4, rng)
    x = rng.normal(size=(2, 5, 3))
    with pytest.raises(ValueError, match="h0"):
        lstm_forward(x, np.ones((2, 5), bool), np.zeros((3, 4)), np.zeros((2, 4)), p["Wx"], p["Wh"], p["b"])
    with pytest.raises(ValueError, match="Wx"):
        lstm_forward(x, np.ones((2, 5), bool), np.zeros((2, 4)), np.zeros((2, 4)), p["Wh"], p["Wh"], p["b"])
