"""Panels that show a frame-sized image of the record: original, reconstruction, MS-MCN prediction,
error map, and the residual before and after coding."""

from typing import Callable

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from nvc_core.analysis import FrameRecord
from nvc_core.color import rgb_to_yuv444
from nvc_gui.views.base import FrameContext
from nvc_gui.views.image_view import ImageView
from nvc_gui.views.scale import ColourScale, value_range


PLANES = ("R'G'B'", "Y'", "Cb", "Cr")


class RecordImageView(ImageView):
    """An RGB field of the record (`field` returns None when the frame has none: `missing` says why),
    in colour or as one Y'CbCr plane (8-bit code values, the stream's matrix, `nvc_core.color`)."""

    def __init__(self, title: str, field: Callable[[FrameRecord], np.ndarray | None], missing: str):
        super().__init__(title, colormap="CET-L1")
        self._field, self._missing = field, missing
        self.plane = PLANES[0]

    def show_frame(self, context: FrameContext) -> None:
        image = self._field(context.record)
        if image is None:
            self.clear(self._missing)
        elif self.plane == PLANES[0]:
            self.set_rgb(image, context.frame_size)
            self.set_title(self.title)
        else:
            rgb = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)
            plane = rgb_to_yuv444(np.ascontiguousarray(rgb), context.encoding.matrix)[PLANES.index(self.plane) - 1]
            self.set_scalar(plane, context.frame_size, levels=(0, 255), unit=self.plane)
            self.set_title(f"{self.title}: {self.plane} ({context.encoding.matrix}, limited range code values)")


NO_ORIGINAL = "no original (decoded bitstream)"
ERROR_UNIT = "(|ΔR| |ΔG| |ΔB|)"


def error_map(original: np.ndarray | None, reconstruction: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """|original − reconstruction| in 8-bit code values: the mean over R, G, B `(h, w)` and the
    three channels `(h, w, 3)`; None when there is no original."""
    if original is None:
        return None
    error = np.abs(original.astype(np.int16) - reconstruction.astype(np.int16))
    return error.mean(axis=2), error


def error_range(pairs) -> tuple[float, float] | None:
    """0..the largest mean error over (original, reconstruction) `pairs` (None: no original)."""
    levels = value_range(m[0] for m in (error_map(*pair) for pair in pairs) if m is not None)
    return None if levels is None else (0.0, max(levels[1], 1.0))


def record_pairs(records) -> list[tuple[np.ndarray | None, np.ndarray]]:
    return [(r.original, r.reconstruction) for r in records]


class ErrorView(ImageView):
    """The error map |original − reconstruction| (mean over R, G, B) with its colour scale."""

    def __init__(self):
        super().__init__("Error |orig − rec|", colormap="inferno")
        self.scale = ColourScale()
        self.add_controls(self.scale)
        self._context: FrameContext | None = None
        self.scale.changed.connect(lambda: self._context and self.show_frame(self._context))

    def reset(self, message: str = "") -> None:
        self._context = None
        super().reset(message)

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        record = context.record
        shown = error_map(record.original, record.reconstruction)
        if shown is None:
            self.set_title(self.title)
            self.clear(NO_ORIGINAL)
            return
        encoding = context.encoding
        levels = self.scale.levels(error_range(record_pairs([record])), (id(encoding), len(encoding.records)),
                                   lambda: error_range(record_pairs(encoding.records)))
        self.set_scalar(shown[0], context.frame_size, levels=levels, values=shown[1], unit=ERROR_UNIT)
        self.set_title(f"Error |orig − rec|: mean {float(shown[0].mean()):.3g} · {self.scale.describe()}")


class ResidualView(QWidget):
    """The residual r_t = x_t − x̂p_t before coding and the decoded r̂_t, side by side (P-frames),
    shown as the mean over R, G, B on one symmetric colour scale (level and contrast: typed in)."""

    def __init__(self):
        super().__init__()
        self.before = ImageView("Residual r_t (before coding)", colormap="CET-D1")
        self.after = ImageView("Decoded residual r̂_t", colormap="CET-D1")
        self.scale = ColourScale(symmetric=True)
        self._context: FrameContext | None = None
        self.scale.changed.connect(lambda: self._context and self.show_frame(self._context))
        views = QHBoxLayout()
        views.addWidget(self.before)
        views.addWidget(self.after)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scale)
        layout.addLayout(views, stretch=1)

    def image_views(self) -> list[ImageView]:
        return [self.before, self.after]

    def reset(self) -> None:
        self._context = None
        for view in self.image_views():
            view.reset()

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        record = context.record
        pairs = [(self.before, record.residual, "no residual (I-frame or decoded bitstream)"),
                 (self.after, record.residual_hat, "no residual (I-frame)")]

        def means(records):
            return (r.mean(axis=2) for rec in records for r in (rec.residual, rec.residual_hat) if r is not None)

        encoding = context.encoding
        levels = self.scale.levels(value_range(means([record]), symmetric=True),
                                   (id(encoding), len(encoding.records)),
                                   lambda: value_range(means(encoding.records), symmetric=True))
        for view, residual, why in pairs:
            if residual is None:
                view.set_title(view.title)
                view.clear(why)
            else:
                view.set_scalar(residual.mean(axis=2), context.frame_size, levels=levels,
                                values=residual, unit="(R G B)")     # the scale: in the boxes above
