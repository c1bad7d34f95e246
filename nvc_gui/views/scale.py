"""The colour scale of a map view: automatic per frame, fixed over the clip (the range over its coded
frames), or typed in; and a lock that holds the levels on screen across frames, clips and the two sides
of compare mode. One scale may serve several views (A and B of compare mode share one)."""

from enum import Enum
from typing import Callable, Iterable

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QSizePolicy, QWidget

Levels = tuple[float, float]
SPIN_LIMIT = 1e7
MIN_BOX_WIDTH = 56       # the boxes shrink with their panel rather than widen the window
MIN_MODE_WIDTH = 90


class ScaleMode(Enum):
    FRAME = "auto per frame"
    CLIP = "fixed over the clip"
    TYPED = "typed in"


def value_range(maps: Iterable[np.ndarray | None], symmetric: bool = False) -> Levels | None:
    """(low, high) over the maps given (None entries skipped): min..max, or -m..m with m the largest
    magnitude when `symmetric`; None when there is no map."""
    low = high = None
    for values in maps:
        if values is None or not values.size:
            continue
        lo, hi = float(np.min(values)), float(np.max(values))
        low, high = (lo, hi) if low is None else (min(low, lo), max(high, hi))
    if low is None:
        return None
    if symmetric:
        bound = max(abs(low), abs(high))
        return -bound, bound
    return low, high


class ColourScale(QWidget):
    """Mode, low and high, lock. `levels` gives the levels to draw with and shows them in the boxes."""

    changed = Signal()

    def __init__(self, symmetric: bool = False):
        super().__init__()
        self.symmetric = symmetric
        self.mode = QComboBox()
        self.mode.addItems([m.value for m in ScaleMode])
        self.mode.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode.setMinimumContentsLength(6)
        self.mode.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.mode.setMinimumWidth(MIN_MODE_WIDTH)
        self.mode.setToolTip("Colour scale: each frame's own range, the range over the clip's coded "
                             "frames, or the levels typed in the boxes")
        self.low, self.high = QDoubleSpinBox(), QDoubleSpinBox()
        for box, tip in ((self.low, "lowest level"), (self.high, "highest level")):
            box.setRange(-SPIN_LIMIT, SPIN_LIMIT)
            box.setDecimals(3)
            box.setKeyboardTracking(False)
            box.setToolTip(tip)
            box.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            box.setMinimumWidth(MIN_BOX_WIDTH)
        self.lock = QCheckBox("lock")
        self.lock.setToolTip("Keep the levels on screen now, whatever the frame, clip or compare side")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget, stretch in ((self.mode, 3), (self.low, 2), (self.high, 2), (self.lock, 0)):
            layout.addWidget(widget, stretch)
        self._shown: Levels = (0.0, 1.0)
        self._locked: Levels | None = None
        self._clip_ranges: dict[tuple, Levels | None] = {}
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.lock.toggled.connect(self._on_lock)
        for box in (self.low, self.high):
            box.valueChanged.connect(self._on_typed)
        self._on_mode()

    def current_mode(self) -> ScaleMode:
        return ScaleMode(self.mode.currentText())

    def set_mode(self, mode: ScaleMode) -> None:
        self.mode.setCurrentText(mode.value)

    def type_levels(self, low: float, high: float) -> None:
        """Type levels in (switches to typed mode)."""
        self._set_boxes((low, high))
        self.set_mode(ScaleMode.TYPED)
        self.changed.emit()

    def levels(self, frame: Levels | None, clip_key: tuple, clip: Callable[[], Levels | None]) -> Levels:
        """The levels to draw with: locked, typed, `clip()` (computed once per `clip_key`: the clip and
        what is shown of it), or `frame` (this frame's range)."""
        mode = self.current_mode()
        if self._locked is not None:
            levels = self._locked
        elif mode is ScaleMode.TYPED:
            levels = (self.low.value(), self.high.value())
        elif mode is ScaleMode.CLIP:
            if clip_key not in self._clip_ranges:
                self._clip_ranges = {clip_key: clip()}      # one clip's range at a time
            levels = self._clip_ranges[clip_key] or frame or (0.0, 1.0)
        else:
            levels = frame or (0.0, 1.0)
        low, high = levels
        if high <= low:             # a flat map: a tiny range around it (zero in the middle if symmetric)
            pad = abs(low) * 1e-6 or 1e-6
            low, high = (low - pad, high + pad) if self.symmetric else (low, low + pad)
        self._shown = (low, high)
        if mode is not ScaleMode.TYPED and self._locked is None:
            self._set_boxes(self._shown)
        return self._shown

    def describe(self, unit: str = "") -> str:
        """The levels last given, for a view's title: "scale 0–50 bits (auto per frame)"."""
        low, high = self._shown
        how = "locked" if self._locked is not None else self.current_mode().value
        return f"scale {low:.4g}…{high:.4g}{' ' + unit if unit else ''} ({how})"

    def _set_boxes(self, levels: Levels) -> None:
        for box, value in zip((self.low, self.high), levels):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _on_mode(self) -> None:
        typed = self.current_mode() is ScaleMode.TYPED and self._locked is None
        for box in (self.low, self.high):
            box.setReadOnly(not typed)
        self.changed.emit()

    def _on_lock(self, locked: bool) -> None:
        self._locked = self._shown if locked else None
        self._on_mode()

    def _on_typed(self) -> None:
        if self.current_mode() is ScaleMode.TYPED:
            self.changed.emit()
