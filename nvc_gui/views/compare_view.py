"""Compare mode: the same frame of two codings of one clip (two rate points, or the temporal prior
on and off) side by side, their difference B − A, and A | B on one view split by a slider."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from nvc_gui.views.base import FrameContext, KeyChooser
from nvc_gui.views.frame_views import show_error_map
from nvc_gui.views.image_view import ImageView

RECONSTRUCTION = "reconstruction"
ERROR = "error |orig − rec|"
BITS = "bits "        # prefix of the bit-map layers, e.g. "bits motion.y"
SPLIT_STEPS = 1000


class CompareView(QWidget):
    """A, B, B − A and the split view for one layer; B is set by its own rate point and
    temporal-prior setting."""

    b_changed = Signal()    # the user changed B's rate point or temporal prior

    def __init__(self):
        super().__init__()
        self.quality_b = QSpinBox()
        self.quality_b.setPrefix("B rate point ")
        self.prior_b = QCheckBox("B temporal prior")
        self.layer = KeyChooser(RECONSTRUCTION)
        self.a = ImageView("A")
        self.b = ImageView("B")
        self.diff = ImageView("B − A", colormap="CET-D1")
        self.split = ImageView("A | B")
        self.split_slider = QSlider(Qt.Orientation.Horizontal)
        self.split_slider.setRange(0, SPLIT_STEPS)
        self.split_slider.setValue(SPLIT_STEPS // 2)
        self.split_slider.setToolTip("Where A ends and B begins in the split view")
        self._split_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("y", width=2))
        self.split.view.addItem(self._split_line)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("layer"))
        controls.addWidget(self.layer, stretch=1)
        controls.addWidget(self.quality_b)
        controls.addWidget(self.prior_b)
        split = QWidget()
        split_layout = QVBoxLayout(split)
        split_layout.setContentsMargins(0, 0, 0, 0)
        split_layout.addWidget(self.split, stretch=1)
        split_layout.addWidget(self.split_slider)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(controls, 0, 0, 1, 2)
        for i, view in enumerate((self.a, self.b, self.diff, split)):
            grid.addWidget(view, 1 + i // 2, i % 2)
        self._pair: tuple[FrameContext, FrameContext | None] | None = None
        self.quality_b.valueChanged.connect(self.b_changed)
        self.prior_b.toggled.connect(self.b_changed)
        self.layer.currentTextChanged.connect(self._redraw)
        self.split_slider.valueChanged.connect(self._show_split)

    def image_views(self) -> list[ImageView]:
        return [self.a, self.b, self.diff, self.split]

    def set_b(self, quality: int, temporal_prior: bool, num_rates: int) -> None:
        """Set B's controls without emitting `b_changed`."""
        for widget in (self.quality_b, self.prior_b):
            widget.blockSignals(True)
        self.quality_b.setMaximum(num_rates - 1)
        self.quality_b.setValue(quality)
        self.prior_b.setChecked(temporal_prior)
        for widget in (self.quality_b, self.prior_b):
            widget.blockSignals(False)

    def clear(self) -> None:
        self._pair = None
        for view in self.image_views():
            view.clear()

    def show_pair(self, a: FrameContext, b: FrameContext) -> None:
        """Show frame `a` and the same frame of the other coding `b` (its encoding may not have that
        frame yet)."""
        self._pair = (a, b)
        self.layer.offer([BITS + k for k in a.record.bit_maps], (RECONSTRUCTION, ERROR))
        self._redraw()

    def _redraw(self) -> None:
        if self._pair is None:
            return
        a, b = self._pair
        layer = self.layer.currentText()
        self.a.set_title(f"A: {_settings(a)}")
        shown_a = self._show(self.a, a, layer)
        if b.index >= len(b.encoding.records):
            self.b.set_title(f"B: {_settings(b)} — {b.encoding.status.value}…")
            for view in (self.b, self.diff, self.split):
                view.clear("B is being coded…")
            return
        self.b.set_title(f"B: {_settings(b)}")
        shown_b = self._show(self.b, b, layer)
        self._show_split()
        if shown_a is None or shown_b is None or shown_a.shape != shown_b.shape:
            self.diff.clear("no difference: the layer is missing in A or B")
            return
        difference = shown_b - shown_a
        bound = max(float(np.abs(difference).max()), 1e-3)
        self.diff.set_title(f"B − A ({layer})")
        self.diff.set_scalar(difference, a.frame_size, levels=(-bound, bound), extent=self._extent(a, layer))

    def _show_split(self) -> None:
        """A left of the slider, B right of it, as A and B show the layer."""
        if self._pair is None:
            return
        a, b = self._pair
        image_a, image_b = self.a.native_image(), self.b.native_image()
        if image_a is None or image_b is None or image_a.shape != image_b.shape:
            self.split.clear("the layer is missing in A or B")
            return
        height, width = a.frame_size
        extent_h, extent_w = self._extent(a, self.layer.currentText())
        fraction = self.split_slider.value() / SPLIT_STEPS
        column = int(round(fraction * width * image_a.shape[1] / extent_w))
        composite = image_a.copy()
        composite[:, column:] = image_b[:, column:]
        self.split.set_title(f"A | B  (A: {_settings(a)}  |  B: {_settings(b)})")
        self.split.set_rgb(composite, a.frame_size, extent=(extent_h, extent_w))
        self._split_line.setValue(column * extent_w / image_a.shape[1])

    def split_column(self) -> float:
        """Where the split line is, in frame pixels."""
        return self._split_line.value()

    @staticmethod
    def _extent(context: FrameContext, layer: str) -> tuple[int, int]:
        return context.padded_size if layer.startswith(BITS) else context.frame_size

    @classmethod
    def _show(cls, view: ImageView, context: FrameContext, layer: str) -> np.ndarray | None:
        """Draw `layer` of `context` in `view`; returns the scalar the difference is taken of."""
        record = context.record
        if layer == RECONSTRUCTION:
            view.set_rgb(record.reconstruction, context.frame_size)
            return record.reconstruction.astype(np.float32).mean(axis=2)
        if layer == ERROR:
            return show_error_map(view, context)
        key = layer.removeprefix(BITS)
        bits = context.encoding.bit_map(context.index, key, context.temporal_prior)
        if bits is None:
            view.clear(f"no {key} in this {record.frame_type}-frame")
            return None
        total = bits.sum(axis=0)
        view.set_scalar(total, context.frame_size, levels=(0, max(float(total.max()), 1e-3)),
                        unit="bits (estimate)", colormap="inferno", extent=cls._extent(context, layer))
        return total


def _settings(context: FrameContext) -> str:
    encoding = context.encoding
    return (f"rate point {encoding.quality}, temporal prior "
            f"{'on' if context.temporal_prior else 'off'}")
