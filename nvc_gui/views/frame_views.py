"""Panels that show a frame-sized image of the record: original, reconstruction, MS-MCN prediction,
error map, and the residual before and after coding."""

from typing import Callable

import numpy as np
from PySide6.QtWidgets import QHBoxLayout, QWidget

from nvc_core.analysis import FrameAnalysis
from nvc_gui.views.base import FrameContext
from nvc_gui.views.image_view import ImageView


class RecordImageView(ImageView):
    """An RGB field of the record (`field` returns None when the frame has none: `missing` says why)."""

    def __init__(self, title: str, field: Callable[[FrameAnalysis], np.ndarray | None], missing: str):
        super().__init__(title)
        self._field, self._missing = field, missing

    def show_frame(self, context: FrameContext) -> None:
        image = self._field(context.record)
        if image is None:
            self.clear(self._missing)
        else:
            self.set_rgb(image, context.frame_size)


NO_ORIGINAL = "no original (decoded bitstream)"


def show_error_map(view: ImageView, context: FrameContext) -> np.ndarray | None:
    """Draw |original − reconstruction| (mean over R, G, B, 8-bit code values) in `view`; returns
    the map, or None when there is no original."""
    record = context.record
    if record.original is None:
        view.clear(NO_ORIGINAL)
        return None
    error = np.abs(record.original.astype(np.int16) - record.reconstruction.astype(np.int16))
    mean = error.mean(axis=2)
    view.set_scalar(mean, context.frame_size, levels=(0, max(float(mean.max()), 1.0)),
                    colormap="inferno", values=error, unit="(|ΔR| |ΔG| |ΔB|)")
    return mean


class ErrorView(ImageView):
    """The error map |original − reconstruction|."""

    def __init__(self):
        super().__init__("Error |orig − rec|", colormap="inferno")

    def show_frame(self, context: FrameContext) -> None:
        show_error_map(self, context)


class ResidualView(QWidget):
    """The residual r_t = x_t − x̂p_t before coding and the decoded r̂_t, side by side (P-frames),
    shown as the mean over R, G, B on one symmetric scale."""

    def __init__(self):
        super().__init__()
        self.before = ImageView("Residual r_t (before coding)", colormap="CET-D1")
        self.after = ImageView("Decoded residual r̂_t", colormap="CET-D1")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.before)
        layout.addWidget(self.after)

    def image_views(self) -> list[ImageView]:
        return [self.before, self.after]

    def clear(self) -> None:
        for view in self.image_views():
            view.clear()

    def show_frame(self, context: FrameContext) -> None:
        record = context.record
        pairs = [(self.before, record.residual, "no residual (I-frame or decoded bitstream)"),
                 (self.after, record.residual_hat, "no residual (I-frame)")]
        present = [r for _view, r, _why in pairs if r is not None]
        bound = max([float(np.abs(r).mean(axis=2).max()) for r in present] + [1e-3])
        for view, residual, why in pairs:
            if residual is None:
                view.clear(why)
            else:
                view.set_scalar(residual.mean(axis=2), context.frame_size, levels=(-bound, bound),
                                values=residual, unit="(R G B)")
