"""Optimizer steps against values computed by hand; Adam's Numba update gives the bits of its
NumPy reference; clipping bounds the norm."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_numpy.model.layers import SparseRows
from lstm_numpy.training.optim import SGD, Adam, adam_update, adam_update_numba, clip_by_global_norm, global_norm


def test_sgd_with_momentum_by_hand():
    params = {"w": np.array([1.0, -2.0])}
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step(params, {"w": np.array([0.5, 1.0])})
    # v = g = [0.5, 1];  w = [1 - 0.05, -2 - 0.1]
    np.testing.assert_allclose(params["w"], [0.95, -2.1], rtol=0, atol=1e-15)
    opt.step(params, {"w": np.array([0.5, 1.0])})
    # v = 0.9 * [0.5, 1] + [0.5, 1] = [0.95, 1.9];  w -= 0.1 * v
    np.testing.assert_allclose(params["w"], [0.855, -2.29], rtol=0, atol=1e-15)


def test_adam_first_two_steps_by_hand():
    params = {"w": np.array([1.0])}
    opt = Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8)
    opt.step(params, {"w": np.array([2.0])})
    # m = 0.2, v = 0.004; m_hat = 2, v_hat = 4; step = 0.01 * 2 / (2 + 1e-8)
    np.testing.assert_allclose(params["w"], [1.0 - 0.01 * 2 / (2 + 1e-8)], rtol=0, atol=1e-15)
    opt.step(params, {"w": np.array([-1.0])})
    m = 0.9 * 0.2 + 0.1 * -1.0                      # 0.08
    v = 0.999 * 0.004 + 0.001 * 1.0                 # 0.004996
    m_hat, v_hat = m / (1 - 0.9 ** 2), v / (1 - 0.999 ** 2)
    expected = 1.0 - 0.01 * 2 / (2 + 1e-8) - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-8)
    np.testing.assert_allclose(params["w"], [expected], rtol=0, atol=1e-15)


def test_lazy_adam_touches_only_batch_rows():
    table = np.arange(12.0).reshape(4, 3)
    dense_params, sparse_params = {"E": table.copy()}, {"E": table.copy()}
    dense, sparse = Adam(lr=0.1), Adam(lr=0.1)
    g_rows = SparseRows(np.array([1, 3]), np.ones((2, 3)))
    sparse.step(sparse_params, {"E": g_rows})
    dense.step(dense_params, {"E": g_rows.to_dense(4)})
    # on the first step a zero gradient moves nothing, so both agree exactly
    np.testing.assert_allclose(sparse_params["E"], dense_params["E"], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(sparse_params["E"][[0, 2]], table[[0, 2]])
    # on the second step dense Adam keeps moving rows 1 and 3 by momentum; lazy Adam does not
    untouched = SparseRows(np.array([0]), np.ones((1, 3)))
    before = sparse_params["E"].copy()
    sparse.step(sparse_params, {"E": untouched})
    np.testing.assert_array_equal(sparse_params["E"][1:], before[1:])
    assert np.all(sparse_params["E"][0] != before[0])


def test_sparse_sgd_equals_dense_without_momentum():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(5, 2))
    g = SparseRows(np.array([0, 4]), rng.normal(size=(2, 2)))
    a, b = {"E": table.copy()}, {"E": table.copy()}
    SGD(lr=0.3).step(a, {"E": g})
    SGD(lr=0.3).step(b, {"E": g.to_dense(5)})
    np.testing.assert_allclose(a["E"], b["E"], rtol=0, atol=1e-15)


@settings(deadline=None, max_examples=50)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 10.0))
def test_clipping_bounds_the_global_norm(seed, max_norm):
    rng = np.random.default_rng(seed)
    grads = {"a": rng.normal(size=(3, 4)) * rng.uniform(0, 5),
             "b": rng.normal(size=7) * rng.uniform(0, 5),
             "E": SparseRows(np.array([0, 2]), rng.normal(size=(2, 3)))}
    expected_norm = np.sqrt(sum(np.sum(g ** 2) for g in (grads["a"], grads["b"], grads["E"].values)))
    clipped, norm = clip_by_global_norm(grads, max_norm)
    np.testing.assert_allclose(norm, expected_norm, rtol=1e-12)
    assert global_norm(clipped) <= max_norm * (1 + 1e-9)
    if norm <= max_norm:
        np.testing.assert_array_equal(clipped["a"], grads["a"])
    else:  # direction kept, norm set to max_norm
        np.testing.assert_allclose(global_norm(clipped), max_norm, rtol=1e-9)
        np.testing.assert_allclose(clipped["a"] * norm / max_norm, grads["a"], rtol=1e-9)


@settings(deadline=None, max_examples=60)
@given(st.integers(0, 2**32 - 1), st.sampled_from([np.float32, np.float64]), st.booleans(),
       st.integers(1, 3000), st.floats(-10, 3), st.floats(1e-5, 1e-1))
def test_adam_numba_update_gives_the_bits_of_numpy(seed, dtype, sparse, t, log_scale, lr):
    rng = np.random.default_rng(seed)
    V, D = rng.integers(1, 9, size=2)
    w = rng.normal(size=(V, D)).astype(dtype)
    m = (rng.normal(size=(V, D)) * 10.0 ** log_scale).astype(dtype)
    v = (rng.random(size=(V, D)) * 10.0 ** (2 * log_scale)).astype(dtype)
    if sparse:
        rows = np.sort(rng.choice(V, size=rng.integers(0, V + 1), replace=False))
        g = (rng.normal(size=(rows.size, D)) * 10.0 ** log_scale).astype(dtype)
    else:
        rows, g = slice(None), (rng.normal(size=(V, D)) * 10.0 ** log_scale).astype(dtype)
    args = (g, rows, lr, 0.9, 0.999, 1 - 0.9 ** t, 1 - 0.999 ** t, 1e-8)
    ours, reference = [a.copy() for a in (w, m, v)], [a.copy() for a in (w, m, v)]
    adam_update_numba(*ours, *args)
    adam_update(*reference, *args)
    for name, a, b in zip("wmv", ours, reference):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert a.dtype == dtype
    if not sparse or rows.size:
        assert not np.array_equal(ours[0], w)   # the weights moved


def test_adam_numba_update_falls_back_where_the_kernel_cannot_run():
    rng = np.random.default_rng(1)
    w, m, v = rng.normal(size=(3, 4)).astype(np.float32), np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32)
    cases = {"float64 gradient": (w, m, v, rng.normal(size=(3, 4))),
             "transposed weights": (np.asfortranarray(w), np.asfortranarray(m), np.asfortranarray(v),
                                    rng.normal(size=(3, 4)).astype(np.float32))}
    for name, (w0, m0, v0, g) in cases.items():
        ours, reference = [a.copy(order="K") for a in (w0, m0, v0)], [a.copy(order="K") for a in (w0, m0, v0)]
        adam_update_numba(*ours, g, slice(None), 1e-2, 0.9, 0.999, 0.1, 0.001, 1e-8)
        adam_update(*reference, g, slice(None), 1e-2, 0.9, 0.999, 0.1, 0.001, 1e-8)
        for a, b in zip(ours, reference):
            np.testing.assert_array_equal(a, b, err_msg=name)
        assert not np.array_equal(ours[0], w0), name
    with pytest.raises(IndexError):   # a row outside the table: what NumPy raises, no write out of bounds
        adam_update_numba(w.copy(), m.copy(), v.copy(), np.ones((1, 4), np.float32), np.array([3]),
                          1e-2, 0.9, 0.999, 0.1, 0.001, 1e-8)
