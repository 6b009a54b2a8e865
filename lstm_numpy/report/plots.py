"""Figures of the analysis, each a function of plain arrays that writes one PNG.

Notation: K labels, H hidden neurons, N tokens.

Every function takes arrays and an output `path`, renders with the Agg backend
into memory, writes the PNG atomically (the file is the old one or the whole
new one), closes the figure and returns `Path(path)`. NaN (a label absent from
the split) is drawn as a grey cell or left out, never as a number. Drops are
fractions in the inputs and drawn in accuracy points (x 100).

Ablation figures read one mode's sweep, an `analysis.results.ModeSweep`: (K, J)
arrays of drops over the labels and its k values, NaN where a label was not ablated.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lstm_numpy.atomic import atomic_write_bytes

__all__ = [
    "plot_sensitivity_heatmap",
    "plot_tuning_curves",
    "plot_ablation_curves",
    "plot_ablation_grid",
    "plot_drop_matrix",
    "plot_single_neuron_histogram",
    "plot_label_correlations",
    "plot_output_vs_recurrent",
    "plot_training_curves",
    "order_neurons_by_top_label",
]



@functools.cache
def _pyplot():
    """matplotlib.pyplot with the Agg backend, imported when the first figure is drawn: every run
    imports this module, but Matplotlib takes a few tenths of a second to import and a run
    without figures (--no-analysis, a refused option) never needs it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot
    return matplotlib.pyplot


class _Pyplot:
    """``plt.name`` is ``matplotlib.pyplot.name``, imported on first use (_pyplot)."""

    def __getattr__(self, name):
        return getattr(_pyplot(), name)


plt = _Pyplot()
DPI = 100
DIVERGING = "RdBu_r"  # red = positive (pushes the label), blue = negative
STRATEGY_STYLE = {"top": dict(color="C3", marker="o"), "random": dict(color="C0", marker="s"),
                  "bottom": dict(color="C2", marker="^"), "control": dict(color="C7", marker="x", ls="--")}


def _save(fig, path) -> Path:
    """Render `fig` to PNG bytes, write them atomically to `path`, close `fig`."""
    path = Path(path)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _diverging_cmap():
    return plt.get_cmap(DIVERGING).with_extremes(bad="0.85")  # NaN cells in light grey


def _symmetric_limit(values) -> float:
    finite = np.abs(np.asarray(values, dtype=float))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def order_neurons_by_top_label(S) -> tuple[np.ndarray, np.ndarray]:
    """Order neurons by the label they are most sensitive to, then by that sensitivity.

    S : (K, H) float. Returns (order (H,) int, top_label (H,) int; -1 for an all-NaN column).
    """
    S = np.asarray(S, dtype=float)
    filled = np.where(np.isnan(S), -np.inf, S)
    top = np.argmax(filled, axis=0)
    top_value = filled[top, np.arange(S.shape[1])]
    top = np.where(np.isfinite(top_value), top, -1)
    group = np.where(top >= 0, top, S.shape[0])  # all-NaN neurons last
    order = np.lexsort((-np.where(np.isfinite(top_value), top_value, 0.0), group))
    return order, top


def plot_sensitivity_heatmap(S, labels: Sequence[str], path) -> Path:
    """Label x neuron heatmap of sensitivity S (K, H), neurons grouped by their top label.

    Columns are neurons ordered by `order_neurons_by_top_label`; vertical lines
    separate the groups; colours are centred at 0.
    """
    S = np.asarray(S, dtype=float)
    order, top = order_neurons_by_top_label(S)
    K, H = S.shape
    limit = _symmetric_limit(S)
    fig, ax = plt.subplots(figsize=(min(14, 3 + 0.12 * H), 1.2 + 0.35 * K))
    image = ax.imshow(np.ma.masked_invalid(S[:, order]), aspect="auto", cmap=_diverging_cmap(),
                      vmin=-limit, vmax=limit, interpolation="nearest")
    sorted_top = top[order]
    for boundary in np.flatnonzero(np.diff(sorted_top)) + 0.5:
        ax.axvline(boundary, color="k", lw=0.6)
    ax.set_yticks(range(K), labels)
    step = max(1, H // 25)
    ax.set_xticks(range(0, H, step), [str(j) for j in order[::step]], fontsize=6, rotation=90)
    ax.set_xlabel("neuron (grouped by top label)")
    ax.set_title("sensitivity: mean contribution on the label minus on other labels")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    return _save(fig, path)


def plot_tuning_curves(h, labels_per_token, label_names: Sequence[str], neurons, path, S=None,
                       max_panels: int = 12, grouping: str | None = None) -> Path:
    """Each neuron's activation distribution per label: a box plot per label, a panel per neuron.

    h : (N, H) float activations. labels_per_token : (N,) int label ids.
    neurons : neuron ids to draw (at most `max_panels` are drawn); if None, the
        most sensitive neuron of each label according to S (K, H) is used.
    S : optional (K, H); highlights each neuron's top label and names it in the title.
    grouping : what ``labels_per_token`` are ("predicted label", "gold label"), named under the panels.
    """
    h = np.asarray(h, dtype=float)
    labels_per_token = np.asarray(labels_per_token)
    if h.ndim != 2 or labels_per_token.shape != (h.shape[0],):
        raise ValueError(f"h must be (N, H) and labels (N,), got {h.shape} and {labels_per_token.shape}")
    S = None if S is None else np.asarray(S, dtype=float)
    if neurons is None:
        if S is None:
            raise ValueError("plot_tuning_curves: give `neurons` or a sensitivity matrix `S`")
        filled = np.where(np.isnan(S), -np.inf, S)
        neurons = list(dict.fromkeys(int(np.argmax(row)) for row in filled if np.isfinite(row).any()))
    neurons = [int(j) for j in neurons][:max_panels] or [0]
    K = len(label_names)
    n_cols = min(3, len(neurons))
    n_rows = -(-len(neurons) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 2.9 * n_rows), squeeze=False,
                             layout="constrained")
    for ax in axes.flat[len(neurons):]:
        ax.set_visible(False)
    for ax, j in zip(axes.flat, neurons):
        groups = [h[labels_per_token == k, j] for k in range(K)]
        present = [k for k in range(K) if groups[k].size]
        if present:
            boxes = ax.boxplot([groups[k] for k in present], positions=present, widths=0.6,
                               showfliers=False, patch_artist=True)
            top = None
            if S is not None and np.isfinite(S[:, j]).any():
                top = int(np.nanargmax(S[:, j]))
            for k, patch in zip(present, boxes["boxes"]):
                patch.set_facecolor("C3" if k == top else "0.8")
        title = f"neuron {j}"
        if S is not None and np.isfinite(S[:, j]).any():
            top = int(np.nanargmax(S[:, j]))
            title += f": top {label_names[top]} (s={S[top, j]:.2f})"
        ax.set_title(title, fontsize=9)
        ax.set_xticks(range(K), label_names, rotation=60, fontsize=7)
        ax.set_xlim(-0.7, K - 0.3)
        ax.axhline(0, color="0.5", lw=0.5)
    fig.supylabel("activation h_j")
    if grouping:
        fig.supxlabel(f"tokens grouped by their {grouping}", fontsize=9)
    return _save(fig, path)


def _draw_ablation(ax, sweep, label) -> bool:
    """Draw label ``label``'s (an id) drop-vs-k curves of a ModeSweep on `ax`; False if there is
    nothing to draw."""
    ks = list(sweep.ks)
    if not ks or not np.isfinite(sweep.top[label]).any():
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        return False
    for strategy in ("top", "random", "bottom", "control"):
        drops = 100 * getattr(sweep, strategy)[label]
        if not np.isfinite(drops).any():
            continue
        ax.plot(ks, drops, label=strategy, ms=4, **STRATEGY_STYLE[strategy])
        if strategy == "random":
            bounds = 100 * sweep.random_interval[label]                    # (J, 2)
            if np.isfinite(bounds).any():
                ax.fill_between(ks, bounds[:, 0], bounds[:, 1], color="C0", alpha=0.2, lw=0)
    ax.axhline(0, color="0.5", lw=0.5)
    return True


def plot_ablation_curves(sweep, label: int, labels: Sequence[str], path) -> Path:
    """Target-label accuracy drop vs k for top, random (mean, shaded 95% band), bottom, control:
    one label (an id into ``labels``) of one ModeSweep."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    if _draw_ablation(ax, sweep, label):
        ax.legend(fontsize=8)
    ax.set_xlabel("k neurons ablated")
    ax.set_ylabel(f"{labels[label]} accuracy drop (points)")
    ax.set_title(f"{labels[label]}, {sweep.mode} ablation")
    return _save(fig, path)


def plot_ablation_grid(sweep, labels: Sequence[str], path) -> Path:
    """`plot_ablation_curves` for every label of a ModeSweep, one small panel each, one shared legend."""
    n_cols = min(3, max(1, len(labels)))
    n_rows = -(-max(1, len(labels)) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.6 * n_cols, 2.6 * n_rows), squeeze=False)
    for ax in axes.flat[len(labels):]:
        ax.set_visible(False)
    for index, (ax, label) in enumerate(zip(axes.flat, labels)):
        _draw_ablation(ax, sweep, index)
        ax.set_title(label, fontsize=9)
    handles, names = [], []
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(handle)
                names.append(name)
    if handles:
        fig.legend(handles, names, loc="upper center", ncol=len(names), bbox_to_anchor=(0.5, 1.02))
    fig.supxlabel("k neurons ablated")
    fig.supylabel(f"target-label accuracy drop (points), {sweep.mode} ablation")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, path)


def _annotated_matrix(ax, M, labels, limit, fmt):
    image = ax.imshow(np.ma.masked_invalid(M), cmap=_diverging_cmap(), vmin=-limit, vmax=limit)
    K = len(labels)
    ax.set_xticks(range(K), labels, rotation=60, fontsize=7)
    ax.set_yticks(range(K), labels, fontsize=7)
    if K <= 12:
        for (a, b), value in np.ndenumerate(M):
            if np.isfinite(value):
                ax.text(b, a, fmt.format(value), ha="center", va="center", fontsize=6,
                        color="w" if abs(value) > 0.6 * limit else "k")
    return image


def plot_drop_matrix(M, labels: Sequence[str], path, k: int) -> Path:
    """Accuracy drop (points) of each measured label (columns) after ablating k neurons of each label (rows)."""
    M = 100 * np.asarray(M, dtype=float)
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * len(labels), 1.2 + 0.5 * len(labels)))
    image = _annotated_matrix(ax, M, labels, _symmetric_limit(M), "{:.1f}")
    ax.set_xlabel("measured label")
    ax.set_ylabel("ablated label's top neurons")
    ax.set_title(f"accuracy drop (points), k={k}")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, path)


def plot_single_neuron_histogram(drops, path, threshold: float = 0.005) -> Path:
    """Histogram of overall token-accuracy drops (H,) from ablating one neuron at a time."""
    drops = 100 * np.asarray(drops, dtype=float).ravel()
    finite = drops[np.isfinite(drops)]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    if finite.size:
        ax.hist(finite, bins=min(40, max(5, finite.size // 2)), color="C0")
        ax.axvline(100 * threshold, color="C3", ls="--", lw=1, label=f"{100 * threshold:g} points")
        ax.legend(fontsize=8)
        ax.set_title(f"{finite.size} neurons: mean {finite.mean():.2f}, max {finite.max():.2f} points")
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("overall token-accuracy drop (points)")
    ax.set_ylabel("neurons")
    return _save(fig, path)


def plot_label_correlations(list_of_C, labels: Sequence[str], path, titles: Sequence[str] | None = None) -> Path:
    """Label x label correlation matrices (K, K) of several seeds side by side, colours in [-1, 1]."""
    n = max(1, len(list_of_C))
    titles = list(titles) if titles is not None else [f"model {m}" for m in range(n)]
    fig, axes = plt.subplots(1, n, figsize=(0.5 + 3.6 * n, 3.6), squeeze=False)
    image = None
    for ax, C, title in zip(axes[0], list_of_C, titles):
        image = _annotated_matrix(ax, np.asarray(C, dtype=float), labels, 1.0, "{:.1f}")
        ax.set_title(title, fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=list(axes[0]), fraction=0.02, pad=0.02)
    return _save(fig, path)


def plot_output_vs_recurrent(modes_swept, labels: Sequence[str], k: int, path) -> Path:
    """Per label, the top-k drop under output ablation vs recurrent ablation (grouped bars);
    modes_swept: {mode: ModeSweep}."""
    modes = [mode for mode in ("output", "recurrent") if mode in modes_swept]
    x = np.arange(len(labels))
    width = 0.8 / len(modes)
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * len(labels), 3.4))
    for m, mode in enumerate(modes):
        sweep = modes_swept[mode]
        drops = 100 * (sweep.top[:, sweep.at(k)] if k in sweep.ks else np.full(len(labels), np.nan))
        ax.bar(x + (m - (len(modes) - 1) / 2) * width, np.nan_to_num(drops), width, label=mode,
               color=f"C{m}")
        for xi, value in zip(x, drops):
            if np.isnan(value):
                ax.text(xi + (m - (len(modes) - 1) / 2) * width, 0, "n/a", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, labels, rotation=45, fontsize=8)
    ax.axhline(0, color="0.5", lw=0.5)
    ax.set_ylabel("target-label accuracy drop (points)")
    ax.set_title(f"ablating each label's top {k} neurons")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_training_curves(histories, path) -> Path:
    """Epoch by epoch: training and dev loss, the dev score that picks the best epoch, and the
    learning rate (log scale), a line per model; the best epoch marked, and a dotted line where
    the rate was annealed or training stopped.

    histories: {name: [train_log.jsonl records]} (training.loop.end_epoch's fields: epoch,
    train_loss, dev_loss, dev_entity_f1 or dev_token_acc, lr, best, event), e.g. one seed's.
    """
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4), layout="constrained")
    for index, (seed, history) in enumerate(histories.items()):
        colour = f"C{index % 10}"
        epochs = [r["epoch"] for r in history]
        f1 = [r.get("dev_entity_f1") for r in history]
        chunking = any(value is not None for value in f1)
        score = [np.nan if v is None else v for v in f1] if chunking else [100 * r["dev_token_acc"] for r in history]
        axes[0].plot(epochs, [r["train_loss"] for r in history], color=colour, ls="--", lw=1)
        axes[0].plot(epochs, [r.get("dev_loss", np.nan) for r in history], color=colour, lw=1.5, label=seed)
        axes[1].plot(epochs, score, color=colour, lw=1.5, label=seed)
        best = [r["epoch"] for r in history if r.get("best")]
        if best:
            axes[1].plot(best[-1], score[epochs.index(best[-1])], "*", color=colour, ms=10)
        axes[2].plot(epochs, [r["lr"] for r in history], color=colour, lw=1.5, label=seed)
        for r in history:
            if r.get("event"):
                for ax in axes:
                    ax.axvline(r["epoch"], color=colour, ls=":", lw=1)
    axes[0].set_title("loss (dashed: training, solid: dev)", fontsize=9)
    axes[1].set_title(("dev entity F1" if chunking else "dev token accuracy (%)") + " (*: the best epoch)",
                      fontsize=9)
    axes[2].set_title("learning rate (dotted: annealed or stopped)", fontsize=9)
    axes[2].set_yscale("log")
    for ax in axes:
        ax.set_xlabel("epoch")
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def plot_patching_heatmap(effect, offsets, sites, path, n_used, source="") -> Path:
    """Step (relative to the read position) x neuron heatmaps of activation patching, one per
    patched site: effect (S, R, H) the mean fraction of the logit difference restored (1: all
    of it), neurons ordered by their total over the steps of the first site (h)."""
    effect = np.asarray(effect, dtype=float)
    S, R, H = effect.shape
    order = np.argsort(-np.nansum(np.abs(effect[0]), axis=0), kind="stable")
    limit = _symmetric_limit(effect)
    fig, axes = plt.subplots(S, 1, figsize=(min(14, 3 + 0.14 * H), 1.0 + 0.28 * R * S), squeeze=False)
    for s, ax in enumerate(axes[:, 0]):
        image = ax.imshow(np.ma.masked_invalid(effect[s][:, order]), aspect="auto", cmap=_diverging_cmap(),
                          vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_yticks(range(R), [f"{o:+d}" if o else "read" for o in offsets], fontsize=7)
        step = max(1, H // 40)
        ax.set_xticks(range(0, H, step), [str(j) for j in order[::step]], fontsize=6, rotation=90)
        ax.set_ylabel(f"{sites[s]}: step", fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    axes[-1, 0].set_xlabel("neuron (largest total effect of patching h first)")
    axes[0, 0].set_title(f"fraction of the logit difference restored, mean of {n_used} pairs"
                         + (f" ({source})" if source else ""), fontsize=9)
    fig.tight_layout()
    return _save(fig, path)
