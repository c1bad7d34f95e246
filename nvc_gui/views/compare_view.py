"""Compare mode: the same frame of two codings of one clip (two rate points, or the temporal prior
on and off) side by side, and their difference B − A."""

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QSpinBox, QWidget

from nvc_gui.views.base import FrameContext, KeyChooser
from nvc_gui.views.frame_views import show_error_map
from nvc_gui.views.image_view import ImageView

RECONSTRUCTION = "reconstruction"
ERROR = "error |orig − rec|"
BITS = "bits "        # prefix of the bit-map layers, e.g. "bits motion.y"


class CompareView(QWidget):
    """A | B | B − A for one layer; B is set by its own rate point and temporal-prior setting."""

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
        controls = QHBoxLayout()
        controls.addWidget(QLabel("layer"))
        controls.addWidget(self.layer, stretch=1)
        controls.addWidget(self.quality_b)
        controls.addWidget(self.prior_b)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(controls, 0, 0, 1, 3)
        for column, view in enumerate((self.a, self.b, self.diff)):
            grid.addWidget(view, 1, column)
        self._pair: tuple[FrameContext, FrameContext | None] | None = None
        self.quality_b.valueChanged.connect(self.b_changed)
        self.prior_b.toggled.connect(self.b_changed)
        self.layer.currentTextChanged.connect(self._redraw)

    def image_views(self) -> list[ImageView]:
        return [self.a, self.b, self.diff]

    def set_b(self, quality: int, temporal_prior: bool, num_rates: int) -> None:
        """Set B's controls without emitting `b_changed`."""
        for widget in (self.quality_b, self.prior_b):
            widget.blockSignals(True)
        self.quality_b.setMaximum(num_rates - 1)
        self.quality_b.setValue(quality)
        self.prior_b.setChecked(temporal_prior)
        for widget in (self.quality_b, self.prior_b):
            widget.blockSignals(False)

    def show_pair(self, a: FrameContext, b: FrameContext | None) -> None:
        """Show frame `a` and the same frame of the other coding `b` (None: still being coded)."""
        self._pair = (a, b)
        self.layer.offer([BITS + k for k in a.record.bit_maps], (RECONSTRUCTION, ERROR))
        self._redraw()

    def _redraw(self) -> None:
        if self._pair is None:
            return
        a, b = self._pair
        layer = self.layer.currentText()
        self.a.set_title(f"A: rate point {a.encoding.quality}, temporal prior {_on(a.temporal_prior)}")
        shown_a = self._show(self.a, a, layer)
        if b is None or b.index >= len(b.encoding.records):
            self.b.clear("B is being coded…")
            self.diff.clear()
            return
        self.b.set_title(f"B: rate point {b.encoding.quality}, temporal prior {_on(b.temporal_prior)}")
        shown_b = self._show(self.b, b, layer)
        if shown_a is None or shown_b is None or shown_a.shape != shown_b.shape:
            self.diff.clear("no difference: the layer is missing in A or B")
            return
        difference = shown_b - shown_a
        bound = max(float(np.abs(difference).max()), 1e-3)
        self.diff.set_scalar(difference, a.frame_size, levels=(-bound, bound))

    @staticmethod
    def _show(view: ImageView, context: FrameContext, layer: str) -> np.ndarray | None:
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
                        unit="bits", colormap="inferno")
        return total


def _on(flag: bool) -> str:
    return "on" if flag else "off"
