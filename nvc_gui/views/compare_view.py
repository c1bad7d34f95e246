"""Compare mode: the same frame of two codings of one clip (two rate points, or the temporal prior
on and off) side by side with their numbers (bits in the file, PSNR, MS-SSIM), their difference
B − A, and A | B on one view split by a slider. A, B and the split view share one colour scale (the
range over both sides); B − A has its own, symmetric one. B's settings are changed by the user only."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from nvc_gui.views.base import FrameContext, KeyChooser
from nvc_gui.views.frame_views import ERROR_UNIT, NO_ORIGINAL, error_map
from nvc_gui.views.image_view import ImageView
from nvc_gui.views.scale import ColourScale, value_range

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
        self.scale = ColourScale()                  # A, B and the split view
        self.diff_scale = ColourScale(symmetric=True)
        self.diff.add_controls(self.diff_scale)
        self._split_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("y", width=2))
        self.split.view.addItem(self._split_line)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("layer"))
        controls.addWidget(self.layer, stretch=2)
        controls.addWidget(self.quality_b)
        controls.addWidget(self.prior_b)
        controls.addWidget(QLabel("A, B colour scale"))
        controls.addWidget(self.scale, stretch=3)
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
        self.b_set = False          # B's settings were given (set_b, then the user's)
        self.quality_b.valueChanged.connect(self.b_changed)
        self.prior_b.toggled.connect(self.b_changed)
        self.layer.currentTextChanged.connect(self._redraw)
        self.scale.changed.connect(self._redraw)
        self.diff_scale.changed.connect(self._redraw)
        self.split_slider.valueChanged.connect(self._show_split)

    def image_views(self) -> list[ImageView]:
        return [self.a, self.b, self.diff, self.split]

    def set_num_rates(self, num_rates: int) -> None:
        self.quality_b.setMaximum(num_rates - 1)

    def set_b(self, quality: int, temporal_prior: bool) -> None:
        """B's first settings (without emitting `b_changed`); from then on only the user changes them."""
        for widget in (self.quality_b, self.prior_b):
            widget.blockSignals(True)
        self.quality_b.setValue(quality)
        self.prior_b.setChecked(temporal_prior)
        for widget in (self.quality_b, self.prior_b):
            widget.blockSignals(False)
        self.b_set = True

    def reset(self) -> None:
        self._pair = None
        for view in self.image_views():
            view.reset()

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
        b_ready = b.index < len(b.encoding.records)
        pair = (a, b) if b_ready else (a,)
        maps = [self._layer(c, layer) for c in pair]
        levels = None
        if layer != RECONSTRUCTION:
            encodings = [c.encoding for c in pair]
            key = (layer, *((id(e), len(e.records), c.temporal_prior) for e, c in zip(encodings, pair)))
            levels = self.scale.levels(self._range(maps, layer), key, lambda: self._range(
                [self._layer(FrameContext(c.encoding, i, c.temporal_prior), layer)
                 for c in pair for i in range(len(c.encoding.records))], layer))
        self._draw(self.a, a, layer, maps[0], levels)
        self.a.set_title(f"A: {_settings(a)} · {_numbers(a)}")
        if not b_ready:
            self.b.set_title(f"B: {_settings(b)} — {b.encoding.status.value}…")
            for view in (self.b, self.diff, self.split):
                view.clear("B is being coded…")
            for view in (self.diff, self.split):
                view.set_title(view.title)
            return
        self._draw(self.b, b, layer, maps[1], levels)
        self.b.set_title(f"B: {_settings(b)} · {_numbers(b, a)}")
        self._show_split()
        shown_a, shown_b = (self._scalar(m, c, layer) for m, c in zip(maps, pair))
        if shown_a is None or shown_b is None or shown_a.shape != shown_b.shape:
            self.diff.set_title(self.diff.title)
            self.diff.clear("no difference: the layer is missing in A or B")
            return
        difference = shown_b - shown_a
        diff_levels = self.diff_scale.levels(value_range([difference], symmetric=True),
                                             ("B − A", layer, id(a.encoding), id(b.encoding)),
                                             lambda: value_range([difference], symmetric=True))
        self.diff.set_scalar(difference, a.frame_size, levels=diff_levels, extent=self._extent(a, layer))
        self.diff.set_title(f"B − A ({layer}): mean {float(difference.mean()):+.4g} · "
                            f"{self.diff_scale.describe()}")

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

    @staticmethod
    def _layer(context: FrameContext, layer: str):
        """What `layer` shows of `context`'s frame: the reconstruction, (mean error, error), or the
        bit map summed over channels; None when the frame has none."""
        if layer == RECONSTRUCTION:
            return context.record.reconstruction
        if layer == ERROR:
            return error_map(context.record.original, context.record.reconstruction)
        bits = context.encoding.bit_map(context.index, layer.removeprefix(BITS), context.temporal_prior)
        return None if bits is None else bits.sum(axis=0)

    @staticmethod
    def _scalar(shown, context: FrameContext, layer: str) -> np.ndarray | None:
        """The scalar of a layer's map the difference is taken of."""
        if shown is None:
            return None
        if layer == RECONSTRUCTION:
            return shown.astype(np.float32).mean(axis=2)
        return shown[0] if layer == ERROR else shown

    @staticmethod
    def _range(maps: list, layer: str) -> tuple[float, float] | None:
        """0..max over the maps of both sides (errors and bits are never negative)."""
        levels = value_range(m[0] if layer == ERROR else m for m in maps if m is not None)
        return None if levels is None else (0.0, levels[1])

    def _draw(self, view: ImageView, context: FrameContext, layer: str, shown, levels) -> None:
        """Draw `shown` (what `_layer` gave) in `view` on the shared `levels` (shown by its colour
        bar and the scale's boxes)."""
        record = context.record
        if shown is None:
            view.clear(NO_ORIGINAL if layer == ERROR else
                       f"no {layer.removeprefix(BITS)} in this {record.frame_type}-frame")
        elif layer == RECONSTRUCTION:
            view.set_rgb(shown, context.frame_size)
        elif layer == ERROR:
            view.set_scalar(shown[0], context.frame_size, levels=levels, colormap="inferno",
                            values=shown[1], unit=ERROR_UNIT)
        else:
            view.set_scalar(shown, context.frame_size, levels=levels, unit="bits (estimate)",
                            colormap="inferno", extent=self._extent(context, layer))


def _numbers(context: FrameContext, reference: FrameContext | None = None) -> str:
    """The frame's bits in the file, PSNR and MS-SSIM (and B − A against `reference`)."""
    record = context.record
    text = f"{record.frame_type} {record.bits} bits"
    if record.psnr_rgb is not None:
        text += f", {record.psnr_rgb:.2f} dB"
    if record.ms_ssim is not None:
        text += f", MS-SSIM {record.ms_ssim:.4f}"
    if reference is not None:
        other = reference.record
        text += f" (B − A: {record.bits - other.bits:+d} bits"
        if record.psnr_rgb is not None and other.psnr_rgb is not None:
            text += f", {record.psnr_rgb - other.psnr_rgb:+.2f} dB"
        text += ")"
    return text


def _settings(context: FrameContext) -> str:
    encoding = context.encoding
    return (f"rate point {encoding.quality}, temporal prior "
            f"{'on' if context.temporal_prior else 'off'}")
