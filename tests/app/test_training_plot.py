"""LossPlot: appends points, skips non-finite ones, paints with and without data."""

from __future__ import annotations

import math

from app.widgets.loss_plot import LossPlot, nice_ticks


def test_plot_keeps_finite_points_in_order_and_paints(qtbot) -> None:
    plot = LossPlot("loss", log_y=True, x_label="epoch")
    qtbot.addWidget(plot)
    plot.resize(300, 200)
    empty = plot.grab().toImage()
    plot.add_series("total")
    for x, y in ((0.5, 3.0), (1.0, math.nan), (1.5, 0.0), (2.0, 1.5), (3.0, None)):
        plot.add_point("total", x, y)
    assert plot.points("total") == [(0.5, 3.0), (2.0, 1.5)]  # NaN, None and 0 (log) skipped
    assert plot.grab().toImage() != empty
    plot.clear()
    assert plot.points("total") == [] and plot.series_names() == ["total"]


def test_ap_plot_axis_starts_at_zero_even_when_every_value_is_zero(qtbot) -> None:
    plot = LossPlot("AP", y_floor=0.0)
    qtbot.addWidget(plot)
    plot.add_point("AP", 1, 0.0)
    plot.add_point("AP", 2, 0.0)
    _, _, y0, y1 = plot._bounds()
    assert y0 == 0.0 and y1 > 0.0


def test_ticks_are_round_numbers_inside_the_range() -> None:
    assert nice_ticks(1, 4) == [1, 2, 3, 4]
    assert nice_ticks(0.25, 2.0) == [0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(1, 40) == [10, 20, 30, 40]
