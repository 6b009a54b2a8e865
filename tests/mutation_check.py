"""Mutation check: break the code on purpose, one mutation at a time, and see which test catches it.

Run from a scratch copy, never from a checkout with uncommitted work (each file is restored after
its mutation, but an interrupt could leave one mutated):

    d=$(mktemp -d) && git clone -q . "$d" && python "$d/tests/mutation_check.py"

Each mutation's tests run with an empty Numba cache (NUMBA_CACHE_DIR): Numba checks a cached
kernel against its own source file only, so a kernel that inlines a mutated function from another
file (the cell maths of lstm_cells_numba.py, the activations) would otherwise be loaded unmutated.

Not collected by pytest (its name does not start with test_).
"""
import os
import pathlib
import subprocess
import sys
import tempfile

root = pathlib.Path(__file__).resolve().parents[1]
M = [
 ("drop forget-gate term from dc_prev", "lstm_numpy/model/lstm.py", "dc_next = dc_new * f + (1 - mt) * dc", "dc_next = (1 - mt) * dc", "tests/test_lstm_grad.py"),
 ("swap i and f gate blocks in backward", "lstm_numpy/model/lstm.py", "da[:, t, :H] = dc_new * g * i * (1 - i)\n        da[:, t, H:2 * H] = dc_new * prev_c * f * (1 - f)", "da[:, t, H:2 * H] = dc_new * g * i * (1 - i)\n        da[:, t, :H] = dc_new * prev_c * f * (1 - f)", "tests/test_lstm_grad.py"),
 ("drop tanh'(c) in dc_new", "lstm_numpy/model/lstm.py", "dh_new * o * (1 - tanh_c ** 2)", "dh_new * o", "tests/test_lstm_grad.py"),
 ("upstream grad at padded steps not masked", "lstm_numpy/model/lstm.py", "dh = dh_next + mt * dout[:, t]", "dh = dh_next + dout[:, t]", "tests/test_lstm_grad.py"),
 ("no pass-through of dh over padding", "lstm_numpy/model/lstm.py", "dh_next = da[:, t] @ Wh.T + (1 - mt) * dh", "dh_next = da[:, t] @ Wh.T", "tests/test_lstm_grad.py"),
 ("dWh uses h_t instead of h_{t-1}", "lstm_numpy/model/lstm.py", "h_prev.reshape(N * T, H).T @ da2", "cache.h.reshape(N * T, H).T @ da2", "tests/test_lstm_grad.py"),
 ("embedding grad keeps one occurrence of a repeated id", "lstm_numpy/model/layers.py", "np.add.reduceat(flat_dx[order], starts, axis=0)", "flat_dx[order][starts]", "tests/test_layers_grad.py"),
 ("dropout backward ignores mask", "lstm_numpy/model/layers.py", "return dy if keep is None else dy * keep", "return dy", "tests/test_layers_grad.py"),
 ("cross-entropy grad not averaged", "lstm_numpy/model/layers.py", "dz *= (m / n_real)[..., None]", "dz *= m[..., None]", "tests/test_layers_grad.py"),
 ("bilstm: backward-direction dx not reordered", "lstm_numpy/model/bilstm.py", "dx = grads_f[\"dx\"] + _gather_time(grads_b[\"dx\"], cache.rev)", "dx = grads_f[\"dx\"] + grads_b[\"dx\"]", "tests/test_layers_grad.py"),
 ("bilstm: backward direction runs over padding", "lstm_numpy/model/bilstm.py", "return np.where(mask, np.take_along_axis(real_first, mirror, axis=1), np.arange(T)).astype(np.int64)", "return np.tile(np.arange(T)[::-1], (N, 1))", "tests/test_layers_grad.py"),
 ("Adam without bias correction", "lstm_numpy/training/optim.py", "m_hat, v_hat = m[rows] / correct1, v[rows] / correct2", "m_hat, v_hat = m[rows], v[rows]", "tests/test_optim.py"),
 ("Adam kernel: bias correction of m applied after lr", "lstm_numpy/training/optim.py", "w_row[j] -= lr * (mj / correct1) / (np.sqrt(vj / correct2) + eps)", "w_row[j] -= lr * mj / correct1 / (np.sqrt(vj / correct2) + eps)", "tests/test_optim.py"),
 ("numba embedding gradient: NumPy's tree of eight sums combined in another order", "lstm_numpy/model/layers.py", "out[j] = ((r[0, j] + r[1, j]) + (r[2, j] + r[3, j])) + ((r[4, j] + r[5, j]) + (r[6, j] + r[7, j]))", "out[j] = (((r[0, j] + r[1, j]) + r[2, j]) + r[3, j]) + ((r[4, j] + r[5, j]) + (r[6, j] + r[7, j]))", "tests/test_layers_grad.py"),
 ("clipping scales the wrong way", "lstm_numpy/training/optim.py", "scale = max_norm / (norm + 1e-12)", "scale = norm / max_norm", "tests/test_optim.py"),
 ("SGD momentum applied after update", "lstm_numpy/training/optim.py", "                v *= self.momentum\n                v += g\n                w -= self.lr * v", "                w -= self.lr * v\n                v *= self.momentum\n                v += g", "tests/test_optim.py"),
 ("numba: drop forget-gate term from dc_prev", "lstm_numpy/model/lstm_cells_numba.py", "dc_state[n, j] = da[n, t, H2 + j] * gates[n, t, H + j] + (one - m) * dc_state[n, j]", "dc_state[n, j] = (one - m) * dc_state[n, j]", "tests/test_lstm_numba.py"),
 ("numba: input-gate gradient dropped", "lstm_numpy/model/lstm_cells_numba.py", "da[n, t, j] = da[n, t, H2 + j] * gates[n, t, H2 + j] * gates[n, t, j] * (one - gates[n, t, j])", "da[n, t, j] = 0.0 * da[n, t, H2 + j]", "tests/test_lstm_numba.py"),
 ("numba: keep mask ignored in backward", "lstm_numpy/model/lstm_cells_numba.py", "da[n, t, H3 + j] = (m * dh_state[n, j] * keep[n, j] * tanh_cs[n, t, j]", "da[n, t, H3 + j] = (m * dh_state[n, j] * tanh_cs[n, t, j]", "tests/test_lstm_numba.py"),
 ("numba: upstream gradient at padding not masked", "lstm_numpy/model/lstm_cells_numba.py", "dh_state[n, j] += m * dout[n, t, j]", "dh_state[n, j] += dout[n, t, j]", "tests/test_lstm_numba.py"),
 ("numba: every sentence reads the first sentence's neuron mask", "lstm_numpy/model/lstm_cells_numba.py", "tanh_cs[n, t, j] * keep[n, j]) + (one - m)", "tanh_cs[n, t, j] * keep[0, j]) + (one - m)", "tests/test_recurrent_many.py"),
 ("inference kernel: the neuron mask ignored", "lstm_numpy/model/lstm_infer_numba.py", "h[r] = o * _tanh(new_c) * keep", "h[r] = o * _tanh(new_c)", "tests/test_recurrent_many.py"),
 ("inference kernel: a finished row keeps running", "lstm_numpy/model/lstm_infer_numba.py", 'active = np.searchsorted(-lengths[order], -np.arange(T), side="left")', 'active = np.searchsorted(-lengths[order], -np.arange(T), side="right")', "tests/test_recurrent_many.py"),
 ("stacked bilstm: backward direction's tokens left reversed", "lstm_numpy/model/bilstm.py", "np.take(outs[1], back, axis=1)", "outs[1]", "tests/test_recurrent_many.py"),
 ("IOB1 detection ignores B- opening entities", "lstm_numpy/labels.py", 'return "iob1" if i_opens and not b_opens else "iob2"', 'return "iob1" if i_opens else "iob2"', "tests/test_labels.py"),
 ("linear dW transposed", "lstm_numpy/model/layers.py", "\"dW\": dz2.T @ h2", "\"dW\": (h2.T @ dz2).T * 1.0001", "tests/test_layers_grad.py"),
]
for name, f, old, new, test in M:
    p = root / f
    src = p.read_text()
    assert old in src, (name, old)
    p.write_text(src.replace(old, new, 1))
    try:
        with tempfile.TemporaryDirectory() as numba_cache:
            env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": numba_cache}
            r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", test], cwd=root, capture_output=True, text=True, env=env)
        failed = [l for l in r.stdout.splitlines() if l.startswith("FAILED")]
        print(f"{name:50s} -> {'CAUGHT by ' + failed[0].split(' ')[1] if r.returncode else 'NOT CAUGHT'}", flush=True)
    finally:
        p.write_text(src)
