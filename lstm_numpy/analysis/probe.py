"""A linear probe on the hidden states, written here as NeuroX's linguistic correlation analysis
does it (Dalvi et al., AAAI 2019), and checked held out with a control task (Hewitt & Liang,
EMNLP 2019).

Dimension legend: n tokens, H neurons (Hout), C probe classes (the model's labels or another
column of the data).

The probe is a multinomial logistic regression on standardised hidden states x (n, H)::

    z = x W + b                  W (H, C), b (C,)
    loss = mean_t CE(softmax(z_t), y_t) + l2 / 2 * ||W||^2 + l1 * ||W||_1

The smooth part (cross-entropy and L2) has the hand-derived gradient of :func:`probe_loss`
(checked against central differences in tests/test_probe.py); the L1 part is handled exactly
by a proximal step (soft thresholding of W after each gradient step, FISTA with backtracking),
not by a smooth approximation, so weights the penalty drives to zero are exactly zero.  The
strengths l1 and l2 are chosen on held-out tokens.

Neurons are ranked per class by |W[j, c]| (:func:`class_ranking`) and overall by NeuroX's
cumulative weight mass (:func:`neuron_ordering`).  The control task gives every word type a
label drawn at random from the task's label distribution and trains the same probe on it: a
probe that is accurate on the control task memorises word types rather than reading the
property, so the selectivity is the task accuracy minus the control accuracy, both on tokens
the probe never saw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRENGTHS = (0.0, 1e-4, 1e-3, 1e-2)          # the grid of the elastic net's strength, l1 = l2 as in NeuroX


def probe_loss(W, b, x, y, l2):
    """The smooth part of the probe's loss and its gradient: (loss, dW (H, C), db (C,)).

    x (n, H) float64, y (n,) int in [0, C), W (H, C), b (C,)."""
    n = x.shape[0]
    z = x @ W + b                                        # (n, C)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(n), y]).mean() + 0.5 * l2 * (W * W).sum()
    dz = p
    dz[np.arange(n), y] -= 1.0
    dz /= n                                              # dLoss/dz (n, C)
    return float(loss), x.T @ dz + l2 * W, dz.sum(axis=0)


def soft_threshold(W, threshold):
    """The proximal step of threshold * ||W||_1: shrink every weight towards 0 by threshold."""
    return np.sign(W) * np.maximum(np.abs(W) - threshold, 0.0)


def fit_probe(x, y, n_classes, l1=0.0, l2=0.0, iterations=300, tol=1e-7):
    """(W (H, C), b (C,)) minimising the probe's loss on x (n, H), y (n,): FISTA with backtracking
    (deterministic: it starts from zeros)."""
    x = np.asarray(x, dtype=np.float64)
    H = x.shape[1]
    W, b = np.zeros((H, n_classes)), np.zeros(n_classes)
    V, c, t, step = W.copy(), b.copy(), 1.0, 1.0
    total = lambda W_, b_: probe_loss(W_, b_, x, y, l2)[0] + l1 * np.abs(W_).sum()  # noqa: E731
    previous = total(W, b)
    for _ in range(iterations):
        loss, dW, db = probe_loss(V, c, x, y, l2)
        while True:                                     # backtracking on the smooth part
            W_new = soft_threshold(V - step * dW, step * l1)
            b_new = c - step * db
            dWn, dbn = W_new - V, b_new - c
            bound = loss + (dW * dWn).sum() + (db * dbn).sum() + ((dWn * dWn).sum() + (dbn * dbn).sum()) / (2 * step)
            smooth = probe_loss(W_new, b_new, x, y, l2)[0]
            if smooth <= bound + 1e-12:
                break
            step *= 0.5
        t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
        V = W_new + (t - 1) / t_new * (W_new - W)
        c = b_new + (t - 1) / t_new * (b_new - b)
        W, b, t = W_new, b_new, t_new
        current = smooth + l1 * np.abs(W).sum()       # total(W, b), its smooth part already computed
        if abs(previous - current) <= tol * max(1.0, abs(previous)):
            break
        previous = current
    return W, b


def standardiser(x):
    """(mean (H,), scale (H,)) of x (n, H): a constant neuron gets scale 1."""
    mean, std = x.mean(axis=0), x.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def accuracy(W, b, x, y):
    return float(((x @ W + b).argmax(axis=1) == y).mean()) if len(y) else float("nan")


def class_ranking(W):
    """(C, H) scores to rank neurons per class by: |W[j, c]| (larger = more important)."""
    return np.abs(W).T


def neuron_ordering(W, steps=100):
    """(H,) int64 neurons in NeuroX's order of cumulative weight mass: for growing percentages of
    each class's total |weight|, the neurons that reach it join, the classes' smallest sets first;
    neurons no percentage selects (zero weight everywhere) come last, lower ids first."""
    A = np.abs(W)                                       # (H, C)
    order, placed = [], set()
    for percentage in np.linspace(1.0 / steps, 1.0, steps):
        for column in A.T:
            total = column.sum()
            if total <= 0:
                continue
            ranked = np.argsort(-column, kind="stable")
            needed = int(np.searchsorted(np.cumsum(column[ranked]), percentage * total * (1 - 1e-12)) + 1)
            for j in ranked[:needed]:
                if int(j) not in placed:
                    order.append(int(j))
                    placed.add(int(j))
    order += [j for j in range(A.shape[0]) if j not in placed]
    return np.array(order, dtype=np.int64)


def control_labels(words, y, rng):
    """Hewitt and Liang's control task: each word type (n,) ids gets one label drawn from the
    distribution of y (n,); returns (n,) the control label of every token."""
    types = np.unique(words)
    drawn = rng.choice(y, size=types.size, replace=True)
    return drawn[np.searchsorted(types, words)]


@dataclass(frozen=True, eq=False)
class ProbeFit:
    """A probe chosen on held-out tokens, and how well it and its controls read the property."""

    W: np.ndarray                 # (H, C) on standardised states
    b: np.ndarray                 # (C,)
    mean: np.ndarray              # (H,) the standardisation, from the probe's training tokens
    scale: np.ndarray             # (H,)
    l1: float
    l2: float
    accuracy: float               # on held-out tokens
    majority: float               # the most frequent training label, on the same tokens
    control_accuracy: float       # the same probe trained on the control task, on the same tokens
    n_train: int
    n_heldout: int


def train_probe(x_train, y_train, words_train, x_test, y_test, words_test, n_classes, rng, strengths=STRENGTHS):
    """The probe of the best strength l1 = l2 on a quarter of its training tokens held out for choosing,
    refitted on all of them, scored on (x_test, y_test) with its majority baseline and control task.

    x_* (n, H) hidden states, y_* (n,) class ids, words_* (n,) word ids (for the control task)."""
    mean, scale = standardiser(np.asarray(x_train, dtype=np.float64))
    z_train = (x_train - mean) / scale
    z_test = (x_test - mean) / scale
    chosen = np.arange(len(y_train)) % 4 == 3           # every fourth token chooses the strengths
    best, best_acc = (0.0, 0.0), -1.0
    for strength in strengths:
        W, b = fit_probe(z_train[~chosen], y_train[~chosen], n_classes, strength, strength, iterations=150)
        acc = accuracy(W, b, z_train[chosen], y_train[chosen])
        if acc > best_acc + 1e-12:
            best, best_acc = (strength, strength), acc
    W, b = fit_probe(z_train, y_train, n_classes, *best)
    control_train = control_labels(np.concatenate([words_train, words_test]), np.concatenate([y_train, y_test]), rng)
    control_test = control_train[len(y_train):]
    Wc, bc = fit_probe(z_train, control_train[:len(y_train)], n_classes, *best)
    majority = int(np.bincount(y_train, minlength=n_classes).argmax())
    return ProbeFit(W=W, b=b, mean=mean, scale=scale, l1=best[0], l2=best[1], accuracy=accuracy(W, b, z_test, y_test),
                    majority=float((y_test == majority).mean()) if len(y_test) else float("nan"),
                    control_accuracy=accuracy(Wc, bc, z_test, control_test), n_train=int(len(y_train)),
                    n_heldout=int(len(y_test)))
