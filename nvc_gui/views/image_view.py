"""An image panel with a colour bar and a read-out of the value under the cursor, the link that
makes all panels zoom and pan together, and the latent-grid overlay.

Coordinates are frame pixels: (0, 0) is the top-left corner of the frame, (W, H) the bottom-right.
An image covers its true extent in the frame: a latent map of the frame padded to a multiple of 64
covers the padded frame (its last row and column of cells may reach past the frame, which is then
outlined), a flow at scale s covers ceil(H / 2^s) * 2^s rows."""

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QImage
from PySide6.QtWidgets import QGraphicsRectItem, QLabel, QSizePolicy, QVBoxLayout, QWidget

Extent = tuple[int, int]    # (height, width) in frame pixels


class ElidedLabel(QLabel):
    """A one-line label that never widens its parent: text that does not fit ends in "…" (the whole
    text is the tooltip)."""

    def __init__(self, text: str = ""):
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(10)
        self._full = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        metrics = QFontMetrics(self.font())
        self.setText(metrics.elidedText(self._full or " ", Qt.TextElideMode.ElideRight, max(self.width(), 10)))


class WrappedTitle(QLabel):
    """A panel title that wraps onto up to three lines rather than hide its end (totals come first and
    stay readable); its height is fixed, so that a new title never lays out the window again."""

    LINES = 3

    def __init__(self, text: str):
        super().__init__(text)
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.LINES * QFontMetrics(self.font()).lineSpacing() + 2)


class ImageView(QWidget):
    """Shows an RGB image, or a scalar map with a colour bar (optionally over a faded RGB frame); at
    high zoom the value of every pixel (or latent cell) is written in it."""

    activated = Signal(object)          # self, when the user clicks into the view
    maximise_requested = Signal(object)  # self, on a double click
    hovered = Signal(float, float)      # frame coordinates under the mouse

    MIN_PIXEL_FOR_VALUES = 44           # screen pixels a value cell needs before its value is drawn

    def __init__(self, title: str, colormap: str = "viridis", parent: QWidget | None = None):
        super().__init__(parent)
        self.title = title
        self._title = WrappedTitle(title)
        self._graphics = pg.GraphicsLayoutWidget()
        self._graphics.setMinimumSize(60, 40)
        self.view = self._graphics.addViewBox(row=0, col=0, lockAspect=True, invertY=True,
                                              enableMenu=False)
        self._rgb = pg.ImageItem()
        self._scalar = pg.ImageItem()
        self.view.addItem(self._rgb)
        self.view.addItem(self._scalar)
        self._outline = QGraphicsRectItem()              # the frame, where an image reaches past it
        self._outline.setPen(pg.mkPen("w", width=1, style=Qt.PenStyle.DashLine, cosmetic=True))
        self._outline.setZValue(20)
        self.view.addItem(self._outline)
        self.grid = LatentGrid(self.view)
        self.values = CellNumbers(self.view, self.MIN_PIXEL_FOR_VALUES, z=13)
        self._colormap = pg.colormap.get(colormap)
        self.colorbar = pg.ColorBarItem(colorMap=self._colormap, interactive=False, width=12)
        self.colorbar.setImageItem(self._scalar)
        self._graphics.addItem(self.colorbar, row=0, col=1)
        self._readout = ElidedLabel()
        self._layout = layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._title)
        layout.addWidget(self._graphics, stretch=1)
        layout.addWidget(self._readout)
        self._values: np.ndarray | None = None   # what the read-out reports, (h, w) or (h, w, k)
        self._unit = ""
        self._frame_size: Extent | None = None
        self._extent: Extent | None = None       # what the read-out values cover
        self._cover: Extent | None = None        # what the top layer covers (frame, or padded frame)
        self._cursor: QPointF | None = None      # last mouse position, frame coordinates
        self._native: Callable[[], np.ndarray] | None = None   # the top layer as RGB, on demand
        scene = self._graphics.scene()
        scene.sigMouseMoved.connect(self._on_mouse_moved)
        scene.sigMouseClicked.connect(self._on_click)
        self.clear()

    def image_views(self) -> list["ImageView"]:
        return [self]

    def add_controls(self, widget: QWidget) -> None:
        """A row of controls under the title (e.g. a colour scale)."""
        self._layout.insertWidget(1, widget)

    def set_title(self, text: str) -> None:
        self._title.setText(text)
        self._title.setToolTip(text)

    def title_text(self) -> str:
        return self._title.text()

    def reset(self, message: str = "") -> None:
        """As new: the default title, nothing shown, no read-out (a clip closed or failed)."""
        self.set_title(self.title)
        self._frame_size = None
        self.clear(message)

    def clear(self, message: str = "") -> None:
        """Show nothing (with `message` as the read-out, e.g. why there is nothing to show)."""
        self._rgb.clear()
        self._scalar.clear()
        self.colorbar.hide()
        self._outline.hide()
        self.grid.clear()
        self.values.clear()
        self._values = self._native = None
        self._readout.set_full_text(message)

    def has_frame(self) -> bool:
        """Whether a frame was shown since the last reset."""
        return self._frame_size is not None

    def set_rgb(self, image: np.ndarray, frame_size: Extent, values: np.ndarray | None = None,
                unit: str = "", extent: Extent | None = None) -> None:
        """Show an RGB image (uint8, or float in [0, 1]) over `extent` (default: the frame); the
        read-out reports `values` (default: the image)."""
        rgb = _to_uint8(image)
        self._scalar.clear()
        self.colorbar.hide()
        self._rgb.setOpacity(1.0)
        self._show(self._rgb, rgb, frame_size, extent, levels=(0, 255))
        self._outline_frame(frame_size, extent)
        self._set_readout(image if values is None else values, unit, extent or frame_size, lambda: rgb)

    def set_scalar(self, data: np.ndarray, frame_size: Extent, levels: tuple[float, float],
                   unit: str = "", colormap: str | None = None, underlay: np.ndarray | None = None,
                   opacity: float = 1.0, values: np.ndarray | None = None,
                   extent: Extent | None = None) -> None:
        """Show a scalar map `(h, w)` over `extent` (default: the frame) with the colour bar spanning
        `levels`; `underlay` (RGB, frame-sized) is drawn faded beneath it when given."""
        if colormap is not None:
            self._colormap = pg.colormap.get(colormap)
            self.colorbar.setColorMap(self._colormap)
        low, high = float(levels[0]), float(levels[1])
        if high <= low:
            high = low + 1e-6
        if underlay is None:
            self._rgb.clear()
        else:
            self._show(self._rgb, _to_uint8(underlay), frame_size, None, levels=(0, 255))
            self._rgb.setOpacity(0.5)
        self._show(self._scalar, data.astype(np.float32), frame_size, extent, autoLevels=False)
        self._outline_frame(frame_size, extent)
        self._scalar.setOpacity(opacity)
        self.colorbar.setLevels((low, high))
        self.colorbar.show()
        colormap = self._colormap

        def native() -> np.ndarray:
            normalised = np.clip((data - low) / (high - low), 0, 1)
            return colormap.map(normalised.ravel(), mode=pg.ColorMap.BYTE)[:, :3].reshape(*data.shape, 3)

        self._set_readout(data if values is None else values, unit, extent or frame_size, native)

    def levels(self) -> tuple[float, float] | None:
        """The colour bar's levels of the scalar map shown (None: no scalar map)."""
        return tuple(self.colorbar.levels()) if self.colorbar.isVisible() else None

    def native_image(self) -> np.ndarray | None:
        """The top layer at its own resolution as RGB uint8 (what "save view" writes)."""
        return None if self._native is None else self._native()

    def frame_to_pixel(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, column) of the read-out array under frame coordinates (x, y), if inside both the
        frame and the array."""
        if self._values is None or self._frame_size is None:
            return None
        height, width = self._frame_size
        if not (0 <= x < width and 0 <= y < height):
            return None
        extent_h, extent_w = self._extent
        rows, cols = self._values.shape[:2]
        row, col = int(np.floor(y * rows / extent_h)), int(np.floor(x * cols / extent_w))
        return (row, col) if row < rows and col < cols else None

    def _show(self, item: pg.ImageItem, data: np.ndarray, frame_size: Extent, extent: Extent | None,
              **options) -> None:
        """Put `data` in `item` over `extent`; fit the view to a new frame size."""
        extent_h, extent_w = extent or frame_size
        item.setImage(data, **options)
        item.setRect(QRectF(0, 0, extent_w, extent_h))
        cover = (max(extent_h, frame_size[0]), max(extent_w, frame_size[1]))
        if self._frame_size != frame_size or self._cover != cover:
            self._frame_size, self._cover = frame_size, cover
            self.fit()

    def _outline_frame(self, frame_size: Extent, extent: Extent | None) -> None:
        """Outline the frame when the top layer reaches past it (e.g. the padded part of a latent)."""
        height, width = frame_size
        self._outline.setRect(QRectF(0, 0, width, height))
        self._outline.setVisible(extent is not None and tuple(extent) != tuple(frame_size))

    def fit(self) -> None:
        """Show the whole frame, and the padded part of a latent map that reaches past it."""
        if self._cover is not None:
            height, width = self._cover
            self.view.setRange(QRectF(0, 0, width, height), padding=0)

    def _set_readout(self, values: np.ndarray, unit: str, extent: Extent,
                     native: Callable[[], np.ndarray]) -> None:
        self._values, self._unit, self._extent, self._native = values, unit, extent, native
        rows, cols = values.shape[:2]
        self.values.set_cells(values, extent[0] / rows, extent[1] / cols, self._frame_size, _cell_text)
        self._update_readout()

    def _on_mouse_moved(self, position: QPointF) -> None:
        self._cursor = self.view.mapSceneToView(position)
        self._update_readout()
        self.hovered.emit(self._cursor.x(), self._cursor.y())

    def _on_click(self, event) -> None:
        if event.double():
            self.maximise_requested.emit(self)
        else:
            self.activated.emit(self)

    def _update_readout(self) -> None:
        """Show the value under the cursor (kept while stepping through frames)."""
        pixel = None if self._cursor is None else self.frame_to_pixel(self._cursor.x(), self._cursor.y())
        if pixel is None:
            if self._values is not None:
                self._readout.set_full_text("")
            return
        text = " ".join(_format(v) for v in np.atleast_1d(self._values[pixel]))
        self._readout.set_full_text(f"x={int(self._cursor.x())} y={int(self._cursor.y())}  "
                                    f"[{pixel[1]},{pixel[0]}]: {text} {self._unit}")

    def readout(self) -> str:
        """The read-out line (in full)."""
        return self._readout.full_text()


class CellNumbers:
    """Numbers written inside the cells of a regular grid (pixels of an image, cells of a latent)
    once the cells are large enough on screen to hold them; only the visible cells, at the centre
    of their part inside the frame."""

    MAX_TEXTS = 4000

    def __init__(self, view: pg.ViewBox, min_cell: int, z: float):
        self._view, self._min_cell, self._z = view, min_cell, z
        self._texts: list[pg.TextItem] = []
        self._values: np.ndarray | None = None
        self._cell = (1.0, 1.0)
        self._limit: Extent = (0, 0)
        self._text: Callable[[np.ndarray], str] = str
        view.sigRangeChanged.connect(lambda *_args: self.update())

    def clear(self) -> None:
        self._values = None
        self.update()

    def set_cells(self, values: np.ndarray, cell_h: float, cell_w: float, frame_size: Extent | None,
                  text: Callable[[np.ndarray], str]) -> None:
        """Cells of `cell_h` x `cell_w` frame pixels holding `values` `(rows, cols, ...)`; numbers
        are written only inside `frame_size`."""
        self._values, self._cell, self._text = values, (cell_h, cell_w), text
        self._limit = frame_size or (values.shape[0] * cell_h, values.shape[1] * cell_w)
        self.update()

    def update(self) -> None:
        for text in self._texts:
            text.hide()
        if self._values is None:
            return
        (x0, x1), (y0, y1) = self._view.viewRange()
        cell_h, cell_w = self._cell
        screen_cell = min(cell_w, cell_h) * self._view.width() / max(x1 - x0, 1e-6)
        if screen_cell < self._min_cell:
            return
        limit_h, limit_w = self._limit
        rows = min(self._values.shape[0], int(np.ceil(limit_h / cell_h)))
        cols = min(self._values.shape[1], int(np.ceil(limit_w / cell_w)))
        r0, r1 = max(int(y0 // cell_h), 0), min(int(y1 // cell_h) + 1, rows)
        c0, c1 = max(int(x0 // cell_w), 0), min(int(x1 // cell_w) + 1, cols)
        cells = [(r, c) for r in range(r0, r1) for c in range(c0, c1)][:self.MAX_TEXTS]
        font = QFont()
        font.setPixelSize(int(min(max(screen_cell / 3.6, 8), 16)))
        while len(self._texts) < len(cells):
            text = pg.TextItem(color=(255, 255, 255), anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 120))
            text.setZValue(self._z)
            self._view.addItem(text)
            self._texts.append(text)
        for text, (r, c) in zip(self._texts, cells):
            text.setFont(font)
            text.setText(self._text(self._values[r, c]))
            # the centre of the cell's part inside the frame: a cell past its edge keeps its number
            x = (c * cell_w + min((c + 1) * cell_w, limit_w)) / 2
            y = (r * cell_h + min((r + 1) * cell_h, limit_h)) / 2
            text.setPos(x, y)
            text.show()

    def shown(self) -> list[tuple[QPointF, str]]:
        """(position, text) of the numbers drawn."""
        return [(t.pos(), t.textItem.toPlainText()) for t in self._texts if t.isVisible()]


class LatentGrid:
    """The latent-grid overlay of a view: the cells of a latent (16x16 frame pixels for ŷ, 64x64
    for ẑ) as lines, their bits as a heat map of adjustable opacity, each cell's bits written in it
    when the cells are large enough on screen to hold the number, and the frame's edge (cells of the
    padded frame reach past it)."""

    MIN_CELL_FOR_TEXT = 26       # screen pixels a cell needs before its number is drawn

    def __init__(self, view: pg.ViewBox):
        self._view = view
        self._heat = pg.ImageItem()
        self._heat.setZValue(10)
        self._lines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen((0, 255, 255, 200), width=1))
        self._lines.setZValue(11)
        self._edge = QGraphicsRectItem()
        self._edge.setPen(pg.mkPen((255, 255, 0), width=2, cosmetic=True))
        self._edge.setZValue(12)
        for item in (self._heat, self._lines, self._edge):
            view.addItem(item)
        self._numbers = CellNumbers(view, self.MIN_CELL_FOR_TEXT, z=12)
        self._cell = 0
        self._bits: np.ndarray | None = None
        self._levels = (0.0, 0.0)
        self.clear()

    def clear(self) -> None:
        self._heat.clear()
        self._heat.hide()
        self._edge.hide()
        self._lines.setData([], [])
        self._bits = None
        self._numbers.clear()

    def set_cells(self, bits: np.ndarray, cell: int, frame_size: Extent, opacity: float,
                  levels: tuple[float, float] | None = None) -> None:
        """Draw the grid of `cell`-pixel cells with `bits` `(rows, cols)` per cell (the cells that
        touch the frame; those past it are not drawn), coloured over `levels` (None: from 0 to the
        largest)."""
        height, width = frame_size
        rows, cols = -(-height // cell), -(-width // cell)
        bits = bits[:rows, :cols]
        self._bits, self._cell = bits, cell
        low, high = levels if levels is not None else (0.0, float(bits.max()))
        self._levels = (low, high)
        normalised = np.clip((bits - low) / max(high - low, 1e-6), 0, 1)
        colours = pg.colormap.get("inferno").map(normalised.ravel(), mode=pg.ColorMap.BYTE)
        self._heat.setImage(colours.reshape(rows, cols, 4))
        self._heat.setRect(QRectF(0, 0, cols * cell, rows * cell))
        self._heat.setOpacity(opacity)
        self._heat.show()
        xs = np.arange(cols + 1) * cell
        ys = np.arange(rows + 1) * cell
        x_lines = np.stack([xs, xs], -1).ravel(), np.tile([0, rows * cell], cols + 1)
        y_lines = np.tile([0, cols * cell], rows + 1), np.stack([ys, ys], -1).ravel()
        self._lines.setData(np.concatenate([x_lines[0], y_lines[0]]).astype(float),
                            np.concatenate([x_lines[1], y_lines[1]]).astype(float))
        self._edge.setRect(QRectF(0, 0, width, height))
        self._edge.setVisible(rows * cell != height or cols * cell != width)
        self._numbers.set_cells(bits, cell, cell, frame_size, bits_text)

    def cell_bits(self) -> np.ndarray | None:
        """The bits per cell as drawn."""
        return self._bits

    def levels(self) -> tuple[float, float] | None:
        """The bits at the bottom and top of the heat map's colours (None: no grid)."""
        return None if self._bits is None else self._levels

    def cell_rect(self, row: int, col: int) -> QRectF:
        """Where cell (row, col) is, in frame coordinates."""
        return QRectF(col * self._cell, row * self._cell, self._cell, self._cell)

    def edge_rect(self) -> QRectF | None:
        """The frame edge drawn over the grid (None: the cells end at the frame's edge)."""
        return self._edge.rect() if self._edge.isVisible() else None

    def shown_numbers(self) -> list[tuple[QPointF, str]]:
        """(position, text) of the numbers drawn."""
        return self._numbers.shown()


class ViewLink:
    """Keeps the zoom and pan of several views equal: same centre, same frame pixels per screen
    pixel (views of different sizes then show the same point of the frame at their centre)."""

    def __init__(self):
        self._views: list[ImageView] = []
        self._busy = False

    def add(self, view: ImageView) -> None:
        self._views.append(view)
        view.view.sigRangeChangedManually.connect(lambda _mask, vb=view.view: self._follow(vb))

    def _follow(self, source: pg.ViewBox) -> None:
        (x0, x1), (y0, y1) = source.viewRange()
        self._apply(QPointF((x0 + x1) / 2, (y0 + y1) / 2), (x1 - x0) / max(source.width(), 1.0), source)

    def _apply(self, centre: QPointF, per_pixel: float, source: pg.ViewBox | None) -> None:
        """Every view but `source` centred on `centre` with `per_pixel` frame pixels per screen pixel."""
        if self._busy:
            return
        self._busy = True
        try:
            for image_view in self._views:
                view = image_view.view
                if view is source:
                    continue
                half_w = per_pixel * max(view.width(), 1.0) / 2
                half_h = per_pixel * max(view.height(), 1.0) / 2
                view.setRange(QRectF(centre.x() - half_w, centre.y() - half_h, 2 * half_w, 2 * half_h),
                              padding=0)
        finally:
            self._busy = False

    def zoom(self, view: ImageView) -> float:
        """Screen pixels per frame pixel of `view` (1.0 = 1:1)."""
        (x0, x1), _ = view.view.viewRange()
        return view.view.width() / max(x1 - x0, 1e-9)

    def set_zoom(self, view: ImageView, zoom: float) -> None:
        """Every view at `zoom` screen pixels per frame pixel, centred where `view` is centred."""
        (x0, x1), (y0, y1) = view.view.viewRange()
        self._apply(QPointF((x0 + x1) / 2, (y0 + y1) / 2), 1.0 / zoom, None)

    def fit_all(self) -> None:
        """Show the whole frame in every view."""
        for view in self._views:
            view.fit()


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


def bits_text(bits: float) -> str:
    """A cell's bits in at most 4 characters (the exact value is in the hover readout)."""
    if bits >= 10:
        return f"{bits:.0f}"
    if bits >= 0.995:
        return f"{bits:.2g}"
    return f"{bits:.1f}" if bits >= 0.05 else "0"


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def _cell_text(values) -> str:
    """A pixel's values in it: one per line (R, G, B), numbers in at most 4 significant digits."""
    values = np.atleast_1d(values)
    return "\n".join(f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v) for v in values)
