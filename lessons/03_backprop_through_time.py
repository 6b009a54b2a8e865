"""Lesson 03: backpropagation through time, masking and padding.

Goal
    Sentences have different lengths, so a batch is padded to the longest one
    and carries a mask (1 real word, 0 padding).  See what the package's LSTM
    does at padding (the state passes through unchanged, the output is zero),
    write backpropagation through time by hand as a loop of lesson 02's step
    backward run from the last step to the first, check it against finite
    differences and against ``lstm_backward``, see that padded inputs receive
    exactly zero gradient, and watch the gradient of a loss on the last word
    shrink as it flows back to earlier words (vanishing gradients), unless the
    forget gate is held open.

What you will see
    The mask of a padded batch; "max |dWh_by_hand - dWh_package|: 2.2e-16";
    "max |dx| at padded positions: 0.0e+00"; the norm of dLoss/dx_t at a few
    t for three forget-gate biases, and the figure
    ``lessons/out/03_gradient_norm_over_time.png``.

Run it (from the repository root, after ``pip install .``)::

    python lessons/03_backprop_through_time.py

Runtime: about 3 seconds (quick mode the same).

Padding, as ``lstm_numpy.model.lstm`` defines it (m = mask of the step)::

    c_t = m * c_new + (1 - m) * c_{t-1}       the state passes through padding
    h_t = m * h_new + (1 - m) * h_{t-1}
    out_t = m * h_t                           outputs at padding are zero

Dimension legend: N batch, T padded length, D input size, H hidden size.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from _quick import OUT  # noqa: E402

from lstm_numpy.gradcheck import check_gradient  # noqa: E402
from lstm_numpy.model.lstm import GATES, init_lstm_params, lstm_backward, lstm_forward  # noqa: E402

rng = np.random.default_rng(0)

# ---------------------------------------------------------------------------
# 1. A padded batch
# ---------------------------------------------------------------------------
lengths = np.array([6, 4, 2])
N, T, D, H = len(lengths), lengths.max(), 4, 5
mask = np.arange(T)[None, :] < lengths[:, None]          # (N, T) bool, real words left-aligned
x = rng.normal(size=(N, T, D))                            # (N, T, D); rows past a length are padding
print("mask (one row per sentence, 1 = real word):")
print(mask.astype(int))

params = init_lstm_params(D, H, rng)
Wx, Wh = params["Wx"], params["Wh"]
b = params["b"] + rng.normal(0, 0.5, size=4 * H)
h0, c0 = rng.normal(size=(N, H)), rng.normal(size=(N, H))
out, (hT, cT), cache = lstm_forward(x, mask, h0, c0, Wx, Wh, b)

# ---------------------------------------------------------------------------
# 2. What the forward pass does at padding
# ---------------------------------------------------------------------------
pad = ~mask
last = lengths - 1                                        # index of each sentence's last real word
print(f"\nmax |out| at padded positions: {np.abs(out[pad]).max():.1e}")
state_drift = max(np.abs(cache.h[n, last[n]:] - cache.h[n, last[n]]).max() for n in range(N))
print(f"max change of h_t across a sentence's padding: {state_drift:.1e}  (the state passes through)")
final_vs_last = np.abs(hT - cache.h[np.arange(N), last]).max()
print(f"max |hT - h at the last real word|: {final_vs_last:.1e}")
# The short sentence run alone, without padding, gives the same numbers.
short = 2
alone, (h_alone, _), _ = lstm_forward(x[short:short + 1, :lengths[short]], mask[short:short + 1, :lengths[short]],
                                      h0[short:short + 1], c0[short:short + 1], Wx, Wh, b)
alone_error = max(np.abs(alone[0] - out[short, :lengths[short]]).max(), np.abs(h_alone[0] - hT[short]).max())
print(f"sentence {short} alone (T={lengths[short]}) vs inside the padded batch: max difference {alone_error:.1e}")

# ---------------------------------------------------------------------------
# 3. Backpropagation through time, by hand
# ---------------------------------------------------------------------------
# The loss is a random linear function of every output and of the final
# states, so its upstream gradients are dout, dhT, dcT.  dout holds random
# values at padded positions too: they must have no effect, since out is zero there.
dout = rng.normal(size=(N, T, H))
dhT, dcT = rng.normal(size=(N, H)), rng.normal(size=(N, H))


def sequence_loss():
    """Forward over the batch and the linear loss; reads the arrays above."""
    out, (hT, cT), _ = lstm_forward(x, mask, h0, c0, Wx, Wh, b)
    return (out * dout).sum() + (hT * dhT).sum() + (cT * dcT).sum()


dx = np.zeros_like(x)
dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
dh_next, dc_next = dhT.copy(), dcT.copy()       # gradient arriving from step t+1 (from the loss at t = T)
for t in range(T - 1, -1, -1):
    m = mask[:, t, None].astype(float)          # (N, 1)
    prev_h = cache.h[:, t - 1] if t > 0 else h0
    prev_c = cache.c[:, t - 1] if t > 0 else c0
    i, f, g, o = (cache.gates[:, t, k * H:(k + 1) * H] for k in range(len(GATES)))
    tanh_c = cache.tanh_c[:, t]
    # h_t feeds two places: the output out_t (only at real words) and step t+1.
    dh = dh_next + m * dout[:, t]
    dc = dc_next
    # h_t = m h_new + (1 - m) h_{t-1}: at a real word the gradient goes to the
    # step's computation; at padding it skips the step and goes to h_{t-1}.
    dh_new = m * dh
    # Lesson 02's step backward, on dh_new and m * dc:
    do = dh_new * tanh_c
    dc_new = m * dc + dh_new * o * (1 - tanh_c ** 2)
    da = np.concatenate([dc_new * g * i * (1 - i), dc_new * prev_c * f * (1 - f),
                         dc_new * i * (1 - g ** 2), do * o * (1 - o)], axis=1)   # (N, 4H), zero at padding
    dx[:, t] = da @ Wx.T
    dWx += x[:, t].T @ da               # the same weights are used at every step: their gradients add up
    dWh += prev_h.T @ da
    db += da.sum(axis=0)
    dh_next = da @ Wh.T + (1 - m) * dh          # to step t-1: through the step, or around it at padding
    dc_next = dc_new * f + (1 - m) * dc
dh0, dc0 = dh_next, dc_next
hand = {"dx": dx, "dh0": dh0, "dc0": dc0, "dWx": dWx, "dWh": dWh, "db": db}

print("\nhand BPTT vs finite differences:")
inputs = {"dx": x, "dh0": h0, "dc0": c0, "dWx": Wx, "dWh": Wh, "db": b}
fd_errors = {}
for name, grad in hand.items():
    fd_errors[name] = check_gradient(sequence_loss, inputs[name], grad).max_rel_error
    print(f"  {name:4s} max relative error: {fd_errors[name]:.1e}")

package = lstm_backward(dout, dhT, dcT, cache)
print("hand BPTT vs the package's lstm_backward:")
package_errors = {}
for name, grad in hand.items():
    package_errors[name] = np.abs(grad - package[name]).max()
    print(f"  max |{name}_by_hand - {name}_package|: {package_errors[name]:.1e}")

# ---------------------------------------------------------------------------
# 4. Padding receives no gradient
# ---------------------------------------------------------------------------
print(f"\nmax |dx| at padded positions: {np.abs(dx[pad]).max():.1e}")
print(f"max |dx| at real positions:   {np.abs(dx[mask]).max():.1e}")
# And garbage placed in the padding changes no gradient at all:
x_noisy = x + 100.0 * pad[..., None] * rng.normal(size=x.shape)
_, _, noisy_cache = lstm_forward(x_noisy, mask, h0, c0, Wx, Wh, b)
noisy = lstm_backward(dout, dhT, dcT, noisy_cache)
garbage_effect = max(np.abs(noisy[k] - package[k]).max() for k in ("dWx", "dWh", "db", "dh0", "dc0"))
print(f"padded inputs replaced by large noise: max change of any weight/state gradient {garbage_effect:.1e}")

# ---------------------------------------------------------------------------
# 5. How far back does the gradient reach?  Vanishing gradients
# ---------------------------------------------------------------------------
# A loss on the last word only of long sentences; how large is dLoss/dx_t for
# earlier t?  Going back one step multiplies the cell's gradient by f (see
# dc_next above), so with f ~ 0.5-0.7 it shrinks geometrically, while a forget
# gate held near 1 (large forget bias) lets it through.  The package starts the
# forget bias at 1.0 for this reason.
T_long, N_long, D_long, H_long = 100, 16, 8, 16
x_long = rng.normal(size=(N_long, T_long, D_long))
mask_long = np.ones((N_long, T_long), dtype=bool)
zeros = np.zeros((N_long, H_long))
dout_long = np.zeros((N_long, T_long, H_long))
dout_long[:, -1] = rng.normal(size=(N_long, H_long))      # loss on the last word only
forget_biases = (0.0, 1.0, 5.0)
norms = {}
print(f"\nloss on the last of T={T_long} words: norm of dLoss/dx_t (over the batch)")
for forget_bias in forget_biases:
    p = init_lstm_params(D_long, H_long, np.random.default_rng(1))   # same weights for each bias
    f_block = GATES.index("f")
    p["b"][f_block * H_long:(f_block + 1) * H_long] = forget_bias
    _, _, long_cache = lstm_forward(x_long, mask_long, zeros, zeros, p["Wx"], p["Wh"], p["b"])
    grads = lstm_backward(dout_long, None, None, long_cache)
    norms[forget_bias] = np.linalg.norm(grads["dx"], axis=(0, 2))    # (T,)
    mean_f = long_cache.gates[:, :, f_block * H_long:(f_block + 1) * H_long].mean()
    n = norms[forget_bias]
    print(f"  forget bias {forget_bias:3.1f} (mean f {mean_f:.3f}): t=99 {n[99]:.1e}  t=90 {n[90]:.1e}  "
          f"t=50 {n[50]:.1e}  t=0 {n[0]:.1e}   ratio t=0 / t=99: {n[0] / n[99]:.1e}")

fig, ax = plt.subplots(figsize=(6, 3.5))
for forget_bias in forget_biases:
    ax.semilogy(np.arange(T_long), norms[forget_bias], label=f"forget-gate bias {forget_bias:g}")
ax.set_xlabel("time step t (the loss is on t = 99)")
ax.set_ylabel("||dLoss / dx_t||")
ax.set_title("Gradient flowing back through time")
ax.legend()
fig.tight_layout()
figure = OUT / "03_gradient_norm_over_time.png"
fig.savefig(figure, dpi=120)
plt.close(fig)
print(f"wrote {figure}")

# ---------------------------------------------------------------------------
# 6. What we just showed
# ---------------------------------------------------------------------------
assert np.all(out[pad] == 0), "outputs at padding are zero"
assert state_drift == 0 and final_vs_last == 0, "the state passes through padding unchanged"
assert alone_error < 1e-15, "padding does not change a sentence's outputs"
assert all(err < 1e-6 for err in fd_errors.values()), f"hand BPTT matches finite differences: {fd_errors}"
assert all(err < 1e-12 for err in package_errors.values()), f"hand BPTT equals lstm_backward: {package_errors}"
assert np.all(dx[pad] == 0) and np.all(package["dx"][pad] == 0), "padded inputs get exactly zero gradient"
assert garbage_effect < 1e-12, "what sits in the padding does not matter"
assert norms[0.0][0] / norms[0.0][-1] < 1e-6, "with f ~ 0.5 the gradient vanishes over 100 steps"
assert norms[1.0][0] / norms[1.0][-1] < 1e-6, "and still with the default forget bias of 1"
assert norms[5.0][0] / norms[5.0][-1] > 1e-1, "an open forget gate carries the gradient back 100 steps"
assert figure.exists()
print("\nall checks passed")
