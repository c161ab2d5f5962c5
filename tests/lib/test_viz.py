import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from transformer_course import viz  # noqa: E402
from transformer_course.positional import sinusoidal_encoding  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _curves(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_positional_encoding_plot_new_figure_has_heatmap_and_curves():
    fig = viz.positional_encoding_plot(sinusoidal_encoding(20, 8))
    heatmap, curves = fig.axes[0], fig.axes[1]
    assert heatmap.images[0].get_array().shape == (8, 20)        # one row per dimension
    assert _curves(curves) == ["dim 0", "dim 1", "dim 4", "dim 5"]


def test_positional_encoding_plot_default_dims_skip_missing_columns():
    fig = viz.positional_encoding_plot(sinusoidal_encoding(10, 4))
    assert _curves(fig.axes[1]) == ["dim 0", "dim 1"]


def test_positional_encoding_plot_on_one_axes_draws_the_heatmap_there():
    fig, ax = plt.subplots()
    returned = viz.positional_encoding_plot(sinusoidal_encoding(12, 6), ax=ax)
    assert returned is fig
    assert ax.images[0].get_array().shape == (6, 12)
    assert _curves(ax) == []                                      # no curves on top of the heatmap
    assert len(fig.axes) == 2                                     # the axes and its colorbar, nothing else


def test_positional_encoding_plot_on_a_pair_of_axes():
    fig, (left, right) = plt.subplots(1, 2)
    viz.positional_encoding_plot(sinusoidal_encoding(12, 6), dims=(2, 3), ax=(left, right))
    assert left.images[0].get_array().shape == (6, 12)
    assert _curves(right) == ["dim 2", "dim 3"]
    torch.testing.assert_close(torch.tensor(right.get_lines()[0].get_ydata()), sinusoidal_encoding(12, 6)[:, 2])


@pytest.mark.parametrize("kwargs, message", [
    ({"pe": torch.zeros(3, 4, 5)}, r"pe: expected a \(max_len, d_model\) table, got shape \(3, 4, 5\)"),
    ({"dims": (0, 8)}, r"dims: expected columns in 0\.\.5 .* got \[8\]"),
    ({"ax": "left"}, "ax: expected None, one matplotlib Axes or a pair of them, got str"),
    ({"ax": (1, 2, 3)}, "ax: expected None, one matplotlib Axes or a pair of them, got tuple of length 3"),
])
def test_positional_encoding_plot_rejects_bad_arguments(kwargs, message):
    arguments = {"pe": sinusoidal_encoding(10, 6), **kwargs}
    with pytest.raises(ValueError, match=message):
        viz.positional_encoding_plot(**arguments)


def test_attention_heatmap_and_heads_and_curves_draw():
    w = torch.softmax(torch.randn(4, 5, generator=torch.Generator().manual_seed(0)), -1)
    ax = viz.attention_heatmap(w, x_labels=list("abcde"), y_labels=list("wxyz"), title="t")
    assert ax.images[0].get_array().shape == (4, 5)
    fig = viz.attention_heads(torch.stack([w, w, w]), ncols=2)
    assert sum(1 for a in fig.axes if a.images) == 3
    ax = viz.loss_curves({"a": [3, 2, 1], "b": [2, 2, 2]}, logy=True)
    assert _curves(ax) == ["a", "b"]
    with pytest.raises(ValueError, match=r"weights: expected shape \(T_q, T_k\)"):
        viz.attention_heatmap(torch.zeros(2, 3, 4))
