"""Plots draw what they are given."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ssl_course import viz  # noqa: E402


def test_sweep_plot_draws_one_line_per_metric_at_the_given_values():
    results = {0.0: {"probe": 0.5, "knn": 0.4}, 0.9: {"probe": 0.6, "knn": 0.45}, 0.99: {"probe": 0.7}}
    ax = viz.sweep_plot(results, "momentum")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"probe", "knn"}
    np.testing.assert_allclose(lines["probe"].get_ydata(), [0.5, 0.6, 0.7])
    assert np.isnan(lines["knn"].get_ydata()[2])  # a missing metric is a gap, not a made-up value
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.0", "0.9", "0.99"]
    assert ax.get_xlabel() == "momentum"
    assert sorted(t.get_text() for t in ax.texts) == sorted(["0.50", "0.60", "0.70", "0.40", "0.45"])


def test_sweep_plot_log_axis_uses_the_values():
    ax = viz.sweep_plot({16: {"acc": 0.2}, 256: {"acc": 0.3}, 4096: {"acc": 0.4}}, "queue size", log=True)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), [16, 256, 4096])
    assert ax.get_xscale() == "log"


def test_accuracy_bars_wrap_long_names_so_labels_do_not_overlap():
    results = {name: {"linear_probe": 0.5, "knn": 0.3} for name in
               ("random encoder", "crop + colour", "crop only", "colour only", "crop (20-100 %) + colour")}
    ax = viz.accuracy_bars(results)
    fig = ax.figure
    fig.canvas.draw()
    labels = ax.get_xticklabels()
    assert [label.get_text().replace("\n", " ") for label in labels] == list(results)
    boxes = [label.get_window_extent() for label in labels]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:])), "tick labels overlap"
    plt.close(fig)


def test_noncontrastive_plots_draw_what_they_are_given():
    import torch

    monitors = {"a": [{"step": 0, "output_std": 0.1, "effective_rank": 5.0}, {"step": 10, "output_std": 0.0,
                                                                           "effective_rank": 1.0}],
                "b": [{"step": 0, "output_std": 0.1, "effective_rank": 5.0}]}
    fig = viz.collapse_curves(monitors)
    left, right = fig.axes
    assert [l.get_label() for l in left.get_lines() if not l.get_label().startswith("_")] == ["a", "b"]
    np.testing.assert_allclose(left.get_lines()[0].get_ydata(), [0.1, 0.0])
    np.testing.assert_allclose(right.get_lines()[0].get_ydata(), [5.0, 1.0])
    plt.close(fig)
    ax = viz.alignment_uniformity({"SimCLR": (0.5, -3.0, 0.8), "collapsed": (0.0, 0.0, 0.1)})
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets, [[-3.0, 0.5], [0.0, 0.0]])  # x = uniformity, y = alignment
    assert {t.get_text() for t in ax.texts} == {"SimCLR (0.80)", "collapsed (0.10)"}
    plt.close(ax.figure)
    q = torch.full((6, 3), 1 / 3)
    fig = viz.assignment_matrices({"uniform": q})
    assert "column sums 2.00-2.00" in fig.axes[0].get_xlabel()
    plt.close(fig)
    z = np.array([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0]])
    fig = viz.circle_features({"three": (z, np.array([0, 1, 2]))})
    counts = fig.axes[1].patches
    assert sum(p.get_height() for p in counts) == 3
    plt.close(fig)
