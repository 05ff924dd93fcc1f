"""LossPlot: a small QPainter line plot of a few named series (no plotting library).

Points are appended (`add_point`); painting walks only the points, so adding one costs a list
append and a repaint request, and Qt folds many requests into one paint. Long series are
thinned to about one point per pixel column when drawn.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


class LossPlot(QWidget):
    """Plots y against x for each named series, with axes, ticks and a legend."""

    def __init__(
        self,
        title: str = "",
        *,
        log_y: bool = False,
        x_label: str = "",
        y_floor: float | None = None,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self.title = title
        self.log_y = log_y
        self.y_floor = y_floor  # a fixed bottom of the y axis (0 for AP), linear axes only
        self.x_label = x_label
        self.empty_text = "waiting for data…"  # shown, word-wrapped, while there is no point
        self._series: dict[str, list[tuple[float, float]]] = {}
        self._colors: dict[str, QColor] = {}
        self.setMinimumSize(220, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(360, 220)

    # ----- data ----------------------------------------------------------------------------

    def add_series(self, name: str, color: str | None = None) -> None:
        """Declare a series (its legend entry shows before the first point)."""
        if name not in self._series:
            self._series[name] = []
            self._colors[name] = QColor(color or PALETTE[len(self._colors) % len(PALETTE)])

    def add_point(self, name: str, x: float, y: float | None) -> None:
        """Append a point to a series (non-finite values are skipped)."""
        if y is None or not math.isfinite(y) or not math.isfinite(x):
            return
        if self.log_y and y <= 0:
            return
        self.add_series(name)
        self._series[name].append((float(x), float(y)))
        self.update()

    def set_empty_text(self, text: str) -> None:
        """Say why the plot is empty (a sentence, shown until the first point)."""
        self.empty_text = text
        self.update()

    def clear(self) -> None:
        """Remove every point (series stay declared)."""
        for points in self._series.values():
            points.clear()
        self.update()

    def points(self, name: str) -> list[tuple[float, float]]:
        """Return a copy of a series' points."""
        return list(self._series.get(name, []))

    def series_names(self) -> list[str]:
        """Return the declared series, in order."""
        return list(self._series)

    # ----- painting ------------------------------------------------------------------------

    def _bounds(self) -> tuple[float, float, float, float] | None:
        xs = [x for pts in self._series.values() for x, _ in pts]
        ys = [self._ty(y) for pts in self._series.values() for _, y in pts]
        if not xs:
            return None
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        if x1 - x0 < 1e-9:
            x0, x1 = x0 - 0.5, x1 + 0.5
        if self.y_floor is not None and not self.log_y:
            y0 = self.y_floor
            y1 = max(y1, y0 + 0.1)
            return x0, x1, y0, y1 + (y1 - y0) * 0.05
        if y1 - y0 < 1e-9:
            y0, y1 = y0 - 0.5, y1 + 0.5
        pad = (y1 - y0) * 0.05
        return x0, x1, y0 - pad, y1 + pad

    def _ty(self, y: float) -> float:
        return math.log10(y) if self.log_y else y

    def y_tick_labels(self) -> list[str]:
        """Return the y-axis labels, bottom to top ([] while there is no point)."""
        bounds = self._bounds()
        if bounds is None:
            return []
        _, _, y0, y1 = bounds
        values = (y0 + (y1 - y0) * i / 4 for i in range(5))
        return [_tick(10**v if self.log_y else v) for v in values]

    def left_margin(self, fm: QFontMetrics) -> int:
        """Return the room left of the plot: the widest y label fits whole."""
        widest = max((fm.horizontalAdvance(t) for t in self.y_tick_labels()), default=0)
        return max(widest, fm.horizontalAdvance("0.00")) + 10

    def paintEvent(self, event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        p.fillRect(self.rect(), pal.base())
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.85))
        p.setFont(font)
        fm = p.fontMetrics()
        left, top = self.left_margin(fm), fm.height() + 8
        bottom = fm.height() * (2 if self.x_label else 1) + 8
        plot = QRectF(left, top, self.width() - left - 10, self.height() - top - bottom)
        text_color = pal.text().color()
        p.setPen(text_color)
        p.drawText(
            QRectF(0, 2, self.width(), fm.height()), Qt.AlignmentFlag.AlignCenter, self.title
        )
        p.setPen(QPen(pal.mid().color(), 1))
        p.drawRect(plot)
        bounds = self._bounds()
        if bounds is None or plot.width() < 10 or plot.height() < 10:
            p.setPen(pal.mid().color())
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            p.drawText(plot.adjusted(8, fm.height() + 8, -8, -4), flags, self.empty_text)
            self._draw_legend(p, plot)
            return
        x0, x1, y0, y1 = bounds

        def to_px(x: float, y: float) -> QPointF:
            px = plot.left() + (x - x0) / (x1 - x0) * plot.width()
            py = plot.bottom() - (self._ty(y) - y0) / (y1 - y0) * plot.height()
            return QPointF(px, py)

        grid = QPen(pal.midlight().color(), 1, Qt.PenStyle.DotLine)
        for i, label in enumerate(self.y_tick_labels()):
            py = plot.bottom() - plot.height() * i / 4
            p.setPen(grid)
            p.drawLine(QPointF(plot.left(), py), QPointF(plot.right(), py))
            p.setPen(text_color)
            p.drawText(
                QRectF(0, py - fm.height() / 2, left - 4, fm.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                label,
            )
        for v in nice_ticks(x0, x1):
            px = plot.left() + (v - x0) / (x1 - x0) * plot.width()
            p.drawText(
                QRectF(px - 30, plot.bottom() + 2, 60, fm.height()),
                Qt.AlignmentFlag.AlignHCenter,
                _tick(v),
            )
        if self.x_label:
            p.drawText(
                QRectF(plot.left(), plot.bottom() + fm.height() + 2, plot.width(), fm.height()),
                Qt.AlignmentFlag.AlignHCenter,
                self.x_label,
            )
        p.setClipRect(plot.adjusted(-2, -2, 2, 2))
        for name, pts in self._series.items():
            if not pts:
                continue
            step = max(1, len(pts) // max(int(plot.width()), 1))
            shown = pts[::step]
            if shown[-1] is not pts[-1]:
                shown.append(pts[-1])
            color = self._colors[name]
            p.setPen(QPen(color, 1.6))
            path = QPainterPath(to_px(*shown[0]))
            for x, y in shown[1:]:
                path.lineTo(to_px(x, y))
            p.drawPath(path)
            if len(pts) < 40:  # few points (per-epoch values): mark them
                p.setBrush(color)
                for x, y in shown:
                    p.drawEllipse(to_px(x, y), 2.5, 2.5)
                p.setBrush(Qt.BrushStyle.NoBrush)
        p.setClipping(False)
        self._draw_legend(p, plot)

    def _draw_legend(self, p: QPainter, plot: QRectF) -> None:
        fm = p.fontMetrics()
        x, y = plot.right() - 6, plot.top() + 4
        for name in reversed(list(self._series)):
            width = fm.horizontalAdvance(name)
            x -= width + 22
        for name in self._series:
            color = self._colors[name]
            p.setPen(QPen(color, 3))
            p.drawLine(QPointF(x, y + fm.height() / 2), QPointF(x + 12, y + fm.height() / 2))
            p.setPen(self.palette().text().color())
            p.drawText(QPointF(x + 15, y + fm.ascent()), name)
            x += fm.horizontalAdvance(name) + 22


def nice_ticks(low: float, high: float, most: int = 6) -> list[float]:
    """Return round tick values (steps of 1, 2 or 5 times a power of ten) within [low, high]."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    count = int((high - first) / step + 1e-9) + 1
    return [round(first + k * step, 12) for k in range(count)]


def _tick(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"
