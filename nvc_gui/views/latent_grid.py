"""The latent-grid overlay on the frame views: the cells of one latent (16x16 frame pixels for ŷ,
64x64 for ẑ, at their true place in the frame padded to a multiple of 64), with each cell's estimated
bits (nvc_core's bit map summed over channels) as colour and number, at a chosen opacity. The colours
follow the bit map panel's scale when it shows the same latent summed over channels (so a locked or
typed scale holds for the grid too), else they run from 0 to the frame's largest cell."""

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QSlider, QWidget

from nvc_gui.views.base import FrameContext, KeyChooser
from nvc_gui.views.image_view import ImageView


class LatentGridControls(QWidget):
    """On/off, which latent, opacity; `apply` draws the grid of the current frame in views."""

    changed = Signal()

    def __init__(self):
        super().__init__()
        self.enabled = QCheckBox("latent grid over the frame views")
        self.latent = KeyChooser("motion.y")
        self.latent.setToolTip("ŷ: 16x16-pixel cells, ẑ: 64x64-pixel cells; the number in a cell is "
                               "its estimated bits (all channels)")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(35)
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow(self.enabled)
        layout.addRow("latent", self.latent)
        layout.addRow("opacity", self.opacity)
        self.enabled.toggled.connect(self.changed)
        self.latent.currentTextChanged.connect(self.changed)
        self.opacity.valueChanged.connect(self.changed)

    def apply(self, context: FrameContext | None, views: list[ImageView],
              levels: tuple[float, float] | None = None) -> None:
        """Draw (or remove) the grid of `context`'s frame in `views`, coloured over `levels` (None:
        0 to the largest cell)."""
        bits = None
        if context is not None:
            self.latent.offer(list(context.record.bit_maps))
            if self.enabled.isChecked():
                bits = context.encoding.bit_map(context.index, self.latent.currentText(),
                                                context.temporal_prior)
        for view in views:
            if bits is None:
                view.grid.clear()
            else:
                view.grid.set_cells(bits.sum(axis=0), context.latent_cell(bits.shape), context.frame_size,
                                    self.opacity.value() / 100, levels)
