"""What every panel is given to draw: one frame of one coded clip, under one temporal-prior setting."""

from dataclasses import dataclass

from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QVBoxLayout, QWidget

from nvc_core.analysis import FrameRecord
from nvc_gui.encoding import Encoding
from nvc_gui.views.image_view import ImageView
from nvc_gui.views.scale import ColourScale


@dataclass(frozen=True)
class FrameContext:
    """Frame `index` of `encoding`, with the motion bits shown for `temporal_prior`."""

    encoding: Encoding
    index: int
    temporal_prior: bool

    @property
    def record(self) -> FrameRecord:
        return self.encoding.records[self.index]

    @property
    def frame_size(self) -> tuple[int, int]:
        """(height, width) of the frame."""
        return self.record.height, self.record.width

    @property
    def padded_size(self) -> tuple[int, int]:
        """(height, width) of the frame padded to a multiple of 64, as the networks saw it: what every
        latent-resolution map (bit maps, NLAM masks) covers."""
        from nvc_core.frame_step import padded_size    # loaded by the worker by the time frames exist
        return padded_size(*self.frame_size)

    def latent_cell(self, shape: tuple[int, ...]) -> int:
        """Frame pixels per cell of a latent-resolution map `(..., h, w)` (16 for ŷ, 64 for ẑ)."""
        return self.padded_size[0] // shape[-2]


CODER_ORDER = ("intra", "motion", "residual")


class KeyChooser(QComboBox):
    """A choice among the keys "<coder>.<name>" of the current frame that remembers what the user
    picked: on a frame without that key (an I-frame has no motion coder) it shows the same <name>
    of another coder, and returns to the user's pick when a frame has it again."""

    def __init__(self, preferred: str):
        super().__init__()
        self._wanted = preferred
        # Connected first, so the pick is stored before any listener redraws and calls `offer`
        # (which blocks signals: only the user's and `choose`'s changes get here).
        self.currentTextChanged.connect(lambda text: setattr(self, "_wanted", text))

    def choose(self, key: str) -> None:
        """Pick `key` as the user would (kept as the wish while no frame offers it)."""
        self._wanted = key
        self.setCurrentText(key)

    def offer(self, keys: list[str], extra: tuple[str, ...] = ()) -> None:
        """Offer `keys` (sorted by coder, then name) followed by `extra` choices."""
        items = sorted(keys, key=lambda k: (coder_rank(k), k)) + list(extra)
        suffix = self._wanted.partition(".")[2]
        similar = [k for k in items if k.partition(".")[2] == suffix]
        chosen = self._wanted if self._wanted in items else (similar or items or [""])[0]
        self.blockSignals(True)
        if [self.itemText(i) for i in range(self.count())] != items:
            self.clear()
            self.addItems(items)
        self.setCurrentText(chosen)
        self.blockSignals(False)


def coder_rank(key: str) -> int:
    coder = key.partition(".")[0].split()[-1]    # "bits motion.y" -> "motion"
    return CODER_ORDER.index(coder) if coder in CODER_ORDER else len(CODER_ORDER)


class ChooserImageView(QWidget):
    """A map view: a key chooser (plus optional extra controls), an "over frame" switch and a colour
    scale above one ImageView. Subclasses draw the current frame's map in ``_redraw``."""

    OVERLAY_OPACITY = 0.6

    def __init__(self, chooser: KeyChooser, image: ImageView, extra: tuple[QWidget, ...] = ()):
        super().__init__()
        self.chooser, self.image = chooser, image
        self.scale = ColourScale()
        self.overlay = QCheckBox("over frame")
        chooser.setMinimumContentsLength(8)
        chooser.setSizeAdjustPolicy(KeyChooser.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        options = QHBoxLayout()               # a second row: the panel stays narrow
        for widget in (*extra, self.overlay):
            options.addWidget(widget)
        options.addStretch()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(chooser)
        layout.addLayout(options)
        layout.addWidget(self.scale)
        layout.addWidget(image, stretch=1)
        self._context: FrameContext | None = None
        chooser.currentTextChanged.connect(self._redraw)
        self.overlay.toggled.connect(self._redraw)
        self.scale.changed.connect(self._redraw)

    def image_views(self) -> list[ImageView]:
        return [self.image]

    def underlay(self, record: FrameRecord):
        """(underlay image or None, opacity) for the "over frame" switch."""
        if self.overlay.isChecked():
            return record.reconstruction, self.OVERLAY_OPACITY
        return None, 1.0

    def reset(self) -> None:
        self._context = None
        self.image.reset()

    def _redraw(self) -> None:
        raise NotImplementedError
