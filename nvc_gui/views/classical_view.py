"""nvc beside a classical coder on the same frame: the reconstructions and error maps of nvc and of
x264 or x265 (the anchors of `nvc eval`, coded by `nvc_core.evaluation.classical` on the worker
thread) at the bits nvc spent on the clip or at a CRF the user picks, with each frame's bits and
PSNR. The two error maps share one colour scale."""

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                               QWidget)

from nvc_gui.encoding import MATCH_NVC
from nvc_gui.views.base import FrameContext
from nvc_gui.views.frame_views import ERROR_UNIT, NO_ORIGINAL, error_map, error_range
from nvc_gui.views.image_view import ElidedLabel, ImageView
from nvc_gui.views.scale import ColourScale

CODERS = ("x264", "x265")
AT_NVC_BITS = "at nvc's bits"
AT_CRF = "at CRF"


class ClassicalView(QWidget):
    """nvc | classical, reconstruction over error map, for the frame on screen."""

    code_requested = Signal()     # the user asked for the classical coding chosen in the controls
    choice_changed = Signal()     # another coder or rate was chosen (show its result, if coded)

    def __init__(self):
        super().__init__()
        self.coder = QComboBox()
        self.coder.addItems(CODERS)
        self.rate = QComboBox()
        self.rate.addItems([AT_NVC_BITS, AT_CRF])
        self.rate.setToolTip("Code the same frames at the size of nvc's bitstream (CRF found by "
                             "bisection) or at a chosen CRF; preset medium, low-delay P, nvc's GOP")
        self.crf = QDoubleSpinBox()
        self.crf.setRange(0.0, 51.0)
        self.crf.setDecimals(1)
        self.crf.setValue(28.0)
        self.crf.setPrefix("CRF ")
        self.code_button = QPushButton("Code")
        self.status = ElidedLabel("choose a coder and press Code")
        self.scale = ColourScale()
        self.nvc = ImageView("nvc")
        self.classical = ImageView("classical")
        self.nvc_error = ImageView("nvc error |orig − rec|", colormap="inferno")
        self.classical_error = ImageView("classical error |orig − rec|", colormap="inferno")
        controls = QHBoxLayout()
        for widget in (QLabel("beside nvc:"), self.coder, self.rate, self.crf, self.code_button):
            controls.addWidget(widget)
        controls.addWidget(self.status, stretch=1)
        controls.addWidget(QLabel("error scale"))
        controls.addWidget(self.scale)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addLayout(controls, 0, 0, 1, 2)
        for i, view in enumerate(self.image_views()):
            grid.addWidget(view, 1 + i // 2, i % 2)
        for row in (1, 2):
            grid.setRowStretch(row, 1)
        self._shown: tuple[FrameContext, object] | None = None
        self.code_button.clicked.connect(self.code_requested)
        for box in (self.coder, self.rate):
            box.currentIndexChanged.connect(self._on_choice)
        self.crf.valueChanged.connect(self._on_choice)
        self.scale.changed.connect(self._redraw)
        self._on_choice()

    def image_views(self) -> list[ImageView]:
        return [self.nvc, self.classical, self.nvc_error, self.classical_error]

    def key(self) -> tuple:
        """The result chosen: (coder, CRF) or (coder, "nvc's bits") (`ClassicalRequest.key`)."""
        crf = None if self.rate.currentText() == AT_NVC_BITS else round(self.crf.value(), 1)
        return (self.coder.currentText(), MATCH_NVC if crf is None else crf)

    def crf_value(self) -> float | None:
        """The CRF chosen, None when matching nvc's bits."""
        return None if self.rate.currentText() == AT_NVC_BITS else round(self.crf.value(), 1)

    def reset(self) -> None:
        self._shown = None
        for view in self.image_views():
            view.reset()
        self.status.set_full_text("choose a coder and press Code")

    def show_frame(self, context: FrameContext, clip) -> None:
        """Frame `context` of nvc beside the same frame of `clip` (a ClassicalClip, None: not coded)."""
        self._shown = (context, clip)
        self._redraw()

    def _on_choice(self) -> None:
        self.crf.setEnabled(self.rate.currentText() == AT_CRF)
        self.choice_changed.emit()

    def _redraw(self) -> None:
        if self._shown is None:
            return
        context, clip = self._shown
        record = context.record
        frame = None if clip is None or context.index >= len(clip.frames) else clip.frames[context.index]
        original = record.original
        errors = [error_map(original, record.reconstruction)]
        if frame is not None:
            errors.append(error_map(original, frame.reconstruction))
        pairs = [(original, record.reconstruction)] + ([(original, frame.reconstruction)] if frame else [])
        levels = None
        if errors[0] is not None:
            key = (id(context.encoding), len(context.encoding.records), id(clip))
            levels = self.scale.levels(error_range(pairs), key, lambda: error_range(
                [(r.original, r.reconstruction) for r in context.encoding.records]
                + ([] if clip is None else [(r.original, f.reconstruction)
                                            for r, f in zip(context.encoding.records, clip.frames)])))
        self.nvc.set_rgb(record.reconstruction, context.frame_size)
        self.nvc.set_title(f"nvc rate point {context.encoding.quality}: {_numbers(record)}")
        self._error(self.nvc_error, errors[0], context, levels)
        if frame is None:
            why = "not coded yet: press Code" if clip is None else "the classical coder has no such frame"
            for view in (self.classical, self.classical_error):
                view.set_title(view.title)
                view.clear(why)
            self.status.set_full_text(why)
            return
        self.status.set_full_text(clip.describe())
        self.classical.set_rgb(frame.reconstruction, context.frame_size)
        self.classical.set_title(f"{clip.codec} CRF {clip.crf:.4g}: {_numbers(frame)} "
                                 f"(− nvc: {frame.bits - record.bits:+d} bits"
                                 + ("" if record.psnr_rgb is None else f", {frame.psnr_rgb - record.psnr_rgb:+.2f} dB")
                                 + ")")
        self._error(self.classical_error, errors[1], context, levels)

    def _error(self, view: ImageView, shown, context: FrameContext, levels) -> None:
        if shown is None:
            view.set_title(view.title)
            view.clear(NO_ORIGINAL)
            return
        view.set_scalar(shown[0], context.frame_size, levels=levels, values=shown[1], unit=ERROR_UNIT)
        view.set_title(f"{view.title}: mean {float(shown[0].mean()):.3g} · shared {self.scale.describe()}")


def _numbers(frame) -> str:
    """A frame's type, bits and PSNR (a FrameRecord or a ClassicalFrame)."""
    text = f"{frame.frame_type} {frame.bits} bits"
    return text if frame.psnr_rgb is None else f"{text}, {frame.psnr_rgb:.2f} dB"
