"""Pictures the notebooks draw: attention heatmaps, positional encodings, training curves."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def _plt():
    import matplotlib.pyplot as plt  # imported late: the library itself must not need a display
    return plt


def _numpy(t):
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else t


def attention_heatmap(weights, x_labels: Sequence[str] | None = None, y_labels: Sequence[str] | None = None,
                      ax=None, title: str | None = None, annotate: bool | None = None, cmap: str = "viridis"):
    """Draw a ``(T_q, T_k)`` weight matrix: rows are queries, columns are keys."""
    w = _numpy(weights)
    if w.ndim != 2:
        raise ValueError(f"weights: expected shape (T_q, T_k), got {tuple(w.shape)}")
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * w.shape[1] + 2, 0.45 * w.shape[0] + 1.5))
    image = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=max(1e-9, float(w.max())), aspect="auto")
    if x_labels is not None:
        ax.set_xticks(range(len(x_labels)), labels=list(x_labels), rotation=90)
    if y_labels is not None:
        ax.set_yticks(range(len(y_labels)), labels=list(y_labels))
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    if annotate if annotate is not None else w.size <= 64:
        for (i, j), value in _enumerate2d(w):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="w" if value < 0.6 * w.max() else "k")
    if title:
        ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    return ax


def _enumerate2d(w):
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            yield (i, j), w[i, j]


def attention_heads(weights, x_labels=None, y_labels=None, titles: Sequence[str] | None = None, ncols: int = 4):
    """One heatmap per head for ``(n_heads, T_q, T_k)`` weights; returns the figure."""
    w = _numpy(weights)
    if w.ndim != 3:
        raise ValueError(f"weights: expected shape (n_heads, T_q, T_k), got {tuple(w.shape)}")
    plt = _plt()
    n = w.shape[0]
    ncols = min(ncols, n)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.0 * nrows), squeeze=False)
    for h, ax in enumerate(axes.flat):
        if h >= n:
            ax.axis("off")
            continue
        ax.imshow(w[h], cmap="viridis", vmin=0.0, vmax=max(1e-9, float(w[h].max())), aspect="auto")
        ax.set_title(titles[h] if titles else f"head {h}")
        if x_labels is not None:
            ax.set_xticks(range(len(x_labels)), labels=list(x_labels), rotation=90, fontsize=7)
        if y_labels is not None:
            ax.set_yticks(range(len(y_labels)), labels=list(y_labels), fontsize=7)
    fig.tight_layout()
    return fig


def positional_encoding_plot(pe, dims: Sequence[int] | None = None, ax=None):
    """Heatmap of a ``(max_len, d_model)`` table beside a few of its columns as curves; returns the figure.

    ``dims``: the columns drawn as curves (default: those of 0, 1, 4, 5 that exist).
    ``ax``: None draws both panels on a new figure; one Axes gets the heatmap only;
    a pair of Axes gets the heatmap and the curves, in that order. A figure the
    caller made is left as it is laid out.
    """
    p = _numpy(pe)
    if p.ndim != 2:
        raise ValueError(f"pe: expected a (max_len, d_model) table, got shape {tuple(p.shape)}")
    if dims is None:
        dims = [d for d in (0, 1, 4, 5) if d < p.shape[1]]
    else:
        dims = list(dims)
        outside = [d for d in dims if not 0 <= d < p.shape[1]]
        if outside:
            raise ValueError(f"dims: expected columns in 0..{p.shape[1] - 1} of a table with d_model = "
                             f"{p.shape[1]}, got {outside}")
    plt = _plt()
    own_figure = ax is None
    if own_figure:
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
    elif _is_axes(ax):
        fig, left, right = ax.figure, ax, None
    elif isinstance(ax, (tuple, list)) and len(ax) == 2 and all(_is_axes(a) for a in ax):
        (left, right), fig = ax, ax[0].figure
    else:
        raise ValueError(f"ax: expected None, one matplotlib Axes or a pair of them, got {type(ax).__name__}"
                         + (f" of length {len(ax)}" if isinstance(ax, (tuple, list)) else ""))
    image = left.imshow(p.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, interpolation="nearest")
    left.set_xlabel("position")
    left.set_ylabel("dimension")
    fig.colorbar(image, ax=left)
    if right is not None:
        for d in dims:
            right.plot(p[:, d], label=f"dim {d}")
        right.set_xlabel("position")
        if dims:
            right.legend(fontsize=8)
    if own_figure:
        fig.tight_layout()
    return fig


def _is_axes(obj) -> bool:
    from matplotlib.axes import Axes
    return isinstance(obj, Axes)


def loss_curves(curves: Mapping[str, Sequence[float]], ax=None, xlabel: str = "step", ylabel: str = "loss",
                logy: bool = False, title: str | None = None):
    """Plot several named curves on one axis."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        ax.plot(list(values), label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax
