"""Lesson 02: backpropagation through one LSTM step, derived line by line.

Goal
    Derive the gradient of a loss with respect to every input and parameter of
    one LSTM step, one local derivative at a time (the chain rule read
    backwards through the forward code of lesson 01), check each result with
    finite differences (``lstm_numpy.gradcheck.check_gradient``), and then
    check that it equals the package's ``lstm_backward`` on a sequence of
    length T = 1.

What you will see
    The loss of one step, then each backward line with the local derivative
    it uses, then one line per gradient such as
    "dWh      max relative error vs finite differences: 2.5e-10", and finally
    "max |dWx_by_hand - dWx_package|: 8.9e-16".

Run it (from the repository root, after ``pip install .``)::

    python lessons/02_backprop_one_step.py

Runtime: about 1 second (quick mode the same).

Notation: ``dX`` means dLoss/dX, an array of the same shape as X.  The loss
here is a random linear function of the step's outputs,
``loss = sum(next_h * dnext_h) + sum(next_c * dnext_c)``, so the upstream
gradients are exactly ``dnext_h`` and ``dnext_c``: any loss a real network
puts on top reaches this step only through those two arrays.
Dimension legend: N batch, D input size, H hidden size; gate order i, f, g, o.
"""
import numpy as np

from lstm_numpy.gradcheck import check_gradient
from lstm_numpy.model.lstm import init_lstm_params, lstm_backward, lstm_forward, sigmoid

rng = np.random.default_rng(0)

N, D, H = 3, 4, 5
params = init_lstm_params(D, H, rng)
Wx, Wh = params["Wx"], params["Wh"]
b = params["b"] + rng.normal(0, 0.5, size=4 * H)   # non-zero biases: a reference that only agrees at zero proves little
x_t = rng.normal(size=(N, D))
prev_h = rng.normal(size=(N, H))
prev_c = rng.normal(size=(N, H))
dnext_h = rng.normal(size=(N, H))                   # upstream gradient, random
dnext_c = rng.normal(size=(N, H))


def step_loss():
    """Forward one step (lesson 01) and the linear loss; reads the arrays above."""
    a = x_t @ Wx + prev_h @ Wh + b
    i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
    g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    return (next_h * dnext_h).sum() + (next_c * dnext_c).sum()


# ---------------------------------------------------------------------------
# 1. Forward, keeping every intermediate value backward will need
# ---------------------------------------------------------------------------
a = x_t @ Wx + prev_h @ Wh + b                  # (N, 4H)
i, f = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H])
g, o = np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
next_c = f * prev_c + i * g                     # (N, H)
tanh_c = np.tanh(next_c)                        # (N, H) kept: used twice below
next_h = o * tanh_c                             # (N, H)
print(f"loss = {step_loss():.6f}")

# ---------------------------------------------------------------------------
# 2. Backward: walk the forward lines in reverse, one local derivative each
# ---------------------------------------------------------------------------
print("\nbackward, last forward line first:")

# next_h = o * tanh_c.  A product: d(uv)/du = v.
do = dnext_h * tanh_c                           # (N, H)
dtanh_c = dnext_h * o
print("  next_h = o * tanh_c            ->  do = dnext_h * tanh_c,  dtanh_c = dnext_h * o")

# tanh_c = tanh(next_c).  d tanh(u)/du = 1 - tanh(u)^2, and we kept tanh(u).
# next_c also receives its own upstream gradient dnext_c: gradients from the
# two paths that use next_c add up.
dc = dnext_c + dtanh_c * (1 - tanh_c ** 2)
print("  tanh_c = tanh(next_c)          ->  dc = dnext_c + dtanh_c * (1 - tanh_c^2)   (two paths add)")

# next_c = f * prev_c + i * g.  Each product term gives the other factor.
df = dc * prev_c
dprev_c = dc * f        # the forget gate scales the memory's gradient, as it scaled the memory
di = dc * g
dg = dc * i
print("  next_c = f * prev_c + i * g    ->  df = dc * prev_c,  dprev_c = dc * f,  di = dc * g,  dg = dc * i")

# The gate nonlinearities.  d sigmoid(u)/du = s (1 - s) with s = sigmoid(u);
# d tanh(u)/du = 1 - tanh(u)^2: both written with the *outputs*, which we kept.
da = np.concatenate([di * i * (1 - i),          # (N, 4H), in gate order i, f, g, o
                     df * f * (1 - f),
                     dg * (1 - g ** 2),
                     do * o * (1 - o)], axis=1)
print("  i, f, o = sigmoid(a_*)         ->  da_i = di i(1-i),  da_f = df f(1-f),  da_o = do o(1-o)")
print("  g = tanh(a_g)                  ->  da_g = dg (1 - g^2)")

# a = x_t Wx + prev_h Wh + b.  For y = u W: du = dy W^T and dW = u^T dy
# (shapes force it: dW must be (D, 4H) = (D, N) @ (N, 4H)); the bias is
# added to every row, so its gradient sums over the batch.
dx_t = da @ Wx.T                                 # (N, D)
dprev_h = da @ Wh.T                              # (N, H)
dWx = x_t.T @ da                                 # (D, 4H)
dWh = prev_h.T @ da                              # (H, 4H)
db = da.sum(axis=0)                              # (4H,)
print("  a = x_t Wx + prev_h Wh + b     ->  dx_t = da Wx^T, dprev_h = da Wh^T, dWx = x_t^T da, "
      "dWh = prev_h^T da, db = sum_n da")

# The two local derivatives we leaned on, checked on numbers:
u, e = 0.3, 1e-6
sigmoid_slope = (sigmoid(np.array([u + e])) - sigmoid(np.array([u - e])))[0] / (2 * e)
s = sigmoid(np.array([u]))[0]
tanh_slope = (np.tanh(u + e) - np.tanh(u - e)) / (2 * e)
print(f"\nat u=0.3: sigmoid slope by differences {sigmoid_slope:.8f}, s(1-s) = {s * (1 - s):.8f}")
print(f"at u=0.3: tanh slope by differences    {tanh_slope:.8f}, 1-tanh^2 = {1 - np.tanh(u) ** 2:.8f}")

# ---------------------------------------------------------------------------
# 3. Check every gradient with finite differences
# ---------------------------------------------------------------------------
# check_gradient nudges each entry of the array in place (by +-eps, +-2 eps),
# re-evaluates step_loss, and compares the slope with our analytic gradient.
print("\nfinite-difference check (five-point central differences, float64):")
hand = {"dx_t": dx_t, "dprev_h": dprev_h, "dprev_c": dprev_c, "dWx": dWx, "dWh": dWh, "db": db}
inputs = {"dx_t": x_t, "dprev_h": prev_h, "dprev_c": prev_c, "dWx": Wx, "dWh": Wh, "db": b}
errors = {}
for name, grad in hand.items():
    result = check_gradient(step_loss, inputs[name], grad)
    errors[name] = result.max_rel_error
    print(f"  {name:8s} max relative error vs finite differences: {result.max_rel_error:.1e}")

# ---------------------------------------------------------------------------
# 4. The package's lstm_backward on T = 1 gives the same numbers
# ---------------------------------------------------------------------------
# With one step, out[:, 0] is next_h and cT is next_c, so the upstream
# gradients go in as dout (N, 1, H) and dcT (N, H).
mask = np.ones((N, 1), dtype=bool)
_, _, cache = lstm_forward(x_t[:, None, :], mask, prev_h, prev_c, Wx, Wh, b)
package = lstm_backward(dnext_h[:, None, :], None, dnext_c, cache)
pairs = {"dx_t": package["dx"][:, 0], "dprev_h": package["dh0"], "dprev_c": package["dc0"],
         "dWx": package["dWx"], "dWh": package["dWh"], "db": package["db"]}
print("\nagainst lstm_backward(dout, dhT=None, dcT, cache) on T=1:")
differences = {}
for name, value in pairs.items():
    differences[name] = np.abs(hand[name] - value).max()
    print(f"  max |{name}_by_hand - {name}_package|: {differences[name]:.1e}")

# ---------------------------------------------------------------------------
# 5. What we just showed
# ---------------------------------------------------------------------------
assert abs(sigmoid_slope - s * (1 - s)) < 1e-8 and abs(tanh_slope - (1 - np.tanh(u) ** 2)) < 1e-8
assert all(err < 1e-6 for err in errors.values()), f"hand gradients match finite differences: {errors}"
assert all(d < 1e-12 for d in differences.values()), f"hand gradients equal lstm_backward: {differences}"
print("\nall checks passed")
