"""Embedding, bidirectional LSTM, linear + loss, dropout and the whole tagger:
every gradient against finite differences in float64."""
import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from strategies import lstm_problems

from lstm_numpy.model.backend import get_backend
from lstm_numpy.data.batching import Batch
from lstm_numpy.gradcheck import check_gradient
from lstm_numpy.model import layers
from lstm_numpy.model.bilstm import bilstm_backward, bilstm_forward, reverse_index
from lstm_numpy.model.chars import char_cnn_backward, char_cnn_forward, init_char_cnn
from lstm_numpy.model.lstm import init_lstm_params, lstm_forward
from lstm_numpy.model.tagger import TaggerConfig, init_tagger, tagger_loss, tagger_loss_and_grads

TOL = 1e-6
seeds = st.integers(0, 2**32 - 1)

NUMPY = get_backend("numpy")     # the reference kernels


def random_mask(rng, N, T):
    lengths = rng.integers(1, T + 1, size=N)
    return np.arange(T)[None, :] < lengths[:, None]


@settings(deadline=None, max_examples=15)
@given(lstm_problems())
def test_bilstm_gradients(p):
    rng = p["rng"]
    D, H = p["Wx"].shape[0], p["Wh"].shape[0]
    params_f, params_b = init_lstm_params(D, H, rng), init_lstm_params(D, H, rng)
    params_b["b"] += rng.normal(size=4 * H)
    dout = rng.normal(size=p["x"].shape[:2] + (2 * H,))

    def loss():
        return (bilstm_forward(p["x"], p["mask"], params_f, params_b, NUMPY)[0] * dout).sum()

    _, cache = bilstm_forward(p["x"], p["mask"], params_f, params_b, NUMPY)
    dx, grads_f, grads_b = bilstm_backward(dout, cache)
    assert check_gradient(loss, p["x"], dx).max_rel_error < TOL
    for params, grads in ((params_f, grads_f), (params_b, grads_b)):
        for name in ("Wx", "Wh", "b"):
            result = check_gradient(loss, params[name], grads["d" + name])
            assert result.max_rel_error < TOL, f"d{name}: {result}"


@settings(deadline=None, max_examples=30)
@given(lstm_problems())
def test_bilstm_backward_direction_reads_only_real_tokens(p):
    """Right-to-left outputs equal an LSTM run on the reversed real tokens alone."""
    rng = p["rng"]
    D, H = p["Wx"].shape[0], p["Wh"].shape[0]
    params_f, params_b = init_lstm_params(D, H, rng), init_lstm_params(D, H, rng)
    out, _ = bilstm_forward(p["x"], p["mask"], params_f, params_b, NUMPY)
    for n in range(p["x"].shape[0]):
        real = np.flatnonzero(p["mask"][n])
        x_rev = p["x"][n, real[::-1]][None]
        zeros = np.zeros((1, H))
        alone, _, _ = lstm_forward(x_rev, np.ones((1, real.size), bool), zeros, zeros,
                                   params_b["Wx"], params_b["Wh"], params_b["b"])
        np.testing.assert_allclose(out[n, real, H:], alone[0, ::-1], rtol=1e-12, atol=1e-12)
        assert np.all(out[n, ~p["mask"][n]] == 0)


def test_reverse_index_is_an_involution_that_fixes_padding():
    mask = np.array([[1, 1, 1, 0], [1, 0, 1, 1]], bool)
    rev = reverse_index(mask)
    np.testing.assert_array_equal(rev, [[2, 1, 0, 3], [3, 1, 2, 0]])
    np.testing.assert_array_equal(np.take_along_axis(rev, rev, 1), np.tile(np.arange(4), (2, 1)))


@settings(deadline=None, max_examples=30)
@given(seeds)
def test_embedding_gradient_accumulates_repeated_ids(seed):
    rng = np.random.default_rng(seed)
    V, D, N, T = rng.integers(1, 6), rng.integers(1, 5), rng.integers(1, 4), rng.integers(1, 6)
    table = rng.normal(size=(V, D))
    ids = rng.integers(0, V, size=(N, T))        # small V: repeats are certain
    dx = rng.normal(size=(N, T, D))

    def loss():
        return (layers.embedding_forward(ids, table)[0] * dx).sum()

    dtable = layers.embedding_backward(dx, ids, V)
    assert check_gradient(loss, table, dtable).max_rel_error < TOL
    sparse = layers.embedding_backward(dx, ids, V, sparse=True)
    np.testing.assert_array_equal(sparse.rows, np.unique(ids))
    np.testing.assert_allclose(sparse.to_dense(V), dtable, rtol=1e-14, atol=1e-14)


@settings(deadline=None, max_examples=60)
@given(seeds, st.sampled_from([np.float32, np.float64]), st.integers(1, 40), st.booleans())
def test_embedding_backward_numba_gives_the_bits_of_numpy(seed, dtype, V, affix):
    """Runs of up to ~1,600 rows (recursing past NumPy's 128-row blocks), strided dx, 3- and 4-D ids."""
    rng = np.random.default_rng(seed)
    N, T, D = rng.integers(1, 40), rng.integers(1, 40), rng.integers(1, 30)
    shape = (N, T, 3) if affix else (N, T)
    ids = rng.integers(0, V, size=shape)
    scale = 10.0 ** rng.uniform(-5, 5, size=shape + (1,))
    dx = (rng.normal(size=shape + (D + 3,)) * scale).astype(dtype)[..., 1:D + 1]   # a strided view
    for sparse in (False, True):
        ours = get_backend("numba").embedding_backward(dx, ids, V, sparse)
        reference = layers.embedding_backward(dx, ids, V, sparse)
        if sparse:
            np.testing.assert_array_equal(ours.rows, reference.rows)
            ours, reference = ours.values, reference.values
        assert ours.dtype == reference.dtype == dtype
        np.testing.assert_array_equal(ours, reference)


@settings(deadline=None, max_examples=40)
@given(seeds)
@example(seed=393982)     # loss 1.2e-4: the naive reference's -log(p) near p = 1 is off by ~1e-16
def test_linear_and_masked_cross_entropy_gradients(seed):
    rng = np.random.default_rng(seed)
    N, T, H, K = rng.integers(1, 4), rng.integers(1, 6), rng.integers(1, 5), rng.integers(2, 6)
    h = rng.normal(size=(N, T, H))
    W, b = rng.normal(size=(K, H)), rng.normal(size=K)
    y = rng.integers(0, K, size=(N, T))
    mask = random_mask(rng, N, T)

    def loss():
        return layers.masked_cross_entropy(layers.linear_forward(h, W, b)[0], y, mask)[0]

    z, _ = layers.linear_forward(h, W, b)
    value, dz = layers.masked_cross_entropy(z, y, mask)
    grads = layers.linear_backward(dz, h, W)
    for name, arr in (("dh", h), ("dW", W), ("db", b)):
        result = check_gradient(loss, arr, grads[name])
        assert result.max_rel_error < TOL, f"{name}: {result}"
    assert np.all(dz[~mask] == 0)
    # the loss is the mean over real tokens of -log p(gold)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    expected = -np.mean(np.log(np.take_along_axis(p, y[..., None], -1)[..., 0][mask]))
    # atol: -log(p) with p within 1e-4 of 1 loses a few units of 1e-16 in the reference itself
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-14)


def test_cross_entropy_is_stable_for_huge_logits():
    z = np.array([[[1000.0, 0.0, -1000.0]]])
    loss, dz = layers.masked_cross_entropy(z, np.array([[0]]), np.array([[True]]))
    assert np.isfinite(loss) and loss < 1e-12 and np.all(np.isfinite(dz))


@settings(deadline=None, max_examples=30)
@given(seeds, st.sampled_from([0.1, 0.5, 0.8]))
@example(seed=1, p=0.8)          # a zero gradient next to entries of size 5: rounding noise must not fail it
def test_dropout_gradient_with_fixed_mask(seed, p):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, 4, 5))
    dy = rng.normal(size=x.shape)

    def loss():  # a fresh generator with the same seed draws the same mask
        return (layers.dropout_forward(x, p, np.random.default_rng(seed))[0] * dy).sum()

    y, keep = layers.dropout_forward(x, p, np.random.default_rng(seed))
    assert check_gradient(loss, x, layers.dropout_backward(dy, keep)).max_rel_error < TOL
    assert set(np.unique(keep)) <= {0.0, 1.0 / (1.0 - p)}
    y_eval, _ = layers.dropout_forward(x, p, None, train=False)
    assert y_eval is x


def test_dropout_keeps_the_expected_value():
    rng = np.random.default_rng(0)
    x = np.ones(200_000)
    y, _ = layers.dropout_forward(x, 0.5, rng)
    assert abs(y.mean() - 1.0) < 0.01
    assert abs((y == 0).mean() - 0.5) < 0.01


@settings(deadline=None, max_examples=30)
@given(seeds, st.booleans(), st.booleans(), st.booleans(), st.booleans(),
       st.sampled_from([(0.0, False), (0.3, False), (0.3, True)]))
@example(160, True, True, True, False, (0.0, False))     # tiny gradients: finite-difference noise near 1e-12
def test_tagger_gradients_for_every_parameter(seed, bidirectional, use_case, use_affix, use_chars, drop):
    dropout, variational = drop
    rng = np.random.default_rng(seed)
    N, T = int(rng.integers(1, 4)), int(rng.integers(1, 6))
    config = TaggerConfig(vocab_size=7, n_labels=4, word_dim=3, hidden=3,
                          case_vocab_size=4 if use_case else 0, case_dim=2 if use_case else 0,
                          n_affixes=2 if use_affix else 0, affix_vocab_size=5 if use_affix else 0,
                          affix_dim=2 if use_affix else 0,
                          char_vocab_size=5 if use_chars else 0, char_dim=2 if use_chars else 0,
                          char_filters=2 if use_chars else 0,
                          bidirectional=bidirectional, dropout=dropout, variational=variational,
                          backend="numpy", dtype="float64")
    params = init_tagger(config, rng)
    for name in params:
        if name.endswith(".b"):
            params[name] += rng.normal(size=params[name].shape)
    mask = random_mask(rng, N, T)
    batch = Batch(rng.integers(0, 7, (N, T)), mask, rng.integers(0, 4, (N, T)),
                  rng.integers(0, 4, (N, T)) if use_case else None,
                  rng.integers(0, 5, (N, T, 2)) if use_affix else None,  # repeats likely: sums tested
                  random_char_ids(rng, N, T, 3, 5) if use_chars else None)
    if use_chars:
        params["char.table"] = rng.normal(size=params["char.table"].shape)
        assume(max_margin_crossings(batch.char_ids, {k: params["char." + k] for k in ("table", "W")}, 3) == 0)
    drop_seed = int(rng.integers(1 << 30))

    def loss():
        return tagger_loss(params, config, batch, np.random.default_rng(drop_seed), train=True)

    value, grads, _ = tagger_loss_and_grads(params, config, batch, np.random.default_rng(drop_seed))
    np.testing.assert_allclose(value, loss(), rtol=1e-12)
    assert set(grads) == set(params)
    for name in params:
        assert grads[name].shape == params[name].shape, name
        # floor 1e-5: through the whole tagger a gradient entry of ~1e-7 carries
        # ~1e-12 of finite-difference noise (seed 160 gave 1.2e-12 on 4e-7), which
        # the default floor of 1e-6 would count as a relative error of 1.2e-6
        result = check_gradient(loss, params[name], grads[name], floor=1e-5)
        assert result.max_rel_error < TOL, f"{name}: {result}"


def test_variational_dropout_shares_one_mask_over_time():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 9, 5))
    y, keep = layers.dropout_forward(x, 0.5, rng, shared_axis=1)
    assert keep.shape == (6, 1, 5)                                  # one mask per sentence and feature
    dropped = y == 0
    assert (dropped == dropped[:, :1]).all() and 0 < dropped.mean() < 1
    dy = rng.normal(size=x.shape)
    np.testing.assert_array_equal(layers.dropout_backward(dy, keep), dy * keep)


def random_char_ids(rng, N, T, L, C):
    """(N, T, L) ids in 2..C-1 left-aligned per token, some tokens empty (all 0)."""
    lengths = rng.integers(0, L + 1, size=(N, T))
    ids = rng.integers(2, C, size=(N, T, L))
    return np.where(np.arange(L) < lengths[..., None], ids, 0)


def max_margin_crossings(ids, p, width, margin=0.05):
    """How many (token, filter) maxima have a runner-up window with a
    different value within ``margin`` of the winner."""
    r, Dc = width // 2, p["table"].shape[1]
    padded = np.pad(ids, ((0, 0), (0, 0), (r, r)))
    a = sum(p["table"][padded[:, :, j:j + ids.shape[2]]] @ p["W"][j * Dc:(j + 1) * Dc] for j in range(width))
    a = np.where((ids != 0)[..., None], a, -np.inf)             # (N, T, L, F)
    top = a.max(axis=2, keepdims=True)
    with np.errstate(invalid="ignore"):                         # empty tokens: -inf - -inf
        gap = top - a
    return int(((gap > 1e-9) & (gap < margin)).sum())


@settings(deadline=None, max_examples=25)
@given(seeds, st.sampled_from([1, 3, 5]))
def test_char_cnn_gradients(seed, width):
    rng = np.random.default_rng(seed)
    N, T, L, C, Dc, F = (int(v) for v in rng.integers(1, 4, 3).tolist() + [6, 2, 3])
    ids = random_char_ids(rng, N, T, L, C)
    p = init_char_cnn(C, Dc, F, width, rng)
    p["table"] = rng.normal(size=(C, Dc))   # windows far apart, so the max rarely nearly ties
    p["b"] += rng.normal(size=F)
    dout = rng.normal(size=(N, T, F))
    # a max is not differentiable where two different windows tie: finite
    # differences (step 1e-3) would cross over, so such draws are skipped.
    # Equal windows (same characters) tie exactly and are fine: max(f, f) = f.
    assume(max_margin_crossings(ids, p, width) == 0)

    def loss():
        return (char_cnn_forward(ids, p["table"], p["W"], p["b"])[0] * dout).sum()

    _, cache = char_cnn_forward(ids, p["table"], p["W"], p["b"])
    grads = char_cnn_backward(dout, p["table"], p["W"], cache)
    for name in ("table", "W", "b"):
        result = check_gradient(loss, p[name], grads["d" + name])
        assert result.max_rel_error < TOL, f"{name}: {result}"


def test_char_cnn_matches_a_loop_over_windows():
    rng = np.random.default_rng(5)
    ids = np.array([[[3, 4, 5, 0], [2, 0, 0, 0], [0, 0, 0, 0]]])    # "abc", "x", an empty (padding) token
    p = init_char_cnn(6, 2, 4, 3, rng)
    p["b"] += rng.normal(size=4)
    out, _ = char_cnn_forward(ids, p["table"], p["W"], p["b"])
    for t, word in enumerate(([3, 4, 5], [2], [])):
        padded = [0, *word, 0]                                    # 0 marks both ends of the word
        windows = [np.concatenate([p["table"][c] for c in padded[l:l + 3]]) @ p["W"] + p["b"]
                   for l in range(len(word))]
        expected = np.max(windows, axis=0) if windows else np.zeros(4)
        np.testing.assert_allclose(out[0, t], expected, rtol=1e-12)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=1, max_size=6))
def test_reverse_index_reverses_each_rows_real_positions(rows):
    mask = np.array(rows, dtype=bool)
    expected = np.tile(np.arange(mask.shape[1]), (mask.shape[0], 1))   # the per-row loop it replaced
    for n in range(mask.shape[0]):
        real = np.flatnonzero(mask[n])
        expected[n, real] = real[::-1]
    np.testing.assert_array_equal(reverse_index(mask), expected)
