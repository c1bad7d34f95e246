"""NLAM attention masks (mean over channels, in [0, 1]) of each coder's main and hyper encoder and
decoder, selectable, alone or over the frame."""

from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QVBoxLayout, QWidget

from nvc_gui.views.base import FrameContext, KeyChooser
from nvc_gui.views.image_view import ImageView


class AttentionView(QWidget):
    """One attention mask, chosen among the keys "<coder>.<main|hyper>_<enc|dec>" of the clip."""

    def __init__(self):
        super().__init__()
        self.mask = KeyChooser("motion.main_enc")
        self.overlay = QCheckBox("over frame")
        self.image = ImageView("NLAM attention", colormap="viridis")
        controls = QHBoxLayout()
        controls.addWidget(self.mask, stretch=1)
        controls.addWidget(self.overlay)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.image, stretch=1)
        self._context: FrameContext | None = None
        self.mask.currentTextChanged.connect(self._redraw)
        self.overlay.toggled.connect(self._redraw)

    def image_views(self) -> list[ImageView]:
        return [self.image]

    def show_frame(self, context: FrameContext) -> None:
        self._context = context
        self.mask.offer(list(context.record.attention))
        self._redraw()

    def _redraw(self) -> None:
        if self._context is None:
            return
        key = self.mask.currentText()
        record = self._context.record
        mask = record.attention.get(key)
        if mask is None:
            self.image.clear("no attention mask in this frame")
            return
        h, w = mask.shape
        self.image.set_title(f"NLAM {key}  {w}x{h}")
        self.image.set_scalar(mask, self._context.frame_size, levels=(0.0, 1.0),
                              underlay=record.reconstruction if self.overlay.isChecked() else None,
                              opacity=0.6 if self.overlay.isChecked() else 1.0)

