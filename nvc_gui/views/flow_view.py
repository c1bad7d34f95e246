"""The multiscale compressed flows f^s (s = 0 finest .. 4) of a P-frame: Middlebury colour coding
with an optional arrow overlay, each scale at its own resolution or upsampled to the frame."""

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from nvc_gui.flow_colour import flow_to_colour, wheel_legend
from nvc_gui.views.base import FrameContext
from nvc_gui.views.image_view import ImageView, rgb_to_qimage

NUM_SCALES = 5
ARROWS_ACROSS = 16       # arrows along the longer side of the frame
ARROW_HEAD = 0.3         # head length relative to the arrow
ARROW_HEAD_ANGLE = np.radians(25)


class FlowView(QWidget):
    """Five flow panels (one per scale) and the colour wheel that is their colour bar."""

    def __init__(self):
        super().__init__()
        self.scales = [ImageView(f"f^{s}") for s in range(NUM_SCALES)]
        self._arrows = [pg.PlotCurveItem(connect="pairs", pen=pg.mkPen("k", width=1))
                        for _ in range(NUM_SCALES)]
        for view, arrows in zip(self.scales, self._arrows):
            view.view.addItem(arrows)
        self.show_arrows = QCheckBox("arrows")
        self.upsampled = QCheckBox("upsample to frame")
        self._context: FrameContext | None = None
        for box in (self.show_arrows, self.upsampled):
            box.toggled.connect(self._redraw)

        legend = QLabel()
        legend.setPixmap(QPixmap.fromImage(rgb_to_qimage(wheel_legend(64))))
        legend.setToolTip("Middlebury flow colour wheel: hue = direction, saturation = length "
                          "relative to the largest vector of the scale")
        options = QVBoxLayout()
        options.addWidget(legend)
        options.addWidget(self.show_arrows)
        options.addWidget(self.upsampled)
        options.addStretch()
        corner = QWidget()
        corner.setLayout(options)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        for s, view in enumerate(self.scales):
            grid.addWidget(view, s // 3, s % 3)
        grid.addWidget(corner, 1, 2)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(grid)

    def image_views(self) -> list[ImageView]:
        return list(self.scales)

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        self._redraw()

    def _redraw(self) -> None:
        if self._context is None:
            return
        flows = self._context.record.flows
        height, width = self._context.frame_size
        for s, (view, arrows) in enumerate(zip(self.scales, self._arrows)):
            arrows.setData([], [])
            if not flows:
                view.clear("no flow (I-frame)")
                view.set_title(f"f^{s}")
                continue
            flow = flows[s]
            h, w = flow.shape[:2]
            unit = f"px of f^{s}"
            if self.upsampled.isChecked():
                flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
                flow = flow * np.array([width / w, height / h], dtype=np.float32)
                unit = "frame px"
            largest = float(np.hypot(flow[..., 0], flow[..., 1]).max(initial=0.0))
            view.set_rgb(flow_to_colour(flow, largest), (height, width), values=flow, unit=f"(dx dy) {unit}")
            view.set_title(f"f^{s} {w}x{h}, max {largest:.3g} px")
            if self.show_arrows.isChecked():
                arrows.setData(*_arrow_segments(flow, (height, width)))


def _arrow_segments(flow: np.ndarray, frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (x, y pairs for `connect="pairs"`) of arrows on a regular grid of the flow,
    in frame coordinates, scaled so that the longest arrow spans one grid cell."""
    height, width = frame_size
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
