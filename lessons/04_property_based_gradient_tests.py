"""Lesson 04: property-based tests of gradients with Hypothesis.

Goal
    A gradient check on one hand-picked problem (lessons 02-03) proves little:
    a bug may only show with padding, or with one hidden unit, or with T = 1.
    Instead of picking problems, state a *property* that must hold for every
    problem, "backward agrees with finite differences", and let Hypothesis
    draw the problems: batch size, lengths, padding, sizes and values.  Run
    the property on the package's ``lstm_backward`` (it holds), then on two
    deliberately broken copies of it, and watch Hypothesis find a failing
    problem and *shrink* it to the smallest one it can, which points straight
    at the bug.

What you will see
    "property held on 40 drawn problems" for the package; then, for each bug,
    the assertion message (which gradient is wrong and where) and the shrunk
    falsifying example, e.g. ``lengths=[1], extra_padding=0, D=1, H=1``.

Run it (from the repository root, after ``pip install ".[test]"``, which
adds Hypothesis)::

    python lessons/04_property_based_gradient_tests.py

Runtime: about 5 seconds (quick mode about 3).

How the tests in ``tests/test_lstm_grad.py`` are written is the same: a
strategy draws a problem, ``@settings(deadline=None)`` because a gradient
check is slow, ``@given`` runs the property on many drawn problems.
Dimension legend: N batch, T padded length, D input size, H hidden size.
"""
import numpy as np
from _quick import QUICK
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from lstm_numpy.gradcheck import check_gradient
from lstm_numpy.model.lstm import init_lstm_params, lstm_backward, lstm_forward, lstm_param_grads

rng = np.random.default_rng(0)
MAX_EXAMPLES = 15 if QUICK else 40
TOLERANCE = 1e-6
WRT = ("x", "h0", "c0", "Wx", "Wh", "b")      # every input of lstm_forward that has a gradient

# ---------------------------------------------------------------------------
# 1. A problem, built from a few small drawn numbers
# ---------------------------------------------------------------------------
# Hypothesis draws the *structure* (lengths, padding, sizes) directly, so it
# can shrink each one towards its simplest value; the float values come from
# a drawn seed, which it shrinks towards 0.


def make_problem(lengths, extra_padding, D, H, seed):
    """A float64 LSTM problem: padded batch, non-zero biases and states, upstream gradients."""
    problem_rng = np.random.default_rng(seed)
    N, T = len(lengths), max(lengths) + extra_padding
    p = init_lstm_params(D, H, problem_rng)
    return {
        "x": problem_rng.normal(size=(N, T, D)),
        "mask": np.arange(T)[None, :] < np.array(lengths)[:, None],        # (N, T), left-aligned
        "h0": problem_rng.normal(size=(N, H)),
        "c0": problem_rng.normal(size=(N, H)),
        "Wx": 2 * p["Wx"], "Wh": 2 * p["Wh"],
        "b": problem_rng.normal(size=4 * H),
        "dout": problem_rng.normal(size=(N, T, H)),      # the loss is sum(out*dout) + sum(hT*dhT) + sum(cT*dcT)
        "dhT": problem_rng.normal(size=(N, H)),
        "dcT": problem_rng.normal(size=(N, H)),
    }


def linear_loss(p):
    out, (hT, cT), _ = lstm_forward(p["x"], p["mask"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
    return (out * p["dout"]).sum() + (hT * p["dhT"]).sum() + (cT * p["dcT"]).sum()


# ---------------------------------------------------------------------------
# 2. The property, for any backward function
# ---------------------------------------------------------------------------
# settings: deadline=None because a finite-difference check takes a while;
# derandomize=True so this lesson draws the same problems every run (a test
# suite would rather keep exploring); database=None so nothing is written to
# .hypothesis/.  max_examples is how many problems to try.  phases leaves out
# the final "explain" phase, which reruns the shrunk example many times to
# report which arguments could vary: slow for a gradient check, and not needed here.


def gradient_property(backward, problems_tried, problems_failed):
    """A Hypothesis test: ``backward`` agrees with finite differences on every drawn problem.

    Every problem it runs is appended to ``problems_tried``, every failing one to ``problems_failed``.
    """
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
    @given(lengths=st.lists(st.integers(1, 4), min_size=1, max_size=3),
           extra_padding=st.integers(0, 2),
           D=st.integers(1, 3), H=st.integers(1, 3),
           seed=st.integers(0, 255))
    def backward_matches_finite_differences(lengths, extra_padding, D, H, seed):
        problems_tried.append((lengths, extra_padding, D, H, seed))
        p = make_problem(lengths, extra_padding, D, H, seed)
        _, _, cache = lstm_forward(p["x"], p["mask"], p["h0"], p["c0"], p["Wx"], p["Wh"], p["b"])
        grads = backward(p["dout"], p["dhT"], p["dcT"], cache)
        for name in WRT:
            result = check_gradient(lambda: linear_loss(p), p[name], grads["d" + name])
            if result.max_rel_error >= TOLERANCE:
                problems_failed.append(problems_tried[-1])
            assert result.max_rel_error < TOLERANCE, f"d{name}: {result}"
    return backward_matches_finite_differences


# ---------------------------------------------------------------------------
# 3. The package's backward: the property holds
# ---------------------------------------------------------------------------
tried, failed = [], []
gradient_property(lstm_backward, tried, failed)()        # calling a @given function runs all its examples
shapes = sorted({(len(lengths), max(lengths) + extra, D, H) for lengths, extra, D, H, _ in tried})
with_padding = sum(1 for lengths, extra, *_ in tried if extra > 0 or min(lengths) < max(lengths))
print(f"lstm_backward: property held on {len(tried)} drawn problems")
largest = np.max(shapes, axis=0)
print(f"  {len(shapes)} distinct shapes (N, T, D, H), from {shapes[0]} up to N={largest[0]}, T={largest[1]}, "
      f"D={largest[2]}, H={largest[3]}; {with_padding} had padding")

# ---------------------------------------------------------------------------
# 4. Two broken backward passes
# ---------------------------------------------------------------------------
# A copy of lstm_backward's time loop with a switch for two plausible slips:
#   "forget"  - the cell's gradient to the previous step is dc_new instead of
#               dc_new * f: forgetting that the forget gate scales the memory.
#   "padding" - at a padded step the cell's gradient is dropped instead of
#               passed through (the (1 - m) * dc term is missing), so the
#               gradient of the final state never reaches a short sentence.


def broken_backward(dout, dhT, dcT, cache, bug):
    x, mask, h0, c0, Wx, Wh, gates, hs, cs, tanh_cs, keep = cache
    N, T, _ = x.shape
    H = Wh.shape[0]
    m_all = mask.astype(float)[:, :, None]
    dh_next, dc_next = dhT.copy(), dcT.copy()
    da = np.empty((N, T, 4 * H))
    for t in range(T - 1, -1, -1):
        m = m_all[:, t]
        prev_c = cs[:, t - 1] if t > 0 else c0
        i, f, g, o = (gates[:, t, k * H:(k + 1) * H] for k in range(4))
        tanh_c = tanh_cs[:, t]
        dh = dh_next + m * dout[:, t]
        dh_new, dc = m * dh * keep, dc_next
        do = dh_new * tanh_c
        dc_new = m * dc + dh_new * o * (1 - tanh_c ** 2)
        da[:, t] = np.concatenate([dc_new * g * i * (1 - i), dc_new * prev_c * f * (1 - f),
                                   dc_new * i * (1 - g ** 2), do * o * (1 - o)], axis=1)
        if bug == "forget":
            dc_next = dc_new + (1 - m) * dc          # BUG: should be dc_new * f + (1 - m) * dc
        else:
            dc_next = dc_new * f                     # BUG: should be dc_new * f + (1 - m) * dc
        dh_next = da[:, t] @ Wh.T + (1 - m) * dh
    return lstm_param_grads(da, dh_next, dc_next, cache)


caught = {}          # bug -> the shrunk problem (lengths, extra_padding, D, H)
for bug in ("forget", "padding"):
    tried, failed = [], []
    error = None
    try:
        gradient_property(lambda dout, dhT, dcT, cache: broken_backward(dout, dhT, dcT, cache, bug),
                          tried, failed)()
    except AssertionError as raised:
        error = raised
    print(f"\nbug {bug!r}: ", end="")
    if error is None:
        print(f"NOT caught in {len(tried)} problems")
        continue
    # Hypothesis re-raises the failure of the *shrunk* example and attaches
    # the example to the exception as a note.
    notes = getattr(error, "__notes__", [])      # e.g. "Falsifying example: ...(lengths=[1], ...)"
    lengths, extra_padding, D, H, seed = tried[-1]     # the last run is the shrunk example, replayed
    first = failed[0]
    print(f"caught after {len(tried)} runs; {len(failed)} of them failed")
    print(f"  first failing problem: N={len(first[0])}, T={max(first[0]) + first[1]}, "
          f"lengths={first[0]}, D={first[2]}, H={first[3]}, seed={first[4]}")
    print(f"  assertion: {str(error).splitlines()[0]}")
    for note in notes:
        print("  " + note.replace("\n", "\n  "))
    print(f"  shrunk problem: N={len(lengths)}, T={max(lengths) + extra_padding} "
          f"(real lengths {lengths}, {extra_padding} padded step(s) after the longest), D={D}, H={H}")
    caught[bug] = (lengths, extra_padding, D, H)

# What the shrunk examples tell us, read like a detective:
#   "forget":  one sentence, one step, one neuron, and dc0 is wrong.  The only
#              thing between c0 and the loss in one step is f * c0, so the
#              bug is in how dc reaches the previous step.
#   "padding": the first failure was a 2 x 5 batch with 3 inputs and 3
#              neurons; shrunk, it is one sentence of one word followed by
#              one padded step.  The bug lives in the padding code (a test
#              without padding would pass), and with one word and one neuron
#              it can be followed by hand.

# ---------------------------------------------------------------------------
# 5. What we just showed
# ---------------------------------------------------------------------------
assert len(tried) > 0 and set(caught) == {"forget", "padding"}, "Hypothesis caught both bugs"
forget_lengths, forget_padding, forget_D, forget_H = caught["forget"]
assert len(forget_lengths) == 1 and max(forget_lengths) + forget_padding <= 2 and forget_D == forget_H == 1, \
    "the 'forget' bug shrinks to a one-sentence, one-neuron problem"
padding_lengths, padding_extra, *_ = caught["padding"]
assert padding_extra > 0 or min(padding_lengths) < max(padding_lengths), \
    "the 'padding' bug's counterexample has padding"
print("\nall checks passed")
