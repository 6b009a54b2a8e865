"""Lesson 01: what one LSTM step computes.

Goal
    Compute one step of an LSTM by hand, gate by gate, and see that it is
    exactly what the package's ``lstm_forward`` does on a sequence of length 1.
    Then see why the cell ``c`` is called the memory: a neuron whose forget
    gate is open (f ~ 1) and whose input gate is shut (i ~ 0) carries a value
    unchanged over many steps, while an ordinary neuron forgets it.

What you will see
    The shape of every intermediate array, the gate values of one sentence,
    "max |h_by_hand - h_package|: 5.6e-17" (rounding only), and how much of an initial cell
    value survives 50 steps in a memory neuron (almost all) and in an
    ordinary one (almost none).

Run it (from the repository root, after ``pip install .``)::

    python lessons/01_one_lstm_step.py

Runtime: about 1 second (quick mode the same).

The equations (gate order i, f, g, o along the 4H axis, as in
``lstm_numpy.model.lstm.GATES``)::

    a      = x_t Wx + h_{t-1} Wh + b          (N, 4H): all four gates in one product
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
    g      = tanh(a_g)                        the candidate value
    c_t    = f * c_{t-1} + i * g              keep some of the old cell, write some of g
    h_t    = o * tanh(c_t)                    show some of the cell

Dimension legend: N batch (sentences), D input size, H hidden size (neurons).
"""
import numpy as np

from lstm_numpy.model.lstm import GATES, init_lstm_params, lstm_forward, sigmoid

rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True)

# ---------------------------------------------------------------------------
# 1. The parameters: one fused weight matrix for all four gates
# ---------------------------------------------------------------------------
N, D, H = 2, 3, 4
params = init_lstm_params(D, H, rng)
Wx, Wh, b = params["Wx"], params["Wh"], params["b"]
# init_lstm_params sets every bias to zero except the forget gate's (1.0, so a
# fresh LSTM starts out remembering).  Add noise so that a mix-up of the gate
# blocks could not hide behind zeros.
b = b + rng.normal(0, 0.5, size=b.shape)
print(f"gate order along the 4H axis: {GATES}")
print(f"Wx {Wx.shape} (D, 4H)   Wh {Wh.shape} (H, 4H)   b {b.shape} (4H,)")
for k, name in enumerate(GATES):
    print(f"  gate {name}: columns {k * H}:{(k + 1) * H}")

# ---------------------------------------------------------------------------
# 2. One step by hand
# ---------------------------------------------------------------------------
x_t = rng.normal(size=(N, D))        # (N, D) the input word vectors at this step
prev_h = rng.normal(size=(N, H))     # (N, H) the previous output
prev_c = rng.normal(size=(N, H))     # (N, H) the previous cell (the memory)

a = x_t @ Wx + prev_h @ Wh + b       # (N, 4H) pre-activations of all gates at once
print(f"\npre-activations a = x_t Wx + prev_h Wh + b: shape {a.shape}")

a_i, a_f, a_g, a_o = (a[:, k * H:(k + 1) * H] for k in range(4))   # (N, H) each
i = sigmoid(a_i)        # input gate:  how much of the candidate to write, in (0, 1)
f = sigmoid(a_f)        # forget gate: how much of the old cell to keep,  in (0, 1)
g = np.tanh(a_g)        # candidate:   what to write,                    in (-1, 1)
o = sigmoid(a_o)        # output gate: how much of the cell to show,     in (0, 1)

next_c = f * prev_c + i * g          # (N, H)
next_h = o * np.tanh(next_c)         # (N, H)

print("sentence 0, one column per neuron:")
for name, value in (("i", i), ("f", f), ("g", g), ("o", o),
                    ("prev_c", prev_c), ("next_c", next_c), ("next_h", next_h)):
    print(f"  {name:>6s} {value[0]}")
print(f"gates i, f, o lie in ({min(i.min(), f.min(), o.min()):.3f}, "
      f"{max(i.max(), f.max(), o.max()):.3f}); g lies in ({g.min():.3f}, {g.max():.3f})")
print(f"|next_h| <= 1 always, because o < 1 and |tanh| < 1: max |next_h| = {np.abs(next_h).max():.3f}")

# ---------------------------------------------------------------------------
# 3. The same step with the package: a sequence of length T = 1
# ---------------------------------------------------------------------------
x = x_t[:, None, :]                  # (N, T=1, D)
mask = np.ones((N, 1), dtype=bool)   # (N, T): every step is a real word
out, (hT, cT), cache = lstm_forward(x, mask, prev_h, prev_c, Wx, Wh, b)
h_error = np.abs(next_h - out[:, 0]).max()
c_error = np.abs(next_c - cT).max()
print(f"\npackage lstm_forward on T=1: out {out.shape} (N, T, H), hT {hT.shape}, cT {cT.shape}")
print(f"max |h_by_hand - h_package|: {h_error:.1e}")
print(f"max |c_by_hand - c_package|: {c_error:.1e}")
gates_by_hand = np.concatenate([i, f, g, o], axis=1)               # (N, 4H) in GATES order
gate_error = np.abs(gates_by_hand - cache.gates[:, 0]).max()
print(f"max |gates_by_hand - cache.gates|: {gate_error:.1e}  (the cache keeps the activated gates for backward)")

# ---------------------------------------------------------------------------
# 4. The cell as memory
# ---------------------------------------------------------------------------
# Build a layer where neuron 0 is a "memory" neuron: its forget gate is pinned
# open (bias +10, so f = sigmoid(10) = 0.99995) and its input gate pinned shut
# (bias -10, i = 0.00005), whatever the input.  The other neurons keep their
# ordinary random weights.  Then ask: if the cell starts at +0.8 instead of
# -0.8, how different is it 50 steps later?  For neuron 0 the difference
# should be f^50 * 1.6, almost all of it; for an ordinary neuron, whose
# forget gate hovers around 0.5-0.8, it should be gone.
T_memory = 50
memory = init_lstm_params(D, H, rng)
Wx_m, Wh_m, b_m = memory["Wx"].copy(), memory["Wh"].copy(), memory["b"].copy()
i_col, f_col = GATES.index("i") * H, GATES.index("f") * H    # column of neuron 0 in each gate block
for col, bias in ((i_col, -10.0), (f_col, 10.0)):
    Wx_m[:, col] = 0.0       # the gate ignores the input...
    Wh_m[:, col] = 0.0       # ...and the previous output,
    b_m[col] = bias          # so it is fixed by its bias alone
# Neuron 0's output h feeds every neuron at the next step through row 0 of Wh.
# That is how the rest of a network reads a memory; here it would also leak the
# +0.8/-0.8 difference into the ordinary neurons, so cut that row for the demo.
Wh_m[0, :] = 0.0
x_long = rng.normal(size=(1, T_memory, D))
mask_long = np.ones((1, T_memory), dtype=bool)
h0 = np.zeros((1, H))
cells = {}
for start in (+0.8, -0.8):
    c0 = np.full((1, H), start)
    _, _, memory_cache = lstm_forward(x_long, mask_long, h0, c0, Wx_m, Wh_m, b_m)
    cells[start] = memory_cache.c[0]                         # (T, H): c_t after each step
difference = cells[+0.8] - cells[-0.8]                       # (T, H)
f_memory = sigmoid(np.array([10.0]))[0]
print(f"\nmemory neuron 0: f = {f_memory:.5f}, i = {1 - f_memory:.5f} at every step")
print("difference in c_t between starting at c0=+0.8 and c0=-0.8 (1.6 at t=0):")
for t in (0, 9, 19, 49):
    print(f"  after step {t + 1:2d}: neuron 0 (memory) {difference[t, 0]:+.4f}   "
          f"neurons 1-3 (ordinary) max |.| {np.abs(difference[t, 1:]).max():.1e}")
forget_ordinary = memory_cache.gates[0, :, H + 1:2 * H]     # (T, H-1) forget gates of neurons 1..3
print(f"ordinary neurons' mean forget gate: {forget_ordinary.mean():.3f}; "
      f"{forget_ordinary.mean():.3f}^50 = {forget_ordinary.mean() ** 50:.1e}")
print(f"predicted memory left in neuron 0: 1.6 * f^50 = {1.6 * f_memory ** 50:.4f}, "
      f"measured {difference[-1, 0]:.4f}")

# ---------------------------------------------------------------------------
# 5. What we just showed
# ---------------------------------------------------------------------------
assert a.shape == (N, 4 * H) and next_h.shape == next_c.shape == (N, H)
assert np.all((i > 0) & (i < 1) & (f > 0) & (f < 1) & (o > 0) & (o < 1)) and np.all(np.abs(g) < 1)
assert h_error < 1e-12 and c_error < 1e-12 and gate_error < 1e-12, "hand-made step equals lstm_forward"
assert np.allclose(difference[-1, 0], 1.6 * f_memory ** T_memory, rtol=1e-3), "the memory neuron keeps its value"
assert difference[-1, 0] > 1.59, "almost nothing of the memory is lost in 50 steps"
assert np.all(np.abs(difference[-1, 1:]) < 1e-3), "ordinary neurons have forgotten c0 after 50 steps"
print("\nall checks passed")
