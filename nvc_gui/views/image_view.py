"""An image panel with a colour bar and a read-out of the value under the cursor, and the link that
makes all panels zoom and pan together."""

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget


class ImageView(QWidget):
    """Shows an RGB image, or a scalar map with a colour bar (optionally over a faded RGB frame).

    Every image is stretched over the frame rectangle (0..W, 0..H), whatever its own resolution (a
    latent has 1/16 of the frame's), so that linked views show the same part of the frame."""

    activated = Signal(object)   # self, when the user clicks into the view

    def __init__(self, title: str, colormap: str = "viridis", parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self._graphics = pg.GraphicsLayoutWidget()
        self._title = self._graphics.addLabel(title, row=0, col=0, colspan=2)
        self.view = self._graphics.addViewBox(row=1, col=0, lockAspect=True, invertY=True,
                                              enableMenu=False)
        self._rgb = pg.ImageItem()
        self._scalar = pg.ImageItem()
        self.view.addItem(self._rgb)
        self.view.addItem(self._scalar)
        self._colormap = pg.colormap.get(colormap)
        self.colorbar = pg.ColorBarItem(colorMap=self._colormap, interactive=False, width=12)
        self.colorbar.setImageItem(self._scalar)
        self._graphics.addItem(self.colorbar, row=1, col=1)
        self._readout = QLabel(" ")
        self._readout.setMinimumWidth(10)   # long read-outs must not widen the dock
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._readout)
        self._values: np.ndarray | None = None   # what the read-out reports, (h, w) or (h, w, k)
        self._unit = ""
        self._frame_size: tuple[int, int] | None = None
        self._cursor: QPointF | None = None      # last mouse position, frame coordinates
        self._native: Callable[[], np.ndarray] | None = None   # the top layer as RGB, on demand
        self._graphics.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self._graphics.scene().sigMouseClicked.connect(lambda _event: self.activated.emit(self))
        self.clear()

    def image_views(self) -> list["ImageView"]:
        return [self]

    def set_title(self, text: str) -> None:
        self._title.setText(text)

    def clear(self, message: str = "") -> None:
        """Show nothing (with `message` as the read-out, e.g. why there is nothing to show)."""
        self._rgb.clear()
        self._scalar.clear()
        self.colorbar.hide()
        self._values = self._native = None
        self._readout.setText(message or " ")

    def set_rgb(self, image: np.ndarray, frame_size: tuple[int, int],
                values: np.ndarray | None = None, unit: str = "") -> None:
        """Show an RGB image (uint8, or float in [0, 1]); the read-out reports `values` (default: the
        image)."""
        rgb = _to_uint8(image)
        self._scalar.clear()
        self.colorbar.hide()
        self._rgb.setOpacity(1.0)
        self._show(self._rgb, rgb, frame_size, levels=(0, 255))
        self._set_readout(image if values is None else values, unit, lambda: rgb)

    def set_scalar(self, data: np.ndarray, frame_size: tuple[int, int], levels: tuple[float, float],
                   unit: str = "", colormap: str | None = None, underlay: np.ndarray | None = None,
                   opacity: float = 1.0, values: np.ndarray | None = None) -> None:
        """Show a scalar map `(h, w)` with the colour bar spanning `levels`; `underlay` (RGB) is
        drawn faded beneath it when given."""
        if colormap is not None:
            self._colormap = pg.colormap.get(colormap)
            self.colorbar.setColorMap(self._colormap)
        low, high = float(levels[0]), float(levels[1])
        if high <= low:
            high = low + 1e-6
        if underlay is None:
            self._rgb.clear()
        else:
            self._show(self._rgb, _to_uint8(underlay), frame_size, levels=(0, 255))
            self._rgb.setOpacity(0.5)
        self._show(self._scalar, data.astype(np.float32), frame_size, autoLevels=False)
        self._scalar.setOpacity(opacity)
        self.colorbar.setLevels((low, high))
        self.colorbar.show()
        colormap = self._colormap

        def native() -> np.ndarray:
            normalised = np.clip((data - low) / (high - low), 0, 1)
            return colormap.map(normalised.ravel(), mode=pg.ColorMap.BYTE)[:, :3].reshape(*data.shape, 3)

        self._set_readout(data if values is None else values, unit, native)

    def native_image(self) -> np.ndarray | None:
        """The top layer at its own resolution as RGB uint8 (what "save view" writes)."""
        return None if self._native is None else self._native()

    def frame_to_pixel(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, column) of the read-out array under frame coordinates (x, y), if inside."""
        if self._values is None or self._frame_size is None:
            return None
        height, width = self._frame_size
        rows, cols = self._values.shape[:2]
        row, col = int(np.floor(y * rows / height)), int(np.floor(x * cols / width))
        return (row, col) if 0 <= row < rows and 0 <= col < cols else None

    def _show(self, item: pg.ImageItem, data: np.ndarray, frame_size: tuple[int, int], **options) -> None:
        """Put `data` in `item` stretched over the frame rectangle; fit the view to a new frame size."""
        height, width = frame_size
        item.setImage(data, **options)
        item.setRect(QRectF(0, 0, width, height))
        if self._frame_size != frame_size:
            self._frame_size = frame_size
            self.view.setRange(QRectF(0, 0, width, height), padding=0)

    def _set_readout(self, values: np.ndarray, unit: str, native: Callable[[], np.ndarray]) -> None:
        self._values, self._unit, self._native = values, unit, native
        self._update_readout()

    def _on_mouse_moved(self, position: QPointF) -> None:
        self._cursor = self.view.mapSceneToView(position)
        self._update_readout()

    def _update_readout(self) -> None:
        """Show the value under the cursor (kept while stepping through frames)."""
        pixel = None if self._cursor is None else self.frame_to_pixel(self._cursor.x(), self._cursor.y())
        if pixel is None:
            self._readout.setText(" ")
            return
        text = " ".join(_format(v) for v in np.atleast_1d(self._values[pixel]))
        self._readout.setText(f"x={int(self._cursor.x())} y={int(self._cursor.y())}  "
                              f"[{pixel[1]},{pixel[0]}]: {text} {self._unit}")

    def readout(self) -> str:
        """The read-out line as shown."""
        return self._readout.text()


class ViewLink:
    """Keeps the zoom and pan of several views equal: same centre, same frame pixels per screen
    pixel (views of different sizes then show the same point of the frame at their centre)."""

    def __init__(self):
        self._views: list[pg.ViewBox] = []
        self._busy = False

    def add(self, view: ImageView) -> None:
        self._views.append(view.view)
        view.view.sigRangeChangedManually.connect(lambda _mask, vb=view.view: self._follow(vb))

    def _follow(self, source: pg.ViewBox) -> None:
        if self._busy:
            return
        self._busy = True
        try:
            (x0, x1), (y0, y1) = source.viewRange()
            centre = QPointF((x0 + x1) / 2, (y0 + y1) / 2)
            per_pixel = (x1 - x0) / max(source.width(), 1.0)
            for view in self._views:
                if view is source:
                    continue
                half_w = per_pixel * max(view.width(), 1.0) / 2
                half_h = per_pixel * max(view.height(), 1.0) / 2
                view.setRange(QRectF(centre.x() - half_w, centre.y() - half_h, 2 * half_w, 2 * half_h),
                              padding=0)
        finally:
            self._busy = False

    def fit_all(self) -> None:
        """Show the whole frame in every view."""
        for view in self._views:
            view.autoRange(padding=0)


def rgb_to_qimage(image: np.ndarray) -> QImage:
    """A QImage holding its own copy of an RGB uint8 `(h, w, 3)` array."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    return QImage(image.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """RGB uint8 from uint8, or float in [0, 1]."""
    if image.dtype == np.uint8:
        return image
    return (np.clip(image, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)
