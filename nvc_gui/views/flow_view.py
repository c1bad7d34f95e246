"""The multiscale compressed flows f^s (s = 0 finest .. 4) of a P-frame: Middlebury colour coding
with an optional arrow overlay, each scale at its own resolution (a vector of f^s covers 2^s x 2^s
frame pixels) or upsampled to the frame."""

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QCheckBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout,
                               QWidget)

from nvc_gui.flow_colour import flow_to_colour, wheel_legend
from nvc_gui.views.base import FrameContext
from nvc_gui.views.image_view import ElidedLabel, ImageView, rgb_to_qimage

NUM_SCALES = 5
NEAR_ZERO_PX = 0.5       # f^0 shorter than this everywhere: "flow ≈ 0"
HISTOGRAM_BINS = 24
ARROWS_ACROSS = 16       # arrows along the longer side of the frame
ARROW_HEAD = 0.3         # head length relative to the arrow
ARROW_HEAD_ANGLE = np.radians(25)


class FlowView(QWidget):
    """Five flow panels (one per scale), the colour wheel that is their colour bar, the colour scale
    (per scale, or one fixed length in frame pixels for all), a "flow ≈ 0" hint, and the histogram of
    the finest flow's vector lengths."""

    def __init__(self):
        super().__init__()
        self.scales = [ImageView(f"f^{s}") for s in range(NUM_SCALES)]
        self._arrows = [pg.PlotCurveItem(connect="pairs", pen=pg.mkPen("k", width=1))
                        for _ in range(NUM_SCALES)]
        for view, arrows in zip(self.scales, self._arrows):
            view.view.addItem(arrows)
        self.show_arrows = QCheckBox("arrows")
        self.upsampled = QCheckBox("upsample to frame")
        self.fixed_scale = QDoubleSpinBox()
        self.fixed_scale.setRange(0.0, 256.0)
        self.fixed_scale.setDecimals(1)
        self.fixed_scale.setSingleStep(0.5)
        self.fixed_scale.setSpecialValueText("per scale")
        self.fixed_scale.setSuffix(" px")
        self.fixed_scale.setToolTip("Length (frame pixels) that saturates the colour wheel at every scale; "
                                    "'per scale': each scale's own largest vector")
        self.hint = ElidedLabel()
        self.hint.setStyleSheet("color: #c00; font-weight: bold")
        self.readout = ElidedLabel()
        self.histogram = pg.PlotWidget()
        self.histogram.setMenuEnabled(False)
        self.histogram.setMouseEnabled(False, False)
        self.histogram.setTitle("|f^0| (frame px)", size="8pt")
        self.histogram.setMinimumHeight(60)
        self._bars = self.histogram.plot([0, 1], [0], stepMode="center", fillLevel=0, brush=(80, 120, 200))
        self._context: FrameContext | None = None
        for box in (self.show_arrows, self.upsampled):
            box.toggled.connect(self._redraw)
        self.fixed_scale.valueChanged.connect(self._redraw)
        for view in self.scales:
            view.hovered.connect(lambda _x, _y, v=view: self.readout.set_full_text(v.readout()))

        legend = QLabel()
        legend.setPixmap(QPixmap.fromImage(rgb_to_qimage(wheel_legend(32))))
        legend.setToolTip("Middlebury flow colour wheel: hue = direction, saturation = length "
                          "relative to the colour scale")
        controls = QHBoxLayout()
        for widget in (legend, self.show_arrows, self.upsampled, QLabel("colour scale"), self.fixed_scale):
            controls.addWidget(widget)
        controls.addStretch()
        corner = QWidget()
        corner_layout = QVBoxLayout(corner)
        corner_layout.setContentsMargins(0, 0, 0, 0)
        corner_layout.addWidget(self.hint)
        corner_layout.addWidget(self.histogram, stretch=1)
        corner_layout.addWidget(self.readout)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        for s, view in enumerate(self.scales):       # f^0 f^1 / f^2 f^3 / f^4 and the histogram
            grid.addWidget(view, s // 2, s % 2)
        grid.addWidget(corner, 2, 1)
        for row in range(3):
            grid.setRowStretch(row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addLayout(grid, stretch=1)

    def image_views(self) -> list[ImageView]:
        return list(self.scales)

    def reset(self) -> None:
        self._context = None
        for view, arrows in zip(self.scales, self._arrows):
            view.reset()
            arrows.setData([], [])
        self.hint.set_full_text("")
        self.readout.set_full_text("")
        self._bars.setData([0, 1], [0])
        self.histogram.enableAutoRange()

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        self._redraw()

    def _redraw(self) -> None:
        if self._context is None:
            return
        flows = self._context.record.flows
        frame = self._context.frame_size
        height, width = frame
        fixed = self.fixed_scale.value() or None
        self._show_histogram(flows[0] if flows else None)
        for s, (view, arrows) in enumerate(zip(self.scales, self._arrows)):
            arrows.setData([], [])
            if not flows:
                view.clear("no flow (I-frame)")
                view.set_title(f"f^{s}")
                continue
            flow, factor = flows[s], 2 ** s
            h, w = flow.shape[:2]
            extent = (h * factor, w * factor)
            unit, in_frame_px = f"px of f^{s}", factor
            if self.upsampled.isChecked():
                flow = cv2.resize(flow, (w * factor, h * factor), interpolation=cv2.INTER_LINEAR)
                flow = flow[:height, :width] * np.float32(factor)
                extent, unit, in_frame_px = frame, "frame px", 1
            largest = float(np.hypot(flow[..., 0], flow[..., 1]).max(initial=0.0))
            saturation = largest if fixed is None else fixed / in_frame_px
            view.set_rgb(flow_to_colour(flow, saturation), frame, values=flow, unit=f"(dx dy) {unit}",
                         extent=extent)
            view.set_title(f"f^{s} {w}x{h}, max {largest * in_frame_px:.3g} frame px")
            if self.show_arrows.isChecked():
                arrows.setData(*_arrow_segments(flow, extent))

    def _show_histogram(self, flow: np.ndarray | None) -> None:
        """The lengths of f^0's vectors (frame pixels), and the hint when they are all about zero."""
        if flow is None:
            self._bars.setData([0, 1], [0])
            self.hint.set_full_text("")
            return
        lengths = np.hypot(flow[..., 0], flow[..., 1]).ravel()
        largest = float(lengths.max(initial=0.0))
        counts, edges = np.histogram(lengths, bins=HISTOGRAM_BINS, range=(0.0, max(largest, NEAR_ZERO_PX)))
        self._bars.setData(edges, counts)
        self.hint.set_full_text(f"flow ≈ 0: longest vector of f^0 {largest:.2g} px" if largest < NEAR_ZERO_PX
                                else "")


def _arrow_segments(flow: np.ndarray, extent: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (x, y pairs for `connect="pairs"`) of arrows on a regular grid of the flow
    covering `extent` (height, width) frame pixels, in frame coordinates, scaled so that the longest
    arrow spans one grid cell."""
    height, width = extent
    rows, cols = flow.shape[:2]
    stride = max(1, max(rows, cols) // ARROWS_ACROSS)
    r, c = np.mgrid[stride // 2:rows:stride, stride // 2:cols:stride]
    cell_x, cell_y = width / cols, height / rows
    x0, y0 = (c + 0.5) * cell_x, (r + 0.5) * cell_y
    dx, dy = flow[r, c, 0] * cell_x, flow[r, c, 1] * cell_y
    longest = float(np.hypot(dx, dy).max(initial=0.0))
    if longest == 0:
        return np.empty(0), np.empty(0)
    gain = 0.9 * stride * min(cell_x, cell_y) / longest
    x1, y1 = x0 + gain * dx, y0 + gain * dy
    angle = np.arctan2(y1 - y0, x1 - x0)
    length = ARROW_HEAD * np.hypot(x1 - x0, y1 - y0)
    segments_x = [x0, x1]
    segments_y = [y0, y1]
    for side in (-1, 1):
        head = angle + np.pi + side * ARROW_HEAD_ANGLE
        segments_x += [x1, x1 + length * np.cos(head)]
        segments_y += [y1, y1 + length * np.sin(head)]
    # interleave into (start, end) pairs: shaft, left head, right head of every arrow
    xs = np.stack(segments_x, axis=-1).reshape(-1)
    ys = np.stack(segments_y, axis=-1).reshape(-1)
    return xs, ys
